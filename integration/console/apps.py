from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The front: every admin page, the wizard, home, dashboard and template tags.

    Its ``admin`` module (found by the admin's autodiscovery) registers the model admins and the
    per-connection pages.
    """

    name = "integration.console"
    label = "console"
    verbose_name = "Console"
