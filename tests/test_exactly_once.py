"""Exactly once through a money document's whole life (DESIGN.md rules 9 and 10).

The engine runs the real transfer handlers against the in-memory Dinero and Rackbeat fakes;
each test replays one way a second Dinero document (or a silent difference) used to appear.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import F
from django.urls import reverse
from django.utils import translation

from accounts.models import Connection
from integration.core import engine
from integration.core.clients.errors import RateLimited
from integration.core.models import Direction, IntegrationSettings, Kind, SyncOperation, Trigger
from mappings.models import AccountMatrixCell, ProductGroup
from tests.invoice_fixtures import (
    FINISHED_GOODS,
    FIXTURES,
    dinero_fixture,
    line,
    rackbeat_fixture,
    sales_invoice,
    supplier_invoice,
    totals,
    world_fixture,
)

USES = (FIXTURES, dinero_fixture, rackbeat_fixture, world_fixture)
State = SyncOperation.State


@pytest.fixture
def live(connection, world, rackbeat, dinero, settings, monkeypatch):
    """The engine with tasks run inline and the fakes as the connection's clients."""
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    connection.set_state(Connection.State.ACTIVE)
    connection.save()
    monkeypatch.setattr("integration.core.engine.rackbeat_client", lambda conn, op=None: rackbeat)
    monkeypatch.setattr("integration.core.engine.dinero_client", lambda conn, op=None: dinero)
    return connection


def trigger(connection, kind, number, how=Trigger.WEBHOOK) -> SyncOperation:
    return engine.enqueue(connection, kind, Direction.TO_DINERO, str(number), trigger=how)


def later(op: SyncOperation) -> SyncOperation:
    """Let the backoff pass and run what is due, as the minutely schedule does."""
    SyncOperation.objects.filter(pk=op.pk).update(next_attempt_at=F("next_attempt_at") - timedelta(hours=2),
                                                  enqueued_at=F("enqueued_at") - timedelta(hours=2))
    engine.run_due()
    op.refresh_from_db()
    return op


def _supplier_invoice_with_lost_answer(live, rackbeat, dinero) -> SyncOperation:
    rackbeat.supplier_invoices["5001"] = supplier_invoice(5001, [line("A-1", FINISHED_GOODS, 1, "100")])
    dinero.fail_after_write.add("create_purchase_voucher")
    op = trigger(live, Kind.SUPPLIER_INVOICE, 5001)
    assert op.state == State.PENDING  # the uncertain answer is retried …
    op = later(op)
    assert op.state == State.NEEDS_ATTENTION  # … and, unable to look it up, asks a person
    assert "no clear answer" in op.last_error
    return op


# --- defect 1 ------------------------------------------------------------------------------------

def test_lost_voucher_answer_then_later_webhook_and_poll_never_post_a_second_voucher(live, rackbeat, dinero):
    op = _supplier_invoice_with_lost_answer(live, rackbeat, dinero)
    rackbeat.supplier_invoices["5001"]["is_paid"] = True  # paid in Rackbeat: updated_at moves
    for how in (Trigger.WEBHOOK, Trigger.POLL, Trigger.START_SYNC, Trigger.FOLLOW_UP):
        op = trigger(live, Kind.SUPPLIER_INVOICE, 5001, how)
        assert op.state == State.NEEDS_ATTENTION
    assert engine.execute_now(op).state == State.NEEDS_ATTENTION  # troubleshooting neither
    assert len(dinero.purchase_vouchers) == 1 and dinero.count("create_purchase_voucher") == 1
    assert op.events.filter(message__contains="only a person moves it on").exists()


def test_lost_voucher_answer_marked_handled_is_never_posted_by_a_later_webhook(live, rackbeat, dinero, accountant):
    op = _supplier_invoice_with_lost_answer(live, rackbeat, dinero)
    engine.mark_handled(op, user=accountant, note="Found it in Dinero as voucher 17.")
    op = trigger(live, Kind.SUPPLIER_INVOICE, 5001, Trigger.POLL)
    op = engine.retry(op, user=accountant)
    assert op.state == State.SKIPPED and op.handled_by == "accountant"
    assert dinero.count("create_purchase_voucher") == 1


