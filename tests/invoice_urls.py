"""URLs for the invoice unit tests: the admin only (the sandbox is not needed without HTTP)."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]
