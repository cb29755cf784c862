"""The sync log an accountant lives in: lists, filters, search, the detail page and its actions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from accounts.models import Connection
from integration.core.models import HttpExchange, Kind, NeedsAttention, OperationEvent, SyncOperation
from tests.operations_fixtures import make_exchange, make_operation

State = SyncOperation.State
LOG = "admin:integration_syncoperation_changelist"
ATTENTION = "admin:integration_needsattention_changelist"


def _detail(op: SyncOperation) -> str:
    return reverse("admin:integration_syncoperation_change", args=[op.pk])


def _listed(response) -> set[int]:
    return {op.pk for op in response.context["cl"].result_list}


@pytest.fixture
def paused(connection, other_connection):
    """Both connections paused: a retried row stays pending instead of calling the real APIs."""
    for c in (connection, other_connection):
        c.set_state(Connection.State.PAUSED, "paused for the test")
        c.save()
    return connection


# --- lists and filters ---------------------------------------------------------------------------

def test_accountant_sees_only_their_connections_operations(accountant_client, connection, other_connection):
    mine = make_operation(connection)
    theirs = make_operation(other_connection)
    response = accountant_client.get(reverse(LOG))
    assert response.status_code == 200
    assert _listed(response) == {mine.pk}
    assert accountant_client.get(_detail(theirs)).status_code in (302, 404)


def test_connection_filter_offers_only_the_users_connections(accountant_client, connection, other_connection):
    make_operation(connection)
    response = accountant_client.get(reverse(LOG))
    content = response.content.decode()
    assert connection.name in content
    assert other_connection.name not in content


def test_filters_by_state_kind_and_error(superuser, client, connection, other_connection):
    client.force_login(superuser)
    failed = make_operation(connection, state=State.FAILED, last_error="Dinero answered 503.")
    attention = make_operation(connection, state=State.NEEDS_ATTENTION, kind=Kind.SUPPLIER_INVOICE,
                               last_error="No account for group 1 and VAT zone EU.")
    done = make_operation(connection)
    elsewhere = make_operation(other_connection, state=State.NEEDS_ATTENTION, last_error="x")

    def listed(query: str) -> set[int]:
        return _listed(client.get(reverse(LOG) + query))

    assert listed("?state__exact=failed") == {failed.pk}
    assert listed("?kind__exact=supplier_invoice") == {attention.pk}
    assert listed("?has_error=yes") == {failed.pk, attention.pk, elsewhere.pk}
    assert listed("?has_error=no") == {done.pk}
    assert listed(f"?connection={connection.pk}&state__exact=needs_attention") == {attention.pk}


def test_period_filter_keeps_recent_operations(superuser, client, connection):
    client.force_login(superuser)
    today = make_operation(connection)
    last_week = make_operation(connection, age=timedelta(days=3))
    old = make_operation(connection, age=timedelta(days=40))
    assert _listed(client.get(reverse(LOG) + "?when=today")) == {today.pk}
    assert _listed(client.get(reverse(LOG) + "?when=7d")) == {today.pk, last_week.pk}
    assert old.pk in _listed(client.get(reverse(LOG)))
    assert old.pk not in _listed(client.get(reverse(LOG) + "?when=30d"))


def test_search_by_number_is_exact_and_by_name_is_partial(superuser, client, connection):
    client.force_login(superuser)
    invoice = make_operation(connection, number="1234", name="Nordic Bikes ApS")
    longer = make_operation(connection, number="12345", name="Havnens Fisk")
    named_with_digits = make_operation(connection, number="777", name="Shop 1234 ApS")
    assert _listed(client.get(reverse(LOG), {"q": "1234"})) == {invoice.pk}
    assert _listed(client.get(reverse(LOG), {"q": "bikes"})) == {invoice.pk}
    assert _listed(client.get(reverse(LOG), {"q": "Shop 1234"})) == {named_with_digits.pk}
    assert longer.pk not in _listed(client.get(reverse(LOG), {"q": "1234"}))
    assert _listed(client.get(reverse(LOG), {"q": '"nordic bikes"'})) == {invoice.pk}
    assert _listed(client.get(reverse(LOG), {"q": "havnens 1234"})) == set()


def test_list_counts_without_scanning_everything(superuser, client, connection, monkeypatch):
    from integration.console import sync_log_admin

    monkeypatch.setattr(sync_log_admin, "COUNT_CAP", 3)
    client.force_login(superuser)
    for _ in range(5):
        make_operation(connection)
    response = client.get(reverse(LOG))
    cl = response.context["cl"]
    assert cl.paginator.count_is_exact is False
    assert cl.result_count == 3
    assert "more than 3" in response.content.decode()


def test_needs_attention_list_shows_hint_and_fix_link(accountant_client, connection):
    fix_url = "/admin/accounts/connection/1/matrix/revenue/#cell-1-eu"
    attention = make_operation(connection, state=State.NEEDS_ATTENTION, last_error="No revenue account.",
                               hint="Fill in product group 1 × EU in the revenue matrix.", fix_url=fix_url)
    failed = make_operation(connection, state=State.FAILED, last_error="503")
    make_operation(connection)
    response = accountant_client.get(reverse(ATTENTION))
    assert response.status_code == 200
    assert _listed(response) == {attention.pk, failed.pk}
    content = response.content.decode()
    assert "Fill in product group 1 × EU in the revenue matrix." in content
    assert f'href="{fix_url}"' in content
    assert NeedsAttention.objects.count() == 3  # the proxy itself is not filtered; the list is


# --- the detail page -----------------------------------------------------------------------------

def test_detail_page_escapes_bodies_and_pretty_prints_json(accountant_client, connection):
    op = make_operation(connection, state=State.FAILED, last_error="<b>bad</b> answer")
    make_exchange(op, status=500, response_body='{"message": "<script>alert(1)</script>", "code": 7}')
    make_exchange(op, method="GET", response_body="<html><script>evil()</script></html>")
    OperationEvent.objects.create(operation=op, attempt=1, state="failed", message="Attempt 1 <i>failed</i>.")
    content = accountant_client.get(_detail(op)).content.decode()
    assert "<script>alert(1)</script>" not in content
    assert "<script>evil()</script>" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert "&lt;script&gt;evil()&lt;/script&gt;" in content
    assert '{\n  &quot;message&quot;: ' in content  # indented JSON
    assert "Attempt 1 &lt;i&gt;failed&lt;/i&gt;." in content
    assert "&lt;b&gt;bad&lt;/b&gt; answer" in content


def test_detail_page_shows_secrets_redacted(accountant_client, connection):
    op = make_operation(connection, state=State.FAILED)
    # A body stored by some path that forgot to redact still never shows the secret.
    make_exchange(op, request_body=f'{{"api_key": "abc", "note": "{connection.dinero_api_key}"}}',
                  url="https://api.dinero.dk/token?client_secret=s3cr3t-value",
                  response_body='{"access_token": "«redacted»", "expires_in": 3600}')
    content = accountant_client.get(_detail(op)).content.decode()
    assert connection.dinero_api_key not in content
    assert "s3cr3t-value" not in content
    assert '"abc"' not in content
    assert "«redacted»" in content


def test_detail_page_says_when_bodies_were_pruned(accountant_client, connection):
    op = make_operation(connection)
    make_exchange(op, request_body="", response_body="", bodies_pruned=True)
    content = accountant_client.get(_detail(op)).content.decode()
    assert "bodies were removed after 90 days" in content


def test_detail_page_links_to_rackbeat_and_fix_page(accountant_client, connection, settings):
    settings.RACKBEAT_APP_URL = "https://rackbeat.example/"
    op = make_operation(connection, state=State.NEEDS_ATTENTION, number="4711", hint="Map the unit “kasse”.",
                        fix_url="/admin/fix-here/")
    content = accountant_client.get(_detail(op)).content.decode()
    assert "Map the unit “kasse”." in content
    assert 'href="/admin/fix-here/"' in content
    assert 'href="https://rackbeat.example/customer-invoices/4711"' in content


def test_a_link_that_cannot_be_built_is_left_out(connection):
    from integration.console.sync_log_admin import document_links

    op = make_operation(connection, kind=Kind.ITEM_CONSUMPTION, target_id="")
    op.kind = "no-such-kind"
    assert document_links(op) == {"rackbeat": "", "dinero": ""}


# --- actions -------------------------------------------------------------------------------------

def _action(client, action: str, *ops: SyncOperation, **extra):
    data = {"action": action, "_selected_action": [op.pk for op in ops], **extra}
    return client.post(reverse(LOG), data, follow=True)


def test_accountant_retries_their_own_document(accountant_client, paused):
    op = make_operation(paused, state=State.NEEDS_ATTENTION, last_error="No account.", hint="Map it.")
    response = _action(accountant_client, "retry_selected", op)
    op.refresh_from_db()
    assert op.state == State.PENDING
    assert op.last_error == ""
    assert "1 document queued for another try." in response.content.decode()
    assert op.events.filter(message__contains="Retry requested by accountant").exists()


def test_accountant_cannot_retry_another_tenants_document(accountant, roles, paused, other_connection):
    from django.test import Client

    from integration.console.sync_log_admin import SyncOperationAdmin

    theirs = make_operation(other_connection, state=State.FAILED, last_error="503")
    client = Client()
    client.force_login(accountant)
    _action(client, "retry_selected", theirs)
    response = client.post(reverse("admin:integration_syncoperation_retry", args=[theirs.pk]))
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.state == State.FAILED

    # Even handed another tenant's row directly, the action refuses it.
    class Request:
        user = accountant
    allowed, refused = SyncOperationAdmin._allowed(Request, [theirs])
    assert (allowed, refused) == ([], 1)


def test_retry_needs_the_retry_permission(db, connection, paused, client):
    viewer = User.objects.create_user("viewer", password="pw-For-tests-123", is_staff=True)
    from django.contrib.auth.models import Permission

    from accounts.models import Membership

    viewer.user_permissions.add(Permission.objects.get(codename="view_syncoperation"))
    Membership.objects.create(user=viewer, connection=connection)
    op = make_operation(connection, state=State.FAILED, last_error="503")
    client.force_login(viewer)
    assert client.post(reverse("admin:integration_syncoperation_retry", args=[op.pk])).status_code == 403
    _action(client, "retry_selected", op)
    op.refresh_from_db()
    assert op.state == State.FAILED
    page = client.get(_detail(op)).content.decode()
    assert "Retry now" not in page


def test_retry_button_on_detail_page_is_post_only(accountant_client, paused):
    op = make_operation(paused, state=State.FAILED, last_error="503")
    url = reverse("admin:integration_syncoperation_retry", args=[op.pk])
    assert accountant_client.get(url).status_code == 405
    response = accountant_client.post(url)
    assert response.status_code == 302
    op.refresh_from_db()
    assert op.state == State.PENDING


def test_bulk_retry_queues_every_selected_document(accountant_client, paused):
    ops = [make_operation(paused, state=State.FAILED, last_error="503", kind=Kind.CUSTOMER) for _ in range(3)]
    response = _action(accountant_client, "retry_selected", *ops)
    assert "3 documents queued for another try." in response.content.decode()
    assert SyncOperation.objects.filter(state=State.PENDING).count() == 3


def test_mark_as_handled_asks_for_a_note_then_records_it(accountant_client, connection):
    op = make_operation(connection, state=State.NEEDS_ATTENTION, last_error="No account.")
    confirm = _action(accountant_client, "mark_handled", op)
    assert "Mark as handled" in confirm.content.decode()
    op.refresh_from_db()
    assert op.state == State.NEEDS_ATTENTION  # nothing happens before the note is posted

    empty = _action(accountant_client, "mark_handled", op, post="yes", note="")
    assert "This field is required." in empty.content.decode()

    done = _action(accountant_client, "mark_handled", op, post="yes", note="Booked by hand as voucher 88.")
    assert "1 document marked as handled." in done.content.decode()
    op.refresh_from_db()
    assert op.handled_note == "Booked by hand as voucher 88."
    assert op.handled_by == "accountant"
    assert op.handled_at is not None
    assert op.state == State.SKIPPED
    assert "Booked by hand as voucher 88." in accountant_client.get(_detail(op)).content.decode()


def test_mark_as_handled_page_changes_nothing_on_get(accountant_client, connection):
    op = make_operation(connection, state=State.FAILED, last_error="503")
    url = reverse("admin:integration_syncoperation_handle", args=[op.pk])
    page = accountant_client.get(url, {"note": "sneaky"})
    assert page.status_code == 200
    op.refresh_from_db()
    assert op.handled_at is None
    accountant_client.post(url, {"note": "Customer paid in cash; nothing to transfer."})
    op.refresh_from_db()
    assert op.handled_note == "Customer paid in cash; nothing to transfer."


def test_mark_as_handled_needs_its_permission(db, connection, client):
    from django.contrib.auth.models import Permission

    from accounts.models import Membership

    user = User.objects.create_user("retrier", password="pw-For-tests-123", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_syncoperation",
                                                                       "retry_syncoperation"]))
    Membership.objects.create(user=user, connection=connection)
    op = make_operation(connection, state=State.FAILED, last_error="503")
    client.force_login(user)
    url = reverse("admin:integration_syncoperation_handle", args=[op.pk])
    assert client.post(url, {"note": "x"}).status_code == 403
    op.refresh_from_db()
    assert op.handled_at is None


def test_exchange_and_run_admins_are_read_only_and_scoped(accountant_client, connection, other_connection):
    mine = make_exchange(make_operation(connection))
    theirs = make_exchange(make_operation(other_connection))
    response = accountant_client.get(reverse("admin:integration_httpexchange_changelist"))
    assert _listed(response) == {mine.pk}
    assert accountant_client.get(reverse("admin:integration_httpexchange_change", args=[theirs.pk])).status_code in (302, 404)
    assert accountant_client.get(reverse("admin:integration_httpexchange_change", args=[mine.pk])).status_code == 200
    assert accountant_client.get(reverse("admin:integration_syncrun_changelist")).status_code == 200
    assert accountant_client.get(reverse("admin:integration_webhookdelivery_changelist")).status_code == 200
    assert HttpExchange.objects.count() == 2


@pytest.mark.parametrize(("language", "labels"), [
    ("da", ["Aftale", "Kørsel", "Færdig", "Håndteret af", "Håndteret", "Note ved håndtering"]),
    ("sv", ["Avtal", "Körning", "Klar", "Hanterad av", "Hanterad", "Anteckning vid hantering"]),
])
def test_operation_page_and_list_label_their_fields_in_the_readers_language(superuser, client, connection,
                                                                           language, labels):
    from django.utils import timezone

    op = make_operation(connection, state=State.DONE, handled_by="bogholder", handled_at=timezone.now(),
                        handled_note="Rettet i hånden", finished_at=timezone.now())
    client.force_login(superuser)
    page = client.get(_detail(op), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    for label in labels:
        assert f">{label}:</label>" in page
    for english in ("Connection:", "Run:", "Finished at:", "Handled by:", "Handled at:", "Handled note:"):
        assert english not in page
    listing = client.get(reverse(LOG), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert f">{labels[0]}</a>" in listing or f">{labels[0]}</span>" in listing
    assert ">Connection<" not in listing
