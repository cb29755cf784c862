"""End to end over real HTTP: the month's reconciliation against the Rackbeat and Dinero emulators.

March 2026 holds one of each difference the accountant must see — a sales invoice and a supplier
invoice never transferred, a Dinero invoice no Rackbeat document explains, a total that differs,
a consumption voucher booked twice — next to documents that are right and one dated in April.
"""

from __future__ import annotations

import base64
import csv
import io
import re
import zlib
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from integration.books import reconciliation
from integration.books.reconciliation import Period
from integration.books.reconciliation_report import csv_bytes, pdf_bytes, readable
from integration.console.reconciliation_page import transfer_missing
from integration.core.clients.rackbeat_documents import RelatedRecords
from integration.core.models import Direction, Kind, Reconciliation, SyncOperation
from integration.transfers.invoice_mapping import map_consumption
from tests.test_e2e_invoices import _book_sales_invoice, _settings, _transfer
from tests.test_e2e_invoices import e2e as invoice_world  # noqa: F401  (a fixture, requested below)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world(invoice_world: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    """Both emulators seeded with the invoice tests' company, the clients pointed at them."""
    return invoice_world

MARCH = Period.month(2026, 3)


def _supplier_invoice(world: dict[str, Any], number: int, *, invoice_date: str = "2026-03-20",
                      currency: str = "DKK") -> Any:
    from sandbox.rackbeat import models as rb

    account = world["rackbeat_account"]
    invoice = rb.SupplierInvoice.objects.create(
        account=account, number=number, invoice_date=invoice_date, due_date="2026-04-19",
        supplier=rb.Supplier.objects.get(account=account, number=701), total_subtotal=Decimal("1000"),
        total_vat=Decimal("250"), total_total=Decimal("1250"), is_booked=True, vat_zone="domestic", currency=currency)
    rb.InvoiceLine.objects.create(supplier_invoice=invoice, item=rb.Item.objects.get(account=account, number="FV-1"),
                                  name="Færdigvare", quantity=4, line_price=Decimal("250"),
                                  vat_percentage=Decimal("25"), line_total=Decimal("1000"), line_vat=Decimal("250"))
    return invoice


def _month_with_one_of_each(world: dict[str, Any]) -> dict[str, str]:
    connection, rackbeat, dinero = world["connection"], world["rackbeat"], world["dinero"]
    _settings(connection, item_consumption_enabled=True, sales_invoice_status="booked",
              supplier_invoice_status="booked")
    numbers = {}
    # Right: transferred with its consumption.
    right = _book_sales_invoice(rackbeat, [("FV-1", 2, "499.00"), ("RD-9", 5, "29.95")], invoice_date="2026-03-10")
    _transfer(connection, Kind.SALES_INVOICE, right["number"])
    _transfer(connection, Kind.ITEM_CONSUMPTION, right["number"])
    numbers["right"] = str(right["number"])
    # Missing: booked in Rackbeat, never transferred (the webhook was lost).
    missing = _book_sales_invoice(rackbeat, [("FV-1", 1, "499.00")], invoice_date="2026-03-12")
    numbers["missing"] = str(missing["number"])
    # Total differs: Rackbeat's total changed after the transfer.
    differs = _book_sales_invoice(rackbeat, [("RD-9", 3, "29.95")], invoice_date="2026-03-14")
    _transfer(connection, Kind.SALES_INVOICE, differs["number"])
    _transfer(connection, Kind.ITEM_CONSUMPTION, differs["number"])
    from sandbox.rackbeat import models as rb

    rb.CustomerInvoice.objects.filter(account=world["rackbeat_account"], number=differs["number"]).update(
        total_total=Decimal("112.32"))
    numbers["differs"] = str(differs["number"])
    # Consumption doubled: a second voucher with the same content booked in Dinero by hand.
    doubled = _book_sales_invoice(rackbeat, [("FV-1", 1, "499.00")], invoice_date="2026-03-16")
    _transfer(connection, Kind.SALES_INVOICE, doubled["number"])
    _transfer(connection, Kind.ITEM_CONSUMPTION, doubled["number"])
    doubled_invoice = RelatedRecords(rackbeat).with_items(rackbeat.get_customer_invoice(doubled["number"]))
    again = dinero.create_manual_voucher(map_consumption(doubled_invoice, stock_account=58100,
                                                         consumption_account=1600).body)
    dinero.book_manual_voucher(again["Guid"], again["Timestamp"])
    numbers["doubled"] = str(doubled["number"])
    # Extra: a booked Dinero invoice carrying the reference of a Rackbeat invoice that does not exist.
    contact = dinero.create_contact({"Name": "Ukendt kunde", "CountryKey": "DK", "IsPerson": False,
                                     "IsMember": False, "UseCvr": False})
    extra = dinero.create_invoice({"ContactGuid": contact, "Date": "2026-03-18",
                                   "ExternalReference": "rackbeat:customer-invoice:99999", "ProductLines": [
                                       {"Description": "Ydelse", "Quantity": 1, "BaseAmountValue": 100, "Discount": 0,
                                        "AccountNumber": 1000, "Unit": "parts", "LineType": "Product"}]})
    dinero.book_invoice(extra["Guid"], extra["TimeStamp"])
    # Supplier invoices: one transferred, one missing.
    _transfer(connection, Kind.SUPPLIER_INVOICE, _supplier_invoice(world, 60001).number)
    numbers["supplier_missing"] = str(_supplier_invoice(world, 60002).number)
    # April: outside the period, not transferred, never reported.
    _book_sales_invoice(rackbeat, [("FV-1", 1, "499.00")], invoice_date="2026-04-01")
    return numbers


