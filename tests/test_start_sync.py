"""The start sync Dinero → Rackbeat against both emulators: skips with reasons, matches, resumes."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import Connection
from integration.core.clients import errors
from integration.core.models import Binding, Kind, SyncRun
from integration.triggers import start_sync
from tests.engine_fixtures import demo

USES = (demo,)
pytestmark = [pytest.mark.e2e]

# The demo company's Dinero side (sandbox.seed): 8 contacts, 3 without e-mail; 6 products, 2 without number.
CONTACTS, CONTACTS_WITHOUT_EMAIL = 8, 3
PRODUCTS, PRODUCTS_WITHOUT_NUMBER = 6, 2


@pytest.fixture
def active(demo):
    Connection.objects.filter(pk=demo.pk).update(state=Connection.State.ACTIVE, rackbeat_account_id="418001")
    demo.refresh_from_db()
    return demo


def rackbeat_counts() -> tuple[int, int, int]:
    from sandbox.rackbeat import models as rb

    return rb.Customer.objects.count(), rb.Supplier.objects.count(), rb.Item.objects.count()


def make_creditor(name: str) -> None:
    """Dinero marks a contact as creditor once it has a purchase voucher."""
    from sandbox.dinero.models import Contact, Voucher

    contact = Contact.objects.get(data__Name=name)
    Voucher.objects.create(organization=contact.organization, kind=Voucher.Kind.PURCHASE, timestamp="1",
                           data={"ContactGuid": str(contact.guid)})


def test_start_sync_copies_what_it_can_and_says_why_it_skipped_the_rest(active):
    from sandbox.rackbeat import models as rb

    make_creditor("Tømrermester Ole Bak")
    customers, suppliers, items = rackbeat_counts()
    run = start_sync.start(active)
    run.refresh_from_db()
    assert run.state == SyncRun.State.DONE, run.error
    assert run.total == CONTACTS + PRODUCTS + 1 and run.processed == run.total and run.progress_percent == 100
    skips = start_sync.skips_of(run)
    reasons = [skip["reason"] for skip in skips]
    assert reasons.count("no e-mail address in Dinero") == CONTACTS_WITHOUT_EMAIL
    assert reasons.count("no product number") == PRODUCTS_WITHOUT_NUMBER
    assert any("Jens Hansen" in skip["what"] for skip in skips)
    # 5 contacts with e-mail: 4 customers (neither debtor nor creditor) + 1 supplier.
    assert rackbeat_counts() == (customers + 4, suppliers + 1, items + PRODUCTS - PRODUCTS_WITHOUT_NUMBER)
    # 5 contacts and 4 products created; the demo company's first supplier group is used.
    assert (run.created, run.matched) == (5 + 4, 1)
    assert run.skipped == CONTACTS_WITHOUT_EMAIL + PRODUCTS_WITHOUT_NUMBER
    ole = rb.Supplier.objects.get(contact_email="ole@tomrerbak.dk")
    assert ole.group is not None
    assert Binding.objects.filter(connection=active, kind=Kind.SUPPLIER, rackbeat_key=str(ole.number)).exists()
    product = rb.Item.objects.get(number="KONS-01")
    assert product.name == "Konsulenttime" and str(product.sales_price) == "850.00"
    assert Binding.objects.filter(connection=active, kind=Kind.PRODUCT, rackbeat_key="KONS-01").exists()


def test_existing_rackbeat_records_are_matched_not_duplicated(active):
    from sandbox.rackbeat import models as rb

    account = rb.Account.objects.get(account_id=418001)
    existing = rb.Customer.objects.create(account=account, number=9001, name="Café Strøget",
                                          contact_email="KONTAKT@cafestroget.dk")
    group = rb.ProductGroup.objects.filter(account=account).first()
    rb.Item.objects.create(account=account, number="KM-01", name="Kilometer", group=group, sales_price=4)
    customers, _suppliers, _items = rackbeat_counts()
    run = start_sync.start(active)
    run.refresh_from_db()
    assert run.matched >= 2
    assert rb.Customer.objects.filter(contact_email__iexact="kontakt@cafestroget.dk").count() == 1
    assert Binding.objects.filter(connection=active, kind=Kind.CUSTOMER, rackbeat_key=str(existing.number)).exists()
    assert rb.Item.objects.filter(number="KM-01").count() == 1
    assert rackbeat_counts()[0] == customers + 4


def test_running_it_twice_creates_nothing_new(active):
    start_sync.start(active)
    before = rackbeat_counts()
    run = start_sync.start(active)
    run.refresh_from_db()
    assert rackbeat_counts() == before
    assert run.created == 0 and run.matched == 5 + 4 + 1


def test_an_answer_lost_halfway_is_resumed_by_itself_without_duplicates(active, monkeypatch):
    from integration.core.clients.rackbeat import RackbeatClient

    real_create = RackbeatClient.create_customer
    calls = {"n": 0}

    def lost_answer_on_the_third(self, body):
        calls["n"] += 1
        if calls["n"] == 3:
            # The answer is lost after Rackbeat saved the customer.
            real_create(self, body)
            raise errors.UncertainOutcome("connection reset", service="rackbeat")
        return real_create(self, body)

    monkeypatch.setattr(RackbeatClient, "create_customer", lost_answer_on_the_third)
    customers_before = rackbeat_counts()[0]
    run = start_sync.start(active)
    run.refresh_from_db()
    # Paused after the temporary failure and continued by itself (at once here: tasks run in-process).
    assert run.state == SyncRun.State.DONE, run.error
    assert rackbeat_counts()[0] == customers_before + 5
    from sandbox.rackbeat import models as rb

    for email in ("kontakt@cafestroget.dk", "ole@tomrerbak.dk", "lise.andersen@example.dk"):
        assert rb.Customer.objects.filter(contact_email=email).count() == 1
    assert run.processed == run.total


def test_a_failure_that_keeps_coming_back_stops_the_run_for_a_person_and_it_resumes_where_it_stopped(
        active, monkeypatch):
    from integration.core.clients.rackbeat import RackbeatClient

    real_create = RackbeatClient.create_customer
    calls = {"n": 0}

    def down_after_two(self, body):
        calls["n"] += 1
        if calls["n"] > 2:
            raise errors.TransientError("503 Service Unavailable", service="rackbeat")
        return real_create(self, body)

    monkeypatch.setattr(RackbeatClient, "create_customer", down_after_two)
    customers_before = rackbeat_counts()[0]
    run = start_sync.start(active)
    run.refresh_from_db()
    assert run.state == SyncRun.State.FAILED
    assert "Start it again to continue" in run.error
    assert calls["n"] == 2 + start_sync.MAX_TRANSIENT_FAILURES
    assert 0 < run.processed < run.total
    from integration.core.shared_cache import shared_cache

    # Stopped: starting it again reads Dinero afresh.
    assert shared_cache().get(start_sync._lists_key(run.pk)) is None

    monkeypatch.setattr(RackbeatClient, "create_customer", real_create)
    resumed = start_sync.start(active)
    assert resumed.pk == run.pk
    resumed.refresh_from_db()
    assert resumed.state == SyncRun.State.DONE
    assert rackbeat_counts()[0] == customers_before + 5
    assert resumed.processed == resumed.total


def test_a_long_start_sync_runs_in_slices_each_well_inside_the_task_timeout(active, settings, monkeypatch):
    """A slice ends after START_SYNC_SLICE_SECONDS; the next slice continues where it ended."""
    settings.START_SYNC_SLICE_SECONDS = 0  # every record in a slice of its own
    slices = {"n": 0}
    real_run = start_sync._run

    def counted(*args, **kwargs):
        slices["n"] += 1
        return real_run(*args, **kwargs)

    monkeypatch.setattr(start_sync, "_run", counted)
    customers, suppliers, items = rackbeat_counts()
    run = start_sync.start(active)
    run.refresh_from_db()
    assert run.state == SyncRun.State.DONE, run.error
    # One slice per record handled (a slice always handles at least one), nothing twice.
    assert slices["n"] >= CONTACTS + PRODUCTS
    assert run.processed == run.total
    assert rackbeat_counts() == (customers + 5, suppliers, items + PRODUCTS - PRODUCTS_WITHOUT_NUMBER)


def test_a_full_budget_puts_the_run_back_until_the_vendor_is_ready_instead_of_failing(active, settings,
                                                                                   monkeypatch):
    from integration.core.clients.dinero import DineroClient

    real_get = DineroClient.get_contact
    calls = {"n": 0}

    def budget_full_once(self, guid):
        calls["n"] += 1
        if calls["n"] == 2:
            raise errors.BudgetExhausted(key="dinero:x", retry_after=42.0, due_at=0.0)
        return real_get(self, guid)

    monkeypatch.setattr(DineroClient, "get_contact", budget_full_once)
    real_list = DineroClient.iter_contacts
    listed = {"n": 0}

    def counted_list(self):
        listed["n"] += 1
        return real_list(self)

    monkeypatch.setattr(DineroClient, "iter_contacts", counted_list)
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    queued: list[float] = []
    monkeypatch.setattr(start_sync, "_queue", lambda run_id, after_seconds=0: queued.append(after_seconds))
    run = SyncRun.objects.create(connection=active, kind=SyncRun.RunKind.START_SYNC, report={})
    start_sync.run(run.pk)
    run.refresh_from_db()
    assert run.state == SyncRun.State.RUNNING  # not failed: waiting for the budget
    assert queued == [42.0]
    assert "request budget" in run.error
    assert 0 < run.processed < run.total or run.processed == 0
    # The next slice continues and finishes.
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    start_sync.run(run.pk)
    run.refresh_from_db()
    assert run.state == SyncRun.State.DONE, run.error
    assert run.error == ""
    # Dinero's list was read once: the slice after the wait did not spend the budget on it again.
    assert listed["n"] == 1
    from integration.core.shared_cache import shared_cache

    assert shared_cache().get(start_sync._lists_key(run.pk)) is None  # dropped when the run ended


def test_a_worker_that_died_is_resumed_by_the_schedule(active, settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    run = start_sync.start(active)
    assert run.state == SyncRun.State.RUNNING
    assert start_sync.resume_stale() == 0  # just queued, not stale
    from datetime import timedelta

    from django.utils import timezone

    SyncRun.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(hours=1))
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    assert start_sync.resume_stale() == 1
    run.refresh_from_db()
    assert run.state == SyncRun.State.DONE


def test_progress_page_shows_the_report(active, client, superuser):
    start_sync.start(active)
    client.force_login(superuser)
    response = client.get(reverse("admin:connection-start-sync", args=[active.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="start-sync-bar"' in page and 'value="100"' in page
    assert "no e-mail address in Dinero" in page and "no product number" in page
    assert 'http-equiv="refresh"' not in page


def test_progress_page_refreshes_while_running(active, client, superuser, settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    start_sync.start(active)
    client.force_login(superuser)
    page = client.get(reverse("admin:connection-start-sync", args=[active.pk])).content.decode()
    assert 'http-equiv="refresh"' in page


def test_accountant_cannot_start_it(active, client, roles):
    from django.contrib.auth.models import User

    from accounts.models import Membership

    user = User.objects.create_user("acc", "a@example.com", "pw-For-tests-123", is_staff=True)
    user.groups.add(roles[0])
    Membership.objects.create(user=user, connection=active)
    client.force_login(user)
    url = reverse("admin:connection-start-sync", args=[active.pk])
    assert client.get(url).status_code == 200
    assert client.post(url).status_code == 403
    assert not SyncRun.objects.filter(connection=active).exists()


# --- cheap on both budgets, and no echo --------------------------------------------------------------

def test_the_next_poll_sees_what_the_start_sync_created_as_unchanged_and_queues_nothing(active, settings):
    from django.utils import timezone

    from integration.core.models import IntegrationSettings, PollCursor, SyncOperation
    from integration.triggers import polling

    IntegrationSettings.objects.update_or_create(connection=active, defaults={
        "customer_integration_enabled": True, "supplier_integration_enabled": True,
        "product_integration_enabled": True})
    for stream in ("customers", "suppliers", "products", "lots", "customer_invoices", "supplier_invoices"):
        PollCursor.objects.update_or_create(connection=active, stream=stream,
                                            defaults={"value": timezone.now()})
    run = start_sync.start(active)
    run.refresh_from_db()
    assert run.created == 5 + 4
    created = Binding.objects.filter(connection=active, rackbeat_written_at__isnull=False)
    assert created.count() == 5 + 4
    polling.poll_connection(active.pk)
    queued = set(SyncOperation.objects.filter(connection=active).values_list("kind", "source_key"))
    # The demo company's own recent records are polled as usual; none of those the start sync made.
    assert not queued & set(created.values_list("kind", "rackbeat_key"))


def test_a_record_changed_in_rackbeat_after_the_start_sync_is_polled_again(active):
    from datetime import timedelta

    from django.utils import timezone

    from integration.triggers.polling import _already_current

    start_sync.start(active)
    binding = Binding.objects.filter(connection=active, kind=Kind.CUSTOMER,
                                     rackbeat_written_at__isnull=False).first()
    assert _already_current(active, Kind.CUSTOMER, binding.rackbeat_key, binding.rackbeat_written_at)
    later = binding.rackbeat_written_at + timedelta(seconds=1)
    assert not _already_current(active, Kind.CUSTOMER, binding.rackbeat_key, later)
    assert later < timezone.now() + timedelta(days=1)


def test_every_write_to_rackbeat_suppresses_its_webhooks(active, monkeypatch):
    from integration.core.clients.transport import Transport

    writes = []
    real_send = Transport.send

    def send(self, method, url, **kwargs):
        if self.service == "rackbeat" and method in ("POST", "PUT"):
            writes.append((kwargs.get("params") or {}, kwargs.get("json_body") or {}))
        return real_send(self, method, url, **kwargs)

    monkeypatch.setattr(Transport, "send", send)
    start_sync.start(active)
    assert writes
    assert all(params.get("suppress_webhooks") == "true" and body.get("suppress_webhooks") is True
               for params, body in writes)


def test_contacts_are_read_one_by_one_only_when_the_list_lacks_their_roles(active, monkeypatch):
    from integration.core.clients.dinero import DineroClient

    fetched = []
    real_get = DineroClient.get_contact
    real_iter = DineroClient.iter_contacts

    def get_contact(self, guid):
        fetched.append(guid)
        return real_get(self, guid)

    monkeypatch.setattr(DineroClient, "get_contact", get_contact)
    start_sync.start(active)
    with_email = CONTACTS - CONTACTS_WITHOUT_EMAIL
    assert len(fetched) == with_email  # the standard list has no debtor/creditor flags

    def iter_with_roles(self, **kwargs):
        for row in real_iter(self, **kwargs):
            yield {**row, "IsDebitor": True, "IsCreditor": False}

    fetched.clear()
    monkeypatch.setattr(DineroClient, "iter_contacts", iter_with_roles)
    from integration.core.models import SyncRun as Run

    Run.objects.filter(connection=active).delete()
    start_sync.start(active)
    assert fetched == []


def test_the_report_is_appended_record_by_record_not_rewritten(active):
    from integration.core.models import StartSyncRecord

    run = start_sync.start(active)
    run.refresh_from_db()
    assert StartSyncRecord.objects.filter(run=run).count() >= run.processed
    assert "handled" not in run.report and "skips" not in run.report


def test_a_run_started_before_records_existed_is_resumed_from_its_report(active):
    from integration.core.models import StartSyncRecord

    run = SyncRun.objects.create(connection=active, kind=SyncRun.RunKind.START_SYNC, state=SyncRun.State.FAILED,
                                 report={"handled": {"supplier-group": "matched"},
                                         "skips": [{"what": "Contact “X”", "reason": "an old reason"}]})
    resumed = start_sync.start(active)
    assert resumed.pk == run.pk
    resumed.refresh_from_db()
    assert resumed.state == SyncRun.State.DONE
    assert StartSyncRecord.objects.filter(run=run, key="supplier-group").count() == 1
    assert "an old reason" in [skip["reason"] for skip in start_sync.skips_of(resumed)]


def test_the_heartbeat_is_kept_while_the_lists_are_read(active, monkeypatch):
    """Listing a large company takes minutes; a run that is reading must never look dead to the
    schedule that resumes stale runs (which would start a second execution beside it)."""
    from integration.core.clients.dinero import DineroClient

    monkeypatch.setattr(start_sync, "BEAT_SECONDS", 0)
    real = DineroClient.iter_contacts
    beats: list = []

    def watched(self):
        for row in real(self):
            beats.append(SyncRun.objects.get(connection=active).heartbeat_at)
            yield row

    monkeypatch.setattr(DineroClient, "iter_contacts", watched)
    run = start_sync.start(active)
    run.refresh_from_db()
    assert run.state == SyncRun.State.DONE
    assert len(beats) == CONTACTS
    assert len(set(beats)) == CONTACTS  # a new heartbeat for every contact read


def _dinero_contact(name: str, *, country: str, email: str, external_reference: str = "", debtor: bool = False,
                    creditor: bool = False):
    from sandbox.dinero import seeding
    from sandbox.dinero.models import Contact, Organization, SalesDocument

    org = Organization.objects.get(organization_id=int(Contact.objects.first().organization.organization_id))
    contact = seeding.create_contact(org, name, country=country, email=email, external_reference=external_reference)
    if debtor:
        SalesDocument.objects.create(organization=org, kind=SalesDocument.Kind.INVOICE, timestamp="1",
                                     contact_guid=contact.guid, data={"ContactGuid": str(contact.guid)})
    if creditor:
        make_creditor(name)
    return contact


def test_the_vat_zone_comes_from_the_dinero_contacts_country_and_the_report_says_so(active, client, superuser):
    from sandbox.rackbeat import models as rb

    _dinero_contact("Müller GmbH", country="DE", email="info@mueller.de", debtor=True)
    _dinero_contact("Nordfjord AS", country="NO", email="post@nordfjord.no", debtor=True)
    _dinero_contact("Svensk Stål AB", country="SE", email="order@svenskstal.se", creditor=True)
    _dinero_contact("Fjord Import Ltd", country="US", email="sales@fjordimport.com", creditor=True)

    run = start_sync.start(active)
    run.refresh_from_db()

    assert run.state == SyncRun.State.DONE, run.error
    assert rb.Customer.objects.get(contact_email="info@mueller.de").vat_zone == "eu"
    assert rb.Customer.objects.get(contact_email="post@nordfjord.no").vat_zone == "abroad"
    assert rb.Supplier.objects.get(contact_email="order@svenskstal.se").vat_zone == "eu"
    assert rb.Supplier.objects.get(contact_email="sales@fjordimport.com").vat_zone == "abroad"
    assert {c.vat_zone for c in rb.Customer.objects.filter(address_country="DK", contact_email__in=[
        r.contact_email for r in rb.Customer.objects.all()])} <= {"domestic"}
    zones = {z["what"]: z["reason"] for z in start_sync.vat_zones_of(run)}
    assert "EU" in zones["Customer “Müller GmbH”"] and "DE" in zones["Customer “Müller GmbH”"]
    assert "outside the EU" in zones["Supplier “Fjord Import Ltd”"]
    client.force_login(superuser)
    page = client.get(reverse("admin:connection-start-sync", args=[active.pk])).content.decode()
    assert "Müller GmbH" in page and "outside the EU" in page


def test_a_contact_the_service_created_is_matched_never_copied_back_whatever_its_flags(active):
    from sandbox.rackbeat import models as rb

    account = rb.Account.objects.get(account_id=418001)
    supplier = rb.Supplier.objects.filter(account=account).order_by("number").first()
    # The Dinero contact the service created for Rackbeat supplier N: it carries our reference and
    # is bound, yet Dinero calls it a debtor (it was invoiced once) and its e-mail matches nothing.
    ours = _dinero_contact(f"{supplier.number} – {supplier.name}", country="DK", email="bogholderi@leverandor.example",
                           external_reference=f"rackbeat:supplier:{supplier.number}", debtor=True)
    Binding.objects.create(connection=active, kind=Kind.SUPPLIER, rackbeat_key=str(supplier.number),
                           dinero_id=str(ours.guid))
    # One that carries our reference but was never bound (a binding lost with a restore).
    customer = rb.Customer.objects.filter(account=account).order_by("number").first()
    referenced = _dinero_contact("Kunde med reference", country="DK", email="ingen@match.example",
                                 external_reference=f"rackbeat:customer:{customer.number}", creditor=True)
    customers, suppliers, _items = rackbeat_counts()

    run = start_sync.start(active)
    run.refresh_from_db()

    assert run.state == SyncRun.State.DONE, run.error
    assert not rb.Customer.objects.filter(contact_email="bogholderi@leverandor.example").exists()
    assert not rb.Supplier.objects.filter(contact_email="ingen@match.example").exists()
    assert Binding.objects.filter(connection=active, dinero_id=str(ours.guid)).count() == 1
    assert list(Binding.objects.filter(connection=active, dinero_id=str(referenced.guid)).values_list(
        "kind", "rackbeat_key")) == [(Kind.CUSTOMER, str(customer.number))]
    # Only the demo company's own five contacts with e-mail were created, all as customers.
    assert rackbeat_counts()[:2] == (customers + 5, suppliers)


def test_a_product_the_service_created_is_matched_never_copied_back(active):
    from sandbox.dinero import seeding
    from sandbox.dinero.models import Contact, Organization
    from sandbox.rackbeat import models as rb

    org = Organization.objects.get(organization_id=int(Contact.objects.first().organization.organization_id))
    account = rb.Account.objects.get(account_id=418001)
    item = rb.Item.objects.filter(account=account).order_by("number").first()
    # Dinero renumbered it: only our reference and the binding say which Rackbeat product it is.
    product = seeding.create_product(org, item.name, price="10", product_number="OMDØBT-1",
                                     external_reference=f"rackbeat:product:{item.number}")
    _customers, _suppliers, items = rackbeat_counts()

    run = start_sync.start(active)
    run.refresh_from_db()

    assert not rb.Item.objects.filter(number="OMDØBT-1").exists()
    assert list(Binding.objects.filter(connection=active, dinero_id=str(product.guid)).values_list(
        "kind", "rackbeat_key")) == [(Kind.PRODUCT, str(item.number))]
    assert rackbeat_counts()[2] == items + PRODUCTS - PRODUCTS_WITHOUT_NUMBER
