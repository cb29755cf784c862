from django.apps import AppConfig
from django.db.models.signals import post_migrate


class IntegrationConfig(AppConfig):
    name = "integration"
    verbose_name = "Integration"

    def ready(self) -> None:
        from integration.activation import connect_signals
        from integration.schedules import ensure_schedules

        connect_signals()
        post_migrate.connect(ensure_schedules, sender=self, dispatch_uid="integration-schedules")
