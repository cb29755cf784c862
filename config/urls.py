from django.conf import settings
from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from integration.core import health

urlpatterns = [
    # First: the request this service answers most often (Rackbeat's deliveries) is matched at once.
    path("webhooks/", include("integration.triggers.webhook_urls")),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("healthz", health.healthz, name="healthz"),
    # Browsers ask for /favicon.ico on pages without an icon link (JSON, the sandbox apps).
    path("favicon.ico", RedirectView.as_view(url=static("service/favicon.svg"), permanent=True)),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("oauth/", include("integration.console.oauth_urls")),
]

if settings.SANDBOX_ENABLED:
    urlpatterns.insert(0, path("sandbox/", include("sandbox.urls")))
