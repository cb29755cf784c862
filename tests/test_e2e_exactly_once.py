"""End to end over real HTTP: a lost Dinero answer, then later triggers, never give a second voucher.

The service's real clients, engine and handlers run against both emulators served by the live test
server; the Dinero emulator is told to save the next write(s) and then answer 500, as a Dinero whose
answer is lost would.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import F

from integration.core import engine
from integration.core.models import Direction, IntegrationSettings, Kind, SyncOperation, Trigger

# Importing the invoice tests' fixture registers ``e2e`` (both emulators seeded, tasks inline).
from tests.test_e2e_invoices import _book_sales_invoice, e2e  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
State = SyncOperation.State


def _answers_lost(org, writes: int) -> None:
    type(org).objects.filter(pk=org.pk).update(fail_next_500_after_write=writes)


def _trigger(connection, kind, number, how=Trigger.WEBHOOK) -> SyncOperation:
    return engine.enqueue(connection, kind, Direction.TO_DINERO, str(number), trigger=how)


def _later(op: SyncOperation) -> SyncOperation:
    """The backoff passes and the minutely schedule runs what is due."""
    SyncOperation.objects.filter(pk=op.pk).update(next_attempt_at=F("next_attempt_at") - timedelta(hours=2),
                                                  enqueued_at=F("enqueued_at") - timedelta(hours=2))
    engine.run_due()
    op.refresh_from_db()
    return op


def _vouchers(reference: str) -> list:
    from sandbox.dinero.models import Voucher

    return list(Voucher.objects.filter(external_reference=reference, deleted_at__isnull=True))


def test_lost_voucher_answer_then_later_poll_and_webhook_never_post_a_second_voucher(e2e, superuser):  # noqa: F811
    connection, rackbeat = e2e["connection"], e2e["rackbeat"]
    IntegrationSettings.objects.filter(connection=connection).update(item_consumption_enabled=True)
    invoice = _book_sales_invoice(rackbeat, [("FV-1", 2, "499.00")])
    reference = f"rackbeat:consumption:{invoice['number']}"

    _answers_lost(e2e["dinero_org"], 2)  # the specification's upload, then the manual voucher: saved, 500
    op = _trigger(connection, Kind.ITEM_CONSUMPTION, invoice["number"])
    assert op.state == State.PENDING and op.last_error_class == "UncertainOutcome"
    op = _later(op)
    assert op.state == State.PENDING and op.intent["in_flight"] == "manual_voucher"

    # Paid in Rackbeat: a poll and a webhook for the same invoice arrive; then someone presses Retry.
    for how in (Trigger.POLL, Trigger.WEBHOOK, Trigger.START_SYNC):
        _trigger(connection, Kind.ITEM_CONSUMPTION, invoice["number"], how)
    op = _later(op)
    assert op.state == State.DONE, (op.last_error, op.hint)
    (voucher,) = _vouchers(reference)
    assert op.target_id == str(voucher.guid) and voucher.status == "Booked"
    _trigger(connection, Kind.ITEM_CONSUMPTION, invoice["number"], Trigger.POLL)
    assert len(_vouchers(reference)) == 1


def test_lost_upload_and_voucher_answers_resolved_by_looking_one_file_one_voucher(e2e):  # noqa: F811
    connection = e2e["connection"]
    from sandbox.dinero.models import File
    from sandbox.rackbeat import models as rb

    def supplier_invoice(number: int) -> rb.SupplierInvoice:
        invoice = rb.SupplierInvoice.objects.create(
            account=e2e["rackbeat_account"], number=number, invoice_date="2026-03-20", due_date="2026-04-19",
            supplier=rb.Supplier.objects.get(account=e2e["rackbeat_account"], number=701),
            total_subtotal=Decimal("1000"), total_vat=Decimal("250"), total_total=Decimal("1250"), is_booked=True,
            vat_zone="domestic")
        rb.InvoiceLine.objects.create(supplier_invoice=invoice, item=rb.Item.objects.get(number="FV-1"),
                                      name="Færdigvare", quantity=4, line_price=Decimal("250"),
                                      vat_percentage=Decimal("25"), line_total=Decimal("1000"),
                                      line_vat=Decimal("250"))
        return invoice

    first = _trigger(connection, Kind.SUPPLIER_INVOICE, supplier_invoice(60001).number)
    assert first.state == State.DONE, (first.last_error, first.hint)  # the supplier's contact now exists

    number = supplier_invoice(60002).number
    _answers_lost(e2e["dinero_org"], 2)  # the PDF upload, then the voucher: saved, answered 500
    op = _trigger(connection, Kind.SUPPLIER_INVOICE, number)
    assert op.state == State.PENDING
    op = _later(op)
    assert op.state == State.PENDING and op.intent["in_flight"] == "purchase_voucher"
    op = _later(op)
    assert op.state == State.DONE, (op.last_error, op.hint)

    (voucher,) = _vouchers(f"rackbeat:supplier-invoice:{number}")
    assert str(voucher.guid) == op.target_id
    assert File.objects.filter(name=f"rackbeat-supplier-invoice-{number}.pdf").count() == 1
    assert voucher.data["FileGuid"] == op.intent["file_guid"]
    events = "\n".join(op.events.values_list("message", flat=True))
    assert "Reused the PDF" in events and "Found the purchase voucher" in events
