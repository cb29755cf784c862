"""End to end over real HTTP: a consumption voucher carries its specification, and the file answers for it.

Every voucher needs its documentation (bogføringsloven). The consumption voucher's is a one-page PDF
— invoice number, items, quantities, cost prices, the sum — uploaded to Dinero's file archive before
the voucher and attached as its FileGuid. Dinero cannot list manual vouchers by reference, but its
file list says which voucher a file is linked to, so a create whose answer was lost is resolved by
looking, not by a person.
"""

from __future__ import annotations

from typing import Any

import pytest

from integration.core import engine
from integration.core.models import Direction, IntegrationSettings, Kind, SyncOperation, Trigger
from tests.test_e2e_exactly_once import _later
from tests.test_e2e_invoices import _book_sales_invoice
from tests.test_e2e_invoices import e2e as invoice_world  # noqa: F401  (a fixture, requested below)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
State = SyncOperation.State


@pytest.fixture
def e2e(request) -> dict[str, Any]:
    world = request.getfixturevalue("invoice_world")
    IntegrationSettings.objects.filter(connection=world["connection"]).update(item_consumption_enabled=True)
    return world


def _consumption(world: dict[str, Any], number: Any) -> SyncOperation:
    return engine.enqueue(world["connection"], Kind.ITEM_CONSUMPTION, Direction.TO_DINERO, str(number),
                          trigger=Trigger.WEBHOOK)


def _vouchers(number: Any) -> list[Any]:
    from sandbox.dinero.models import Voucher

    return list(Voucher.objects.filter(external_reference=f"rackbeat:consumption:{number}", deleted_at__isnull=True))


def test_consumption_voucher_carries_its_specification_as_a_pdf(e2e):
    from sandbox.dinero.models import File

    invoice = _book_sales_invoice(e2e["rackbeat"], [("FV-1", 2, "499.00"), ("RD-9", 3, "29.95")])
    op = _consumption(e2e, invoice["number"])
    assert op.state == State.DONE, (op.last_error, op.hint)

    voucher = e2e["dinero"].get_manual_voucher(op.target_id)
    assert voucher["Status"] == "Booked" and voucher["FileGuid"]
    stored = File.objects.get(file_guid=voucher["FileGuid"])
    pdf = bytes(stored.content)
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") >= 1
    # 2 × 210.50 + 3 × 11.00 = 454.00, the amount booked.
    for text in (str(invoice["number"]), "FV-1", "RD-9", "210.50", "11.00", "421.00", "33.00", "454.00"):
        assert text.encode() in pdf, text
    (line,) = voucher["Lines"]
    assert str(line["AmountExclVatValue"]) in ("454.0", "454")
    # Dinero's file list names the voucher the file is linked to: what resolves a lost create answer.
    assert e2e["dinero"].voucher_with_file(voucher["FileGuid"]) == op.target_id


def test_lost_consumption_create_is_found_by_its_file_and_booked_without_a_person(e2e):
    invoice = _book_sales_invoice(e2e["rackbeat"], [("FV-1", 2, "499.00")])
    org = e2e["dinero_org"]
    type(org).objects.filter(pk=org.pk).update(fail_next_500_after_write=2)  # the upload, then the voucher

    op = _consumption(e2e, invoice["number"])
    assert op.state == State.PENDING
    op = _later(op)
    assert op.state == State.PENDING and op.intent["in_flight"] == "manual_voucher"
    op = _later(op)
    assert op.state == State.DONE, (op.last_error, op.hint)

    (voucher,) = _vouchers(invoice["number"])
    assert str(voucher.guid) == op.target_id and voucher.status == "Booked"
    assert voucher.data["FileGuid"] == op.intent["file_guid"]
    from sandbox.dinero.models import File

    assert File.objects.filter(name=f"rackbeat-consumption-{invoice['number']}.pdf").count() == 1
    events = "\n".join(op.events.values_list("message", flat=True))
    assert "Found the consumption voucher" in events
