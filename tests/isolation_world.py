"""Two complete tenants for the isolation tests: every kind of row, each carrying its tenant's marker.

Tenant B's rows carry ``MARKER_B`` in every text a page could show (connection name, document
names, errors, reference names, mapping keys), so a single substring search of a response body
proves that nothing of B leaked. Tenant A mirrors B with its own marker, so A's own pages render
real forms and lists (a filter or a select offering B's rows would show B's marker).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth.models import Group, User
from django.utils import timezone

from accounts.models import Connection, Membership
from accounts.roles import ACCOUNTANT, SUPPORT_CONSULTANT, ensure_roles
from integration.core.models import (
    Binding,
    HttpExchange,
    IntegrationSettings,
    OperationEvent,
    PollCursor,
    RackbeatWebhook,
    SyncOperation,
    SyncRun,
    WebhookDelivery,
)
from integration.core.rackbeat_facts import RackbeatEventAnswer, RackbeatShapeCheck, RefusedListFilter
from mappings.models import (
    AccountMatrixCell,
    DineroAccount,
    DineroVatType,
    LayoutMapping,
    ProductGroup,
    RackbeatLayout,
    RackbeatUnit,
    ReferenceRefresh,
    UnitMapping,
)

MARKER_A = "Alfamark"
MARKER_B = "Bravoqx7"


@dataclass
class Tenant:
    connection: Connection
    marker: str
    users: dict[str, User] = field(default_factory=dict)


def build_tenant(name: str, marker: str, org: str, account: str) -> Tenant:
    connection = Connection(name=f"{name} {marker}", dinero_organization_id=org, rackbeat_account_id=account,
                            alert_recipients=f"alerts@{marker.lower()}.example")
    connection.set_secret("rackbeat_api_token", f"rb-token-{marker}-secret")
    connection.set_secret("dinero_api_key", f"dinero-key-{marker}-secret")
    connection.save()
    connection.name = f"{name} {marker} Lager"  # a second history version
    connection.save()

    settings = IntegrationSettings.objects.create(connection=connection)
    settings.supplier_integration_enabled = True
    settings.save()

    for model, values in (
        (AccountMatrixCell, {"matrix": "revenue", "product_group_number": f"{marker}-10", "vat_zone": "domestic",
                             "account_number": 1000}),
        (UnitMapping, {"rackbeat_unit_number": f"{marker}-u1", "dinero_unit": "parts"}),
        (LayoutMapping, {"rackbeat_layout_number": f"{marker}-l1", "language": "da-DK"}),
    ):
        row = model.objects.create(connection=connection, **values)
        if model is AccountMatrixCell:
            row.account_number = 1100
        elif model is UnitMapping:
            row.dinero_unit = "hours"
        else:
            row.language = "en-GB"
        row.save()

    ProductGroup.objects.create(connection=connection, number=f"{marker}-10", name=f"Group {marker}")
    RackbeatUnit.objects.create(connection=connection, number=f"{marker}-u1", name=f"Unit {marker}")
    RackbeatLayout.objects.create(connection=connection, number=f"{marker}-l1", name=f"Layout {marker}")
    DineroAccount.objects.create(connection=connection, number=1000, name=f"Revenue {marker}")
    DineroAccount.objects.create(connection=connection, number=5500, name=f"Stock {marker}")
    DineroVatType.objects.create(connection=connection, code=f"I{marker[:4]}", name=f"VAT {marker}",
                                 rate=Decimal("0.25"))
    ReferenceRefresh.objects.create(connection=connection)

    run = SyncRun.objects.create(connection=connection, kind=SyncRun.RunKind.START_SYNC, state=SyncRun.State.DONE,
                                 error=f"run error {marker}", report={"skips": [f"skipped {marker}"]})
    op = SyncOperation.objects.create(
        connection=connection, kind="sales_invoice", source_key=f"{marker}-1001", document_number="1001",
        document_name=f"Customer {marker}", state=SyncOperation.State.NEEDS_ATTENTION, run=run, attempts=1,
        last_error=f"error {marker}", hint=f"hint {marker}",
    )
    SyncOperation.objects.create(
        connection=connection, kind="customer", source_key=f"{marker}-c1", document_number="c1",
        document_name=f"Done {marker}", state=SyncOperation.State.DONE, attempts=1, finished_at=timezone.now(),
    )
    OperationEvent.objects.create(operation=op, attempt=1, state=op.state, message=f"event {marker}")
    HttpExchange.objects.create(
        connection=connection, operation=op, attempt=1, service=HttpExchange.Service.DINERO, method="POST",
        url=f"https://api.dinero.dk/v1/{org}/invoices?{marker}", status=400, duration_ms=12,
        request_body=f'{{"Comment": "{marker}"}}', response_body=f'{{"message": "{marker}"}}',
    )
    WebhookDelivery.objects.create(connection=connection, event="customer_invoice.booked", key=f"{marker}-1001",
                                   body_sha256=marker.ljust(64, "0"), body=f'{{"key": "{marker}-1001"}}',
                                   outcome=WebhookDelivery.Outcome.ACCEPTED, operation=op)
    Binding.objects.create(connection=connection, kind="customer", rackbeat_key=f"{marker}-c1",
                           dinero_id=f"{marker}-guid")
    RackbeatWebhook.objects.create(connection=connection, event="customer.created", rackbeat_id=f"{marker}-wh",
                                   url=f"https://example.invalid/{marker}", token=f"token-{marker}")
    PollCursor.objects.create(connection=connection, stream=f"{marker}-stream", value=timezone.now())
    RackbeatEventAnswer.objects.create(connection=connection, event=f"{marker}.created", accepted=False,
                                       answer=f"unknown event {marker}")
    RefusedListFilter.objects.create(connection=connection, path="customers", name=f"{marker}_filter",
                                     answer=f"refused {marker}")
    RackbeatShapeCheck.objects.create(connection=connection, checked_by=f"{marker.lower()}-consultant",
                                      outcome=RackbeatShapeCheck.Outcome.values[0],
                                      report={"notes": [f"shape {marker}"]})
    return Tenant(connection=connection, marker=marker)


def _staff(username: str, group: Group, connection: Connection) -> User:
    # No password: the tests log in with force_login, and hashing one costs a second per user.
    user = User.objects.create_user(username, f"{username}@example.com", None, is_staff=True)
    user.groups.add(group)
    Membership.objects.create(user=user, connection=connection)
    return user


def build_world() -> tuple[Tenant, Tenant, User]:
    """Tenants A and B, each with an accountant and a support consultant; and a superuser."""
    ensure_roles()
    accountant = Group.objects.get(name=ACCOUNTANT)
    consultant = Group.objects.get(name=SUPPORT_CONSULTANT)
    a = build_tenant("Alfa Lager ApS", MARKER_A, "400111", "1111")
    b = build_tenant("Bravo Handel A/S", MARKER_B, "400222", "2222")
    for tenant in (a, b):
        prefix = tenant.marker.lower()
        tenant.users["accountant"] = _staff(f"{prefix}-accountant", accountant, tenant.connection)
        tenant.users["consultant"] = _staff(f"{prefix}-consultant", consultant, tenant.connection)
    root = User.objects.create_superuser("root", "root@example.com", None)
    return a, b, root