def test_lost_consumption_answer_then_later_webhook_never_posts_a_second_voucher(live, world, rackbeat, dinero):
    IntegrationSettings.objects.filter(connection=live).update(item_consumption_enabled=True)
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 1, "10")])
    dinero.fail_after_write.add("create_manual_voucher")
    op = trigger(live, Kind.ITEM_CONSUMPTION, 1001)
    op = later(op)
    assert op.state == State.DONE, "found by its file and booked, without a person"
    trigger(live, Kind.ITEM_CONSUMPTION, 1001, Trigger.FOLLOW_UP)
    trigger(live, Kind.ITEM_CONSUMPTION, 1001, Trigger.POLL)
    assert dinero.count("create_manual_voucher") == 1


def test_person_links_the_found_voucher_and_nothing_is_posted(live, rackbeat, dinero, accountant):
    op = _supplier_invoice_with_lost_answer(live, rackbeat, dinero)
    (guid,) = dinero.purchase_vouchers
    op = engine.link_existing(op, user=accountant, reference=guid)
    assert op.state == State.DONE and op.target_id == guid, (op.last_error, op.hint)
    assert op.events.filter(message__contains="Linked by accountant").exists()
    trigger(live, Kind.SUPPLIER_INVOICE, 5001, Trigger.POLL)
    assert dinero.count("create_purchase_voucher") == 1


def test_a_number_dinero_does_not_have_is_never_linked(live, rackbeat, dinero, accountant):
    op = _supplier_invoice_with_lost_answer(live, rackbeat, dinero)
    op = engine.link_existing(op, user=accountant, reference="6f1c2a4e-0000-4000-8000-000000000999")
    assert op.state == State.NEEDS_ATTENTION and not op.target_id
    assert op.events.filter(message__contains="Dinero has no purchase voucher with the Guid").exists()


def test_person_says_it_is_not_there_and_it_is_posted_once(live, rackbeat, dinero, accountant):
    op = _supplier_invoice_with_lost_answer(live, rackbeat, dinero)
    dinero.purchase_vouchers.clear()  # the person looked: it is not in Dinero
    op = engine.post_now(op, user=accountant)
    assert op.state == State.DONE, (op.last_error, op.hint)
    assert dinero.count("create_purchase_voucher") == 2 and len(dinero.purchase_vouchers) == 1
    assert op.events.filter(message__contains="accountant confirmed the document is not in Dinero").exists()
    trigger(live, Kind.SUPPLIER_INVOICE, 5001, Trigger.WEBHOOK)
    assert len(dinero.purchase_vouchers) == 1


# --- defect 2 ------------------------------------------------------------------------------------

def test_handled_sales_invoice_is_not_transferred_again_after_the_cell_is_filled(live, rackbeat, dinero,
                                                                                 accountant):
    ProductGroup.objects.create(connection=live, number="30", name="Tilbehør")
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("T-1", "30", 1, "100")])
    op = trigger(live, Kind.SALES_INVOICE, 1001)
    assert op.state == State.NEEDS_ATTENTION and "30" in op.last_error
    engine.mark_handled(op, user=accountant, note="Entered by hand in Dinero.")

    AccountMatrixCell.objects.create(connection=live, matrix="revenue", product_group_number="30",
                                     vat_zone="domestic", account_number=1000)
    for how in (Trigger.WEBHOOK, Trigger.POLL, Trigger.START_SYNC):
        op = trigger(live, Kind.SALES_INVOICE, 1001, how)
    assert op.state == State.SKIPPED
    assert dinero.invoices == {}


def test_untouched_needs_attention_is_started_again_by_the_next_webhook(live, rackbeat, dinero):
    """Rule 9 still lets a document that never reached Dinero be started automatically."""
    ProductGroup.objects.create(connection=live, number="30", name="Tilbehør")
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("T-1", "30", 1, "100")])
    assert trigger(live, Kind.SALES_INVOICE, 1001).state == State.NEEDS_ATTENTION
    AccountMatrixCell.objects.create(connection=live, matrix="revenue", product_group_number="30",
                                     vat_zone="domestic", account_number=1000)
    assert trigger(live, Kind.SALES_INVOICE, 1001, Trigger.POLL).state == State.DONE
    assert len(dinero.invoices) == 1


# --- defect 8 ------------------------------------------------------------------------------------

