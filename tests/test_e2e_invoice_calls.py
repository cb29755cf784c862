"""Vendor calls per invoice, counted at the HTTP chokepoint (every request is an HttpExchange row).

Over real HTTP against both emulators: a sales invoice whose customer and products are bound and
unchanged reads Rackbeat once — the invoice; its products come from what is kept with their
bindings — and its consumption voucher reads nothing more. A product Rackbeat says changed (its
webhook or the poll queues its operation) is read again until its own transfer has run. A new
customer or product is looked up in Dinero once before it is created.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from urllib.parse import unquote_plus

import pytest
from django.core.cache import caches
from django.db import connection as db_connection

from integration.core import engine
from integration.core.clients.ratelimit import SharedRateLimiter
from integration.core.models import Binding, HttpExchange, Kind, RateLimitWindow, SyncOperation, Trigger
from tests.test_e2e_invoices import _book_sales_invoice, _settings, _transfer, e2e

USES = (e2e,)
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
LINES = [("FV-1", 2, "499.00"), ("RD-9", 5, "29.95")]


def _calls(*ops: SyncOperation) -> Counter:
    """(service, method, path and query) of every request the operations sent."""
    return Counter((x.service, x.method, x.url.split("/v1/", 1)[-1] if x.service == "dinero" else x.url.split("/api/", 1)[-1])
                   for x in HttpExchange.objects.filter(operation__in=ops).exclude(url__contains="oauth"))


def _invoice_with_consumption(e2e) -> tuple[SyncOperation, SyncOperation]:
    connection = e2e["connection"]
    invoice = _book_sales_invoice(e2e["rackbeat"], LINES)
    sales = _transfer(connection, Kind.SALES_INVOICE, invoice["number"])
    # The invoice's transfer queues its consumption voucher (run at once: tasks run inline here).
    consumption = SyncOperation.objects.get(connection=connection, kind=Kind.ITEM_CONSUMPTION,
                                            source_key=str(invoice["number"]))
    assert sales.state == consumption.state == SyncOperation.State.DONE, (sales.last_error, consumption.last_error)
    return sales, consumption


def _rackbeat_reads(calls: Counter) -> list[str]:
    return sorted(path for (service, method, path), n in calls.items() for _ in range(n)
                  if service == "rackbeat" and method == "GET")


@pytest.fixture
def consuming(e2e):
    # The shared cache is a table outside the models, so it outlives the flush between tests: an
    # earlier test's Dinero token would be refused once (401, then renewed) and counted as a call.
    caches["shared"].clear()
    _settings(e2e["connection"], item_consumption_enabled=True, product_integration_enabled=True,
              sales_invoice_status="booked")
    return e2e


def test_new_customer_and_products_are_looked_up_once_each_before_they_are_created(consuming):
    sales, _consumption = _invoice_with_consumption(consuming)
    calls = _calls(sales)
    lookups = Counter(path.split("?", 1)[0].rsplit("/", 1)[-1] for (service, method, path) in calls.elements()
                      if service == "dinero" and method == "GET" and "queryFilter=ExternalReference" in unquote_plus(path))
    # One look-up by reference per object: the contact once, each of the two products once.
    assert lookups == {"contacts": 1, "products": 2}, calls
    assert sum(n for (service, method, path), n in calls.items()
               if service == "dinero" and method == "POST" and path.endswith(("/contacts", "/products"))) == 3


def test_bound_unchanged_products_cost_one_rackbeat_read_per_invoice(consuming):
    _invoice_with_consumption(consuming)  # binds the customer and both products
    sales, consumption = _invoice_with_consumption(consuming)
    calls = _calls(sales, consumption)
    assert _rackbeat_reads(calls) == [f"customer-invoices/{sales.source_key}"], calls
    # The invoice reached the voucher on its row, and the row lets it go once the voucher is booked.
    assert consumption.trigger == Trigger.FOLLOW_UP and consumption.handed_over is None
    # Dinero: the invoice created, read back and booked; the voucher's file, the voucher, its booking.
    dinero = [(method, path.split("?", 1)[0].split("/", 2)[1]) for (service, method, path) in calls.elements() if service == "dinero"]
    assert sorted(dinero) == [("GET", "invoices"), ("POST", "files"), ("POST", "invoices"), ("POST", "invoices"),
                              ("POST", "vouchers"), ("POST", "vouchers")], dinero
    facts = Binding.objects.get(connection=consuming["connection"], kind=Kind.PRODUCT, rackbeat_key="FV-1").facts
    assert facts["inventory_enabled"] is True and Decimal(str(facts["cost_price"])) == Decimal("210.50")


def test_an_invoice_asks_the_database_once_per_need_not_once_per_step_or_line(consuming):
    """The intent is committed on its own only around the writes (DESIGN rules 9 and 10); the
    snapshot sent and the booking reach the row with the attempt's outcome, in its UPDATE. What is
    kept of the lines' products is asked for all lines at once."""
    _invoice_with_consumption(consuming)  # binds the customer and both products
    statements: list[str] = []

    def record(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        statements.append(sql)
        return execute(sql, params, many, context)

    with db_connection.execute_wrapper(record):
        sales, consumption = _invoice_with_consumption(consuming)
    intent_alone = [sql for sql in statements
                    if sql.startswith('UPDATE "integration_syncoperation" SET "intent" = %s WHERE')]
    # The invoice: in flight before its create, touched after it. The voucher: its file's Guid,
    # then in flight and touched around its create.
    assert len(intent_alone) == 5, intent_alone
    # The kept facts of both lines' products come from one question, not one per line.
    facts = [sql for sql in statements if 'FROM "integration_binding" b WHERE' in sql]
    assert len(facts) == 1 and facts[0].count("%s") == 4 + len(LINES), facts
    # The revenue accounts of the lines' product groups: one question for the invoice.
    cells = [sql for sql in statements if 'FROM "mappings_accountmatrixcell" c JOIN' in sql]
    assert len(cells) == 1 and cells[0].count("%s") == 3 + len(LINES), cells
    # The budgets: the rows this process wrote last are neither read before a transfer starts
    # (room is checked by the first grant) nor before a grant (its conditional UPDATE checks them).
    budget_reads = [sql for sql in statements if sql.startswith("SELECT") and '"integration_ratelimitwindow"' in sql]
    assert budget_reads == [], budget_reads
    for op in (sales, consumption):
        op.refresh_from_db()
        assert op.intent["step"] == "booked" and op.intent["sent"]["total"], op.intent
    assert sales.intent["dinero_number"] == sales.target_number
    assert consumption.intent["voucher_number"] == consumption.target_number


def test_every_answer_is_in_the_shared_budgets_once_the_transfers_end(consuming):
    """The transfers write their answers' times to the budgets with the next request or at their
    end: nothing they sent is left counted as in flight."""
    _invoice_with_consumption(consuming)
    _invoice_with_consumption(consuming)
    limiter = SharedRateLimiter(100)
    windows = {window.key: (limiter.in_flight(window.key), limiter.used(window.key))
               for window in RateLimitWindow.objects.all()}
    assert {key.split(":", 1)[0] for key in windows} == {"dinero", "rackbeat"}, windows
    assert all(flying == 0 and used > 0 for flying, used in windows.values()), windows


def test_a_worker_continuing_with_the_voucher_writes_one_budget_statement_per_request_and_one_per_budget(
        consuming, settings):
    """In a worker the voucher continues the invoice's task: its first request to the Dinero budget
    carries the invoice's last answer time, and each budget's kept-back answers are written once,
    when the two transfers end — seven requests, nine writes to the budgets, none left in flight."""
    _invoice_with_consumption(consuming)  # binds the customer and both products
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    invoice = _book_sales_invoice(consuming["rackbeat"], LINES)
    sales = engine.enqueue(consuming["connection"], Kind.SALES_INVOICE, "to_dinero", invoice["number"],
                           trigger=Trigger.WEBHOOK)
    statements: list[str] = []

    def record(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        statements.append(sql)
        return execute(sql, params, many, context)

    with db_connection.execute_wrapper(record):
        assert engine.run_operation(sales.pk).state == SyncOperation.State.DONE
    consumption = SyncOperation.objects.get(connection=consuming["connection"], kind=Kind.ITEM_CONSUMPTION,
                                            source_key=str(invoice["number"]))
    assert consumption.state == SyncOperation.State.DONE, consumption.last_error
    calls = _calls(sales, consumption)
    assert sum(calls.values()) == 7, calls
    budget_writes = [sql for sql in statements if sql.startswith('UPDATE "integration_ratelimitwindow"')]
    assert len(budget_writes) == 7 + 2, budget_writes
    limiter = SharedRateLimiter(100)
    assert all(limiter.in_flight(window.key) == 0 for window in RateLimitWindow.objects.all())


@pytest.mark.parametrize("trigger", [Trigger.WEBHOOK, Trigger.POLL])
def test_a_changed_product_is_read_again_until_its_own_transfer_ran(consuming, settings, trigger):
    connection = consuming["connection"]
    _invoice_with_consumption(consuming)
    from sandbox.rackbeat import models as rb

    rb.Item.objects.filter(number="FV-1").update(cost_price=Decimal("220.00"))
    # Rackbeat's product webhook (or the poll) queues the product's operation; no worker has run it yet.
    inline = settings.Q_CLUSTER
    settings.Q_CLUSTER = {**inline, "sync": False}
    product_op = engine.enqueue(connection, Kind.PRODUCT, "to_dinero", "FV-1", trigger=trigger)
    settings.Q_CLUSTER = inline

    sales, consumption = _invoice_with_consumption(consuming)
    assert _rackbeat_reads(_calls(sales, consumption)) == [
        f"customer-invoices/{sales.source_key}", "products/FV-1"]
    voucher = consuming["dinero"].get_manual_voucher(consumption.target_id)
    # 2 × 220.00 (the new cost price) + 5 × 11.00.
    assert Decimal(str(voucher["Lines"][0].get("Amount", voucher["Lines"][0].get("AmountInclVatValue")))) \
        == Decimal("495.00")

    product_op = engine.execute_now(product_op)
    assert product_op.state == SyncOperation.State.DONE, product_op.last_error
    sales, consumption = _invoice_with_consumption(consuming)
    assert _rackbeat_reads(_calls(sales, consumption)) == [f"customer-invoices/{sales.source_key}"]


def test_product_facts_are_not_trusted_when_products_are_not_followed(consuming):
    _invoice_with_consumption(consuming)
    # Without the product transfer no webhook or poll follows the products' changes.
    _settings(consuming["connection"], product_integration_enabled=False)
    sales, consumption = _invoice_with_consumption(consuming)
    reads = _rackbeat_reads(_calls(sales, consumption))
    assert reads.count("products/FV-1") >= 1 and reads.count("products/RD-9") >= 1
