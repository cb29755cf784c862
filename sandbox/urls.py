"""Sandbox routes: /sandbox/rackbeat/…, /sandbox/dinero/…, /sandbox/visma/…"""

from django.urls import include, path

urlpatterns = [
    path("dinero/", include("sandbox.dinero.urls")),
    path("visma/", include("sandbox.dinero.visma_urls")),
    path("rackbeat/", include("sandbox.rackbeat.urls")),
]
