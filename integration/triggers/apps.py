from django.apps import AppConfig


class TriggersConfig(AppConfig):
    """Every way work arrives: webhooks, the polls, the start sync, activation, troubleshooting."""

    name = "integration.triggers"
    label = "triggers"
    verbose_name = "Triggers"

    def ready(self) -> None:
        # Django requires this import here: activation uses models, which exist only once the
        # app registry is ready.
        from integration.triggers.activation import connect_signals

        connect_signals()
