"""/sandbox/dinero/…: the API (/v1/…, /v1.1/…, /v1.2/…, /v2/…), the token endpoint and the web app."""

from django.urls import path, re_path

from sandbox.dinero import api, app_views, auth

app_name = "sandbox_dinero"

urlpatterns = [
    path("oauth/token", auth.api_key_token, name="token"),
    path("app/", app_views.home, name="home"),
    path("app/<int:org>/", app_views.organization, name="organization"),
    # The service's document links come without a trailing slash; both forms open the page.
    re_path(r"^app/(?P<org>\d+)/(?P<kind>[a-z]+)/(?P<guid>[^/]+)/?$", app_views.detail, name="detail"),
    re_path(r"^(?P<path>v[0-9.]+/.*)$", api.dispatch, name="api"),
]
