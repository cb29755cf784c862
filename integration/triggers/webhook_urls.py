"""Webhook endpoints, mounted at /webhooks/."""

from django.urls import path

from integration.triggers import webhooks

urlpatterns = [
    path("rackbeat/<uuid:public_id>/", webhooks.rackbeat_webhook, name="rackbeat-webhook"),
]
