from django.apps import AppConfig
from django.db.models.signals import post_migrate


class IntegrationConfig(AppConfig):
    name = "integration"
    verbose_name = "Integration"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from integration import worker_health
        from integration.activation import connect_signals
        from integration.schedules import ensure_schedules

        connect_signals()
        post_migrate.connect(ensure_schedules, sender=self, dispatch_uid="integration-schedules")
        # Each django-q2 worker process beats (dead workers' claims come back within a minute),
        # and `qcluster` stops within Q_STOP_SECONDS of SIGTERM/SIGINT.
        post_spawn.connect(worker_health.start_heartbeat, dispatch_uid="integration-worker-heartbeat")
        worker_health.bound_cluster_stop()
