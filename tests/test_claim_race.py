"""One writer, even when two claims meet on the same row in PostgreSQL.

Found by the chaos suite: two worker clusters started the same sales invoice 70 ms apart
("Attempt 1 started by vm:774", "Attempt 2 started by vm:758", nothing released in between) and
Dinero got two invoices with two Guids. The claim was ``UPDATE … WHERE id IN (SELECT … WHERE
state = 'pending' …)`` (a join to the connection for "only active connections"): under READ
COMMITTED a claim that waited for the other's row lock re-checks only ``id IN (<the snapshot's
ids>)``, not the row's new state, so both claims won.

The test makes the interleaving certain: another transaction claims the row and holds its lock;
our claim is started and observed *waiting for that lock* in ``pg_stat_activity``; only then the
other transaction commits. Our claim must then lose.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.conf import settings as django_settings
from django.db import connection as db_connection
from django.db import connections, transaction

from integration.core import engine
from integration.core.models import Direction, Kind, SyncOperation

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("sqlite" in django_settings.DATABASES["default"]["ENGINE"],
                       reason="row locks and READ COMMITTED re-checks are PostgreSQL's (run with DATABASE_URL)"),
]


def _waiting_for_lock(pid: int) -> bool:
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return bool(row) and row[0] == "Lock"


@pytest.mark.parametrize("require_active", [True, False])
def test_a_claim_that_waited_for_another_claims_lock_loses(connection, require_active):
    connection.state = "active"
    connection.save()
    op = SyncOperation.objects.create(connection=connection, kind=Kind.SALES_INVOICE,
                                      direction=Direction.TO_DINERO, source_key="10008")
    holder_has_lock, release = threading.Event(), threading.Event()
    claimed: dict[str, object] = {}
    pids: dict[str, int] = {}

    def other_worker() -> None:
        try:
            with transaction.atomic():
                pids["other"] = connections["default"].connection.info.backend_pid
                assert engine._claim(op.pk, worker="other", require_active=require_active)
                holder_has_lock.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    def this_worker() -> None:
        try:
            pids["this"] = connections["default"].cursor().connection.info.backend_pid
            claimed["this"] = engine._claim(op.pk, worker="this", require_active=require_active)
        finally:
            connections.close_all()

    holder = threading.Thread(target=other_worker)
    holder.start()
    assert holder_has_lock.wait(timeout=30)
    claimer = threading.Thread(target=this_worker)
    claimer.start()
    deadline = time.monotonic() + 30
    while not ("this" in pids and _waiting_for_lock(pids["this"])):
        assert time.monotonic() < deadline, "our claim never waited for the other claim's row lock"
        assert claimer.is_alive(), "our claim finished without waiting for the lock"
        time.sleep(0.02)
    release.set()
    holder.join(timeout=30)
    claimer.join(timeout=30)

    assert claimed == {"this": None}
    op.refresh_from_db()
    assert (op.state, op.claimed_by, op.attempts) == ("running", "other", 1)