def _differences(record: Reconciliation) -> set[tuple[str, str, str]]:
    return {(d["kind"], d["document"], d["number"]) for d in record.result["differences"]}


def test_a_month_with_one_of_each_difference_is_reported_exactly(world):
    numbers = _month_with_one_of_each(world)
    record = reconciliation.start(world["connection"], MARCH)
    record.refresh_from_db()

    assert record.state == Reconciliation.State.DONE, record.error
    assert _differences(record) == {
        (reconciliation.MISSING, "sales_invoice", numbers["missing"]),
        (reconciliation.CONSUMPTION_MISSING, "item_consumption", numbers["missing"]),
        (reconciliation.MISSING, "supplier_invoice", numbers["supplier_missing"]),
        (reconciliation.EXTRA, "sales_invoice", "99999"),
        (reconciliation.TOTAL, "sales_invoice", numbers["differs"]),
        (reconciliation.CONSUMPTION_DOUBLED, "item_consumption", numbers["doubled"]),
    }
    total = next(d for d in record.result["differences"] if d["kind"] == reconciliation.TOTAL)
    assert (total["rackbeat_total"], total["dinero_total"]) == ("112.32", "112.31")
    assert record.result["counts"] == {"rackbeat_sales": 4, "rackbeat_purchases": 2, "dinero_sales": 4, "matched": 4}
    by_account = {row["key"]: row for row in record.result["sums"]["sales_by_account"]}
    # 1000: 2×499 + 499 (missing, Rackbeat only) + 499; 1300: 5×29.95 + 3×29.95 — but the invoice whose
    # total was changed cannot be reproduced from its lines, so Rackbeat's side sums it apart.
    assert by_account["1000"]["rackbeat"] == "1996.00" and by_account["1000"]["dinero"] == "1497.00"
    assert (by_account["1300"]["rackbeat"], by_account["1300"]["dinero"]) == ("149.75", "239.60")
    assert by_account[reconciliation.UNPLACED]["rackbeat"] == "89.85"
    assert any(numbers["differs"] in note for note in readable(record.result)["notes"])
    assert by_account["1000"]["dinero_other"] == "100.00"   # the extra invoice's line
    zone = {row["key"]: row for row in record.result["sums"]["sales_by_zone"]}["domestic"]
    assert zone["rackbeat_excl"] == "2235.60" and zone["dinero_excl"] == "1736.60"
    purchases = {row["key"]: row for row in record.result["sums"]["purchases_by_account"]}
    assert purchases["2000"]["rackbeat"] == "2000.00" and purchases["2000"]["dinero"] == "1000.00"


