"""End to end over real HTTP: whatever is booked in Dinero is first compared with Rackbeat's document.

A draft left by an earlier attempt (here: the *book* request answered 500 and is retried later)
is read back and compared with Rackbeat's current document before it is booked: a difference
updates the draft, and the log says what Dinero holds.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from integration.core import engine
from integration.core.clients.transport import Transport
from integration.core.models import Direction, IntegrationSettings, Kind, SyncOperation, Trigger
from mappings.models import AccountMatrixCell
from tests.invoice_fixtures import FINISHED_GOODS

# Importing the invoice tests' fixture registers ``e2e`` (both emulators seeded, tasks inline).
from tests.test_e2e_exactly_once import _later, _trigger, _vouchers
from tests.test_e2e_invoices import _book_sales_invoice, e2e  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
State = SyncOperation.State


@pytest.fixture
def book_answers_500(monkeypatch, e2e):  # noqa: F811
    """The next *book* request reaches the Dinero emulator told to answer it 500 (nothing booked)."""
    org = e2e["dinero_org"]
    IntegrationSettings.objects.filter(connection=e2e["connection"]).update(
        supplier_invoice_status=IntegrationSettings.SupplierInvoiceStatus.BOOKED)
    pending = {"count": 0}
    send = Transport.send

    def send_with_fault(self, method, url, *args, **kwargs):
        if method == "POST" and url.rstrip("/").endswith("/book") and pending["count"] > 0:
            pending["count"] -= 1
            type(org).objects.filter(pk=org.pk).update(fail_next_500=1)
        return send(self, method, url, *args, **kwargs)

    monkeypatch.setattr(Transport, "send", send_with_fault)

    def arm(times: int = 1) -> None:
        pending["count"] = times

    return arm


def _supplier_invoice(e2e, number: int, quantity: int, price: str = "100"):  # noqa: F811
    from sandbox.rackbeat import models as rb

    invoice = rb.SupplierInvoice.objects.create(
        account=e2e["rackbeat_account"], number=number, invoice_date="2026-03-20", due_date="2026-04-19",
        supplier=rb.Supplier.objects.get(account=e2e["rackbeat_account"], number=701), is_booked=True,
        vat_zone="domestic")
    rb.InvoiceLine.objects.create(supplier_invoice=invoice, item=rb.Item.objects.get(number="FV-1"),
                                  name="Færdigvare", quantity=quantity, line_price=Decimal(price),
                                  vat_percentage=Decimal("25"))
    _set_supplier_quantity(invoice, quantity)
    return invoice


def _set_supplier_quantity(invoice, quantity: int) -> None:
    line = invoice.lines.get()
    net = line.line_price * quantity
    line.quantity, line.line_total, line.line_vat = quantity, net, net / 4
    line.save()
    invoice.total_subtotal, invoice.total_vat, invoice.total_total = net, net / 4, net * Decimal("1.25")
    invoice.save()


def _booked_total(voucher) -> Decimal:
    return sum((Decimal(str(line["Amount"])) for line in voucher.data["Lines"]), Decimal("0"))


def test_supplier_invoice_changed_while_a_lost_book_is_retried_books_rackbeats_new_total(e2e, book_answers_500):  # noqa: F811
    connection = e2e["connection"]
    invoice = _supplier_invoice(e2e, 61001, quantity=1)
    book_answers_500()
    op = _trigger(connection, Kind.SUPPLIER_INVOICE, invoice.number)
    assert op.state == State.PENDING, (op.last_error, op.hint)
    (draft,) = _vouchers(f"rackbeat:supplier-invoice:{invoice.number}")
    assert draft.status == "Draft" and _booked_total(draft) == Decimal("125")

    # Corrected in Rackbeat (1 → 3 items) while the book is waiting for its retry: the webhook joins
    # the pending row.
    _set_supplier_quantity(invoice, 3)
    _trigger(connection, Kind.SUPPLIER_INVOICE, invoice.number)
    op = _later(op)

    assert op.state == State.DONE, (op.last_error, op.hint)
    (voucher,) = _vouchers(f"rackbeat:supplier-invoice:{invoice.number}")
    assert voucher.status == "Booked" and _booked_total(voucher) == Decimal("375")
    assert "375.00 DKK" in op.outcome
    events = "\n".join(op.events.values_list("message", flat=True))
    assert "125.00" in events and "updated" in events


def test_consumption_changed_while_a_lost_book_is_retried_books_and_logs_what_dinero_holds(e2e, book_answers_500):  # noqa: F811
    from sandbox.rackbeat import models as rb

    connection, rackbeat = e2e["connection"], e2e["rackbeat"]
    IntegrationSettings.objects.filter(connection=connection).update(item_consumption_enabled=True)
    rb.Item.objects.filter(number="FV-1").update(cost_price=Decimal("40"))
    invoice = _book_sales_invoice(rackbeat, [("FV-1", 2, "100.00")])
    rb.InvoiceLine.objects.filter(customer_invoice__number=invoice["number"]).update(cost_price=Decimal("40"))
    book_answers_500()
    op = _trigger(connection, Kind.ITEM_CONSUMPTION, invoice["number"])
    assert op.state == State.PENDING, (op.last_error, op.hint)
    (draft,) = _vouchers(f"rackbeat:consumption:{invoice['number']}")
    assert draft.status == "Draft" and Decimal(str(draft.data["Lines"][0]["Amount"])) == Decimal("80")

    rb.InvoiceLine.objects.filter(customer_invoice__number=invoice["number"]).update(quantity=6)
    op = _later(op)

    assert op.state == State.DONE, (op.last_error, op.hint)
    (voucher,) = _vouchers(f"rackbeat:consumption:{invoice['number']}")
    assert voucher.status == "Booked" and Decimal(str(voucher.data["Lines"][0]["Amount"])) == Decimal("240")
    assert "240.00 DKK" in op.outcome


def test_matrix_corrected_before_the_retry_of_a_lost_book_books_on_the_corrected_account(e2e, book_answers_500):  # noqa: F811
    from sandbox.dinero.models import Account

    connection = e2e["connection"]
    Account.objects.get_or_create(organization=e2e["dinero_org"], number=2010,
                                  defaults={"name": "Reservedele Danmark", "vat_code": "I25"})
    cell = AccountMatrixCell.objects.get(connection=connection, matrix="supplier",
                                         product_group_number=FINISHED_GOODS, vat_zone="domestic")
    AccountMatrixCell.objects.filter(pk=cell.pk).update(account_number=2010)
    invoice = _supplier_invoice(e2e, 61002, quantity=1)
    book_answers_500()
    op = _trigger(connection, Kind.SUPPLIER_INVOICE, invoice.number)
    assert op.state == State.PENDING, (op.last_error, op.hint)

    AccountMatrixCell.objects.filter(pk=cell.pk).update(account_number=2000)
    op = _later(op)

    assert op.state == State.DONE, (op.last_error, op.hint)
    (voucher,) = _vouchers(f"rackbeat:supplier-invoice:{invoice.number}")
    assert voucher.status == "Booked"
    assert [line["AccountNumber"] for line in voucher.data["Lines"]] == [2000]
    assert "account(s) 2000" in op.outcome


def test_retry_on_a_booked_voucher_that_differs_stops_with_both_figures(e2e, book_answers_500, superuser):  # noqa: F811
    """Retry on a "changed after transfer" warning compares again instead of ending done."""
    connection = e2e["connection"]
    invoice = _supplier_invoice(e2e, 61003, quantity=1)
    op = _trigger(connection, Kind.SUPPLIER_INVOICE, invoice.number)
    assert op.state == State.DONE, (op.last_error, op.hint)

    _set_supplier_quantity(invoice, 3)
    _trigger(connection, Kind.SUPPLIER_INVOICE, invoice.number)
    op.refresh_from_db()
    assert op.state == State.NEEDS_ATTENTION and op.last_error_class == "ChangedAfterTransfer"

    op = engine.retry(op, user=superuser)
    assert op.state == State.NEEDS_ATTENTION, op.outcome
    assert "125.00" in op.last_error and "375.00" in op.last_error
    (voucher,) = _vouchers(f"rackbeat:supplier-invoice:{invoice.number}")
    assert _booked_total(voucher) == Decimal("125")
    assert engine.retry(op, user=superuser).state == State.NEEDS_ATTENTION


def test_a_change_noticed_once_the_book_is_retried_is_compared_like_any_other(e2e, book_answers_500):  # noqa: F811
    """The change that joined a pending retry is not silent: the booked document equals Rackbeat's."""
    connection = e2e["connection"]
    invoice = _supplier_invoice(e2e, 61004, quantity=1)
    book_answers_500()
    op = _trigger(connection, Kind.SUPPLIER_INVOICE, invoice.number)
    _set_supplier_quantity(invoice, 2)
    engine.enqueue(connection, Kind.SUPPLIER_INVOICE, Direction.TO_DINERO, str(invoice.number),
                   trigger=Trigger.POLL)
    assert op.events.filter(message__contains="while a retry is waiting").exists()
    op = _later(op)
    assert op.state == State.DONE, (op.last_error, op.hint)
    assert op.intent["sent"]["total"] == "250.00"


