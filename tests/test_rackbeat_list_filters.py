"""A list filter Rackbeat refuses with a 422 is applied on our side, and remembered per connection."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import responses

from integration.core.clients.errors import ValidationFailed
from integration.core.clients.rackbeat import RackbeatClient
from integration.core.models import RefusedListFilter
from tests.test_rackbeat_client import API, FakeLimiter, page_of, query

REFUSAL = {"message": "The given data was invalid.", "errors": {"is_booked": ["Property 'is_booked' is not filterable"]}}


@pytest.fixture(autouse=True)
def rackbeat_settings(settings):
    settings.RACKBEAT_API_URL = f"{API}/"


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


def _client(connection) -> RackbeatClient:
    return RackbeatClient(connection, limiter=FakeLimiter(), sleep=lambda _s: None)


ROWS = [{"number": 1, "is_booked": True}, {"number": 2, "is_booked": False}, {"number": 3, "is_booked": "1"}]


def test_refused_is_booked_filter_is_applied_here_and_remembered(connection, rsps):
    rsps.get(f"{API}/customer-invoices", status=422, json=REFUSAL)
    rsps.get(f"{API}/customer-invoices", status=206, json=page_of("customer_invoices", ROWS, page=1, pages=1))

    rows = list(_client(connection).iter_customer_invoices(booked=True))

    assert [row["number"] for row in rows] == [1, 3]
    assert query(rsps.calls[0])["is_booked"] == ["true"]
    assert "is_booked" not in query(rsps.calls[1])
    remembered = RefusedListFilter.objects.get(connection=connection)
    assert (remembered.path, remembered.name) == ("customer-invoices", "is_booked")
    assert "not filterable" in remembered.answer


def test_a_remembered_refusal_is_not_asked_again_but_only_for_that_connection_and_list(
        connection, other_connection, rsps):
    RefusedListFilter.objects.create(connection=connection, path="customer-invoices", name="is_booked")
    rsps.get(f"{API}/customer-invoices", status=206, json=page_of("customer_invoices", ROWS, page=1, pages=1))
    rsps.get(f"{API}/supplier-invoices", status=206, json=page_of("supplier_invoices", [], page=1, pages=1))

    assert [row["number"] for row in _client(connection).iter_customer_invoices(booked=False)] == [2]
    list(_client(connection).iter_supplier_invoices(booked=True))
    list(_client(other_connection).iter_customer_invoices(booked=True))

    assert "is_booked" not in query(rsps.calls[0])
    assert query(rsps.calls[1])["is_booked"] == ["true"]
    assert query(rsps.calls[2])["is_booked"] == ["true"]
    assert len(rsps.calls) == 3


def test_refused_time_filter_keeps_rows_changed_since_and_those_that_do_not_say(connection, rsps):
    rsps.get(f"{API}/products", status=422, json={"message": "Property 'updated_at_from' is not filterable"})
    rsps.get(f"{API}/products", status=206, json=page_of("products", [
        {"number": "OLD", "updated_at": "2025-01-08T09:00:00+01:00"},
        {"number": "NEW", "updated_at": "2025-01-08 11:00:00"},
        {"number": "UNKNOWN"}], page=1, pages=1))

    rows = list(_client(connection).iter_products(updated_since=datetime(2025, 1, 8, 9, 30, tzinfo=UTC)))

    assert [row["number"] for row in rows] == ["NEW", "UNKNOWN"]


def test_a_422_that_names_no_filter_stays_an_error(connection, rsps):
    rsps.get(f"{API}/customer-invoices", status=422, json={"errors": {"limit": ["The limit may not be greater than 1000."]}})

    with pytest.raises(ValidationFailed):
        list(_client(connection).iter_customer_invoices(booked=True))
    assert not RefusedListFilter.objects.exists()


def test_the_connection_page_lists_the_refused_filters(connection, client, superuser):
    RefusedListFilter.objects.create(connection=connection, path="customer-invoices", name="is_booked",
                                     answer="is_booked: Property 'is_booked' is not filterable")
    client.force_login(superuser)

    page = client.get(f"/admin/accounts/connection/{connection.pk}/change/").content.decode()

    assert "customer-invoices?is_booked" in page
    listing = client.get("/admin/integration/refusedlistfilter/").content.decode()
    assert "customer-invoices" in listing


# --- against the sandbox, which refuses is_booked by default --------------------------------------

from tests.engine_fixtures import demo  # noqa: E402,F401
from tests.test_polling import active, queued  # noqa: E402,F401  (fixtures, requested below)


@pytest.mark.e2e
def test_the_poll_queues_booked_invoices_only_when_rackbeat_refuses_the_filter(active):  # noqa: F811
    from django.utils import timezone

    from integration.core.models import Kind
    from integration.triggers import polling
    from sandbox.rackbeat.models import CustomerInvoice

    booked = CustomerInvoice.objects.filter(is_booked=True).first()
    draft = CustomerInvoice.objects.filter(is_booked=False).first()
    assert booked and draft, "the demo company has booked and draft invoices"
    polling.poll_connection(active.pk)
    # Booked after the connection went live (what was booked before is never transferred automatically).
    booked.booked_at = timezone.now()
    for invoice in (booked, draft):
        invoice.heading = "Rettet"
        invoice.save()

    run = polling.poll_connection(active.pk)

    assert run.state == "done", run.error
    assert queued(active, Kind.SALES_INVOICE) == {str(booked.number)}
    assert RefusedListFilter.objects.filter(connection=active, path="customer-invoices", name="is_booked").exists()
