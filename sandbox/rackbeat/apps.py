from django.apps import AppConfig


class SandboxRackbeatConfig(AppConfig):
    name = "sandbox.rackbeat"
    label = "sandbox_rackbeat"
    verbose_name = "Sandbox: emulated Rackbeat"
