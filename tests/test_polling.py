"""The polling safety net against the Rackbeat emulator: cursors, overlap, switches, no overlapping polls."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Connection
from integration.core.models import IntegrationSettings, Kind, PollCursor, SyncOperation, SyncRun
from integration.triggers import polling
from tests.engine_fixtures import demo, switch_on

USES = (demo,)
pytestmark = [pytest.mark.e2e]


@pytest.fixture
def active(demo, settings):
    # Operations are only queued here; whether they transfer is tested elsewhere.
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    age_the_demo_company()
    demo.set_state(Connection.State.ACTIVE)
    demo.rackbeat_account_id = "418001"
    demo.save()
    switch_on(demo)
    return demo


def age_the_demo_company() -> None:
    """The demo company was set up a day ago, not just now (outside every overlap window)."""
    from sandbox.rackbeat import models as rb

    a_day_ago = timezone.now() - timedelta(days=1)
    for model in (rb.Customer, rb.Supplier, rb.Item, rb.CustomerInvoice, rb.SupplierInvoice):
        model.objects.update(updated_at=a_day_ago)


def touch_customer(number: int, name: str) -> None:
    """A change in Rackbeat (its updated_at moves), without a webhook."""
    from sandbox.rackbeat.models import Customer

    customer = Customer.objects.get(number=number)
    customer.name = name
    customer.save()


def queued(connection, kind=Kind.CUSTOMER) -> set[str]:
    return set(SyncOperation.objects.filter(connection=connection, kind=kind).values_list("source_key", flat=True))


def test_first_poll_starts_at_activation_and_transfers_no_history(active):
    run = polling.poll_connection(active.pk)
    assert run.state == SyncRun.State.DONE
    assert not SyncOperation.objects.filter(connection=active).exists()
    assert PollCursor.objects.filter(connection=active).count() == len(polling.STREAMS)


def test_change_after_the_cursor_is_queued_with_its_run(active):
    polling.poll_connection(active.pk)
    touch_customer(3, "Ny navn A/S")
    run = polling.poll_connection(active.pk)
    assert queued(active) == {"3"}
    op = SyncOperation.objects.get(connection=active, kind=Kind.CUSTOMER)
    assert op.trigger == "poll" and op.run == run and op.document_name == "Ny navn A/S"
    assert run.created == 1 and run.report["streams"]["customers"]["queued"] == 1


def test_cursor_is_the_time_before_the_request_and_the_next_poll_overlaps(active, settings):
    # Live for an hour: the overlap reaches back before the cursor, never before the go-live moment.
    Connection.objects.filter(pk=active.pk).update(state_changed_at=timezone.now() - timedelta(hours=1))
    before = timezone.now()
    polling.poll_connection(active.pk)
    cursor = PollCursor.objects.get(connection=active, stream="customers").value
    assert before <= cursor <= timezone.now()
    run = polling.poll_connection(active.pk)
    since = run.report["streams"]["customers"]["since"]
    assert since == (cursor - timedelta(minutes=settings.POLL_OVERLAP_MINUTES)).isoformat()


def test_change_inside_the_overlap_window_is_still_seen(active, settings):
    polling.poll_connection(active.pk)
    touch_customer(4, "Ændret lige før")
    # The cursor ran a little ahead of the change (another clock, a slow commit).
    PollCursor.objects.filter(connection=active, stream="customers").update(
        value=timezone.now() + timedelta(minutes=settings.POLL_OVERLAP_MINUTES - 1))
    polling.poll_connection(active.pk)
    assert queued(active) == {"4"}


def test_a_poll_still_running_is_not_overlapped(active):
    SyncRun.objects.create(connection=active, kind=SyncRun.RunKind.POLL_RACKBEAT)
    assert polling.poll_connection(active.pk) is None


def test_an_abandoned_poll_does_not_block_forever(active):
    stale = SyncRun.objects.create(connection=active, kind=SyncRun.RunKind.POLL_RACKBEAT,
                                   started_at=timezone.now() - timedelta(hours=1))
    assert polling.poll_connection(active.pk) is not None
    stale.refresh_from_db()
    assert stale.state == SyncRun.State.FAILED


def test_a_poll_counts_as_interrupted_after_poll_stale_minutes(active, settings):
    settings.POLL_STALE_MINUTES = 2
    recent = SyncRun.objects.create(connection=active, kind=SyncRun.RunKind.POLL_RACKBEAT,
                                    started_at=timezone.now() - timedelta(minutes=1))
    assert polling.poll_connection(active.pk) is None
    SyncRun.objects.filter(pk=recent.pk).update(started_at=timezone.now() - timedelta(minutes=3))
    assert polling.poll_connection(active.pk) is not None
    recent.refresh_from_db()
    assert recent.state == SyncRun.State.FAILED


def test_paused_connection_is_not_polled(active):
    Connection.objects.filter(pk=active.pk).update(state=Connection.State.PAUSED)
    assert polling.poll_connection(active.pk) is None


def test_switched_off_stream_is_not_fetched_and_its_cursor_moves_on(active):
    IntegrationSettings.objects.filter(connection=active).update(customer_integration_enabled=False)
    polling.poll_connection(active.pk)
    touch_customer(5, "Ikke med")
    run = polling.poll_connection(active.pk)
    assert run.report["streams"]["customers"] == {"seen": 0, "queued": 0, "off": True}
    assert queued(active) == set()
    assert PollCursor.objects.get(connection=active, stream="customers").value >= run.started_at


def test_booked_sales_invoice_is_queued_only_when_invoices_come_from_rackbeat(active):
    from sandbox.rackbeat.models import CustomerInvoice

    polling.poll_connection(active.pk)
    invoice = CustomerInvoice.objects.filter(is_booked=True).first()
    invoice.heading = "Rettet"
    invoice.booked_at = timezone.now()   # booked after the integration went live
    invoice.save()
    IntegrationSettings.objects.filter(connection=active).update(customer_invoices_created_in="dinero")
    polling.poll_connection(active.pk)
    assert queued(active, Kind.SALES_INVOICE) == set()
    IntegrationSettings.objects.filter(connection=active).update(customer_invoices_created_in="rackbeat")
    PollCursor.objects.filter(connection=active, stream="customer_invoices").update(
        value=timezone.now() - timedelta(minutes=1))
    polling.poll_connection(active.pk)
    assert queued(active, Kind.SALES_INVOICE) == {str(invoice.number)}


def test_recently_transferred_record_is_not_queued_again(active):
    polling.poll_connection(active.pk)
    touch_customer(6, "Allerede sendt")
    SyncOperation.objects.create(connection=active, kind=Kind.CUSTOMER, source_key="6",
                                 state=SyncOperation.State.DONE,
                                 finished_at=timezone.now() + timedelta(minutes=5))
    polling.poll_connection(active.pk)
    op = SyncOperation.objects.get(connection=active, kind=Kind.CUSTOMER, source_key="6")
    assert op.state == SyncOperation.State.DONE and op.trigger == "webhook"


def test_poll_all_connections_polls_only_active_ones(active, other_connection, settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    assert polling.poll_all_connections() == 1
    assert SyncRun.objects.filter(connection=active, kind=SyncRun.RunKind.POLL_RACKBEAT).count() == 1
    assert not SyncRun.objects.filter(connection=other_connection).exists()


def test_nothing_booked_before_activation_is_polled_not_even_inside_the_overlap(active, settings):
    from sandbox.rackbeat.models import CustomerInvoice, SupplierInvoice

    went_live = timezone.now()
    Connection.objects.filter(pk=active.pk).update(state_changed_at=went_live)
    just_before = went_live - timedelta(minutes=2)   # typed in Dinero by hand while setting up
    before = list(CustomerInvoice.objects.filter(is_booked=True)[:2])
    for invoice in before:
        CustomerInvoice.objects.filter(pk=invoice.pk).update(booked_at=just_before, updated_at=just_before)
    supplier_invoice = SupplierInvoice.objects.filter(is_booked=True).first()
    SupplierInvoice.objects.filter(pk=supplier_invoice.pk).update(booked_at=just_before, updated_at=just_before)

    polling.poll_connection(active.pk)
    second = polling.poll_connection(active.pk)   # reaches back POLL_OVERLAP_MINUTES, but not past go-live
    assert queued(active, Kind.SALES_INVOICE) == set() and queued(active, Kind.SUPPLIER_INVOICE) == set()
    assert second.report["streams"]["customer_invoices"]["since"] == went_live.isoformat()

    # Booked before go-live, changed after: still not transferred automatically.
    changed = before[0]
    changed.heading = "Rettet efter go-live"
    changed.save()
    CustomerInvoice.objects.filter(pk=changed.pk).update(booked_at=just_before)
    third = polling.poll_connection(active.pk)
    assert queued(active, Kind.SALES_INVOICE) == set()
    assert third.report["streams"]["customer_invoices"]["before_go_live"] == 1
