"""The shape check reads real examples from Rackbeat and reports, field by field, what the service finds."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from integration.books.rackbeat_check import FETCHED, FOUND, MISSING, RENAMED, Need, check_fields, run_check
from integration.core.models import RackbeatEventAnswer, RackbeatShapeCheck, RackbeatWebhook
from tests.test_e2e_invoices import _book_sales_invoice
from tests.test_e2e_invoices import e2e as invoice_world  # noqa: F401  (a fixture, requested below)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world(invoice_world: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    """Both emulators seeded with the invoice tests' company: a booked invoice, a credit note, a
    supplier invoice."""
    from sandbox.rackbeat import models as rb

    rackbeat = invoice_world["rackbeat"]
    _book_sales_invoice(rackbeat, [("FV-1", 2, "499.00"), ("RD-9", 1, "29.95")])
    _book_sales_invoice(rackbeat, [("FV-1", 1, "499.00")], is_creditnote=True)
    account = invoice_world["rackbeat_account"]
    invoice = rb.SupplierInvoice.objects.create(
        account=account, number=50001, invoice_date="2026-03-20", due_date="2026-04-19",
        supplier=rb.Supplier.objects.get(account=account, number=702), total_subtotal=Decimal("1000"),
        total_total=Decimal("1000"), is_booked=True, vat_zone="eu")
    rb.InvoiceLine.objects.create(supplier_invoice=invoice, item=rb.Item.objects.get(account=account, number="FV-1"),
                                  name="Færdigvare", quantity=4, line_price=Decimal("250"), line_total=Decimal("1000"))
    return invoice_world


def _fields(check: RackbeatShapeCheck, title: str) -> dict[str, dict[str, Any]]:
    (section,) = [s for s in check.sections if s["title"] == title]
    assert not section["error"], section["error"]
    return {f["label"]: f for f in section["fields"]}


def test_field_results_distinguish_found_renamed_and_missing():
    needs = (Need("flag", ("is_creditnote", "is_credit_note")), Need("cost", ("item_cost_price", "cost_price")),
             Need("zone", ("vat_zone", "fetched customer.vat_zone")), Need("note", ("note",), required=False),
             Need("stock", ("inventory_enabled",)))
    results = {r.label: r for r in check_fields(
        {"is_credit_note": False, "cost_price": 0, "inventory_enabled": False}, needs, {"customer": {"vat_zone": "eu"}})}
    assert (results["flag"].status, results["flag"].found_as, results["flag"].example) == (
        RENAMED, "is_credit_note", "False")
    assert results["cost"].status == RENAMED and results["cost"].example == "0"
    assert (results["zone"].status, results["zone"].found_as) == (FETCHED, "fetched customer.vat_zone")
    assert results["zone"].where == "read from the customer record"
    assert results["note"].status == MISSING and not results["note"].required
    assert results["stock"].status == FOUND


def test_real_rackbeat_is_found_under_the_evidenced_names(world):
    check = run_check(world["connection"], checked_by="test")

    invoice = _fields(check, "Booked customer invoice")
    assert invoice["line: unit cost (item consumption)"]["found_as"] == "item_cost_price"
    assert invoice["line: unit cost (item consumption)"]["status"] == FOUND
    assert invoice["line: item number"]["found_as"] == "child_id"
    assert invoice["line: stock-tracked flag"]["status"] == FETCHED
    checks = {(s["title"], f["label"]): f for s in check.sections for f in s["findings"]}
    assert {f["status"] for f in checks.values()} == {"verified"}, checks
    cost = checks[("Booked customer invoice", "cost total against the lines")]["text"]
    assert cost.startswith("Invoice ") and "equals unit cost × quantity over its 2 lines" in cost
    assert checks[("Credit note", "VAT and totals against the lines")]["status"] == "verified"
    assert "looked up: FV-1, RD-9" in checks[("Booked customer invoice", "items named by the lines")]["text"]
    assert "looked up: FV-1" in checks[("Booked supplier invoice", "items named by the lines")]["text"]
    credit = _fields(check, "Credit note")
    assert (credit["credit-note flag"]["status"], credit["credit-note flag"]["found_as"]) == (FOUND, "is_creditnote")
    (credit_section,) = [s for s in check.sections if s["title"] == "Credit note"]
    assert any("negative" in note for note in credit_section["notes"])
    supplier = _fields(check, "Booked supplier invoice")
    assert supplier["supplier number"]["found_as"] == "supplier_id"
    assert (supplier["VAT zone"]["status"], supplier["VAT zone"]["example"]) == (FETCHED, "eu")
    assert supplier["VAT zone"]["where"] == "read from the supplier record"
    assert supplier["line: product group"]["status"] == FETCHED
    for title in ("Product", "Customer", "Supplier", "Product groups", "Units", "Layouts"):
        assert _fields(check, title), title
    assert check.outcome == RackbeatShapeCheck.Outcome.OK
    assert RackbeatShapeCheck.objects.get() == check


@pytest.mark.parametrize("shape", ["early"])
def test_the_early_shape_is_found_under_the_older_names(world, shape):
    check = run_check(world["connection"])

    credit = _fields(check, "Credit note")
    assert (credit["credit-note flag"]["status"], credit["credit-note flag"]["found_as"]) == (RENAMED, "is_credit_note")
    invoice = _fields(check, "Booked customer invoice")
    assert invoice["line: unit cost (item consumption)"]["found_as"] == "cost_price"
    # The early reading has no total_cost: the unit costs cannot be checked against it, and the check says so.
    (cost,) = [f for s in check.sections if s["title"] == "Booked customer invoice" for f in s["findings"]
               if f["label"] == "cost total against the lines"]
    assert cost["status"] == "unverified" and "carries no total_cost" in cost["text"]
    assert check.outcome == RackbeatShapeCheck.Outcome.UNVERIFIED


def test_a_missing_required_field_makes_the_check_say_so(world):
    from sandbox.rackbeat import models as rb

    rb.Supplier.objects.filter(number=702).update(vat_zone="")
    check = run_check(world["connection"])

    supplier = _fields(check, "Booked supplier invoice")
    assert supplier["VAT zone"]["status"] == MISSING
    assert check.outcome == RackbeatShapeCheck.Outcome.MISSING


def test_webhook_registrations_are_reported_with_what_activation_learnt(world):
    connection = world["connection"]
    from integration.triggers.activation import register_webhooks
    from sandbox.rackbeat import models as rb

    rb.Account.objects.update(refused_webhook_events="customer_invoice.booked")
    register_webhooks(connection)
    hook = RackbeatWebhook.objects.filter(connection=connection, event="product.updated").get()
    rb.Webhook.objects.filter(pk=int(hook.rackbeat_id)).update(is_active=False)
    rb.Webhook.objects.filter(event="customer.created").delete()

    rows = {row["event"]: row for row in run_check(connection).webhooks}

    assert rows["supplier.updated"]["status"] == FOUND
    assert "Refused by Rackbeat" in rows["customer_invoice.booked"]["text"]
    assert "The selected event is invalid." in rows["customer_invoice.booked"]["text"]
    assert "switched off" in rows["product.updated"]["text"]
    assert "no longer lists it" in rows["customer.created"]["text"]
    assert not RackbeatEventAnswer.objects.get(connection=connection, event="customer_invoice.booked").accepted


def test_unreadable_rackbeat_is_reported_per_section_not_as_a_crash(world):
    from sandbox.rackbeat import models as rb

    rb.Account.objects.update(api_token="another-token")
    check = run_check(world["connection"])

    assert check.outcome == RackbeatShapeCheck.Outcome.FAILED
    assert all(s["error"] for s in check.sections)
    assert "401" in check.sections[0]["error"] or "token" in check.sections[0]["error"]


def test_command_prints_the_report_and_fails_on_missing_fields(world):
    out = StringIO()
    call_command("rackbeat_check", str(world["connection"].pk), stdout=out)
    text = out.getvalue()
    assert "credit-note flag: found" in text and "Webhook registrations" in text

    from sandbox.rackbeat import models as rb

    rb.Supplier.objects.filter(number=702).update(vat_zone="")
    with pytest.raises(CommandError, match="Fields are missing"):
        call_command("rackbeat_check", world["connection"].name, stdout=StringIO())
    with pytest.raises(CommandError, match="No connection"):
        call_command("rackbeat_check", "nobody", stdout=StringIO())


def test_the_page_runs_the_check_for_consultants_and_shows_it_to_accountants(world, client, consultant, accountant):
    connection = world["connection"]
    url = reverse("admin:connection-rackbeat-check", args=[connection.pk])

    client.force_login(accountant)
    assert "not been checked" in client.get(url).content.decode()
    assert client.post(url).status_code == 403
    assert not RackbeatShapeCheck.objects.exists()

    client.force_login(consultant)
    response = client.post(url, follow=True)
    page = response.content.decode()
    assert "Rackbeat checked" in page and "is_creditnote" in page and "Webhook registrations" in page
    assert 'class="rackbeat-finding" data-status="verified"' in page and "cost total against the lines" in page
    assert "read from the product record" in page and "Checks: 7 verified, 0 not verifiable yet, 0 failed." in page
    assert RackbeatShapeCheck.objects.filter(connection=connection, checked_by="consultant").count() == 1

    client.force_login(accountant)
    assert "is_creditnote" in client.get(url).content.decode()


def test_the_check_lists_the_events_seen_from_rackbeat_with_the_account_id_they_carried(world):
    from integration.core.models import RackbeatDeliveryShape

    connection = world["connection"]
    RackbeatDeliveryShape.objects.create(connection=connection, event="debtor.created", taken_as="customer.created",
                                         account_id="9", expected_account_id=connection.rackbeat_account_id,
                                         headers="content-type,rackbeat-account-id,rackbeat-webhook-event")
    (row,) = run_check(connection).deliveries
    assert row["event"] == "debtor.created" and row["taken_as"] == "customer.created" and row["account_differs"]

    out = StringIO()
    call_command("rackbeat_check", str(connection.pk), stdout=out)
    text = out.getvalue()
    assert "Events seen from Rackbeat" in text
    assert "debtor.created (token of customer.created): Rackbeat-Account-Id 9, but the connection's account is" in text


def test_supplier_invoices_without_dates_are_reported_missing(world):
    from sandbox.rackbeat import models as rb

    rb.Account.objects.update(supplier_invoices_without_dates=True)
    check = run_check(world["connection"])
    supplier = _fields(check, "Booked supplier invoice")
    assert supplier["invoice date"]["status"] == MISSING and supplier["invoice date"]["required"]
    assert "2018" in supplier["invoice date"]["note"]
    assert check.outcome == RackbeatShapeCheck.Outcome.MISSING


def test_an_account_without_documents_is_not_verifiable_yet_never_all_clear(invoice_world):  # noqa: F811
    connection = invoice_world["connection"]
    out = StringIO()
    with pytest.raises(CommandError) as stopped:
        call_command("rackbeat_check", str(connection.pk), stdout=out)
    assert stopped.value.returncode == 2
    assert "Not verifiable yet: Booked customer invoice, Credit note, Booked supplier invoice." in str(stopped.value)
    assert "Run the check again after the first one." in out.getvalue()
    check = RackbeatShapeCheck.objects.get(connection=connection)
    assert check.outcome == RackbeatShapeCheck.Outcome.UNVERIFIED
    assert check.get_outcome_display() != "Everything needed was found"


def test_field_labels_and_notes_read_in_the_language_of_whoever_runs_the_check():
    from django.utils import translation

    needs = (Need("invoice number", ("number",)), Need("currency", ("currency",), required=False,
                                                        note="DKK is assumed without it."))
    with translation.override("da"):
        number, currency = check_fields({"number": 7}, needs)
    assert (number.label, currency.label, currency.note) == ("fakturanummer", "valuta", "Uden det antages DKK.")
    with translation.override("sv"):
        assert [r.label for r in check_fields({}, needs)] == ["fakturanummer", "valuta"]