# --- "It is in Dinero: link it" and "It is not there: post it now" --------------------------------

def _lost_consumption_create(e2e, monkeypatch):  # noqa: F811
    """A consumption voucher whose create got no answer and that Dinero cannot find for us.

    Today the voucher carries its specification file and is found by it; an operation left by a
    release before that (its intent names no file) can only be resolved by a person — the case here.
    """
    from sandbox.rackbeat import models as rb

    connection, rackbeat, org = e2e["connection"], e2e["rackbeat"], e2e["dinero_org"]
    IntegrationSettings.objects.filter(connection=connection).update(item_consumption_enabled=True)
    rb.Item.objects.filter(number="FV-1").update(cost_price=Decimal("40"))
    invoice = _book_sales_invoice(rackbeat, [("FV-1", 2, "100.00")])
    rb.InvoiceLine.objects.filter(customer_invoice__number=invoice["number"]).update(cost_price=Decimal("40"))
    send = Transport.send
    armed = {"create": True}

    def create_answers_500_after_writing(self, method, url, *args, **kwargs):
        if method == "POST" and url.rstrip("/").endswith("/vouchers/manuel") and armed["create"]:
            armed["create"] = False
            type(org).objects.filter(pk=org.pk).update(fail_next_500_after_write=1)
        return send(self, method, url, *args, **kwargs)

    monkeypatch.setattr(Transport, "send", create_answers_500_after_writing)
    op = _trigger(connection, Kind.ITEM_CONSUMPTION, invoice["number"])
    op.refresh_from_db()
    SyncOperation.objects.filter(pk=op.pk).update(intent={**op.intent, "file_guid": ""})
    op = _later(op)
    assert op.state == State.NEEDS_ATTENTION and "no clear answer" in op.last_error
    (draft,) = _vouchers(f"rackbeat:consumption:{invoice['number']}")
    return op, invoice, draft


