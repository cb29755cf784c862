"""The admin as a product, in a real browser at 1,366 px: the home page, the width of every page
that matters, the wizard's step states, fix-then-retry and the dashboard chart in every language.

Each test saves screenshots of the pages it checks into test-artifacts/ (``<test>-<page>.png``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse

from accounts.models import Connection
from integration.core.models import Kind, SyncOperation
from tests.conftest import ARTIFACTS, login_in_browser
from tests.operations_fixtures import make_exchange, make_operation
from tests.test_browser_sync_log import stuck_invoice  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIDTH = 1366
LONG_URL = ("https://api.dinero.dk/v1/400555/invoices?fields=Guid,Number,ExternalReference,ContactName,"
            "TotalInclVat,Status,CreatedAt,UpdatedAt,DeletedAt&queryFilter=ExternalReference+eq+'rackbeat-"
            "customer-invoice-10042-with-a-very-long-reference-that-goes-on-and-on'&changesSince=2026-11-30T"
            "23:59:59Z&pageSize=1000&page=0&sort=-UpdatedAt" + "&x=" + "9" * 400)


@pytest.fixture
def wide(browser, request):
    """A page at 1,366 × 900, the most common laptop screen."""
    context = browser.new_context(viewport={"width": WIDTH, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.shots = []  # type: ignore[attr-defined]
    yield page
    context.close()


def fits(page, name: str) -> None:
    """Screenshot the page and assert nothing makes it wider than the window."""
    ARTIFACTS.mkdir(exist_ok=True)
    test = re.sub(r"[^\w-]", "_", __import__("os").environ.get("PYTEST_CURRENT_TEST", "test").split(" ")[0]
                  .split("::")[-1])
    page.screenshot(path=str(Path(ARTIFACTS) / f"{test}-{name}.png"), full_page=True)
    scroll_width = page.evaluate("document.scrollingElement.scrollWidth")
    assert scroll_width <= WIDTH, f"{name} is {scroll_width} px wide at {WIDTH} px: {page.url}"


def test_accountant_home_shows_only_their_connections_and_no_internal_tables(wide, live_server, accountant,
                                                                               connection, other_connection):
    Connection.objects.filter(pk=connection.pk).update(state=Connection.State.ACTIVE)
    make_operation(connection, number="10042", name="Kunde A/S")
    make_operation(connection, state=SyncOperation.State.NEEDS_ATTENTION, last_error="No revenue account.")
    make_operation(connection, state=SyncOperation.State.FAILED, last_error="Dinero answered 500.")
    make_operation(other_connection, state=SyncOperation.State.FAILED, last_error="not theirs")
    login_in_browser(wide, live_server, accountant)

    wide.goto(live_server.url + reverse("admin:index"))
    fits(wide, "home")

    assert "Django" not in wide.title() and "Rackbeat ⇄ Dinero" in wide.title()
    assert "Django administration" not in wide.inner_text("#header")
    cards = wide.locator(".connection-card")
    assert cards.count() == 1
    card = wide.inner_text(f"#connection-{connection.pk}")
    assert connection.name in card and "Active" in card
    assert "2 documents" in card  # needs attention: one waiting, one failed
    assert "Sales invoice 10042" in card
    assert other_connection.name not in wide.inner_text("#content")
    body = wide.inner_text("#content")
    for internal in ("Http exchanges", "Webhook deliveries", "Queued tasks", "Dinero accounts", "Product groups",
                     "Organizations", "Sandbox"):
        assert internal.lower() not in body.lower()
    assert wide.locator("#internal-tables").count() == 0

    # One click into the connection's world.
    for css in ("link-dashboard", "link-log", "link-setup", "link-matrix-revenue", "link-troubleshooting"):
        assert wide.locator(f"#connection-{connection.pk} .{css}").count() == 1, css
    wide.click(f"#connection-{connection.pk} .link-matrix-revenue")
    wide.wait_for_url(re.compile(r"/matrix/revenue/"))


def test_superuser_finds_internal_tables_grouped_away(wide, live_server, superuser, connection):
    login_in_browser(wide, live_server, superuser)
    wide.goto(live_server.url + reverse("admin:index"))
    internal = wide.locator("#internal-tables")
    assert internal.count() == 1
    assert not internal.evaluate("el => el.open")
    internal.locator("summary").click()
    text = internal.inner_text()
    assert "Http exchanges" in text or "HTTP exchanges" in text
    assert "Queued tasks" in text
    fits(wide, "home-internal-open")


def test_no_page_is_wider_than_the_screen(wide, live_server, consultant, connection):
    from tests.mappings_fixtures import GROUPS, seed

    # A fourth VAT zone column (domestic, VAT-exempt) and a long group name: the widest matrix.
    seed(connection, groups=[*GROUPS, {"number": 40, "name": "Reservedele og tilbehør til professionelle kunder",
                                       "vat_domestic": 25, "vat_eu": 0, "vat_abroad": 0,
                                       "vat_domestic_exempt": 0}])
    from mappings.matrix import build_grid
    from mappings.models import AccountMatrixCell, DineroAccount

    DineroAccount.objects.filter(connection=connection, number=1000).update(
        name="Salg af varer og ydelser med moms til kunder i Danmark (standardkonto)")
    for cell in build_grid(connection, "revenue").cells:
        AccountMatrixCell.objects.create(connection=connection, matrix="revenue", vat_zone=cell.zone,
                                         product_group_number=cell.group_number, account_number=1000)
    Connection.objects.filter(pk=connection.pk).update(state=Connection.State.ACTIVE)
    long_error = "Dinero answered 400 for " + LONG_URL
    stuck = make_operation(connection, state=SyncOperation.State.NEEDS_ATTENTION, last_error=long_error,
                           name="A customer with a rather long company name that keeps going Holding ApS",
                           hint="Choose an account in the revenue account matrix, then press Retry.",
                           fix_url=reverse("admin:connection-matrix", args=[connection.pk, "revenue"]))
    make_exchange(stuck, url=LONG_URL, response_body='{"message": "' + "x" * 600 + '"}', status=400)
    for i in range(30):
        make_operation(connection, kind=Kind.SUPPLIER_INVOICE, name=f"Leverandør {i} med et langt navn ApS")
    login_in_browser(wide, live_server, consultant)
    base = live_server.url
    pages = {
        "home": reverse("admin:index"),
        "sync-log": reverse("admin:integration_syncoperation_changelist"),
        "needs-attention": reverse("admin:integration_needsattention_changelist"),
        "operation-long-url": reverse("admin:integration_syncoperation_change", args=[stuck.pk]),
        "exchanges": reverse("admin:integration_httpexchange_changelist"),
        "troubleshooting": reverse("admin:connection-troubleshooting", args=[connection.pk]),
        "matrix-revenue": reverse("admin:connection-matrix", args=[connection.pk, "revenue"]),
        "matrix-supplier": reverse("admin:connection-matrix", args=[connection.pk, "supplier"]),
        "dashboard": reverse("admin:connection-dashboard", args=[connection.pk]),
        "connection": reverse("admin:accounts_connection_change", args=[connection.pk]),
        "settings": reverse("admin:connection-settings", args=[connection.pk]),
        "units": reverse("admin:connection-units", args=[connection.pk]),
    }
    wizard = reverse("admin:connection-setup", args=[connection.pk])
    for step in ("credentials", "activate", "start-sync", "purchases", "sales", "units-layouts", "summary"):
        pages[f"wizard-{step}"] = f"{wizard}?step={step}"
    for name, url in pages.items():
        response = wide.goto(base + url)
        assert response.status == 200, name
        fits(wide, name)


def test_fix_then_retry_from_a_needs_attention_document(wide, live_server, accountant, stuck_invoice):  # noqa: F811
    """Fix it here → choose the account → Save: back on the document, which went again and is done."""
    from mappings.lookup import cell_id
    from tests.invoice_fixtures import SPARE_PARTS

    login_in_browser(wide, live_server, accountant)
    wide.goto(live_server.url + reverse("admin:integration_needsattention_changelist"))
    fits(wide, "needs-attention")
    wide.click(f"#result_list >> text={stuck_invoice.document_number}")
    wide.wait_for_url(re.compile(rf"/needsattention/{stuck_invoice.pk}/change/"))
    fits(wide, "document-waiting")

    wide.click(".operation-summary >> text=Fix it here")
    wide.wait_for_url(re.compile(r"/matrix/revenue/\?next="))
    assert str(stuck_invoice.document_number) in wide.inner_text("#waiting-documents")
    fits(wide, "matrix-with-waiting-document")
    cell = f"#{cell_id(SPARE_PARTS, 'domestic')}"
    wide.focus(cell)
    wide.select_option(cell, "1300")
    wide.click("#save-matrix")
    wide.wait_for_url(re.compile(rf"/syncoperation/{stuck_invoice.pk}/change/"))
    messages = wide.inner_text(".messagelist")
    assert "Saved: 1 cell changed." in messages
    assert "1 document that waited for this mapping was sent again; 1 is transferred now." in messages
    assert "Done" in wide.inner_text(".operation-summary")
    fits(wide, "document-done")
    stuck_invoice.refresh_from_db()
    assert stuck_invoice.state == SyncOperation.State.DONE and stuck_invoice.target_id


def _step_state(page, slug: str) -> str:
    return page.get_attribute(f"#setup-steps li.step-{slug}", "data-state") or ""


def _fill_every_mapping(connection: Connection) -> None:
    """What the consultant does in the matrix and mapping editors (tested on their own elsewhere)."""
    from mappings.matrix import build_grid
    from mappings.models import AccountMatrixCell, LayoutMapping, RackbeatLayout, RackbeatUnit, UnitMapping

    for matrix, account in (("revenue", 1000), ("supplier", 2000)):
        for cell in build_grid(connection, matrix).cells:
            AccountMatrixCell.objects.get_or_create(connection=connection, matrix=matrix, vat_zone=cell.zone,
                                                    product_group_number=cell.group_number,
                                                    defaults={"account_number": account})
    for unit in RackbeatUnit.objects.filter(connection=connection):
        UnitMapping.objects.get_or_create(connection=connection, rackbeat_unit_number=unit.number,
                                          defaults={"dinero_unit": "parts"})
    for layout in RackbeatLayout.objects.filter(connection=connection):
        LayoutMapping.objects.get_or_create(connection=connection, rackbeat_layout_number=layout.number,
                                            defaults={"language": "da-DK"})


def test_wizard_start_to_finish_with_true_step_states(wide, live_server, sandbox_urls, settings, consultant):
    from integration.core.models import SyncRun
    from sandbox.seed import ensure_demo_company

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    demo = ensure_demo_company()
    connection = Connection.objects.create(name="Wizard Demo ApS")
    connection.memberships.create(user=consultant)
    login_in_browser(wide, live_server, consultant)
    wizard = live_server.url + reverse("admin:connection-setup", args=[connection.pk])

    wide.goto(f"{wizard}?step=credentials")
    assert [_step_state(wide, s) for s in ("credentials", "activate", "start-sync", "summary")] == ["todo"] * 4
    fits(wide, "credentials")
    wide.fill("#id_new_rackbeat_api_token", demo.rackbeat_token)
    wide.fill("#id_dinero_organization_id", str(demo.dinero_organization_id))
    wide.fill("#id_new_dinero_api_key", demo.dinero_api_key)
    wide.click("text=Save credentials")
    wide.wait_for_url(re.compile(r"step=activate"))
    assert _step_state(wide, "credentials") == "done"
    # The current step's label is readable: white on the dark primary colour, never on pale green.
    colours = wide.eval_on_selector("#setup-steps li.current a",
                                    "el => [getComputedStyle(el).color, getComputedStyle(el).backgroundColor]")
    assert colours == ["rgb(255, 255, 255)", "rgb(31, 78, 95)"]

    wide.click("#activate")
    wide.wait_for_url(re.compile(r"step=start-sync"))
    assert _step_state(wide, "activate") == "done"

    # "Run it now" keeps the consultant in the wizard, which shows the run and turns the step done.
    wide.check("input[name=choice][value=run]")
    wide.click("#start-sync-form input[type=submit]")
    wide.wait_for_selector("#start-sync-progress")
    assert "step=start-sync" in wide.url and "/setup/" in wide.url
    run = SyncRun.objects.get(connection=connection, kind=SyncRun.RunKind.START_SYNC)
    assert run.state == SyncRun.State.DONE
    wide.reload()
    assert _step_state(wide, "start-sync") == "done"
    assert "Finished" in wide.inner_text("#start-sync-progress")
    fits(wide, "start-sync-ran")
    wide.click("#continue-after-start-sync")
    wide.wait_for_url(re.compile(r"step=purchases"))

    wide.check("#id_supplier_integration_enabled")
    wide.check("input[name=supplier_invoice_status][value=booked]")
    wide.click("text=Save and continue")
    wide.wait_for_url(re.compile(r"step=sales"))
    # Saved, but the supplier matrix is still empty: the step says so instead of claiming done.
    assert _step_state(wide, "purchases") == "incomplete"

    wide.check("#id_customer_integration_enabled")
    wide.check("input[name=sales_invoice_status][value=booked_emailed]")
    wide.click("text=Save and continue")
    wide.wait_for_url(re.compile(r"step=units-layouts"))
    assert _step_state(wide, "sales") == "incomplete"

    _fill_every_mapping(connection)
    wide.reload()
    assert [_step_state(wide, s) for s in ("purchases", "sales", "units-layouts")] == ["done"] * 3
    fits(wide, "units-layouts")
    wide.click("#units-layouts-continue")
    wide.wait_for_url(re.compile(r"step=summary"))
    fits(wide, "summary")
    wide.click("#finish-setup")
    wide.wait_for_url(re.compile(r"/change/"))

    wide.goto(f"{wizard}?step=summary")
    states = {slug: _step_state(wide, slug) for slug in
              ("credentials", "activate", "start-sync", "purchases", "sales", "units-layouts", "summary")}
    assert set(states.values()) == {"done"}, states
    fits(wide, "all-done")


@pytest.mark.parametrize("language", ["da", "sv", "en"])
def test_dashboard_chart_draws_bars_in_every_language(browser, live_server, accountant, connection, language):
    from datetime import timedelta

    for days, count in ((0, 3), (2, 5), (9, 1)):
        for _ in range(count):
            make_operation(connection, age=timedelta(days=days))
    make_operation(connection, state=SyncOperation.State.FAILED, last_error="Dinero answered 503.")
    context = browser.new_context(viewport={"width": WIDTH, "height": 900}, locale=language)
    page = context.new_page()
    try:
        login_in_browser(page, live_server, accountant)
        page.goto(live_server.url + reverse("admin:connection-dashboard", args=[connection.pk]))
        assert page.evaluate("document.documentElement.lang") == language
        drawn = page.eval_on_selector_all(
            "svg rect.bar-transfers, svg rect.bar-failures",
            "rects => rects.filter(r => r.getBBox().height > 0).map(r => r.getAttribute('height'))")
        # Four days with transfers or failures → four bars with a height the browser understood.
        assert len(drawn) == 4, drawn
        assert all("," not in h for h in drawn)
        tallest = page.eval_on_selector_all("svg rect.bar-transfers", "rs => Math.max(...rs.map(r => r.getBBox().height))")
        assert tallest == 160  # the day with 5 transfers fills the chart's height
        fits(page, f"dashboard-{language}")
    finally:
        context.close()
