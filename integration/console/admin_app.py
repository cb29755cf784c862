"""The admin app with the service's own site (``admin.site`` is a ``ServiceAdminSite``).

Kept apart from ``apps.py``: Django takes a module's only AppConfig as the app's default.
"""

from django.contrib.admin.apps import AdminConfig


class ServiceAdminConfig(AdminConfig):
    default_site = "integration.console.admin_site.ServiceAdminSite"