def test_invoice_changed_after_transfer_needs_attention_with_both_totals_and_is_not_reposted(live, rackbeat,
                                                                                              dinero):
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 1, "100")])
    op = trigger(live, Kind.SALES_INVOICE, 1001)
    assert op.state == State.DONE

    # Paid in Rackbeat: a webhook for an unchanged invoice leaves it done.
    op = trigger(live, Kind.SALES_INVOICE, 1001, Trigger.POLL)
    assert op.state == State.DONE
    assert op.events.filter(message__contains="unchanged since the transfer").exists()

    # Unbooked, changed, booked again.
    changed_lines = [line("A-1", FINISHED_GOODS, 1, "120")]
    rackbeat.customer_invoices["1001"].update(lines=changed_lines, **totals(changed_lines))
    op = trigger(live, Kind.SALES_INVOICE, 1001)
    assert op.state == State.NEEDS_ATTENTION
    assert op.last_error == ("Changed in Rackbeat after transfer: Dinero has 125.00 DKK, Rackbeat now has "
                             "150.00 DKK.")
    with translation.override("da"):  # stored as meaning: read in the reader's language and formats
        assert op.shown_last_error == ("Ændret i Rackbeat efter overførslen: Dinero har 125,00 DKK, Rackbeat har "
                                       "nu 150,00 DKK.")
    assert dinero.count("create_invoice") == 1 and len(dinero.invoices) == 1
    op = trigger(live, Kind.SALES_INVOICE, 1001, Trigger.POLL)
    assert op.state == State.NEEDS_ATTENTION and dinero.count("create_invoice") == 1


def test_changed_lines_with_the_same_total_are_named(live, rackbeat, dinero):
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 2, "50")])
    trigger(live, Kind.SALES_INVOICE, 1001)
    rackbeat.customer_invoices["1001"]["lines"] = [line("A-2", FINISHED_GOODS, 1, "100")]
    op = trigger(live, Kind.SALES_INVOICE, 1001)
    assert op.state == State.NEEDS_ATTENTION
    assert "Dinero has: A-1 × 2 á 50. Rackbeat now has: A-2 × 1 á 100." in op.last_error


# --- defect 10 -----------------------------------------------------------------------------------

def test_429_on_a_voucher_create_is_a_definite_refusal_not_an_uncertain_outcome(live, world, rackbeat, dinero):
    IntegrationSettings.objects.filter(connection=live).update(item_consumption_enabled=True)
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 1, "10")])
    dinero.refuse_once["create_manual_voucher"] = RateLimited("429 Too Many Requests", retry_after=1,
                                                              status=429, service="dinero")
    op = trigger(live, Kind.ITEM_CONSUMPTION, 1001)
    assert op.state == State.PENDING and op.last_error_class == "RateLimited"
    op = later(op)
    assert op.state == State.DONE, (op.last_error, op.hint)
    assert len(dinero.manual_vouchers) == 1


def test_validation_refusal_of_a_purchase_voucher_leaves_it_untouched(live, rackbeat, dinero):
    from integration.core.clients.errors import ValidationFailed

    rackbeat.supplier_invoices["5001"] = supplier_invoice(5001, [line("A-1", FINISHED_GOODS, 1, "100")])
    dinero.refuse_once["create_purchase_voucher"] = ValidationFailed("Dinero rejected the request", status=400,
                                                                     service="dinero")
    op = trigger(live, Kind.SUPPLIER_INVOICE, 5001)
    assert op.state == State.NEEDS_ATTENTION and not op.intent.get("in_flight")
    op = trigger(live, Kind.SUPPLIER_INVOICE, 5001, Trigger.POLL)  # nothing was written: may start again
    assert op.state == State.DONE and len(dinero.purchase_vouchers) == 1


# --- the operation page's two choices -------------------------------------------------------------

def test_operation_page_offers_the_two_choices_and_they_are_post_only(live, rackbeat, dinero, accountant_client):
    op = _supplier_invoice_with_lost_answer(live, rackbeat, dinero)
    page = accountant_client.get(reverse("admin:integration_syncoperation_change", args=[op.pk])).content.decode()
    assert "It is in Dinero: link voucher number" in page and "It is not there: post it now" in page

    link = reverse("admin:integration_syncoperation_link_existing", args=[op.pk])
    assert accountant_client.get(link).status_code == 405
    (guid,) = dinero.purchase_vouchers
    shown = accountant_client.post(link, {"reference": guid})
    assert shown.status_code == 200 and "125.00" in shown.content.decode()
    assert accountant_client.post(link, {"reference": guid, "confirm": "yes"}).status_code == 302
    op.refresh_from_db()
    assert op.state == State.DONE and op.target_id == guid


