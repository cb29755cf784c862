"""The engine's prepared statements store and load exactly what the ORM would (defaults, JSON, times,
conditions)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integration.core import engine
from integration.core.messages import Message, stored
from integration.core.models import Binding, HttpExchange, OperationEvent, RateLimitWindow, SyncOperation
from integration.core.row_reads import column, first_row, one_row, prepared, reading, table
from integration.core.row_writes import delete_row, insert_values, update_row, update_row_returning

pytestmark = pytest.mark.django_db


@pytest.fixture
def op(connection):
    return SyncOperation.objects.create(connection=connection, kind="sales_invoice", direction="to_dinero",
                                        source_key="1001", intent={"step": "guid_chosen"})


def test_an_inserted_row_reads_back_as_the_orm_would_have_stored_it(op):
    before = timezone.now()
    insert_values(OperationEvent, operation_id=op.pk, attempt=2, state="running",
                  **stored(message=Message("Attempt %(n)s started.", n=2)))
    event = OperationEvent.objects.get(operation=op)
    assert (event.attempt, event.state, event.message) == (2, "running", "Attempt 2 started.")
    assert event.message_meaning == {"message": "Attempt %(n)s started.", "params": {"n": 2}}
    assert before <= event.at <= timezone.now()  # the field's default, as a new instance takes it
    insert_values(HttpExchange, connection_id=op.connection_id, operation_id=op.pk, attempt=2, service="dinero",
                  method="POST", url="https://api.dinero.dk/v1/1/invoices", status=201, duration_ms=12,
                  request_body='{"Guid": "g"}', response_body="{}")
    exchange = HttpExchange.objects.get(operation=op)
    assert (exchange.status, exchange.duration_ms, exchange.bodies_pruned, exchange.error) == (201, 12, False, "")


def test_an_insert_names_only_fields_of_its_model_and_what_save_would_fill(op):
    with pytest.raises(TypeError, match="no field operation"):
        insert_values(OperationEvent, operation=op, message="x")  # a foreign key goes by its column
    with pytest.raises(TypeError, match="updated_at is filled by save"):
        insert_values(SyncOperation, connection_id=op.connection_id, kind="sales_invoice", direction="to_dinero",
                      source_key="1002")
    assert OperationEvent.objects.count() == 0


def test_an_update_writes_json_and_obeys_its_conditions(op):
    assert update_row(SyncOperation, op.pk, intent={"step": "booked", "sent": {"total": "4910.53"}}) == 1
    op.refresh_from_db()
    assert op.intent == {"step": "booked", "sent": {"total": "4910.53"}}
    window = RateLimitWindow.objects.create(key="dinero:1", grants="[]", version=3)
    assert update_row(RateLimitWindow, window.pk, where={"key": "dinero:1", "version": 2}, grants="[1.0]",
                      version=3) == 0
    assert update_row(RateLimitWindow, window.pk, where={"key": "dinero:1", "version": 3}, grants="[1.0]",
                      version=4) == 1
    window.refresh_from_db()
    assert (window.grants, window.version) == ("[1.0]", 4)
    later = timezone.now() + timedelta(minutes=5)
    assert update_row(SyncOperation, op.pk, next_attempt_at=later) == 1
    op.refresh_from_db()
    assert op.next_attempt_at == later


def test_an_update_returning_gives_the_row_as_a_query_reads_it(op):
    claimed = timezone.now() - timedelta(seconds=3)
    SyncOperation.objects.filter(pk=op.pk).update(state="running", claimed_by="w1", claimed_at=claimed,
                                                  rerun_requested=True)
    later = timezone.now() + timedelta(minutes=5)
    # Another claim's conditions: nothing changes, nothing comes back.
    assert update_row_returning(SyncOperation, op.pk, where={"state": "running", "claimed_by": "w2",
                                                             "claimed_at": claimed}, state="done") is None
    row = update_row_returning(SyncOperation, op.pk, where={"state": "running", "claimed_by": "w1",
                                                            "claimed_at": claimed},
                               state="pending", next_attempt_at=later, claimed_by="",
                               **stored(outcome=Message("Done: %(n)s", n=1)))
    read = SyncOperation.objects.get(pk=op.pk)
    # Every field, converted as a query converts it (times aware, JSON decoded), and what other
    # writers set meanwhile (the rerun asked for) included.
    assert row == {field.attname: getattr(read, field.attname) for field in SyncOperation._meta.concrete_fields}
    assert row["next_attempt_at"] == later and row["rerun_requested"] is True
    assert row["intent"] == {"step": "guid_chosen"} and row["outcome_meaning"] == {"message": "Done: %(n)s",
                                                                                   "params": {"n": 1}}


def test_a_prepared_read_loads_times_and_json_as_a_query_does(op):
    later = timezone.now() + timedelta(minutes=5)
    SyncOperation.objects.filter(pk=op.pk).update(next_attempt_at=later, intent={"sent": {"total": "4910.53"}})
    db = reading(SyncOperation)
    fields = [SyncOperation._meta.get_field(name) for name in ("next_attempt_at", "intent", "source_key")]
    columns = ", ".join(column(SyncOperation, field.name, db) for field in fields)
    sql = f"SELECT {columns} FROM {table(SyncOperation, db)} WHERE {column(SyncOperation, 'id', db)} = %s"
    row = first_row(db, sql, [prepared(SyncOperation, "id", op.pk, db)], fields)
    assert row == (later, {"sent": {"total": "4910.53"}}, "1001")
    assert row[0].tzinfo is not None
    assert first_row(db, sql, [prepared(SyncOperation, "id", op.pk + 1000, db)], fields) is None


def test_one_row_is_the_orm_s_first_of_a_unique_key(op, connection):
    Binding.objects.create(connection=connection, kind="product", rackbeat_key="FV-1", dinero_id="g-1",
                           facts={"cost_price": "210.50"})
    Binding.objects.create(connection=connection, kind="customer", rackbeat_key="FV-1", dinero_id="g-2")
    found = one_row(Binding, connection=connection, kind="product", rackbeat_key="FV-1")
    expected = Binding.objects.filter(connection=connection, kind="product", rackbeat_key="FV-1").first()
    assert found == expected  # the same row
    assert {f.attname: getattr(found, f.attname) for f in Binding._meta.concrete_fields} == \
        {f.attname: getattr(expected, f.attname) for f in Binding._meta.concrete_fields}
    assert one_row(Binding, connection=connection.pk, kind="customer", rackbeat_key="FV-1").dinero_id == "g-2"
    assert one_row(Binding, connection=connection, kind="product", rackbeat_key="FV-2") is None


def test_a_prepared_delete_removes_only_its_row(op):
    first = OperationEvent.objects.create(operation=op, attempt=1, state="running", message="a")
    second = OperationEvent.objects.create(operation=op, attempt=1, state="running", message="b")
    assert delete_row(OperationEvent, first.pk) == 1
    assert delete_row(OperationEvent, first.pk) == 0
    assert list(OperationEvent.objects.filter(operation=op).values_list("pk", flat=True)) == [second.pk]


def _prepared(condition: str) -> int:
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
                       [f'UPDATE "integration_syncoperation" SET "intent"% AND "{condition}" = $%'])
        return cursor.fetchone()[0]


@pytest.mark.parametrize(("prepared_statements", "condition"), [(True, "source_key"), (False, "kind")])
def test_on_postgresql_the_statements_are_prepared_once_per_database_connection(op, settings, prepared_statements,
                                                                               condition):
    if db_connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    settings.PREPARED_STATEMENTS = prepared_statements
    for step in ("guid_chosen", "created", "booked"):
        assert update_row(SyncOperation, op.pk, where={condition: getattr(op, condition)}, intent={"step": step}) == 1
    op.refresh_from_db()
    assert op.intent == {"step": "booked"}
    # Parsed and planned once, whatever the number of executions; never when switched off (a pooler).
    assert _prepared(condition) == (1 if prepared_statements else 0)


def test_a_new_operation_and_its_first_timeline_entry_are_one_statement_on_postgresql(connection):
    with CaptureQueriesContext(db_connection) as statements:
        pk = engine.enqueue_new(connection.pk, "item_consumption", "to_dinero", "1001", trigger="follow_up",
                                task=False)
    assert len(statements) == (1 if db_connection.vendor == "postgresql" else 2), [s["sql"] for s in statements]
    op = SyncOperation.objects.get(pk=pk)
    (event,) = op.events.all()
    assert (event.attempt, event.state, event.message) == (0, "pending", "Queued (Follow-up of another transfer).")
    assert event.message_meaning["params"]["trigger"] == {"key": "follow_up", "group": "trigger"}
    # The same document again: neither row is written twice.
    with CaptureQueriesContext(db_connection) as statements:
        assert engine.enqueue_new(connection.pk, "item_consumption", "to_dinero", "1001", trigger="webhook") is None
    assert len(statements) == 1
    assert OperationEvent.objects.filter(operation=op).count() == 1