def test_transfer_the_missing_ones_creates_each_missing_document_once(world):
    numbers = _month_with_one_of_each(world)
    connection, dinero = world["connection"], world["dinero"]
    record = reconciliation.start(connection, MARCH)
    record.refresh_from_db()

    outcomes = transfer_missing(connection, record)
    again = transfer_missing(connection, record)   # pressed twice: nothing more is created
    assert len(outcomes) == len(again) == 3

    after = reconciliation.start(connection, MARCH)
    after.refresh_from_db()
    assert _differences(after) == {
        (reconciliation.EXTRA, "sales_invoice", "99999"),
        (reconciliation.TOTAL, "sales_invoice", numbers["differs"]),
        (reconciliation.CONSUMPTION_DOUBLED, "item_consumption", numbers["doubled"]),
    }
    reference = f"rackbeat:customer-invoice:{numbers['missing']}"
    assert len([i for i in dinero.iter_invoices() if i.get("ExternalReference") == reference]) == 1
    consumption = [e for e in dinero.entries(MARCH.start, MARCH.end)
                   if e["Description"] == f"Vareforbrug faktura {numbers['missing']}" and e["AccountNumber"] == 1600]
    assert len(consumption) == 1


def test_reconcile_command_prints_the_differences_and_writes_csv_and_pdf(world, tmp_path, capsys):
    _month_with_one_of_each(world)
    connection = world["connection"]
    csv_path, pdf_path = tmp_path / "r.csv", tmp_path / "r.pdf"
    with pytest.raises(CommandError, match="6 difference"):
        call_command("reconcile", str(connection.pk), "--from", "2026-03-01", "--to", "2026-03-31",
                     "--csv", str(csv_path), "--pdf", str(pdf_path))
    out = capsys.readouterr().out
    assert "Missing in Dinero: Sales invoice" in out
    assert csv_path.read_bytes().decode("utf-8-sig").count("\n") > 10
    pdf = pdf_path.read_bytes()
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") == 1


def test_month_end_schedule_mails_the_differences_and_nothing_when_there_are_none(world, settings):
    connection = world["connection"]
    connection.language = "en"  # the mail is read in English here
    connection.save(update_fields=["language"])
    connection.alert_recipients = "bogholder@example.com"
    connection.save()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    rackbeat = world["rackbeat"]
    _settings(connection, sales_invoice_status="booked")

    invoice = _book_sales_invoice(rackbeat, [("FV-1", 1, "499.00")], invoice_date="2026-03-05")
    _transfer(connection, Kind.SALES_INVOICE, invoice["number"])
    quiet = reconciliation.start(connection, MARCH, trigger=Reconciliation.Trigger.SCHEDULE)
    quiet.refresh_from_db()
    assert quiet.state == Reconciliation.State.DONE and quiet.differences == 0
    assert mail.outbox == []

    _book_sales_invoice(rackbeat, [("FV-1", 1, "499.00")], invoice_date="2026-03-06")
    loud = reconciliation.start(connection, MARCH, trigger=Reconciliation.Trigger.SCHEDULE)
    loud.refresh_from_db()
    assert loud.differences == 1
    (message,) = mail.outbox
    assert "1 difference" in message.subject and "Missing in Dinero" in message.body
    assert reverse("admin:connection-reconciliation", args=[connection.pk]) in message.body


@pytest.mark.parametrize("shape", ["real", "early"])
def test_a_transferred_credit_note_reconciles_negative_on_both_sides(world, shape):
    connection, rackbeat = world["connection"], world["rackbeat"]
    _settings(connection, item_consumption_enabled=True, sales_invoice_status="booked")
    invoice = _book_sales_invoice(rackbeat, [("FV-1", 3, "499.00")], invoice_date="2026-03-03")
    credit = _book_sales_invoice(rackbeat, [("FV-1", 1, "499.00")], invoice_date="2026-03-09", is_creditnote=True)
    for number in (invoice["number"], credit["number"]):
        _transfer(connection, Kind.SALES_INVOICE, number)
        _transfer(connection, Kind.ITEM_CONSUMPTION, number)

    record = reconciliation.start(connection, MARCH)
    record.refresh_from_db()

    assert record.state == Reconciliation.State.DONE, record.error
    assert record.result["differences"] == []
    documents = {d["number"]: d for d in record.result["documents"]}
    assert documents[str(credit["number"])]["document"] == "credit_note"
    assert documents[str(credit["number"])]["rackbeat_total"] == documents[str(credit["number"])]["dinero_total"] == "-623.75"
    assert documents[str(credit["number"])]["consumption"] == "booked"
    (zone,) = record.result["sums"]["sales_by_zone"]
    assert zone["rackbeat_incl"] == zone["dinero_incl"] == "1247.50" and not zone["differs"]
    (account,) = record.result["sums"]["sales_by_account"]
    assert (account["key"], account["rackbeat"], account["dinero"]) == ("1000", "998.00", "998.00")


