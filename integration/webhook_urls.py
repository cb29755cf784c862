"""Webhook endpoints, mounted at /webhooks/."""

from django.urls import path

from integration import webhooks

urlpatterns = [
    path("rackbeat/<uuid:public_id>/", webhooks.rackbeat_webhook, name="rackbeat-webhook"),
]
