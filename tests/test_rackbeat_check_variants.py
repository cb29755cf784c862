"""The shape check against the ways a real Rackbeat may differ from our reading, over real HTTP against
the sandbox: each variant ends in plain words naming the document, and in the command's exit code."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from integration.books.rackbeat_check import run_check
from integration.core.clients.errors import NotFound, ValidationFailed
from integration.core.clients.factory import rackbeat_client
from integration.core.models import RackbeatShapeCheck
from tests.test_e2e_invoices import e2e as invoice_world  # noqa: F401  (a fixture, requested below)
from tests.test_rackbeat_check import world  # noqa: F401  (a fixture, requested below)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _variant(name: str) -> None:
    from sandbox.rackbeat import models as rb
    from sandbox.rackbeat.variants import apply_variant

    apply_variant(rb.Account.objects.get(), name)


def _numbers() -> tuple[int, int]:
    """The booked invoice's and the credit note's numbers."""
    from sandbox.rackbeat import models as rb

    invoice = rb.CustomerInvoice.objects.get(is_credit_note=False)
    note = rb.CustomerInvoice.objects.get(is_credit_note=True)
    return invoice.number, note.number


def _command(connection) -> tuple[int, str, str]:
    out = StringIO()
    try:
        call_command("rackbeat_check", str(connection.pk), stdout=out)
    except CommandError as stopped:
        return stopped.returncode, out.getvalue(), str(stopped)
    return 0, out.getvalue(), ""


def _findings(check: RackbeatShapeCheck, title: str) -> dict[str, dict[str, Any]]:
    return {f["label"]: f for s in check.sections if s["title"] == title for f in s["findings"]}


def test_a_credit_note_flagged_as_type_credit_note_is_questioned_not_checked_as_an_invoice(world):  # noqa: F811
    _variant("credit-note-type")
    _invoice, note = _numbers()

    code, out, summary = _command(world["connection"])

    assert code == 1
    assert (f"Invoice {note} carries “type: credit_note”, a credit-note flag under a name the service does not "
            "read (it reads is_creditnote, is_credit_note), so it would transfer this credit note as an ordinary "
            "invoice.") in out
    assert "Failed: credit notes the service would not recognise." in summary
    check = RackbeatShapeCheck.objects.latest()
    assert check.outcome == RackbeatShapeCheck.Outcome.WRONG
    (invoice_section,) = [s for s in check.sections if s["title"] == "Booked customer invoice"]
    assert invoice_section["document"] == f"invoice {_invoice}"   # the ordinary one, not the credit note


def test_an_unflagged_invoice_with_a_negative_total_is_questioned(world):  # noqa: F811
    _variant("credit-note-unflagged")
    _invoice, note = _numbers()

    code, out, _summary = _command(world["connection"])

    assert code == 1
    assert (f"Invoice {note} has a negative total (-623.75) but no credit-note flag under any name the service "
            "reads (is_creditnote, is_credit_note), so it would be transferred as an invoice with negative "
            "amounts.") in out


def test_a_line_naming_no_item_is_reported_with_the_number_looked_up(world):  # noqa: F811
    _variant("unknown-line-items")
    invoice, _note = _numbers()

    code, out, summary = _command(world["connection"])

    assert code == 1
    assert (f"On invoice {invoice} line 1 names product GONE-FV-1, but Rackbeat has no product with that number "
            "(looked up as products/GONE-FV-1).") in out
    assert "Failed: items named by the lines." in summary
    check = RackbeatShapeCheck.objects.latest()
    (product,) = [s for s in check.sections if s["title"] == "Product"]
    assert product["document"] == "product RD-9"   # the line whose item Rackbeat has


def test_a_total_cost_that_disagrees_with_the_lines_is_reported_with_both_figures(world):  # noqa: F811
    _variant("total-cost-disagrees")
    invoice, _note = _numbers()

    code, out, summary = _command(world["connection"])

    assert code == 1
    # FV-1: 2 × 210.50, RD-9: 1 × 11.00 = 432.00; Rackbeat's header says 10.00 more.
    assert (f"Invoice {invoice}: Rackbeat's total cost (total_cost) is 442.00 DKK, but its lines give 432.00 DKK "
            "(unit cost × quantity over 2 lines with an item).") in out
    assert "Failed: cost total against the lines." in summary


def test_the_real_account_verifies_every_cross_check_and_exits_0(world):  # noqa: F811
    invoice, note = _numbers()

    code, out, _summary = _command(world["connection"])

    assert code == 0, out
    assert (f"check cost total against the lines: verified: Invoice {invoice}: Rackbeat's total cost (total_cost) "
            "432.00 DKK equals") in out
    assert f"check VAT and totals against the lines: verified: Invoice {note}: VAT" in out
    assert "Refused filters: is_booked (customer-invoices), is_booked (supplier-invoices)." in out
    assert "line: product group: read from the product record" in out


def test_a_refused_order_is_reported_and_the_credit_note_is_still_checked(world):  # noqa: F811
    connection = world["connection"]
    client = rackbeat_client(connection)
    read = client._get

    def refusing_order(path: str, params: dict[str, Any] | None = None) -> Any:
        if path == "customer-invoices" and "order_by" in (params or {}):
            raise ValidationFailed("The given data was invalid.", service="rackbeat", status=422,
                                   details={"order_by": ["The selected order by is invalid."]})
        return read(path, params)

    client._get = refusing_order
    check = run_check(connection, client=client)

    requests = _findings(check, "List requests")["ordering by number"]
    assert requests["status"] == "failed"
    assert "Rackbeat refused to order customer-invoices by number" in requests["text"]
    assert "The selected order by is invalid." in requests["text"]
    assert _findings(check, "Credit note")["VAT and totals against the lines"]["status"] == "verified"
    assert check.outcome == RackbeatShapeCheck.Outcome.WRONG
    assert check.failed_checks == ["ordering by number"]


def test_a_list_answering_404_is_not_available_on_the_account_not_a_missing_record(world):  # noqa: F811
    connection = world["connection"]
    client = rackbeat_client(connection)

    def no_layouts():
        raise NotFound("Rackbeat has no layouts (HTTP 404).", service="rackbeat", status=404)

    client.iter_layouts = no_layouts
    check = run_check(connection, client=client)

    (layouts,) = [s for s in check.sections if s["title"] == "Layouts"]
    assert ("Not verifiable yet: Rackbeat answers HTTP 404 for the list layouts: it is not available on this "
            "account.") in layouts["unverified"]
    assert "no such record" not in str(layouts)
    assert check.outcome == RackbeatShapeCheck.Outcome.UNVERIFIED


def test_the_product_section_names_the_number_rackbeat_has_no_record_of(world):  # noqa: F811
    connection = world["connection"]
    client = rackbeat_client(connection)

    def gone(number: str):
        raise NotFound("No product.", service="rackbeat", status=404)

    client.get_product = gone
    check = run_check(connection, client=client)

    (product,) = [s for s in check.sections if s["title"] == "Product"]
    (finding,) = product["findings"]
    assert finding["status"] == "failed"
    assert "Rackbeat has no product with the number" in finding["text"] and "looked up as products/" in finding["text"]
    assert check.outcome == RackbeatShapeCheck.Outcome.WRONG


def test_a_failing_item_lookup_is_reported_in_its_section_not_as_a_crash(world):  # noqa: F811
    from integration.core.clients.errors import TransientError

    connection = world["connection"]
    client = rackbeat_client(connection)

    def failing(number: str):
        raise TransientError("Rackbeat failed GET products/FV-1 with HTTP 500.", service="rackbeat", status=500)

    client.get_product = failing
    check = run_check(connection, client=client)

    (invoice,) = [s for s in check.sections if s["title"] == "Booked customer invoice"]
    assert "HTTP 500" in invoice["error"]
    assert check.outcome == RackbeatShapeCheck.Outcome.UNREADABLE
