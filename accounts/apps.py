from django.apps import AppConfig, apps
from django.contrib.auth.management import create_permissions
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Connections and access"

    def ready(self) -> None:
        # Django requires these imports here: both modules use models, which exist only once the
        # app registry is ready (importing the checks registers the tenant-admin check).
        import accounts.checks  # noqa: F401
        from accounts.roles import ensure_roles

        # Runs once per migrate (sender filter), after every app's permissions exist.
        post_migrate.connect(_ensure_roles_once, sender=self, dispatch_uid="accounts.ensure_roles")
        self._ensure_roles = ensure_roles


def _ensure_roles_once(sender, **kwargs):  # type: ignore[no-untyped-def]
    # post_migrate fires per app in INSTALLED_APPS order; make sure the later apps' permissions
    # exist before the groups are built.
    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=kwargs.get("using", "default"))
    sender._ensure_roles()
