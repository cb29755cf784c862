"""The Dinero client: both logins, paging, filters, error classes, retries and redaction."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import pytest
import requests
import responses
from responses import matchers

from accounts.models import Connection
from integration.core.clients.dinero import (
    ENDPOINTS,
    external_reference_filter,
    format_changes_since,
    timestamp_of,
)
from integration.core.clients.errors import (
    AccessDenied,
    ApiError,
    AuthenticationFailed,
    DeprecatedEndpoint,
    NoProSubscription,
    NotFound,
    RateLimited,
    StaleTimestamp,
    TransientError,
    UncertainOutcome,
    ValidationFailed,
)
from tests.dinero_fixtures import *  # noqa: F403 (the fixtures)
from tests.dinero_fixtures import ORG, TOKEN_URL, VISMA_TOKEN_URL, token_answer, url, use_visma_connect

pytestmark = pytest.mark.django_db

GUID = "7b0b2f4e-3d7a-4a55-9c57-2f0c1f6e9a10"


def api_key_token(token: str = "access-token-1", expires_in: int = 3600):
    return responses.post(TOKEN_URL, json=token_answer(token, expires_in))


def bearer(call) -> str:
    return call.request.headers.get("Authorization", "")


def api_calls():
    return [c for c in responses.calls if c.request.url.startswith("https://api.")]


# --- the classic API-key login --------------------------------------------------------------------

@responses.activate
def test_api_key_login_sends_the_key_as_user_name_and_password_with_basic_client_credentials(dinero, connection):
    token = api_key_token()
    responses.get(url("/v1/{org}/vatTypes"), json=[{"VatCode": "I25", "Name": "Købsmoms", "VatRate": 0.25}])

    assert dinero.vat_types()[0]["VatCode"] == "I25"

    form = parse_qs(token.calls[0].request.body)
    assert form == {
        "grant_type": ["password"], "scope": ["read write"],
        "username": [connection.dinero_api_key], "password": [connection.dinero_api_key],
    }
    assert token.calls[0].request.headers["Authorization"].startswith("Basic ")
    assert bearer(api_calls()[0]) == "Bearer access-token-1"


@responses.activate
def test_api_key_token_is_cached_per_organization_across_clients(make_client, connection):
    token = api_key_token()
    responses.get(url("/v1/{org}/vatTypes"), json=[])
    make_client(connection).vat_types()
    make_client(connection).vat_types()
    assert token.call_count == 1


@responses.activate
def test_api_key_token_close_to_expiry_is_not_reused(make_client, connection):
    token = api_key_token(expires_in=30)
    responses.get(url("/v1/{org}/vatTypes"), json=[])
    make_client(connection).vat_types()
    make_client(connection).vat_types()
    assert token.call_count == 2


@responses.activate
def test_other_organization_gets_its_own_token(make_client, connection, other_connection):
    token = api_key_token()
    responses.get(url("/v1/{org}/vatTypes"), json=[])
    responses.get(url("/v1/400777/vatTypes"), json=[])
    make_client(connection).vat_types()
    make_client(other_connection).vat_types()
    assert token.call_count == 2


@responses.activate
def test_401_reauthenticates_exactly_once_and_retries(dinero):
    responses.post(TOKEN_URL, json=token_answer("old-token"))
    responses.post(TOKEN_URL, json=token_answer("new-token"))
    responses.get(url("/v1/{org}/vatTypes"), status=401, json={"message": "token expired"})
    responses.get(url("/v1/{org}/vatTypes"), json=[{"VatCode": "U25"}])

    assert dinero.vat_types() == [{"VatCode": "U25"}]
    assert [bearer(c) for c in api_calls()] == ["Bearer old-token", "Bearer new-token"]


@responses.activate
def test_second_401_is_authentication_failed_without_a_third_try(dinero):
    token = api_key_token()
    get = responses.get(url("/v1/{org}/vatTypes"), status=401, json={"message": "Unauthorized"})
    with pytest.raises(AuthenticationFailed):
        dinero.vat_types()
    assert get.call_count == 2
    assert token.call_count == 2


@responses.activate
def test_rejected_api_key_is_authentication_failed_with_a_hint(dinero):
    responses.post(TOKEN_URL, status=400, json={"error": "invalid_grant"})
    with pytest.raises(AuthenticationFailed) as caught:
        dinero.vat_types()
    assert "invalid_grant" in caught.value.message
    assert "API key" in str(caught.value.hint)


def test_missing_api_key_fails_before_any_request(make_client, connection):
    connection.dinero_api_key = ""
    with responses.RequestsMock(), pytest.raises(AuthenticationFailed):
        make_client(connection).vat_types()


# --- Visma Connect --------------------------------------------------------------------------------

@responses.activate
def test_visma_connect_uses_the_stored_access_token(make_client, connection):
    use_visma_connect(connection)
    responses.get(url("/v1/{org}/vatTypes"), json=[])
    make_client(connection).vat_types()
    assert bearer(api_calls()[0]) == "Bearer visma-access-1"


@responses.activate
def test_expired_visma_token_is_refreshed_and_the_rotated_refresh_token_stored_at_once(make_client, connection):
    use_visma_connect(connection, expires_in=-10)
    refresh = responses.post(
        VISMA_TOKEN_URL, json=token_answer("visma-access-2", refresh_token="visma-refresh-2")
    )
    responses.get(url("/v1/{org}/vatTypes"), json=[])

    make_client(connection).vat_types()

    form = parse_qs(refresh.calls[0].request.body)
    assert form["grant_type"] == ["refresh_token"]
    assert form["refresh_token"] == ["visma-refresh-1"]
    assert form["client_id"] == ["isv_rackbeat"]
    assert bearer(api_calls()[0]) == "Bearer visma-access-2"
    stored = Connection.objects.get(pk=connection.pk)
    assert stored.visma_refresh_token == "visma-refresh-2"
    assert stored.visma_access_token == "visma-access-2"
    assert stored.visma_access_token_expires_at > datetime.now(UTC) + timedelta(minutes=50)


@responses.activate
def test_visma_401_refreshes_once(make_client, connection):
    use_visma_connect(connection)
    refresh = responses.post(VISMA_TOKEN_URL, json=token_answer("visma-access-2", refresh_token="visma-refresh-2"))
    responses.get(url("/v1/{org}/vatTypes"), status=401, body="")
    responses.get(url("/v1/{org}/vatTypes"), json=[])
    make_client(connection).vat_types()
    assert refresh.call_count == 1
    assert [bearer(c) for c in api_calls()] == ["Bearer visma-access-1", "Bearer visma-access-2"]


@responses.activate
def test_refused_refresh_asks_for_a_new_visma_login(make_client, connection):
    use_visma_connect(connection, expires_in=-10)
    responses.post(VISMA_TOKEN_URL, status=400, json={"error": "invalid_grant"})
    with pytest.raises(AuthenticationFailed) as caught:
        make_client(connection).vat_types()
    assert "Connect with Visma" in str(caught.value.hint)
    assert Connection.objects.get(pk=connection.pk).visma_refresh_token == "visma-refresh-1"


@responses.activate
def test_refresh_made_by_another_worker_is_reused_instead_of_spending_the_refresh_token(make_client, connection):
    use_visma_connect(connection, expires_in=-10)
    client = make_client(connection)
    # Another worker refreshed meanwhile and stored a new, valid token.
    other = Connection.objects.get(pk=connection.pk)
    use_visma_connect(other, access="visma-access-9", refresh="visma-refresh-9")
    responses.get(url("/v1/{org}/vatTypes"), json=[])
    client.vat_types()
    assert bearer(api_calls()[0]) == "Bearer visma-access-9"


# --- paging, fields, filters ------------------------------------------------------------------------

@responses.activate
def test_collection_envelope_is_paged_from_zero_with_1000_rows_until_a_short_page(dinero):
    api_key_token()
    first = [{"ContactGuid": f"g{i}", "Name": f"Kunde {i}"} for i in range(1000)]
    second = [{"ContactGuid": "last", "Name": "Sidste"}]
    pagination = {"MaxPageSizeAllowed": 1000, "PageSize": 1000, "ResultWithoutFilter": 1001}
    responses.get(url("/v1/{org}/contacts"), match=[matchers.query_param_matcher({"page": "0"}, strict_match=False)],
                  json={"Collection": first, "Pagination": {**pagination, "Page": 0, "Result": 1000}})
    responses.get(url("/v1/{org}/contacts"), match=[matchers.query_param_matcher({"page": "1"}, strict_match=False)],
                  json={"Collection": second, "Pagination": {**pagination, "Page": 1, "Result": 1}})

    rows = list(dinero.iter_contacts())

    assert len(rows) == 1001
    query = parse_qs(urlparse(api_calls()[0].request.url).query)
    assert query["pageSize"] == ["1000"]
    assert query["fields"][0].startswith("ContactGuid,ExternalReference,Name")


@responses.activate
def test_a_list_of_exactly_a_full_page_is_read_in_one_call_when_dinero_gives_the_count(dinero):
    api_key_token()
    rows = [{"ContactGuid": f"g{i}", "Name": f"Kunde {i}"} for i in range(1000)]
    pagination = {"MaxPageSizeAllowed": 1000, "PageSize": 1000, "ResultWithoutFilter": 1000, "Page": 0,
                  "Result": 1000}
    responses.get(url("/v1/{org}/contacts"), match=[matchers.query_param_matcher({"page": "0"}, strict_match=False)],
                  json={"Collection": rows, "Pagination": pagination})
    responses.get(url("/v1/{org}/contacts"), match=[matchers.query_param_matcher({"page": "1"}, strict_match=False)],
                  json={"Collection": [], "Pagination": {**pagination, "Page": 1, "Result": 0}})

    assert len(list(dinero.iter_contacts())) == 1000
    assert len(api_calls()) == 1  # no empty second page


@responses.activate
def test_plain_array_lists_are_read_and_paged_alike(dinero):
    api_key_token()
    responses.get(url("/v1/{org}/products"), json=[{"ProductGuid": "p1", "ProductNumber": "100"}])
    assert [p["ProductGuid"] for p in dinero.iter_products()] == ["p1"]


@responses.activate
def test_smaller_page_size_granted_by_dinero_keeps_paging(dinero):
    api_key_token()
    page = {"MaxPageSizeAllowed": 100, "PageSize": 100}
    responses.get(url("/v1/{org}/invoices"), match=[matchers.query_param_matcher({"page": "0"}, strict_match=False)],
                  json={"Collection": [{"Guid": str(i)} for i in range(100)], "Pagination": page})
    responses.get(url("/v1/{org}/invoices"), match=[matchers.query_param_matcher({"page": "1"}, strict_match=False)],
                  json={"Collection": [], "Pagination": page})
    assert len(list(dinero.iter_invoices())) == 100


def test_changes_since_is_utc_with_a_z():
    copenhagen = datetime(2025, 6, 1, 8, 30, 15, 999, tzinfo=ZoneInfo("Europe/Copenhagen"))
    assert format_changes_since(copenhagen) == "2025-06-01T06:30:15Z"


def test_changes_since_refuses_a_naive_datetime():
    with pytest.raises(ValueError):
        format_changes_since(datetime(2025, 6, 1, 8, 30))


@responses.activate
def test_iter_invoices_sends_changes_since_and_status_filter(dinero):
    api_key_token()
    responses.get(url("/v1/{org}/invoices"), json={"Collection": [], "Pagination": {}})
    list(dinero.iter_invoices(changes_since=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), status_filter="Booked"))
    query = parse_qs(urlparse(api_calls()[0].request.url).query)
    assert query["changesSince"] == ["2025-01-02T03:04:05Z"]
    assert query["statusFilter"] == ["Booked"]
    assert query["page"] == ["0"]


def test_external_reference_filter_escapes_single_quotes():
    assert external_reference_filter("rackbeat:customer:O'Brien") == "ExternalReference eq 'rackbeat:customer:O''Brien'"


@responses.activate
def test_find_contact_filters_on_the_external_reference_and_compares_exactly(dinero):
    api_key_token()
    responses.get(url("/v1/{org}/contacts"), json={"Collection": [
        {"ContactGuid": "a", "ExternalReference": "RACKBEAT:customer:10"},
        {"ContactGuid": "b", "ExternalReference": "rackbeat:customer:10"},
    ], "Pagination": {}})
    assert dinero.find_contact("rackbeat:customer:10")["ContactGuid"] == "b"
    query = parse_qs(urlparse(api_calls()[0].request.url).query)
    assert query["queryFilter"] == ["ExternalReference eq 'rackbeat:customer:10'"]


@responses.activate
def test_find_invoice_answers_none_when_nothing_matches(dinero):
    api_key_token()
    responses.get(url("/v1/{org}/invoices"), json={"Collection": [], "Pagination": {}})
    assert dinero.find_invoice("rackbeat:invoice:5") is None


@responses.activate
def test_get_invoice_answers_none_on_404(dinero):
    api_key_token()
    responses.get(url(f"/v1/{{org}}/invoices/{GUID}"), status=404, body="<html><h1>Not found</h1></html>")
    assert dinero.get_invoice(GUID) is None


# --- error classes --------------------------------------------------------------------------------

def error_case(status, body, content_type="application/json"):
    if isinstance(body, dict):
        return {"status": status, "json": body}
    return {"status": status, "body": body, "content_type": content_type}


@pytest.mark.parametrize(("status", "body", "error_class"), [
    (400, {"code": 42, "message": "Validation error", "validationErrors": {"Name": "Required"}}, ValidationFailed),
    (400, {"Code": 58, "Message": "Timestamp outdated"}, StaleTimestamp),
    (403, {"code": 90, "message": "No Pro"}, NoProSubscription),
    (403, {"code": 48, "message": "No Pro"}, NoProSubscription),
    (403, {"code": 41, "message": "Unauthorized"}, AccessDenied),
    (404, "<html><body>Not found</body></html>", NotFound),
    (480, {"message": "This endpoint is deprecated"}, DeprecatedEndpoint),
    (413, "File too large", ValidationFailed),
])
@responses.activate
def test_error_answers_become_typed_errors(dinero, status, body, error_class):
    api_key_token()
    responses.get(url("/v1/{org}/vatTypes"), **error_case(status, body))
    with pytest.raises(error_class) as caught:
        dinero.vat_types()
    assert caught.value.status == status


@responses.activate
def test_validation_errors_carry_code_message_and_field_details(dinero):
    api_key_token()
    responses.post(url("/v1/{org}/invoices"), status=400, json={
        "code": 45, "message": "Invoices must have at least one invoice line",
        "validationErrors": {"ProductLines": "Required"},
        "languageSpecificMessages": [{"property": "Date", "message": "Datoen er ugyldig"}],
    })
    with pytest.raises(ValidationFailed) as caught:
        dinero.create_invoice({"ProductLines": []})
    error = caught.value
    assert error.code == 45
    assert "at least one invoice line" in error.message
    assert error.details == {"ProductLines": "Required", "Date": "Datoen er ugyldig"}
    assert "ProductLines: Required" in error.describe()


@responses.activate
def test_429_with_plain_text_is_rate_limited_and_penalizes_the_organization(dinero, limiter):
    api_key_token()
    responses.get(url("/v1/{org}/vatTypes"), status=429, body="API calls quota exceeded! maximum admitted 100 per 1m.",
                  content_type="text/plain")
    with pytest.raises(RateLimited) as caught:
        dinero.vat_types()
    assert caught.value.retry_after == 60.0
    assert "quota exceeded" in caught.value.message
    assert limiter.penalties == [(f"dinero:{ORG}", 60.0)]


@responses.activate
def test_429_honours_retry_after(dinero, limiter):
    api_key_token()
    responses.get(url("/v1/{org}/vatTypes"), status=429, body="slow down", headers={"Retry-After": "17"})
    with pytest.raises(RateLimited) as caught:
        dinero.vat_types()
    assert caught.value.retry_after == 17.0
    assert limiter.penalties == [(f"dinero:{ORG}", 17.0)]


@responses.activate
def test_reads_failing_with_5xx_are_retried_with_backoff_then_transient(dinero, sleeps):
    api_key_token()
    get = responses.get(url("/v1/{org}/vatTypes"), status=503, body="Service Unavailable")
    with pytest.raises(TransientError):
        dinero.vat_types()
    assert get.call_count == 3
    assert sleeps == [1.0, 2.0]


@responses.activate
def test_read_recovering_after_a_timeout_succeeds(dinero, sleeps):
    api_key_token()
    responses.get(url("/v1/{org}/vatTypes"), body=requests.ReadTimeout("read timed out"))
    responses.get(url("/v1/{org}/vatTypes"), json=[{"VatCode": "I25"}])
    assert dinero.vat_types() == [{"VatCode": "I25"}]
    assert sleeps == [1.0]


@responses.activate
def test_write_failing_with_5xx_is_uncertain_and_never_resent(dinero, sleeps):
    api_key_token()
    post = responses.post(url("/v1/{org}/invoices"), status=500, json={"code": 50, "message": "Server error"})
    with pytest.raises(UncertainOutcome):
        dinero.create_invoice({"ProductLines": []})
    assert post.call_count == 1
    assert sleeps == []


@responses.activate
def test_write_timing_out_is_uncertain_and_never_resent(dinero):
    api_key_token()
    put = responses.put(url(f"/v2/{{org}}/contacts/{GUID}"), body=requests.ReadTimeout("read timed out"))
    with pytest.raises(UncertainOutcome):
        dinero.update_contact(GUID, {"Name": "X"})
    assert put.call_count == 1


@responses.activate
def test_write_that_could_not_connect_is_transient(dinero):
    api_key_token()
    responses.post(url("/v1/{org}/contacts"), body=requests.ConnectTimeout("connect timed out"))
    with pytest.raises(TransientError) as caught:
        dinero.create_contact({"Name": "X"})
    assert not isinstance(caught.value, UncertainOutcome)


# --- booking with optimistic concurrency --------------------------------------------------------------

@responses.activate
def test_stale_timestamp_on_booking_rereads_and_retries_once(dinero):
    api_key_token()
    book_url = url(f"/v1/{{org}}/invoices/{GUID}/book")
    responses.post(book_url, status=400, json={"code": 58, "message": "Timestamp outdated"})
    responses.get(url(f"/v1/{{org}}/invoices/{GUID}"), json={"Guid": GUID, "TimeStamp": "0000000002", "Status": "Draft"})
    responses.post(book_url, json={"Guid": GUID, "Status": "Booked", "Number": 17})

    booked = dinero.book_invoice(GUID, "0000000001")

    assert booked["Number"] == 17
    books = [c for c in responses.calls if c.request.url == book_url]
    assert [json.loads(c.request.body)["Timestamp"] for c in books] == ["0000000001", "0000000002"]


@responses.activate
def test_stale_timestamp_twice_is_raised(dinero):
    api_key_token()
    book_url = url(f"/v1/{{org}}/vouchers/manuel/{GUID}/book")
    responses.post(book_url, status=400, json={"code": 58, "message": "Timestamp outdated"})
    responses.get(url(f"/v1/{{org}}/vouchers/manuel/{GUID}"), json={"Guid": GUID, "Timestamp": "02", "Status": "Draft"})
    with pytest.raises(StaleTimestamp):
        dinero.book_manual_voucher(GUID, "01")
    assert len([c for c in responses.calls if c.request.url == book_url]) == 2


@responses.activate
def test_document_booked_meanwhile_is_not_booked_again(dinero):
    api_key_token()
    book_url = url(f"/v1/{{org}}/vouchers/purchase/{GUID}/book")
    responses.post(book_url, status=400, json={"code": 58, "message": "Timestamp outdated"})
    responses.get(url(f"/v1/{{org}}/vouchers/purchase/{GUID}"), json={"Guid": GUID, "Timestamp": "02", "Status": "Booked"})
    assert dinero.book_purchase_voucher(GUID, "01")["Status"] == "Booked"
    assert len([c for c in responses.calls if c.request.url == book_url]) == 1


def test_timestamp_is_read_in_both_casings():
    assert timestamp_of({"TimeStamp": "A"}) == "A"
    assert timestamp_of({"Timestamp": "B"}) == "B"
    assert timestamp_of(None) == ""


# --- access check ------------------------------------------------------------------------------------

@responses.activate
def test_check_access_answers_the_organization(dinero):
    api_key_token()
    responses.get(url("/v1/organizations"), json=[{"Id": 400555, "Name": "Nordlys Lager ApS", "IsPro": True}])
    assert dinero.check_access()["Name"] == "Nordlys Lager ApS"
    assert "IsPro" in parse_qs(urlparse(api_calls()[0].request.url).query)["fields"][0]


@responses.activate
def test_check_access_without_pro_is_no_pro_subscription(dinero):
    api_key_token()
    responses.get(url("/v1/organizations"), json=[{"Id": 400555, "Name": "Nordlys", "IsPro": False}])
    with pytest.raises(NoProSubscription):
        dinero.check_access()


@responses.activate
def test_check_access_to_an_unknown_company_id_is_not_found_with_hint(dinero):
    api_key_token()
    responses.get(url("/v1/organizations"), json=[{"Id": 999, "Name": "Andet", "IsPro": True}])
    with pytest.raises(NotFound) as caught:
        dinero.check_access()
    assert "company id" in str(caught.value.hint)


# --- rate limit and redaction ---------------------------------------------------------------------------

@responses.activate
def test_every_api_request_waits_for_the_organizations_budget_but_token_requests_do_not(dinero, limiter):
    api_key_token()
    responses.get(url("/v1/{org}/vatTypes"), json=[])
    dinero.vat_types()
    dinero.vat_types()
    assert limiter.acquired == [f"dinero:{ORG}", f"dinero:{ORG}"]
    # Each request is stamped again when its answer has come (the vendor counted it by then).
    assert limiter.finished == ["ticket-1", "ticket-2"]


@responses.activate
def test_a_request_without_an_answer_is_still_reported_to_the_budget_as_finished(dinero, limiter):
    api_key_token()
    responses.get(url("/v1/{org}/vatTypes"), body=requests.ConnectionError("connection reset"))
    with pytest.raises(Exception):
        dinero.vat_types()
    assert limiter.finished and len(limiter.finished) == len(limiter.acquired)


@responses.activate
def test_exchange_hook_never_sees_api_key_tokens_or_client_secret(dinero, connection, exchanges):
    responses.post(TOKEN_URL, json=token_answer("old-token-123456"))
    responses.post(TOKEN_URL, json=token_answer("new-token-654321"))
    responses.get(url("/v1/{org}/vatTypes"), status=401,
                  body="token old-token-123456 rejected")
    responses.get(url("/v1/{org}/vatTypes"), json=[{"Echo": "new-token-654321"}])

    dinero.vat_types()

    assert len(exchanges) == 4
    dump = json.dumps([vars(e) for e in exchanges])
    for secret in (connection.dinero_api_key, "old-token-123456", "new-token-654321",
                   "dinero-client-secret-xyz", "Bearer ", "Basic "):
        assert secret not in dump.replace("Bearer «redacted»", "").replace("Basic «redacted»", "")
    assert exchanges[0].url == TOKEN_URL
    assert exchanges[1].status == 401


@responses.activate
def test_visma_refresh_exchange_never_shows_either_refresh_token(make_client, connection, exchanges):
    use_visma_connect(connection, expires_in=-10)
    responses.post(VISMA_TOKEN_URL, json=token_answer("visma-access-2", refresh_token="visma-refresh-2"))
    responses.get(url("/v1/{org}/vatTypes"), json=[])
    make_client(connection).vat_types()
    dump = json.dumps([vars(e) for e in exchanges])
    for secret in ("visma-refresh-1", "visma-refresh-2", "visma-access-2", "visma-client-secret-abc"):
        assert secret not in dump


# --- links and the endpoint table ------------------------------------------------------------------------

def test_document_url_points_into_dinero_web_app(dinero):
    assert dinero.document_url("invoice", GUID) == f"https://app.dinero.test/{ORG}/invoices/{GUID}"


def test_every_endpoint_builds_a_url_on_the_configured_api(dinero):
    for name, endpoint in ENDPOINTS.items():
        built = dinero.url(name, guid=GUID) if re.search(r"{\w*[gG]uid}", endpoint.path) else dinero.url(name)
        assert built.startswith("https://api.dinero.test/v")
        assert "{" not in built


@responses.activate
@pytest.mark.parametrize("status", [400, 403, 404, 409, 422, 429])
def test_write_refused_with_4xx_is_definite_never_uncertain(dinero, status):
    """Rule 10: a 4xx — 429 included — wrote nothing, so it is never an uncertain outcome."""
    api_key_token()
    responses.post(url("/v1/{org}/vouchers/manuel"), status=status, json={"code": 1, "message": "refused"})
    with pytest.raises(ApiError) as caught:
        dinero.create_manual_voucher({"Lines": []})
    assert not caught.value.uncertain


@responses.activate
def test_write_answered_with_unreadable_success_is_uncertain(dinero):
    api_key_token()
    responses.post(url("/v1/{org}/vouchers/manuel"), status=200, body="<html>proxy page</html>")
    with pytest.raises(UncertainOutcome):
        dinero.create_manual_voucher({"Lines": []})


@responses.activate
def test_purchase_dry_run_failing_with_5xx_is_retried_like_a_read(dinero, sleeps):
    """``vouchers/purchase/fetch`` writes nothing, so a 5xx is transient, never uncertain."""
    api_key_token()
    fetch = responses.post(url("/v1/{org}/vouchers/purchase/fetch"), status=503, body="busy")
    with pytest.raises(TransientError) as caught:
        dinero.purchase_voucher_totals({"PurchaseType": "credit", "Lines": []})
    assert not caught.value.uncertain
    assert fetch.call_count == 3


@responses.activate
def test_purchase_voucher_found_by_its_file_or_none(dinero):
    api_key_token()
    responses.get(url("/v1/{org}/vouchers/purchase/fileguid/file0001"), json=[GUID])
    responses.get(url("/v1/{org}/vouchers/purchase/fileguid/file0002"), json=[])
    responses.get(url("/v1/{org}/vouchers/purchase/fileguid/file0003"), status=404, json={"message": "none"})
    assert dinero.find_purchase_voucher_by_file("file0001") == GUID
    assert dinero.find_purchase_voucher_by_file("file0002") is None
    assert dinero.find_purchase_voucher_by_file("file0003") is None


@responses.activate
def test_credit_note_draft_update_is_sent_like_an_invoice_draft_update(dinero):
    """Defect 5: a credit-note draft left by an earlier attempt is replaced with ``PUT /v1.2/…``."""
    from integration.transfers.sales_invoices import SalesDocuments

    api_key_token()
    put = responses.put(url(f"/v1.2/{{org}}/sales/creditnotes/{GUID}"), json={"Guid": GUID, "TimeStamp": "0A"})
    assert SalesDocuments(dinero, credit_note=True).update(GUID, {"ProductLines": [], "Timestamp": "09"})
    assert put.call_count == 1 and json.loads(put.calls[0].request.body)["Timestamp"] == "09"
