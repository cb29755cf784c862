from django.apps import AppConfig


class SandboxDineroConfig(AppConfig):
    name = "sandbox.dinero"
    label = "sandbox_dinero"
    verbose_name = "Sandbox: emulated Dinero"
