"""OAuth routes under /oauth/: the Visma Connect login for Dinero."""

from django.urls import path

from integration.console import visma_connect

urlpatterns = [
    path("visma/start/<int:connection_id>/", visma_connect.start, name="visma-connect-start"),
    path("visma/callback/", visma_connect.callback, name="visma-connect-callback"),
]