def _copy_purchase_voucher(dinero: Any, guid: str, **changes: Any) -> str:
    """A second purchase voucher with the content of ``guid`` (as a person or a lost answer makes one)."""
    first = dinero.get_purchase_voucher(guid)
    body = {"PurchaseType": "credit", "ContactGuid": first["ContactGuid"], "VoucherDate": first["VoucherDate"],
            "PaymentDate": first["PaymentDate"], "CurrencyKey": first["CurrencyKey"],
            "ExternalReference": first["ExternalReference"], "FileGuid": first["FileGuid"],
            "Lines": [{"Description": line["Description"], "AccountNumber": line["AccountNumber"],
                       "Amount": line["AmountInclVatValue"], "VatCode": line["VatCode"]} for line in first["Lines"]],
            **changes}
    again = dinero.create_purchase_voucher({k: v for k, v in body.items() if v is not None})
    return again["Guid"]


def _waiting_for_a_person(connection: Any, kind: str, number: Any) -> SyncOperation:
    return SyncOperation.objects.create(connection=connection, kind=kind, direction=Direction.TO_DINERO,
                                        source_key=str(number), state=SyncOperation.State.NEEDS_ATTENTION)


def _linked_as_before(op: SyncOperation, guid: str) -> None:
    SyncOperation.objects.filter(pk=op.pk).update(state=SyncOperation.State.DONE, target_id=guid,
                                                  intent={**(op.intent or {}), "touched": True})


def test_doubles_and_drafts_are_differences_and_are_mailed(world, settings):
    connection, rackbeat, dinero = world["connection"], world["rackbeat"], world["dinero"]
    _settings(connection, item_consumption_enabled=True, sales_invoice_status="booked",
              supplier_invoice_status="booked")
    connection.alert_recipients = "bogholder@example.com"
    connection.language = "en"  # the mail is read in English here
    connection.save()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # Two booked vouchers of 1,250.00 for one supplier invoice: the second carries our reference.
    by_reference = _transfer(connection, Kind.SUPPLIER_INVOICE, _supplier_invoice(world, 60011).number)
    second = _copy_purchase_voucher(dinero, by_reference.target_id)
    dinero.book_purchase_voucher(second, dinero.get_purchase_voucher(second)["Timestamp"])
    # … and one whose second voucher carries only the first one's file.
    by_file = _transfer(connection, Kind.SUPPLIER_INVOICE, _supplier_invoice(world, 60012).number)
    assert dinero.get_purchase_voucher(by_file.target_id)["FileGuid"]
    third = _copy_purchase_voucher(dinero, by_file.target_id, ExternalReference=None)
    dinero.book_purchase_voucher(third, dinero.get_purchase_voucher(third)["Timestamp"])
    # Operations an earlier release left: Link then marked a document done without booking it, so
    # a supplier invoice and a consumption voucher are "done" on drafts (today's Link books them).
    linked = _supplier_invoice(world, 60013)
    draft = dinero.create_purchase_voucher({
        "PurchaseType": "credit", "ContactGuid": dinero.get_purchase_voucher(by_file.target_id)["ContactGuid"],
        "VoucherDate": "2026-03-20", "PaymentDate": "2026-04-19", "CurrencyKey": "DKK",
        "Lines": [{"Description": "Færdigvare", "AccountNumber": 2000, "Amount": 1250, "VatCode": "I25"}]})
    op = _waiting_for_a_person(connection, Kind.SUPPLIER_INVOICE, linked.number)
    _linked_as_before(op, draft["Guid"])
    # A sales invoice whose consumption voucher was linked while it was a draft.
    invoice = _book_sales_invoice(rackbeat, [("FV-1", 1, "499.00")], invoice_date="2026-03-11")
    _settings(connection, item_consumption_enabled=False)
    _transfer(connection, Kind.SALES_INVOICE, invoice["number"])
    _settings(connection, item_consumption_enabled=True)
    consumption = _waiting_for_a_person(connection, Kind.ITEM_CONSUMPTION, invoice["number"])
    full = RelatedRecords(rackbeat).with_items(rackbeat.get_customer_invoice(invoice["number"]))
    voucher = dinero.create_manual_voucher(map_consumption(full, stock_account=58100, consumption_account=1600).body)
    _linked_as_before(consumption, voucher["Guid"])
    consumption.refresh_from_db()
    assert (consumption.state, consumption.target_id) == (SyncOperation.State.DONE, voucher["Guid"])

    record = reconciliation.start(connection, MARCH, trigger=Reconciliation.Trigger.SCHEDULE)
    record.refresh_from_db()

    assert record.state == Reconciliation.State.DONE, record.error
    assert _differences(record) == {
        (reconciliation.DOUBLED, "supplier_invoice", str(by_reference.source_key)),
        (reconciliation.DOUBLED, "supplier_invoice", str(by_file.source_key)),
        (reconciliation.DRAFT, "supplier_invoice", str(linked.number)),
        (reconciliation.CONSUMPTION_DRAFT, "item_consumption", str(invoice["number"])),
    }
    doubled = {d["number"]: d for d in readable(record.result)["differences"] if d["kind"] == reconciliation.DOUBLED}
    assert second in doubled[str(by_reference.source_key)]["message"]
    assert third in doubled[str(by_file.source_key)]["message"]
    assert "1,250.00 DKK" in doubled[str(by_reference.source_key)]["message"]
    documents = {d["number"]: d for d in record.result["documents"]}
    assert documents[str(invoice["number"])]["consumption"] == "draft"
    assert record.differences == 4
    (message,) = mail.outbox
    assert "4 differences" in message.subject


