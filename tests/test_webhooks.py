"""The Rackbeat webhook receiver: only genuine deliveries cause work, each once, never a 500."""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import connection as db_connection
from django.urls import reverse

from accounts.models import Connection
from integration.core import handlers
from integration.core.handlers import Result
from integration.core.models import (
    IntegrationSettings,
    Kind,
    RackbeatWebhook,
    SyncOperation,
    WebhookDelivery,
)

TOKEN = "a" * 32


@pytest.fixture
def handled(monkeypatch):
    """Master-data handlers replaced by one that records the keys it was asked to transfer."""
    import integration.transfers  # noqa: F401

    calls: list[str] = []

    def handler(op, ctx):
        calls.append(op.source_key)
        return Result(outcome="transferred")

    for kind in (Kind.CUSTOMER, Kind.SUPPLIER, Kind.PRODUCT, Kind.BOM):
        monkeypatch.setitem(handlers._REGISTRY, (kind.value, "to_dinero"), handler)
    return calls


@pytest.fixture
def active(connection) -> Connection:
    connection.set_state(Connection.State.ACTIVE)
    connection.save()
    for event in ("customer.created", "customer.updated", "product.updated", "made.up"):
        RackbeatWebhook.objects.create(connection=connection, event=event, rackbeat_id=event, url="x", token=TOKEN)
    return connection


def post(client, connection, event="customer.created", key=77, *, token=TOKEN, account=None, body=None):
    payload = body if body is not None else json.dumps({"key": key, "key_name": "number", "event": event,
                                                         "data": {"number": key}})
    return client.post(
        reverse("rackbeat-webhook", args=[connection.public_id]), data=payload, content_type="application/json",
        HTTP_RACKBEAT_WEBHOOK_TOKEN=token, HTTP_RACKBEAT_WEBHOOK_EVENT=event,
        HTTP_RACKBEAT_ACCOUNT_ID=connection.rackbeat_account_id if account is None else account,
    )


def test_genuine_delivery_creates_the_operation_and_answers_202(client, active, handled,
                                                                django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, active)
    assert response.status_code == 202
    op = SyncOperation.objects.get(connection=active, kind=Kind.CUSTOMER, source_key="77")
    assert op.trigger == "webhook" and op.state == SyncOperation.State.DONE
    delivery = WebhookDelivery.objects.get(connection=active)
    assert delivery.outcome == WebhookDelivery.Outcome.ACCEPTED and delivery.operation == op
    assert handled == ["77"]


def test_same_delivery_twice_is_one_operation(client, active, handled, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = post(client, active)
        second = post(client, active)
    assert first.status_code == 202
    assert second.status_code == 200 and second.json()["status"] == "duplicate"
    assert SyncOperation.objects.filter(connection=active).count() == 1
    # Both are stored; the second joined the operation still queued by the first.
    assert sorted(WebhookDelivery.objects.filter(connection=active).values_list("outcome", flat=True)) == [
        "accepted", "duplicate"]
    assert handled == ["77"]


def test_wrong_token_is_401_and_causes_no_work(client, active, handled):
    response = post(client, active, token="b" * 32)
    assert response.status_code == 401
    assert not SyncOperation.objects.exists() and not WebhookDelivery.objects.exists()


def test_missing_token_is_401(client, active, handled):
    assert post(client, active, token="").status_code == 401


def test_token_of_another_event_is_not_accepted(client, active, handled):
    RackbeatWebhook.objects.create(connection=active, event="supplier.created", rackbeat_id="s", url="x",
                                   token="c" * 32)
    assert post(client, active, event="customer.created", token="c" * 32).status_code == 401


def test_unknown_connection_is_404(client, db):
    response = client.post(reverse("rackbeat-webhook", args=[uuid.uuid4()]), data="{}",
                           content_type="application/json")
    assert response.status_code == 404


def test_inactive_connection_is_409_and_recorded_nowhere(client, active, handled):
    active.set_state(Connection.State.PAUSED)
    active.save()
    assert post(client, active).status_code == 409
    assert not WebhookDelivery.objects.exists()


def test_bad_json_is_400(client, active, handled):
    assert post(client, active, body="{not json").status_code == 400
    assert post(client, active, body="[1, 2]").status_code == 400
    assert post(client, active, body="\xff\xfe").status_code == 400
    assert not WebhookDelivery.objects.exists()


def test_get_is_not_allowed(client, active):
    assert client.get(reverse("rackbeat-webhook", args=[active.public_id])).status_code == 405


def test_unknown_event_is_recorded_and_ignored(client, active, handled):
    response = post(client, active, event="made.up")
    assert response.status_code == 200 and response.json()["status"] == "ignored"
    delivery = WebhookDelivery.objects.get()
    assert delivery.outcome == WebhookDelivery.Outcome.IGNORED and delivery.event == "made.up"
    assert not SyncOperation.objects.exists()


def test_configured_event_names_replace_the_defaults(client, active, handled, django_capture_on_commit_callbacks):
    IntegrationSettings.objects.create(connection=active, webhook_events={"made.up": "product"})
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, active, event="made.up", key="A-1").status_code == 202
        assert post(client, active, event="customer.created").json()["status"] == "ignored"
    assert SyncOperation.objects.get().kind == Kind.PRODUCT


