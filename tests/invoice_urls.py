"""URLs for the invoice unit tests: the admin only (the sandbox is not needed without HTTP)."""

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