def test_linking_a_consumption_draft_shows_it_then_compares_and_books_it(e2e, client, superuser, monkeypatch):  # noqa: F811
    from django.urls import reverse

    from sandbox.rackbeat import models as rb

    op, invoice, draft = _lost_consumption_create(e2e, monkeypatch)
    assert draft.status == "Draft"
    client.force_login(superuser)
    link = reverse("admin:integration_syncoperation_link_existing", args=[op.pk])

    page = client.post(link, {"reference": str(draft.guid)}).content.decode()
    assert "80.00 DKK" in page and "Draft" in page and "2026-03-31" in page
    op.refresh_from_db()
    assert op.state == State.NEEDS_ATTENTION  # nothing linked before the person confirms

    client.post(link, {"reference": str(draft.guid), "confirm": "yes"})
    op.refresh_from_db()
    assert op.state == State.DONE, (op.last_error, op.hint)
    draft.refresh_from_db()
    assert draft.status == "Booked" and op.target_id == str(draft.guid)
    assert "80.00 DKK booked" in op.outcome
    assert len(_vouchers(f"rackbeat:consumption:{invoice['number']}")) == 1

    # The linked document is compared again when Rackbeat changes, like any other.
    rb.InvoiceLine.objects.filter(customer_invoice__number=invoice["number"]).update(quantity=6)
    _trigger(e2e["connection"], Kind.ITEM_CONSUMPTION, invoice["number"], Trigger.POLL)
    op.refresh_from_db()
    assert op.state == State.NEEDS_ATTENTION and op.last_error_class == "ChangedAfterTransfer"