def test_updated_event_with_same_key_but_new_body_queues_again(client, active, handled,
                                                               django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post(client, active, event="customer.updated", body=json.dumps({"key": 77, "event": "customer.updated",
                                                                        "changed": ["name"]}))
    with django_capture_on_commit_callbacks(execute=True):
        post(client, active, event="customer.updated", body=json.dumps({"key": 77, "event": "customer.updated",
                                                                        "changed": ["ean"]}))
    assert handled == ["77", "77"]
    assert SyncOperation.objects.count() == 1


def test_body_without_a_key_is_refused_with_a_reason(client, active, handled):
    response = post(client, active, body=json.dumps({"event": "customer.created", "data": {}}))
    assert response.status_code == 400 and "no key" in response.content.decode()
    assert not WebhookDelivery.objects.exists() and not SyncOperation.objects.exists()


def test_webhook_of_one_connection_never_reaches_another(client, active, other_connection, handled):
    other_connection.set_state(Connection.State.ACTIVE)
    other_connection.save()
    # The token is right for `active`, but the address is the other connection's.
    response = post(client, other_connection, account=other_connection.rackbeat_account_id)
    assert response.status_code == 401


# --- Real (thin) deliveries and de-duplication that keeps updates ---------------------------------------

def thin(client, connection, event="customer.updated", key="77", *, token=TOKEN, headers=None):
    """A delivery as Rackbeat really sends it: the event only in the header."""
    extra = {"HTTP_RACKBEAT_WEBHOOK_TOKEN": token, "HTTP_RACKBEAT_WEBHOOK_EVENT": event,
             "HTTP_RACKBEAT_ACCOUNT_ID": connection.rackbeat_account_id, **(headers or {})}
    return client.post(reverse("rackbeat-webhook", args=[connection.public_id]),
                       data=json.dumps({"key_name": "number", "key": key}), content_type="application/json", **extra)


def test_thin_delivery_takes_the_event_from_the_header(client, active, handled, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert thin(client, active, event="product.updated", key="PAL-1").status_code == 202
    assert SyncOperation.objects.get().kind == Kind.PRODUCT and handled == ["PAL-1"]
    assert WebhookDelivery.objects.get().event == "product.updated"


def test_identical_update_after_the_first_was_done_reads_the_record_again(client, active, handled,
                                                                          django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert thin(client, active).status_code == 202
    with django_capture_on_commit_callbacks(execute=True):
        second = thin(client, active)
    assert second.status_code == 202 and second.json()["status"] == "accepted"
    assert handled == ["77", "77"]
    assert list(WebhookDelivery.objects.values_list("outcome", flat=True)) == ["accepted", "accepted"]


def test_update_arriving_while_the_record_is_being_transferred_runs_it_again(client, active, handled,
                                                                              django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        thin(client, active)
    op = SyncOperation.objects.get()
    SyncOperation.objects.filter(pk=op.pk).update(state=SyncOperation.State.RUNNING)
    response = thin(client, active)
    assert response.status_code == 202
    assert SyncOperation.objects.get().rerun_requested is True


def test_booked_invoice_delivered_again_after_transfer_is_kept_not_sent_twice(client, active, handled):
    RackbeatWebhook.objects.create(connection=active, event="customer_invoice.booked", rackbeat_id="i", url="x",
                                   token="d" * 32)
    op = SyncOperation.objects.create(connection=active, kind=Kind.SALES_INVOICE, source_key="1021",
                                      state=SyncOperation.State.DONE)
    response = thin(client, active, event="customer_invoice.booked", key="1021", token="d" * 32)
    assert response.status_code == 200 and response.json() == {"status": "kept", "operation": op.pk}
    assert SyncOperation.objects.get(pk=op.pk).state == SyncOperation.State.DONE
    assert WebhookDelivery.objects.get().outcome == WebhookDelivery.Outcome.KEPT


def test_older_shape_without_event_header_is_authenticated_by_its_token(client, active, handled,
                                                                        django_capture_on_commit_callbacks):
    body = json.dumps({"key": 77, "key_name": "number", "event": "customer.created", "data": {"number": 77}})
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("rackbeat-webhook", args=[active.public_id]), data=body,
                               content_type="application/json", HTTP_RACKBEAT_WEBHOOK_TOKEN=TOKEN,
                               HTTP_RACKBEAT_ACCOUNT_ID=active.rackbeat_account_id)
    assert response.status_code == 202 and handled == ["77"]


def test_body_event_contradicting_the_header_is_refused(client, active, handled):
    body = json.dumps({"key": 77, "key_name": "number", "event": "product.updated"})
    response = post(client, active, event="customer.created", body=body)
    assert response.status_code == 400 and "differs" in response.content.decode()
    assert not SyncOperation.objects.exists()


def test_token_rotated_by_another_process_is_accepted_at_once(client, active, handled):
    assert thin(client, active).status_code == 202  # the address is now cached in this process
    # A resume in another process registered the webhook again: new token, no signal seen here.
    RackbeatWebhook.objects.filter(connection=active, event="customer.updated").update(token="e" * 32)
    assert thin(client, active, key="78", token="e" * 32).status_code == 202
    assert thin(client, active, key="79", token=TOKEN).status_code == 401


def test_oversized_body_is_413_before_anything_is_read(client, active, handled):
    body = json.dumps({"key": "77", "key_name": "number", "pad": "x" * (65 * 1024)})
    assert post(client, active, body=body).status_code == 413
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_accepted_delivery_costs_a_handful_of_statements(client, active, handled, settings,
                                                         django_assert_max_num_queries):
    """The intake's budget (issue 13): one INSERT for the operation already marked as queued, its
    timeline entry, the task, the delivery, inside BEGIN/COMMIT; the address lookup is cached."""
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    thin(client, active, key="1")  # warms the address cache, as every delivery after the first finds it
    # PostgreSQL: all four rows in one statement (integration.triggers.intake_insert); elsewhere one
    # transaction, which also reads the connection's state again.
    with django_assert_max_num_queries(1 if db_connection.vendor == "postgresql" else 7):
        assert thin(client, active, key="2").status_code == 202
    with django_assert_max_num_queries(1 if db_connection.vendor == "postgresql" else 6):
        assert thin(client, active, key="2").json()["status"] == "duplicate"
    from django_q.models import OrmQ

    assert OrmQ.objects.count() == 2
    assert SyncOperation.objects.get(source_key="2").enqueued_at is not None


@pytest.mark.django_db(transaction=True)
def test_the_one_statement_path_writes_what_the_ordinary_path_writes(client, active, handled, settings):
    if db_connection.vendor != "postgresql":
        pytest.skip("the one-statement intake is PostgreSQL's")
    from django_q.models import OrmQ
    from django_q.signing import SignedPackage

    from integration.core.models import OperationEvent

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    response = thin(client, active, key="4242")
    assert response.status_code == 202
    op = SyncOperation.objects.get(pk=response.json()["operation"])
    assert (op.kind, op.source_key, op.document_number, op.state, op.trigger) == (
        Kind.CUSTOMER, "4242", "4242", SyncOperation.State.PENDING, "webhook")
    assert op.enqueued_at is not None and op.next_attempt_at is not None and op.intent == {}
    assert list(OperationEvent.objects.filter(operation=op).values_list("message", flat=True)) == [
        "Queued (Webhook)."]
    task = SignedPackage.loads(OrmQ.objects.get().payload)
    assert (task["func"], task["args"], task["name"]) == ("integration.tasks.run_operation", (op.pk,),
                                                          f"operation-{op.pk}")
    delivery = WebhookDelivery.objects.get()
    assert (delivery.operation_id, delivery.outcome, delivery.key, delivery.event) == (
        op.pk, "accepted", "4242", "customer.updated")
    assert thin(client, active, key="4242").json() == {"status": "duplicate", "operation": op.pk}
    # Any other state goes the ordinary way, where the engine's lifecycle rules decide.
    SyncOperation.objects.filter(pk=op.pk).update(state=SyncOperation.State.RUNNING)
    assert thin(client, active, key="4242").json() == {"status": "accepted", "operation": op.pk}
    assert SyncOperation.objects.get(pk=op.pk).rerun_requested is True
    assert OrmQ.objects.count() == 1


def _columns(obj, *, besides: set[str]) -> dict[str, object]:
    return {field.attname: getattr(obj, field.attname) for field in type(obj)._meta.concrete_fields
            if field.attname not in besides}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("event", ["customer.updated", "product.updated"])
def test_every_column_the_one_statement_writes_is_what_the_ordinary_path_writes(client, active, handled, settings,
                                                                               monkeypatch, event):
    """Row for row and column for column, apart from the record's key, ids and times: the
    operation (with its kind's priority), its timeline entry (text and meaning) and the delivery —
    for the first delivery of a process and for every later one."""
    if db_connection.vendor != "postgresql":
        pytest.skip("the one-statement intake is PostgreSQL's")
    from integration.core.models import OperationEvent
    from integration.triggers import intake_insert

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    one_statement = [thin(client, active, event=event, key=key).json()["operation"] for key in ("5001", "5002")]
    monkeypatch.setattr(intake_insert, "available", lambda: False)
    ordinary = thin(client, active, event=event, key="6001").json()["operation"]

    def written(op_id: int) -> tuple[dict, list[dict], list[dict]]:
        return (
            _columns(SyncOperation.objects.get(pk=op_id), besides={
                "id", "source_key", "document_number", "next_attempt_at", "enqueued_at", "created_at", "updated_at"}),
            [_columns(row, besides={"id", "operation_id", "at"})
             for row in OperationEvent.objects.filter(operation_id=op_id)],
            [_columns(row, besides={"id", "key", "body", "body_sha256", "operation_id", "received_at"})
             for row in WebhookDelivery.objects.filter(operation_id=op_id)],
        )

    expected = written(ordinary)
    assert expected[1][0]["message_meaning"] is not None
    for op_id in one_statement:
        assert written(op_id) == expected
    first, later = (SyncOperation.objects.get(pk=op_id) for op_id in one_statement)
    assert (later.source_key, later.document_number) == ("5002", "5002")
    assert later.created_at >= first.created_at and later.updated_at >= later.created_at


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("prepared_statements", [True, False])
def test_the_one_statement_is_prepared_once_per_database_connection_and_still_logged(client, active, handled,
                                                                                    settings, prepared_statements):
    """PostgreSQL parses and plans the intake statement once per connection; Django's query log
    (and every execute wrapper) still sees each execution. Switched off (behind a pooler), it is
    not prepared at all."""
    if db_connection.vendor != "postgresql":
        pytest.skip("the one-statement intake is PostgreSQL's")
    from django.test.utils import CaptureQueriesContext

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    settings.PREPARED_STATEMENTS = prepared_statements
    thin(client, active, key="6999")  # warms the address cache
    with CaptureQueriesContext(db_connection) as captured:
        for key in range(3):
            assert thin(client, active, key=str(7000 + key)).status_code == 202
    # (A prepared execution carries no query text for the log, only its place in it.)
    statements = [query["sql"] or "" for query in captured.captured_queries]
    assert len([sql for sql in statements if not sql.startswith("SELECT nextval")]) == 3
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'WITH conn AS%%'")
        assert cursor.fetchone()[0] == (1 if prepared_statements else 0)
    assert WebhookDelivery.objects.filter(outcome="accepted").count() == 4


@pytest.mark.django_db(transaction=True)
def test_the_one_statement_is_not_rewritten_by_the_client_for_each_delivery(client, active, handled, settings,
                                                                           monkeypatch):
    """The statement's text is sent as built, with its values as parameters: psycopg does not scan
    and rewrite the placeholders of a long statement for every delivery (whatever the number of
    columns the four tables grow to)."""
    if db_connection.vendor != "postgresql":
        pytest.skip("the one-statement intake is PostgreSQL's")
    from psycopg import _queries

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    thin(client, active, key="8999")  # warms the address cache and this process's statement
    rewritten: list[bytes] = []
    split = _queries._split_query

    def counted(query, *args, **kwargs):  # type: ignore[no-untyped-def]
        rewritten.append(query)
        return split(query, *args, **kwargs)

    monkeypatch.setattr(_queries, "_split_query", counted)
    for key in range(3):
        assert thin(client, active, key=str(9000 + key)).status_code == 202
    assert [query for query in rewritten if b"WITH conn AS" in query] == []
    assert WebhookDelivery.objects.filter(outcome="accepted").count() == 4


def _intake_path(settings, monkeypatch, one_statement: bool) -> None:
    """Tasks queued as in production; the one-statement intake where the database has it, or not."""
    from integration.triggers import intake_insert

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    if not one_statement:
        monkeypatch.setattr(intake_insert, "available", lambda: False)


def _as_if_another_process_changed_it(connection, change) -> None:
    """Apply ``change`` as another process would: this process's address cache keeps its entry."""
    from integration.triggers import webhook_addresses

    kept = dict(webhook_addresses._cache)
    change()
    webhook_addresses._cache.update(kept)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("one_statement", [True, False])
def test_a_connection_paused_elsewhere_stops_accepting_at_the_next_delivery(client, active, handled, settings,
                                                                           monkeypatch, one_statement):
    _intake_path(settings, monkeypatch, one_statement)
    assert thin(client, active, key="1").status_code == 202  # the address is now cached as active
    stored = WebhookDelivery.objects.count()

    def pause():
        active.set_state(Connection.State.PAUSED)
        active.save()

    _as_if_another_process_changed_it(active, pause)
    assert thin(client, active, key="2").status_code == 409
    assert thin(client, active, key="1").status_code == 409  # the still-queued record, too
    assert thin(client, active, event="made.up", key="3").status_code == 409  # an ignored event
    assert WebhookDelivery.objects.count() == stored
    assert not SyncOperation.objects.filter(source_key__in=["2", "3"]).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("one_statement", [True, False])
def test_a_connection_deleted_elsewhere_answers_404_not_500(client, active, handled, settings, monkeypatch,
                                                            one_statement):
    _intake_path(settings, monkeypatch, one_statement)
    assert thin(client, active, key="1").status_code == 202
    _as_if_another_process_changed_it(active, active.delete)
    assert thin(client, active, key="2").status_code == 404
    assert thin(client, active, key="1").status_code == 404
    assert thin(client, active, event="made.up", key="3").status_code == 404
    assert not WebhookDelivery.objects.exists()
    assert not SyncOperation.objects.exists()
