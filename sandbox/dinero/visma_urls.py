"""/sandbox/visma/connect/…: the emulated Visma Connect login that gives Dinero tokens."""

from django.urls import path

from sandbox.dinero import auth

urlpatterns = [
    path("connect/authorize", auth.authorize, name="sandbox-visma-authorize"),
    path("connect/token", auth.visma_token, name="sandbox-visma-token"),
]
