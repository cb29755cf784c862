"""/healthz reports database, worker heartbeat and queue depth."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from integration.models import WorkerHeartbeat


def test_healthz_unhealthy_without_worker_heartbeat(client, db):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["worker_ok"] is False
    assert body["heartbeat_age_seconds"] is None
    assert body["queue_depth"] == 0


def test_healthz_ok_with_recent_heartbeat(client, db):
    WorkerHeartbeat.objects.create(name="w1", beat_at=timezone.now() - timedelta(seconds=20))
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert 19 <= body["heartbeat_age_seconds"] <= 60


def test_healthz_unhealthy_with_stale_heartbeat(client, db):
    WorkerHeartbeat.objects.create(name="w1", beat_at=timezone.now() - timedelta(minutes=10))
    assert client.get("/healthz").status_code == 503