def test_a_sales_invoice_left_as_a_draft_is_a_difference_that_says_why(world):
    connection, rackbeat = world["connection"], world["rackbeat"]
    _settings(connection, sales_invoice_status="draft")
    invoice = _book_sales_invoice(rackbeat, [("FV-1", 1, "499.00")], invoice_date="2026-03-05")
    _transfer(connection, Kind.SALES_INVOICE, invoice["number"])

    record = reconciliation.start(connection, MARCH)
    record.refresh_from_db()

    assert _differences(record) == {(reconciliation.DRAFT, "sales_invoice", str(invoice["number"]))}
    (draft,) = readable(record.result)["differences"]
    assert "settings leave new documents of this kind as drafts" in draft["message"]


def test_sums_are_kept_per_currency_with_dineros_booked_dkk_beside_them(world, accountant_client):
    connection, rackbeat = world["connection"], world["rackbeat"]
    _settings(connection, sales_invoice_status="booked", supplier_invoice_status="booked")
    for currency, price in (("DKK", "499.00"), ("EUR", "100.00")):
        invoice = _book_sales_invoice(rackbeat, [("FV-1", 1, price)], invoice_date="2026-03-05", currency=currency)
        _transfer(connection, Kind.SALES_INVOICE, invoice["number"])
    _transfer(connection, Kind.SUPPLIER_INVOICE, _supplier_invoice(world, 60021).number)
    _transfer(connection, Kind.SUPPLIER_INVOICE, _supplier_invoice(world, 60022, currency="USD").number)

    record = reconciliation.start(connection, MARCH)
    record.refresh_from_db()

    assert record.state == Reconciliation.State.DONE, record.error
    assert record.result["differences"] == []
    sales = {(r["key"], r["currency"]): r for r in record.result["sums"]["sales_by_zone"]}
    assert set(sales) == {("domestic", "DKK"), ("domestic", "EUR")}
    assert (sales["domestic", "DKK"]["rackbeat_excl"], sales["domestic", "DKK"]["dinero_excl"]) == ("499.00", "499.00")
    assert (sales["domestic", "EUR"]["rackbeat_excl"], sales["domestic", "EUR"]["dinero_excl"]) == ("100.00", "100.00")
    # What Dinero booked in its ledger (in DKK), beside the document currency's figures.
    assert sales["domestic", "DKK"]["dinero_booked_dkk"] == "499.00"
    assert sales["domestic", "EUR"]["dinero_booked_dkk"] not in ("", "0.00")
    purchases = {(r["key"], r["currency"]): r for r in record.result["sums"]["purchases_by_zone"]}
    assert purchases["domestic", "DKK"]["rackbeat_incl"] == purchases["domestic", "USD"]["rackbeat_incl"] == "1250.00"
    by_account = {(r["key"], r["currency"]): r for r in record.result["sums"]["sales_by_account"]}
    assert by_account["1000", "DKK"]["rackbeat"] == by_account["1000", "DKK"]["dinero"] == "499.00"
    assert by_account["1000", "EUR"]["rackbeat"] == "100.00"
    assert not any(r["differs"] for rows in record.result["sums"].values() for r in rows)

    rows = list(csv.reader(io.StringIO(csv_bytes(record).decode("utf-8-sig"))))
    zone_rows = [r for r in rows if r and r[0].startswith("Sales per VAT zone")]
    assert {(r[1], r[2]) for r in zone_rows} == {("domestic", "DKK"), ("domestic", "EUR")}
    assert b"EUR" in zlib_text(pdf_bytes(record))
    page = accountant_client.get(reverse("admin:connection-reconciliation", args=[connection.pk])
                                 + f"?run={record.pk}").content.decode()
    assert 'data-key="domestic" data-currency="EUR"' in page


