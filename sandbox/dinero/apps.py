from django.apps import AppConfig
from django.db.models.signals import post_save


class SandboxDineroConfig(AppConfig):
    name = "sandbox.dinero"
    label = "sandbox_dinero"
    verbose_name = "Sandbox: emulated Dinero"

    def ready(self) -> None:
        # Django requires this import here: the seeding module uses models, which exist only once
        # the app registry is ready.
        from sandbox.dinero.seeding import chart_for_new_organization

        post_save.connect(chart_for_new_organization, sender="sandbox_dinero.Organization",
                          dispatch_uid="sandbox-dinero-standard-chart")
