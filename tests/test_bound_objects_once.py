"""Each bound object is created once, and a document waits for what it refers to (DESIGN.md rule 11)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from integration.core.handlers import TransferContext
from integration.core.models import Binding, CreationClaim, IntegrationSettings, Kind, SyncOperation
from integration.transfers.contacts import ensure_contact
from integration.transfers.creation_claims import ObjectBeingCreated
from integration.transfers.products import ensure_product
from integration.transfers.sales_invoices import WaitingForOriginalInvoice, transfer_sales_invoice
from tests.invoice_fixtures import (
    FINISHED_GOODS,
    FIXTURES,
    customer,
    dinero_fixture,
    line,
    operation,
    rackbeat_fixture,
    run,
    sales_invoice,
    world_fixture,
)

USES = (FIXTURES, dinero_fixture, rackbeat_fixture, world_fixture)


def _context(connection, rackbeat, dinero, kind, number) -> TransferContext:
    op = operation(connection, kind, number)
    settings = IntegrationSettings.objects.get(connection=connection)
    return TransferContext(connection=connection, settings=settings, rackbeat=rackbeat, dinero=dinero, operation=op)


# --- defect 9 ------------------------------------------------------------------------------------

def test_invoice_and_credit_note_for_a_new_customer_at_the_same_moment_make_one_contact(connection, world,
                                                                                      rackbeat, dinero):
    rackbeat.customers["501"] = customer()
    invoice = _context(connection, rackbeat, dinero, Kind.SALES_INVOICE, 1001)
    credit_note = _context(connection, rackbeat, dinero, Kind.SALES_INVOICE, 1002)
    lost_race: list[Exception] = []

    def credit_note_runs_meanwhile() -> None:
        # The invoice's create request is in flight: the credit note needs the same contact.
        with pytest.raises(ObjectBeingCreated) as waiting:
            ensure_contact(credit_note, Kind.CUSTOMER, "501")
        lost_race.append(waiting.value)

    dinero.while_in_flight["create_contact"] = credit_note_runs_meanwhile
    guid = ensure_contact(invoice, Kind.CUSTOMER, "501")
    assert lost_race and lost_race[0].transient  # the credit note waits (retried with backoff)

    assert ensure_contact(credit_note, Kind.CUSTOMER, "501") == guid  # its retry finds the one contact
    assert len(dinero.contacts) == 1 and dinero.count("create_contact") == 1
    assert list(Binding.objects.filter(kind=Kind.CUSTOMER).values_list("dinero_id", flat=True)) == [guid]
    assert not CreationClaim.objects.exists()


def test_loser_finds_the_contact_the_winner_already_created(connection, world, rackbeat, dinero):
    from integration.core.clients.errors import UncertainOutcome

    rackbeat.customers["501"] = customer()
    winner = _context(connection, rackbeat, dinero, Kind.SALES_INVOICE, 1001)
    loser = _context(connection, rackbeat, dinero, Kind.SALES_INVOICE, 1002)
    dinero.fail_after_write.add("create_contact")  # stored in Dinero, the winner's answer lost
    with pytest.raises(UncertainOutcome):
        ensure_contact(winner, Kind.CUSTOMER, "501")
    found = ensure_contact(loser, Kind.CUSTOMER, "501")
    assert found in dinero.contacts and len(dinero.contacts) == 1
    assert ensure_contact(winner, Kind.CUSTOMER, "501") == found


def test_a_claim_taken_the_moment_the_winner_released_it_finds_the_winners_contact(connection, world,
                                                                                   rackbeat, dinero):
    """Found by the chaos suite: a poll's customer operation looked for the Binding, found none, and
    took the claim a few milliseconds after the invoice that created the contact had bound it and
    released the claim — then created a second contact, because a fresh claim skipped the look-up."""
    from integration.transfers.creation_claims import create_once

    rackbeat.customers["501"] = customer()
    winner = _context(connection, rackbeat, dinero, Kind.SALES_INVOICE, 1001)
    late = _context(connection, rackbeat, dinero, Kind.CUSTOMER, 501)
    guid = ensure_contact(winner, Kind.CUSTOMER, "501")  # created, bound, claim released
    created: list[str] = []

    def create(planned: str) -> str:
        created.append(planned)
        return "a-second-contact"

    # The late operation's own look at the Binding came before the winner committed; now it asks.
    found = create_once(late, Kind.CUSTOMER, "501", label="Customer", planned_id="", look_up=lambda planned: "",
                        create=create, bind=lambda guid: None)
    assert found == guid
    assert created == []
    assert not CreationClaim.objects.exists()
    assert len(dinero.contacts) == 1


def test_a_dead_claim_is_taken_over_after_it_went_stale(connection, world, rackbeat, dinero):
    rackbeat.customers["501"] = customer()
    dead = _context(connection, rackbeat, dinero, Kind.SALES_INVOICE, 1001)
    CreationClaim.objects.create(connection=connection, kind=Kind.CUSTOMER, rackbeat_key="501",
                                 planned_id="6f1c9a52-0000-4000-8000-000000000001", operation=dead.operation)
    alive = _context(connection, rackbeat, dinero, Kind.SALES_INVOICE, 1002)
    with pytest.raises(ObjectBeingCreated):
        ensure_contact(alive, Kind.CUSTOMER, "501")
    CreationClaim.objects.update(claimed_at=CreationClaim.objects.get().claimed_at - timedelta(minutes=10))
    guid = ensure_contact(alive, Kind.CUSTOMER, "501")
    assert list(dinero.contacts) == [guid] and not CreationClaim.objects.exists()


# --- defect 12 -----------------------------------------------------------------------------------

def test_credit_note_waits_for_its_original_invoice_being_transferred(connection, world, rackbeat, dinero):
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 2, "10")])
    rackbeat.customer_invoices["1002"] = sales_invoice(1002, [line("A-1", FINISHED_GOODS, 1, "10")],
                                                       credit_note=True, credited=1001)
    original = operation(connection, Kind.SALES_INVOICE, 1001)
    SyncOperation.objects.filter(pk=original.pk).update(state=SyncOperation.State.RUNNING)
    with pytest.raises(WaitingForOriginalInvoice):
        run(transfer_sales_invoice, connection, Kind.SALES_INVOICE, 1002, rackbeat, dinero)
    assert dinero.credit_notes == {}

    transferred = run(transfer_sales_invoice, connection, Kind.SALES_INVOICE, 1001, rackbeat, dinero)
    SyncOperation.objects.filter(pk=original.pk).update(state=SyncOperation.State.DONE,
                                                        target_id=transferred.target_id)
    result = run(transfer_sales_invoice, connection, Kind.SALES_INVOICE, 1002, rackbeat, dinero)
    assert dinero.credit_notes[result.target_id]["CreditNoteFor"] == transferred.target_id


def test_invoice_line_gets_the_product_guid_of_a_product_not_yet_in_dinero(connection, world, rackbeat, dinero):
    IntegrationSettings.objects.filter(connection=connection).update(product_integration_enabled=True)
    sold = line("A-1", FINISHED_GOODS, 1, "100")
    rackbeat.products["A-1"] = {**sold["item"], "sales_price": "100.00"}
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [sold])
    result = run(transfer_sales_invoice, connection, Kind.SALES_INVOICE, 1001, rackbeat, dinero)
    (product_guid,) = dinero.products
    (invoice_line,) = dinero.invoices[result.target_id]["ProductLines"]
    assert invoice_line["ProductGuid"] == product_guid
    assert Binding.objects.get(kind=Kind.PRODUCT, rackbeat_key="A-1").dinero_id == product_guid
    assert ensure_product(_context(connection, rackbeat, dinero, Kind.SALES_INVOICE, 1001), Kind.PRODUCT,
                          "A-1") == product_guid
    assert dinero.count("create_product") == 1
