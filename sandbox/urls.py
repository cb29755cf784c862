"""Sandbox routes: /sandbox/rackbeat/…, /sandbox/dinero/…, /sandbox/visma/…"""


urlpatterns: list = [
]