def test_linking_a_number_dinero_does_not_have_is_refused_with_the_reason(e2e, client, superuser):  # noqa: F811
    from django.urls import reverse

    connection = e2e["connection"]
    invoice = _supplier_invoice(e2e, 61005, quantity=1)
    IntegrationSettings.objects.filter(connection=connection).update(supplier_integration_enabled=False)
    op = _trigger(connection, Kind.SUPPLIER_INVOICE, invoice.number)
    op = engine.mark_handled(op, user=superuser, note="Entered by hand?")
    IntegrationSettings.objects.filter(connection=connection).update(supplier_integration_enabled=True)
    client.force_login(superuser)
    link = reverse("admin:integration_syncoperation_link_existing", args=[op.pk])

    answer = client.post(link, {"reference": "999999"}, follow=True).content.decode()
    assert "Dinero has no booked purchase voucher numbered 999999" in answer
    answer = client.post(link, {"reference": "999999", "confirm": "yes"}, follow=True).content.decode()
    op.refresh_from_db()
    assert op.state == State.SKIPPED and op.handled_at is not None and not op.target_number
    assert op.events.filter(message__contains="999999 refused").exists()


def test_post_it_now_is_refused_while_dinero_has_the_document(e2e, client, superuser):  # noqa: F811
    from django.urls import reverse

    connection = e2e["connection"]
    invoice = _supplier_invoice(e2e, 61006, quantity=1)
    op = _trigger(connection, Kind.SUPPLIER_INVOICE, invoice.number)
    assert op.state == State.DONE, (op.last_error, op.hint)
    _set_supplier_quantity(invoice, 3)
    _trigger(connection, Kind.SUPPLIER_INVOICE, invoice.number)
    op = engine.mark_handled(op, user=superuser, note="Corrected in Dinero by hand.")

    client.force_login(superuser)
    page = client.get(reverse("admin:integration_syncoperation_change", args=[op.pk])).content.decode()
    assert "It is not there: post it now" not in page and op.target_id in page
    client.post(reverse("admin:integration_syncoperation_post_now", args=[op.pk]))
    op = engine.post_now(op, user=superuser)
    assert op.state == State.SKIPPED
    assert len(_vouchers(f"rackbeat:supplier-invoice:{invoice.number}")) == 1
    assert op.events.filter(message__contains="already has this document").exists()


def test_a_voucher_booked_by_hand_is_linked_by_its_number(e2e, client, superuser, monkeypatch):  # noqa: F811
    from django.urls import reverse

    op, invoice, draft = _lost_consumption_create(e2e, monkeypatch)
    booked = e2e["dinero"].book_manual_voucher(str(draft.guid), draft.timestamp)
    number = str(booked["VoucherNumber"])
    client.force_login(superuser)
    link = reverse("admin:integration_syncoperation_link_existing", args=[op.pk])
    page = client.post(link, {"reference": number}).content.decode()
    assert str(draft.guid) in page and "Booked" in page

    client.post(link, {"reference": str(draft.guid), "confirm": "yes"})
    op.refresh_from_db()
    assert op.state == State.DONE, (op.last_error, op.hint)
    assert op.target_id == str(draft.guid) and op.target_number == number
    assert len(_vouchers(f"rackbeat:consumption:{invoice['number']}")) == 1
