"""/healthz reports database, worker heartbeat and queue depth — the figures only to operators."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from integration.core.models import WorkerHeartbeat


@pytest.fixture
def staff_client(client, superuser):
    client.force_login(superuser)
    return client


def test_healthz_unhealthy_without_worker_heartbeat(staff_client):
    response = staff_client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["worker_ok"] is False
    assert body["heartbeat_age_seconds"] is None
    assert body["queue_depth"] == 0


def test_healthz_ok_with_recent_heartbeat(staff_client):
    WorkerHeartbeat.objects.create(name="w1", beat_at=timezone.now() - timedelta(seconds=20))
    response = staff_client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert 19 <= body["heartbeat_age_seconds"] <= 60


def test_healthz_unhealthy_with_stale_heartbeat(client, db):
    WorkerHeartbeat.objects.create(name="w1", beat_at=timezone.now() - timedelta(minutes=10))
    assert client.get("/healthz").status_code == 503


def test_the_load_balancer_gets_the_status_only(client, db):
    WorkerHeartbeat.objects.create(name="w1", beat_at=timezone.now())
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_is_never_cached(staff_client):
    anonymous = Client()
    assert "no-store" in anonymous.get("/healthz")["Cache-Control"]
    assert "no-store" in staff_client.get("/healthz")["Cache-Control"]


def test_a_tenants_staff_get_the_status_only_not_the_installations_figures(client, accountant):
    WorkerHeartbeat.objects.create(name="w1", beat_at=timezone.now())
    client.force_login(accountant)
    assert client.get("/healthz").json() == {"status": "ok"}
