"""Connections that invoice in Dinero: booked Dinero invoices become booked Rackbeat invoices, once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Connection
from integration.core.clients.errors import UncertainOutcome
from integration.core.handlers import NeedsMapping, SkipTransfer
from integration.core.models import (
    Binding,
    Direction,
    IntegrationSettings,
    Kind,
    PollCursor,
    SyncOperation,
    SyncRun,
)
from integration.transfers.dinero_invoices import transfer_dinero_invoice
from tests.invoice_fixtures import FIXTURES, customer, dinero_fixture, rackbeat_fixture, run, world_fixture

USES = (FIXTURES, dinero_fixture, rackbeat_fixture, world_fixture)

CONTACT = "0c0c0c0c-0000-4000-8000-00000000000c"
PRODUCT = "9d9d9d9d-0000-4000-8000-00000000009d"


@pytest.fixture(autouse=True)
def invoicing_in_dinero(world):
    IntegrationSettings.objects.filter(connection=world.connection).update(customer_invoices_created_in="dinero")


def _dinero_invoice(dinero, *, status="Booked", lines=None):
    lines = lines or [
        {"ProductGuid": PRODUCT, "Description": "Skrue", "Quantity": 10, "BaseAmountValue": 2.5, "Discount": 0,
         "AccountNumber": 1000, "Unit": "parts", "LineType": "Product"},
        {"Description": "Montage", "Quantity": 1, "BaseAmountValue": 400, "Discount": 10, "AccountNumber": 1000,
         "Unit": "hours", "LineType": "Product"},
    ]
    return dinero.add_booked_invoice(contact_guid=CONTACT, lines=lines, status=status)


def _run(connection, rackbeat, dinero, guid):
    return run(transfer_dinero_invoice, connection, Kind.SALES_INVOICE, guid, rackbeat, dinero,
               direction=Direction.TO_RACKBEAT)


def _bind_customer(connection, rackbeat):
    rackbeat.customers["501"] = customer()
    Binding.objects.create(connection=connection, kind=Kind.CUSTOMER, rackbeat_key="501", dinero_id=CONTACT)


def test_booked_dinero_invoice_becomes_booked_rackbeat_invoice(connection, rackbeat, dinero):
    _bind_customer(connection, rackbeat)
    Binding.objects.create(connection=connection, kind=Kind.PRODUCT, rackbeat_key="SK-1", dinero_id=PRODUCT)
    invoice = _dinero_invoice(dinero)
    result = _run(connection, rackbeat, dinero, invoice["Guid"])

    created = rackbeat.customer_invoices[result.target_id]
    assert created["is_booked"]
    assert created["customer_id"] == "501"
    assert created["invoice_date"] == "2026-03-02" and created["due_date"] == "2026-03-16"
    assert created["other_reference"] == created["note"] == f"dinero:invoice:{invoice['Guid']}"
    assert created["lines"] == [
        {"name": "Skrue", "quantity": 10, "line_price": 2.5, "discount_percentage": 0, "item_id": "SK-1"},
        {"name": "Montage", "quantity": 1, "line_price": 400, "discount_percentage": 10},
    ]
    assert result.document_number == str(invoice["Number"])


def test_customer_is_found_by_email_and_bound(connection, rackbeat, dinero):
    rackbeat.customers["777"] = customer(777, email="Indkob@Kunde.dk")
    dinero.contacts[CONTACT] = {"ContactGuid": CONTACT, "Name": "Kunde", "Email": "indkob@kunde.dk"}
    invoice = _dinero_invoice(dinero)
    result = _run(connection, rackbeat, dinero, invoice["Guid"])
    assert rackbeat.customer_invoices[result.target_id]["customer_id"] == "777"
    assert Binding.objects.get(connection=connection, kind=Kind.CUSTOMER, dinero_id=CONTACT).rackbeat_key == "777"


def test_unknown_customer_needs_attention_naming_the_contact(connection, rackbeat, dinero):
    dinero.contacts[CONTACT] = {"ContactGuid": CONTACT, "Name": "Ny Kunde ApS", "Email": "ny@kunde.dk"}
    invoice = _dinero_invoice(dinero)
    with pytest.raises(NeedsMapping, match="Ny Kunde ApS"):
        _run(connection, rackbeat, dinero, invoice["Guid"])
    assert rackbeat.customer_invoices == {}


def test_product_number_known_in_rackbeat_is_used_without_binding(connection, rackbeat, dinero):
    _bind_customer(connection, rackbeat)
    rackbeat.products["SK-1"] = {"number": "SK-1"}
    dinero.products[PRODUCT] = {"ProductGuid": PRODUCT, "ProductNumber": "SK-1"}
    result = _run(connection, rackbeat, dinero, _dinero_invoice(dinero)["Guid"])
    assert rackbeat.customer_invoices[result.target_id]["lines"][0]["item_id"] == "SK-1"


def test_draft_dinero_invoice_is_skipped(connection, rackbeat, dinero):
    invoice = _dinero_invoice(dinero, status="Draft")
    with pytest.raises(SkipTransfer, match="draft"):
        _run(connection, rackbeat, dinero, invoice["Guid"])


def test_path_is_off_when_invoices_are_created_in_rackbeat(connection, rackbeat, dinero):
    IntegrationSettings.objects.filter(connection=connection).update(customer_invoices_created_in="rackbeat")
    with pytest.raises(SkipTransfer, match="created in Rackbeat"):
        _run(connection, rackbeat, dinero, _dinero_invoice(dinero)["Guid"])


def test_lost_answer_finds_the_created_invoice_instead_of_creating_another(connection, rackbeat, dinero):
    _bind_customer(connection, rackbeat)
    invoice = _dinero_invoice(dinero)
    rackbeat.fail_after_write.add("create_customer_invoice")
    with pytest.raises(UncertainOutcome):
        _run(connection, rackbeat, dinero, invoice["Guid"])
    result = _run(connection, rackbeat, dinero, invoice["Guid"])
    assert rackbeat.count("create_customer_invoice") == 1
    assert rackbeat.customer_invoices[result.target_id]["is_booked"]


def test_consumption_follows_when_enabled(connection, rackbeat, dinero):
    _bind_customer(connection, rackbeat)
    IntegrationSettings.objects.filter(connection=connection).update(item_consumption_enabled=True)
    result = _run(connection, rackbeat, dinero, _dinero_invoice(dinero)["Guid"])
    assert result.follow_ups == [(Kind.ITEM_CONSUMPTION, Direction.TO_DINERO, result.target_id)]


def test_poll_queues_booked_invoices_and_moves_the_cursor(connection, other_connection, rackbeat, dinero,
                                                          monkeypatch):
    from integration.core import engine
    from integration.triggers import dinero_poll

    Connection.objects.filter(pk=connection.pk).update(state=Connection.State.ACTIVE)
    booked = _dinero_invoice(dinero)
    _dinero_invoice(dinero, status="Draft")
    queued = []
    monkeypatch.setattr("integration.triggers.dinero_poll.dinero_client", lambda conn, op=None: dinero)
    monkeypatch.setattr(engine, "enqueue", lambda *args, **kwargs: queued.append((args, kwargs)))

    before = timezone.now()
    assert dinero_poll.poll_all_connections() == 1
    after = timezone.now()
    ((args, kwargs),) = queued
    assert kwargs["trigger"] == "poll"
    assert args == (connection, Kind.SALES_INVOICE, Direction.TO_RACKBEAT, booked["Guid"])
    run_row = SyncRun.objects.get(connection=connection, kind=SyncRun.RunKind.POLL_DINERO)
    assert run_row.state == SyncRun.State.DONE and run_row.created == 1
    cursor = PollCursor.objects.get(connection=connection, stream=dinero_poll.STREAM)
    # The round's window starts at its minute (13 past, for the schedule), whenever the poll ran.
    assert before.replace(second=0, microsecond=0) <= cursor.value <= after
    assert cursor.value.second == 0 and cursor.value.microsecond == 0
    ((changes_since, status_filter),) = [a for name, a in dinero.calls if name == "iter_invoices"]
    assert status_filter == "Booked,Paid,OverPaid,Overdue"
    assert changes_since <= before - dinero_poll.OVERLAP

    dinero_poll.poll_connection(connection)
    second = [a for name, a in dinero.calls if name == "iter_invoices"][-1][0]
    assert second == cursor.value - dinero_poll.OVERLAP
    assert not SyncRun.objects.filter(connection=other_connection).exists()


def test_poll_with_real_engine_runs_each_invoice_once(connection, rackbeat, dinero, monkeypatch, settings):
    from integration.triggers import dinero_poll

    settings.Q_CLUSTER = {**getattr(settings, "Q_CLUSTER", {}), "sync": True}
    Connection.objects.filter(pk=connection.pk).update(state=Connection.State.ACTIVE)
    _bind_customer(connection, rackbeat)
    _dinero_invoice(dinero)
    monkeypatch.setattr("integration.triggers.dinero_poll.dinero_client", lambda conn, op=None: dinero)
    monkeypatch.setattr("integration.core.engine.rackbeat_client", lambda conn, op=None: rackbeat)
    monkeypatch.setattr("integration.core.engine.dinero_client", lambda conn, op=None: dinero)
    dinero_poll.poll_connection(connection)
    PollCursor.objects.filter(connection=connection).update(value=timezone.now() - timedelta(days=1))
    dinero_poll.poll_connection(connection)
    op = SyncOperation.objects.get(connection=connection, direction=Direction.TO_RACKBEAT)
    from integration.core import engine

    if op.state == SyncOperation.State.PENDING:
        engine.execute_now(op)
        op.refresh_from_db()
    assert op.state == SyncOperation.State.DONE, (op.last_error, op.outcome)
    assert rackbeat.count("create_customer_invoice") == 1