def zlib_text(pdf: bytes) -> bytes:
    """The PDF's text streams, decoded (ReportLab writes them ASCII85 and Flate encoded)."""
    text = b""
    for stream in re.findall(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        data = stream.strip()
        if data.endswith(b"~>"):
            data = base64.a85decode(data.removeprefix(b"<~")[:-2])
        try:
            text += zlib.decompress(data)
        except zlib.error:
            text += data
    return text


def test_a_period_runs_in_slices_reading_everything_once_with_the_same_result(world, settings):
    from integration.core.models import HttpExchange

    numbers = _month_with_one_of_each(world)
    connection = world["connection"]
    before = HttpExchange.objects.count()
    whole = reconciliation.start(connection, MARCH)
    whole.refresh_from_db()
    reads_whole = HttpExchange.objects.count() - before

    settings.RECONCILIATION_SLICE_SECONDS = 0   # every request in a slice of its own
    before = HttpExchange.objects.count()
    sliced = reconciliation.start(connection, MARCH)
    sliced.refresh_from_db()

    assert sliced.state == Reconciliation.State.DONE, sliced.error
    assert HttpExchange.objects.count() - before == reads_whole   # nothing is read twice across slices
    assert 5 < sliced.result["slices"] <= reads_whole
    assert whole.result["slices"] == 1
    assert _differences(sliced) == _differences(whole) and len(_differences(sliced)) == 6
    assert (reconciliation.MISSING, "sales_invoice", numbers["missing"]) in _differences(sliced)
    assert sliced.result["sums"] == whole.result["sums"]
    assert sliced.result["documents"] == whole.result["documents"]
    assert reconciliation.RESUME_KEY not in sliced.result


def test_between_slices_the_page_shows_how_far_the_run_has_come(world, settings, accountant_client, monkeypatch):
    connection = world["connection"]
    _book_sales_invoice(world["rackbeat"], [("FV-1", 1, "499.00")], invoice_date="2026-03-12")
    settings.RECONCILIATION_SLICE_SECONDS = 0
    queued = []
    monkeypatch.setattr(reconciliation, "_queue_next_slice", queued.append)
    record = reconciliation.Reconciliation.objects.create(connection=connection, period_start=MARCH.start,
                                                          period_end=MARCH.end)

    for _slice in range(3):
        record = reconciliation.run(record.pk)

    assert record.state == Reconciliation.State.RUNNING and queued == [record.pk] * 3
    assert record.result["slices"] == 3 and record.result[reconciliation.RESUME_KEY]
    page = accountant_client.get(reverse("admin:connection-reconciliation", args=[connection.pk])
                                 + f"?run={record.pk}").content.decode()
    assert 'data-state="running"' in page and "Slice 3 done" in page
