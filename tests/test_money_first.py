"""Booked documents before master data inside one connection's request budget: an invoice booked
during a flood of product operations takes the budget's next free request, not the end of the
flood's line."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from accounts.models import Connection
from integration.core import dispatch, engine
from integration.core.clients import errors
from integration.core.clients.ratelimit import SharedRateLimiter
from integration.core.models import Direction, Kind, Priority, RateLimitWindow, SyncOperation, Trigger
from tests.test_engine import ScriptedHandler

State = SyncOperation.State
BUDGET = "dinero:400555"
LIMIT = 5


@pytest.fixture
def handler(monkeypatch):
    import integration.transfers  # noqa: F401  (registers the real handlers first)
    from integration.core import handlers

    scripted = ScriptedHandler()
    for kind in (Kind.SALES_INVOICE, Kind.PRODUCT, Kind.CUSTOMER):
        monkeypatch.setitem(handlers._REGISTRY, (str(kind), str(Direction.TO_DINERO)), scripted)
    return scripted


@pytest.fixture
def active(connection, settings) -> Connection:
    settings.DINERO_RATE_LIMIT_PER_MINUTE = LIMIT
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    connection.set_state(Connection.State.ACTIVE)
    connection.save()
    return connection


def queue(connection, kind, key):
    return engine.enqueue(connection, kind, Direction.TO_DINERO, key, trigger=Trigger.POLL)


def fill_budget():
    limiter = SharedRateLimiter(LIMIT)
    for _n in range(LIMIT):
        limiter.acquire(BUDGET)


def budget_frees():
    """The minute has passed: the log is empty and every waiting row is due."""
    RateLimitWindow.objects.filter(key=BUDGET).update(grants="[]")
    latest = SyncOperation.objects.filter(state=State.PENDING).order_by("-next_attempt_at").first()
    shift = latest.next_attempt_at - timezone.now() + timedelta(seconds=1)
    SyncOperation.objects.filter(state=State.PENDING).update(next_attempt_at=F("next_attempt_at") - shift)


def test_priority_is_set_from_the_kind_on_every_way_a_row_is_written(active):
    made = SyncOperation.objects.create(connection=active, kind=Kind.CREDIT_NOTE, source_key="7")
    assert made.priority == Priority.MONEY
    assert SyncOperation.objects.get(pk=made.pk).priority == Priority.MONEY
    pk = engine.enqueue_new(active.pk, Kind.SUPPLIER_INVOICE, Direction.TO_DINERO, "8", trigger=Trigger.WEBHOOK)
    assert SyncOperation.objects.get(pk=pk).priority == Priority.MONEY
    pk = engine.enqueue_new(active.pk, Kind.PRODUCT, Direction.TO_DINERO, "P1", trigger=Trigger.WEBHOOK)
    assert SyncOperation.objects.get(pk=pk).priority == Priority.MASTER_DATA


def test_an_invoice_booked_during_a_product_flood_is_the_next_to_run_when_the_budget_frees(active, handler):
    fill_budget()
    products = [queue(active, Kind.PRODUCT, f"P{n}") for n in range(30)]
    for product in products:
        assert engine.run_operation(product.pk) is not None
    assert handler.calls == []
    product_dues = sorted(SyncOperation.objects.filter(kind=Kind.PRODUCT).values_list("next_attempt_at", flat=True))
    invoice = queue(active, Kind.SALES_INVOICE, "1001")
    assert engine.run_operation(invoice.pk) is not None
    invoice.refresh_from_db()
    # Put back to the budget's next free moment — not behind thirty products' promises.
    assert invoice.state == State.PENDING and invoice.budget_key == BUDGET
    assert invoice.next_attempt_at <= product_dues[1]

    budget_frees()
    # Whichever task wakes first — a product's — the invoice is what runs.
    ran = engine.run_operation(products[-1].pk)
    assert ran is not None and ran.pk == invoice.pk and ran.state == State.DONE
    assert handler.calls == [invoice.pk]


def test_master_data_yields_the_free_request_to_a_waiting_invoice(active, handler):
    invoice = queue(active, Kind.SALES_INVOICE, "1001")
    SyncOperation.objects.filter(pk=invoice.pk).update(
        budget_key=BUDGET, next_attempt_at=timezone.now() + timedelta(seconds=20))
    product = queue(active, Kind.PRODUCT, "P1")
    ran = engine.run_operation(product.pk)
    assert ran is not None and ran.pk == product.pk
    assert ran.state == State.PENDING and ran.budget_key == BUDGET and ran.attempts == 0
    assert handler.calls == []
    # With no invoice waiting, the product runs.
    SyncOperation.objects.filter(pk=invoice.pk).update(state=State.DONE, budget_key="")
    SyncOperation.objects.filter(pk=product.pk).update(next_attempt_at=timezone.now())
    assert engine.run_operation(product.pk).state == State.DONE


def test_a_due_invoice_goes_before_its_connections_older_master_data(active):
    products = [queue(active, Kind.PRODUCT, f"P{n}") for n in range(3)]
    SyncOperation.objects.filter(kind=Kind.PRODUCT).update(next_attempt_at=timezone.now() - timedelta(hours=1))
    invoice = queue(active, Kind.SALES_INVOICE, "1001")
    chosen = dispatch.candidates(products[0].pk, waiting_connection_states=engine.WAITING_CONNECTION_STATES)
    assert chosen[0] == invoice.pk


def test_invoices_waiting_for_the_budget_are_spaced_among_themselves(active, handler):
    fill_budget()
    for n in range(10):
        engine.run_operation(queue(active, Kind.PRODUCT, f"P{n}").pk)
    first = queue(active, Kind.SALES_INVOICE, "1")
    second = queue(active, Kind.SALES_INVOICE, "2")
    engine.run_operation(first.pk)
    engine.run_operation(second.pk)
    first.refresh_from_db()
    second.refresh_from_db()
    spacing = SharedRateLimiter(LIMIT).span / LIMIT
    gap = (second.next_attempt_at - first.next_attempt_at).total_seconds()
    assert gap == pytest.approx(spacing, abs=0.01)


def test_an_invoice_that_meets_a_full_budget_mid_transfer_waits_in_the_line_of_booked_documents(active, handler):
    late = time.time() + 1800

    def budget_used_up_meanwhile(op, ctx):
        fill_budget()
        raise errors.BudgetExhausted(key=BUDGET, retry_after=1800, due_at=late)

    handler.script = [budget_used_up_meanwhile]
    invoice = queue(active, Kind.SALES_INVOICE, "1001")
    engine.run_operation(invoice.pk)
    invoice.refresh_from_db()
    assert invoice.state == State.PENDING and invoice.budget_key == BUDGET
    # The budget's next free moment (its minute), not the end of a line half an hour away.
    assert invoice.next_attempt_at.timestamp() < time.time() + 2 * 60


def test_rackbeats_budget_keeps_the_moment_it_named(active, handler):
    due = time.time() + 1800
    for _n in range(LIMIT):
        SharedRateLimiter(LIMIT).acquire("rackbeat:token")
    handler.script = [errors.BudgetExhausted(key="rackbeat:token", retry_after=1800, due_at=due)]
    invoice = queue(active, Kind.SALES_INVOICE, "1001")
    engine.run_operation(invoice.pk)
    invoice.refresh_from_db()
    assert invoice.state == State.PENDING
    assert invoice.next_attempt_at.timestamp() == pytest.approx(due, abs=0.01)
