"""Troubleshooting: one invoice transferred at once, showing what was sent; never a duplicate."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from accounts.models import Connection, Membership
from integration.core.models import Binding, HttpExchange, IntegrationSettings, Kind, SyncOperation
from tests.invoice_fakes import FakeDinero
from tests.invoice_fixtures import (
    FINISHED_GOODS,
    FIXTURES,
    customer,
    dinero_fixture,
    line,
    rackbeat_fixture,
    sales_invoice,
    supplier_invoice,
    world_fixture,
)

USES = (FIXTURES, dinero_fixture, rackbeat_fixture, world_fixture)


class RecordingDinero(FakeDinero):
    """Records its POSTs as HttpExchange rows of the running operation, as the real client does."""

    operation = None

    def _record(self, url, body, answer):
        HttpExchange.objects.create(connection=self.operation.connection, operation=self.operation,
                                    attempt=self.operation.attempts, service="dinero", method="POST", url=url,
                                    status=201, request_body=json.dumps(body), response_body=json.dumps(answer))

    def create_invoice(self, body):
        answer = super().create_invoice(body)
        if self.operation is not None:
            self._record("https://api.dinero.test/v1/400555/invoices", body, answer)
        return answer


@pytest.fixture
def clients(monkeypatch, rackbeat, world):
    dinero = RecordingDinero()

    def dinero_for(connection, operation=None):
        dinero.operation = operation
        return dinero

    for where in ("integration.core.engine", "integration.triggers.troubleshooting"):
        monkeypatch.setattr(f"{where}.dinero_client", dinero_for)
        monkeypatch.setattr(f"{where}.rackbeat_client", lambda connection, operation=None: rackbeat)
    Connection.objects.filter(pk=world.connection.pk).update(state=Connection.State.ACTIVE)
    return rackbeat, dinero


def _url(connection):
    return reverse("admin:connection-troubleshooting", args=[connection.pk])


def test_sales_invoice_is_transferred_at_once_and_the_request_is_shown_escaped(accountant_client, connection,
                                                                               clients):
    rackbeat, _dinero = clients
    rackbeat.customer_invoices["1001"] = sales_invoice(
        1001, [line("A-1", FINISHED_GOODS, 1, "10", name="<script>alert(1)</script>")])
    response = accountant_client.post(_url(connection), {"kind": "sales_invoice", "number": "1001"})

    assert response.status_code == 200
    op = SyncOperation.objects.get(connection=connection, kind=Kind.SALES_INVOICE, source_key="1001")
    assert op.state == SyncOperation.State.DONE and op.trigger == "troubleshooting"
    page = response.content.decode()
    assert "draft" in page
    assert "/v1/400555/invoices" in page
    assert "&quot;ExternalReference&quot;: &quot;rackbeat:customer-invoice:1001&quot;" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert f"https://app.dinero.test/invoice/{op.target_id}" in page


def test_already_transferred_invoice_is_linked_not_duplicated(accountant_client, connection, clients):
    rackbeat, dinero = clients
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 1, "10")])
    accountant_client.post(_url(connection), {"kind": "sales_invoice", "number": "1001"})
    response = accountant_client.post(_url(connection), {"kind": "sales_invoice", "number": "1001"})
    assert "already transferred" in response.content.decode()
    assert len(dinero.invoices) == 1 and dinero.count("create_invoice") == 1


def test_invoice_found_in_dinero_by_reference_is_linked_not_created(accountant_client, connection, clients):
    rackbeat, dinero = clients
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", FINISHED_GOODS, 1, "10")])
    existing = dinero.create_invoice({"ExternalReference": "rackbeat:customer-invoice:1001", "ProductLines": [
        {"Quantity": 1, "BaseAmountValue": 10, "Discount": 0, "AccountNumber": 1000}]})
    response = accountant_client.post(_url(connection), {"kind": "sales_invoice", "number": "1001"})
    page = response.content.decode()
    assert "already has a document" in page and existing["Guid"] in page
    assert dinero.count("create_invoice") == 1
    assert not SyncOperation.objects.filter(connection=connection).exists()


def test_needs_attention_shows_message_and_hint(accountant_client, connection, clients):
    rackbeat, _dinero = clients
    rackbeat.customer_invoices["1001"] = sales_invoice(1001, [line("A-1", "77", 1, "10")])
    response = accountant_client.post(_url(connection), {"kind": "sales_invoice", "number": "1001"})
    page = response.content.decode()
    assert "product group 77" in page and "press Retry" in page
    assert SyncOperation.objects.get(connection=connection).state == SyncOperation.State.NEEDS_ATTENTION


def test_dinero_invoice_is_found_by_its_number(accountant_client, connection, clients):
    rackbeat, dinero = clients
    IntegrationSettings.objects.filter(connection=connection).update(customer_invoices_created_in="dinero")
    rackbeat.customers["501"] = customer()
    Binding.objects.create(connection=connection, kind=Kind.CUSTOMER, rackbeat_key="501",
                           dinero_id="0c0c0c0c-0000-4000-8000-00000000000c")
    invoice = dinero.add_booked_invoice(contact_guid="0c0c0c0c-0000-4000-8000-00000000000c", lines=[
        {"Description": "Montage", "Quantity": 1, "BaseAmountValue": 400, "Discount": 0, "AccountNumber": 1000}])
    response = accountant_client.post(_url(connection), {"kind": "dinero_sales_invoice",
                                                         "number": str(invoice["Number"])})
    op = SyncOperation.objects.get(connection=connection, direction="to_rackbeat")
    assert op.source_key == invoice["Guid"] and op.state == SyncOperation.State.DONE
    assert f"https://app.rackbeat.test/customer_invoice/{op.target_id}" in response.content.decode()


def test_unknown_dinero_number_is_said_plainly(accountant_client, connection, clients):
    response = accountant_client.post(_url(connection), {"kind": "dinero_sales_invoice", "number": "999"})
    assert "Dinero has no booked invoice with the number 999" in response.content.decode()


def test_empty_form_is_a_readable_400(accountant_client, connection, clients):
    response = accountant_client.post(_url(connection), {"kind": "sales_invoice", "number": ""})
    assert response.status_code == 400


def test_page_needs_the_troubleshooting_permission(client, connection, clients):
    user = User.objects.create_user("viewer", password="pw-For-tests-123", is_staff=True)
    Membership.objects.create(user=user, connection=connection)
    client.force_login(user)
    assert client.get(_url(connection)).status_code == 403


def test_other_tenants_connection_is_not_found(accountant_client, other_connection, clients):
    assert accountant_client.get(_url(other_connection)).status_code == 404


def test_management_command_transfers_and_prints_outcome(connection, clients, capsys):
    rackbeat, dinero = clients
    rackbeat.supplier_invoices["5001"] = supplier_invoice(5001, [line("A-1", FINISHED_GOODS, 1, "100")])
    call_command("transfer_invoice", "--connection", str(connection.pk), "--kind", "supplier_invoice",
                 "--number", "5001")
    out = capsys.readouterr().out
    assert "purchase voucher" in out and "2000" in out
    assert len(dinero.purchase_vouchers) == 1


def test_management_command_fails_loudly_when_not_transferred(connection, clients):
    with pytest.raises(CommandError):
        call_command("transfer_invoice", "--connection", str(connection.pk), "--kind", "sales_invoice",
                     "--number", "404")
