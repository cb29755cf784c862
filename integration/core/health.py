"""/healthz: database reachability, worker heartbeat age and queue depth, as JSON.

The load balancer needs only the status (200 or 503 and ``{"status": …}``); the counts — how many
documents wait, how old the worker's heartbeat is — are the whole installation's figures, so they
are shown only to operators (signed-in superusers), never to a tenant's staff. No response is ever cached: a stale "ok" from a proxy would hide an outage.
"""

from __future__ import annotations

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django_q.models import OrmQ

from integration.core.models import SyncOperation, WorkerHeartbeat

# A worker beats every minute (see integration.core.schedules); three missed beats is unhealthy.
HEARTBEAT_MAX_AGE_SECONDS = 180


def snapshot() -> dict:


    now = timezone.now()
    beat = WorkerHeartbeat.objects.order_by("-beat_at").first()
    age = (now - beat.beat_at).total_seconds() if beat else None
    return {
        "heartbeat_age_seconds": round(age, 1) if age is not None else None,
        "queue_depth": OrmQ.objects.count(),
        "pending_operations": SyncOperation.objects.filter(state=SyncOperation.State.PENDING).count(),
        "worker_ok": age is not None and age <= HEARTBEAT_MAX_AGE_SECONDS,
    }


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    body: dict = {"database": "ok"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        body.update(snapshot())
    except DatabaseError:
        return JsonResponse({"database": "unreachable", "status": "unhealthy"}, status=503)
    healthy = body["worker_ok"]
    body["status"] = "ok" if healthy else "unhealthy"
    user = getattr(request, "user", None)
    if not (user is not None and user.is_authenticated and user.is_active and user.is_superuser):
        body = {"status": body["status"]}
    return JsonResponse(body, status=200 if healthy else 503)