def test_choices_are_refused_for_another_tenant_and_without_permission(live, rackbeat, dinero, other_connection,
                                                                       client):
    from django.contrib.auth.models import Permission, User

    from accounts.models import Membership

    op = _supplier_invoice_with_lost_answer(live, rackbeat, dinero)
    theirs = SyncOperation.objects.create(connection=other_connection, kind=Kind.SUPPLIER_INVOICE,
                                          source_key="9", state=State.NEEDS_ATTENTION,
                                          intent={"in_flight": "purchase_voucher"})
    viewer = User.objects.create_user("viewer", password="pw-For-tests-123", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_syncoperation"))
    Membership.objects.create(user=viewer, connection=live)
    client.force_login(viewer)
    assert client.post(reverse("admin:integration_syncoperation_post_now", args=[op.pk])).status_code == 403
    assert client.post(reverse("admin:integration_syncoperation_link_existing", args=[op.pk]),
                       {"reference": "1"}).status_code == 403
    viewer.user_permissions.add(*Permission.objects.filter(codename__in=["retry_syncoperation",
                                                                         "handle_syncoperation"]))
    assert client.post(reverse("admin:integration_syncoperation_post_now", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("admin:integration_syncoperation_link_existing", args=[theirs.pk]),
                       {"reference": "1"}).status_code == 404
    op.refresh_from_db()
    theirs.refresh_from_db()
    assert op.state == theirs.state == State.NEEDS_ATTENTION
    assert dinero.count("create_purchase_voucher") == 1


# --- uncertain purchase vouchers resolved by looking (defect 11 and the fileguid look-up) ---------

def test_lost_voucher_answer_is_resolved_by_its_file_without_a_person(live, rackbeat, dinero):
    rackbeat.supplier_invoices["5001"] = supplier_invoice(5001, [line("A-1", FINISHED_GOODS, 1, "100")])
    rackbeat.pdfs["5001"] = b"%PDF-1.4 supplier invoice"
    dinero.fail_after_write.add("create_purchase_voucher")
    op = trigger(live, Kind.SUPPLIER_INVOICE, 5001)
    assert op.state == State.PENDING and op.intent["in_flight"] == "purchase_voucher"
    op = later(op)
    assert op.state == State.DONE, (op.last_error, op.hint)
    (voucher,) = dinero.purchase_vouchers.values()
    assert op.target_id == voucher["Guid"] and dinero.count("create_purchase_voucher") == 1
    assert op.events.filter(message__contains="Found the purchase voucher").exists()


def test_lost_voucher_answer_that_wrote_nothing_is_posted_once_after_dinero_says_so(live, rackbeat, dinero):
    from integration.core.clients.errors import UncertainOutcome

    rackbeat.supplier_invoices["5001"] = supplier_invoice(5001, [line("A-1", FINISHED_GOODS, 1, "100")])
    rackbeat.pdfs["5001"] = b"%PDF-1.4 supplier invoice"
    dinero.refuse_once["create_purchase_voucher"] = UncertainOutcome("timeout", service="dinero")
    op = later(trigger(live, Kind.SUPPLIER_INVOICE, 5001))
    assert op.state == State.DONE, (op.last_error, op.hint)
    assert len(dinero.purchase_vouchers) == 1 and dinero.count("find_purchase_voucher_by_file") == 1


def test_pdf_upload_with_a_lost_answer_is_reused_never_a_second_file(live, rackbeat, dinero):
    rackbeat.supplier_invoices["5001"] = supplier_invoice(5001, [line("A-1", FINISHED_GOODS, 1, "100")])
    rackbeat.pdfs["5001"] = b"%PDF-1.4 supplier invoice"
    dinero.fail_after_write.add("upload_file")
    op = trigger(live, Kind.SUPPLIER_INVOICE, 5001)
    assert op.state == State.PENDING
    op = later(op)
    assert op.state == State.DONE, (op.last_error, op.hint)
    (file_guid,) = dinero.files
    (voucher,) = dinero.purchase_vouchers.values()
    assert voucher["FileGuid"] == file_guid and dinero.count("upload_file") == 1


def test_no_post_it_now_for_a_document_known_to_be_in_dinero(live, rackbeat, dinero, accountant):
    from decimal import Decimal

    from integration.core.lifecycle import person_may_choose

    dinero.vat_rates[1000] = Decimal("0")  # a draft stops on a total difference: it is in Dinero
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 1, "100")])
    op = trigger(live, Kind.SALES_INVOICE, 1001)
    assert op.state == State.NEEDS_ATTENTION and not person_may_choose(op)
    op = engine.post_now(op, user=accountant)
    assert op.state == State.NEEDS_ATTENTION and len(dinero.invoices) == 1
    assert op.events.filter(message__contains="Posting by accountant refused").exists()
