"""The reconciliation's periods, exports, page wiring and schedule (the comparison itself: test_e2e_reconciliation)."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from integration.books.reconciliation import Period, period_shortcuts
from integration.books.reconciliation_report import csv_bytes, pdf_bytes
from integration.core.csv_cells import safe_cell
from integration.core.models import Reconciliation, SyncOperation

pytestmark = pytest.mark.django_db


def _url(connection) -> str:
    return reverse("admin:connection-reconciliation", args=[connection.pk])


def _finished(connection, **result) -> Reconciliation:
    now = timezone.now()
    differences = result.pop("differences", [])
    return Reconciliation.objects.create(
        connection=connection, period_start=date(2026, 3, 1), period_end=date(2026, 3, 31),
        state=Reconciliation.State.DONE, started_at=now, finished_at=now, differences=len(differences),
        result={"counts": {"rackbeat_sales": 1, "rackbeat_purchases": 0, "dinero_sales": 0, "matched": 0},
                "differences": differences, "documents": [], "notes": [],
                "sums": {"sales_by_zone": [], "purchases_by_zone": [], "sales_by_account": [],
                         "purchases_by_account": []}, **result})


def _missing(number: str, message: str = "No transfer was ever started for it.", **extra) -> dict:
    return {"kind": "missing_in_dinero", "document": "sales_invoice", "number": number, "message": message,
            "date": "2026-03-12", "rackbeat_total": "623.75", "dinero_total": "", "dinero_guid": "",
            "dinero_kind": "", "operation_id": None, "operation_state": "", "transferable": True,
            "label": "Missing in Dinero", "document_label": "Sales invoice", **extra}


# --- periods --------------------------------------------------------------------------------------

def test_month_quarter_and_half_year_shortcuts():
    assert Period.shortcut("2026-02") == Period(date(2026, 2, 1), date(2026, 2, 28))
    assert Period.shortcut("2026-q4") == Period(date(2026, 10, 1), date(2026, 12, 31))
    labels = dict(period_shortcuts(date(2026, 1, 15)))
    assert labels["Last month"] == Period(date(2025, 12, 1), date(2025, 12, 31))
    assert labels["Last quarter"] == Period(date(2025, 10, 1), date(2025, 12, 31))
    assert labels["Last half-year"] == Period(date(2025, 7, 1), date(2025, 12, 31))


@pytest.mark.parametrize(("start", "end"), [("2026-03-31", "2026-03-01"), ("31/03/2026", "2026-04-01"),
                                            ("2024-01-01", "2026-01-01")])
def test_bad_periods_are_refused_with_a_sentence(start, end):
    with pytest.raises(ValueError, match=r"\w+ \w+"):
        Period.parse(start, end)


# --- exports --------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\")", "+1+2", "-2+3", "@SUM(A1)", "\tcmd"])
def test_formula_cells_are_neutralised(text):
    assert safe_cell(text) == "'" + text


def test_plain_numbers_stay_numbers():
    assert safe_cell("-125.00") == "-125.00" and safe_cell("0") == "0"


def test_csv_holds_the_differences_with_formulas_neutralised(connection):
    record = _finished(connection, differences=[_missing("=1+2", message="@evil")])
    rows = list(csv.reader(io.StringIO(csv_bytes(record).decode("utf-8-sig"))))
    difference = next(r for r in rows if r and r[0] == "difference")
    assert difference[3] == "'=1+2" and difference[-1] == "'@evil" and difference[6] == "623.75"


def test_pdf_is_one_page_even_with_many_differences(connection):
    connection.name = "Bager & Søn <ApS>"
    connection.save()
    record = _finished(connection, differences=[_missing(str(n), message="Kunde <b>& Co</b") for n in range(200)],
                       notes=["Invoice 7 is summed under “not placed”: line 1 <Vare & co>"])
    pdf = pdf_bytes(record)
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") == 1


# --- the page -------------------------------------------------------------------------------------

def test_accountant_sees_the_differences_and_downloads(accountant_client, connection):
    record = _finished(connection, differences=[_missing("1021")])
    page = accountant_client.get(_url(connection) + f"?run={record.pk}").content.decode()
    assert "Missing in Dinero" in page and "1021" in page and "Transfer the missing ones now" in page
    response = accountant_client.get(_url(connection) + f"?run={record.pk}&format=pdf")
    assert response["Content-Type"] == "application/pdf"


def test_other_tenants_reconciliation_is_not_found(accountant_client, other_connection, connection):
    assert accountant_client.get(_url(other_connection)).status_code == 404
    foreign = _finished(other_connection)
    assert accountant_client.get(_url(connection) + f"?run={foreign.pk}").status_code == 404


def test_starting_and_transferring_need_the_troubleshooting_permission(client, connection):
    from django.contrib.auth.models import Permission

    from accounts.models import Membership

    viewer = User.objects.create_user("viewer", "v@example.com", "pw-For-tests-123", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_connection"))
    Membership.objects.create(user=viewer, connection=connection)
    client.force_login(viewer)
    record = _finished(connection, differences=[_missing("1021")])
    assert client.get(_url(connection)).status_code == 200
    assert client.post(_url(connection), {"action": "start", "from": "2026-03-01", "to": "2026-03-31"}).status_code == 403
    assert client.post(_url(connection), {"action": "transfer_missing", "run": record.pk}).status_code == 403
    assert not SyncOperation.objects.exists()


def test_start_with_a_bad_period_says_why(accountant_client, connection):
    response = accountant_client.post(_url(connection), {"action": "start", "from": "2026-03-31", "to": "2026-03-01"},
                                      follow=True)
    assert "The period ends before it starts." in response.content.decode()
    assert not Reconciliation.objects.exists()


def test_start_stores_the_run_and_shows_its_progress(accountant_client, connection):
    response = accountant_client.post(_url(connection), {"action": "start", "from": "2026-03-01", "to": "2026-03-31"})
    record = Reconciliation.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"?run={record.pk}")
    assert (record.period_start, record.period_end, record.requested_by) == (date(2026, 3, 1), date(2026, 3, 31),
                                                                             "accountant")
    page = accountant_client.get(response["Location"]).content.decode()
    assert 'data-state="running"' in page and 'http-equiv="refresh"' in page


def test_a_run_whose_worker_died_ends_as_failed(accountant_client, connection):
    record = Reconciliation.objects.create(connection=connection, period_start=date(2026, 3, 1),
                                           period_end=date(2026, 3, 31),
                                           heartbeat_at=timezone.now() - timezone.timedelta(hours=1))
    page = accountant_client.get(_url(connection) + f"?run={record.pk}").content.decode()
    assert 'data-state="failed"' in page and "stopped answering" in page


def test_month_end_schedule_is_created():
    from django_q.models import Schedule

    from integration.core.schedules import ensure_schedules

    ensure_schedules()
    schedule = Schedule.objects.get(name="Reconcile last month")
    assert schedule.func == "integration.tasks.reconcile_last_month" and schedule.cron == "0 6 2 * *"


# --- the request budget ---------------------------------------------------------------------------

class _StubRackbeat:
    def __init__(self) -> None:
        self.list_reads = 0

    def iter_customer_invoices(self, **_kwargs):
        self.list_reads += 1
        yield {"number": 1021, "invoice_date": "2026-03-10", "is_booked": True, "total_subtotal": "100.00",
               "total_total": "125.00", "vat_zone": "domestic", "customer": {"name": "Kunde A/S"}, "lines": []}

    def iter_supplier_invoices(self, **_kwargs):
        return iter([])

    def get_customer_invoice(self, number):
        raise AssertionError(f"the list row of {number} carries its lines; no read is needed")


class _StubDinero:
    def __init__(self) -> None:
        self.budget_left = False

    def iter_invoices(self, **_kwargs):
        if not self.budget_left:
            from integration.core.clients.errors import BudgetExhausted

            self.budget_left = True
            raise BudgetExhausted(key="dinero:400555", retry_after=30, due_at=timezone.now().timestamp() + 30)
        return iter([{"Guid": "g-1", "Number": 7, "ExternalReference": "rackbeat:customer-invoice:1021",
                      "Date": "2026-03-10", "Status": "Booked", "TotalExclVat": 100.0, "TotalInclVat": 125.0}])

    def iter_credit_notes(self, **_kwargs):
        return iter([])

    def entries(self, *_args):
        return []


def test_a_run_out_of_budget_waits_without_a_worker_and_continues_where_it_stopped(connection, monkeypatch):
    from django_q.models import Schedule

    from integration.books import reconciliation
    from integration.core.models import IntegrationSettings

    IntegrationSettings.objects.update_or_create(connection=connection, defaults={"customer_integration_enabled": True})
    rackbeat, dinero = _StubRackbeat(), _StubDinero()
    monkeypatch.setattr(reconciliation, "rackbeat_client", lambda *_a: rackbeat)
    monkeypatch.setattr(reconciliation, "dinero_client", lambda *_a: dinero)
    record = Reconciliation.objects.create(connection=connection, period_start=date(2026, 3, 1),
                                           period_end=date(2026, 3, 31))

    paused = reconciliation.run(record.pk)
    assert paused.state == Reconciliation.State.RUNNING and paused.stage.startswith("Waiting for the request budget")
    assert Schedule.objects.get(func=reconciliation.TASK).args == f"({record.pk},)"

    done = reconciliation.run(record.pk)
    assert done.state == Reconciliation.State.DONE, done.error
    assert rackbeat.list_reads == 1     # what was read before the pause is not read again
    assert done.differences == 0 and done.result["counts"]["matched"] == 1
    assert reconciliation.RESUME_KEY not in done.result


# --- acting on a difference -----------------------------------------------------------------------

def test_transfer_one_queues_only_that_document_through_its_operation(accountant_client, connection):
    from integration.core.models import Kind, Trigger

    record = _finished(connection, differences=[_missing("1021"), _missing("1022")])
    response = accountant_client.post(_url(connection), {"action": "transfer_one", "run": record.pk,
                                                         "difference": "missing_in_dinero:sales_invoice:1022"})
    assert response.status_code == 302
    (op,) = SyncOperation.objects.all()
    assert (op.kind, op.source_key, op.trigger) == (Kind.SALES_INVOICE, "1022", Trigger.TROUBLESHOOTING)


def test_mark_handled_from_the_reconciliation_closes_the_operation(accountant_client, connection, other_connection):
    from integration.core.models import Kind

    op = SyncOperation.objects.create(connection=connection, kind=Kind.SUPPLIER_INVOICE, source_key="60002",
                                      state=SyncOperation.State.NEEDS_ATTENTION, last_error="No account.")
    foreign = SyncOperation.objects.create(connection=other_connection, kind=Kind.SUPPLIER_INVOICE,
                                           source_key="60002", state=SyncOperation.State.NEEDS_ATTENTION)
    record = _finished(connection, differences=[_missing("60002", operation_id=op.pk,
                                                         operation_state="needs_attention")])
    page = accountant_client.get(_url(connection) + f"?run={record.pk}").content.decode()
    assert "Mark handled" in page and "Retry" in page
    accountant_client.post(_url(connection), {"action": "handle", "run": record.pk, "operation": op.pk,
                                              "note": "Booked by hand in Dinero"})
    op.refresh_from_db()
    assert op.state == SyncOperation.State.SKIPPED and op.handled_note == "Booked by hand in Dinero"
    # Another tenant's operation cannot be reached through this connection's page.
    assert accountant_client.post(_url(connection), {"action": "handle", "operation": foreign.pk}).status_code == 404
