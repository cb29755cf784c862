"""The Rackbeat client against Rackbeat's documented behaviour, with HTTP mocked by `responses`."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from integration.core.clients.errors import (
    AccessDenied,
    ApiError,
    AuthenticationFailed,
    NotFound,
    RateLimited,
    TransientError,
    UncertainOutcome,
    ValidationFailed,
)
from integration.core.clients.rackbeat import RackbeatClient

API = "https://rb.test/api"
TOKEN = "rb-token-1001-secret"


class FakeLimiter:
    def __init__(self) -> None:
        self.acquired: list[str] = []
        self.finished: list[str] = []
        self.penalties: list[tuple[str, float]] = []

    def start(self, key: str) -> str:
        self.acquired.append(key)
        return f"ticket-{len(self.acquired)}"

    def finish(self, key: str, ticket: str) -> None:
        self.finished.append(ticket)

    def penalize(self, key: str, seconds: float) -> None:
        self.penalties.append((key, seconds))


@pytest.fixture(autouse=True)
def rackbeat_settings(settings):
    settings.RACKBEAT_API_URL = f"{API}/"
    settings.RACKBEAT_APP_URL = "https://rb.test/app/"
    settings.RACKBEAT_CONSUMER_NAME = "Nordlys integration"
    settings.RACKBEAT_CONSUMER_CONTACT = "ops@example.com"


@pytest.fixture
def limiter() -> FakeLimiter:
    return FakeLimiter()


@pytest.fixture
def exchanges() -> list:
    return []


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(connection, limiter, exchanges, sleeps) -> RackbeatClient:
    return RackbeatClient(connection, on_exchange=exchanges.append, limiter=limiter, sleep=sleeps.append)


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


def query(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def page_of(key: str, rows: list, *, page: int, pages: int, limit: int = 1000) -> dict:
    return {key: rows, "total": 0, "pages": pages, "limit": limit, "page": page}


# --- request basics ---------------------------------------------------------------------------------

def test_every_request_carries_token_and_consumer_headers(client, rsps):
    rsps.get(f"{API}/self", json={"user_account": {"id": 1001}, "user": {"id": 7}})

    info = client.self_info()

    assert info == {"user_account": {"id": 1001}, "user": {"id": 7}}
    headers = rsps.calls[0].request.headers
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Accept"] == "application/json; charset=utf-8"
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["User-Agent"] == "Nordlys integration (ops@example.com)"
    assert headers["Consumer-Name"] == "Nordlys integration"
    assert headers["Consumer-Contact"] == "ops@example.com"
    assert headers["API-Version"] == "latest"


def test_base_url_is_read_when_the_request_is_made(client, rsps, settings):
    settings.RACKBEAT_API_URL = "https://elsewhere.test/api"
    rsps.get("https://elsewhere.test/api/customers/5", json={"customer": {"number": 5}})

    assert client.get_customer(5) == {"number": 5}


def test_limiter_is_consulted_for_every_request_with_a_hashed_key(client, rsps, limiter):
    rsps.get(f"{API}/customers/1", json={"customer": {"number": 1}})
    rsps.get(f"{API}/customers/2", json={"customer": {"number": 2}})

    client.get_customer(1)
    client.get_customer(2)

    expected = "rackbeat:" + hashlib.sha256(TOKEN.encode()).hexdigest()[:16]
    assert limiter.acquired == [expected, expected]
    assert TOKEN not in expected


def test_connections_with_different_tokens_use_different_rate_limit_buckets(connection, other_connection):
    first = RackbeatClient(connection, limiter=FakeLimiter())
    second = RackbeatClient(other_connection, limiter=FakeLimiter())

    assert first.limiter_key != second.limiter_key


def test_missing_token_fails_readably_without_calling_rackbeat(connection, limiter, rsps):
    connection.rackbeat_api_token = ""
    client = RackbeatClient(connection, limiter=limiter)

    with pytest.raises(AuthenticationFailed, match="no Rackbeat API token"):
        client.get_customer(1)
    assert len(rsps.calls) == 0


# --- envelopes -----------------------------------------------------------------------------------------

def test_wrapped_single_object_is_unwrapped(client, rsps):
    rsps.get(f"{API}/customer-invoices/3001",
             json={"customer_invoice": {"number": 3001, "lines": []}})

    assert client.get_customer_invoice(3001) == {"number": 3001, "lines": []}


def test_list_answered_with_206_is_a_success(client, rsps):
    rsps.get(f"{API}/units", status=206,
             json=page_of("units", [{"number": 1, "name": "stk."}], page=1, pages=1))

    assert list(client.iter_units()) == [{"number": 1, "name": "stk."}]


def test_list_key_is_found_even_when_it_is_not_the_path_name(client, rsps):
    rsps.get(f"{API}/layouts", status=206,
             json=page_of("inventory_regulations", [{"id": 1}, {"id": 2}], page=1, pages=1))

    assert [row["id"] for row in client.iter_layouts()] == [1, 2]


def test_unpaginated_list_is_read_in_one_request(client, rsps):
    rsps.get(f"{API}/payment-terms", json={"payment_terms": [{"number": 1}, {"number": 2}]})

    assert len(list(client.iter_payment_terms())) == 2
    assert len(rsps.calls) == 1


def test_bare_json_list_is_accepted(client, rsps):
    rsps.get(f"{API}/customer-groups", json=[{"number": 1}])

    assert list(client.iter_customer_groups()) == [{"number": 1}]


def test_answer_without_any_list_stops_with_a_readable_error(client, rsps):
    rsps.get(f"{API}/product-groups", status=206, json={"total": 0, "pages": 0})

    with pytest.raises(ApiError, match="without a list of rows"):
        list(client.iter_product_groups())


# --- paging ---------------------------------------------------------------------------------------------

def test_iterator_reads_every_page_from_one_with_limit_1000(client, rsps):
    full = [{"number": n} for n in range(1000)]
    rsps.get(f"{API}/products", status=206, json=page_of("products", full, page=1, pages=3))
    rsps.get(f"{API}/products", status=206, json=page_of("products", full, page=2, pages=3))
    rsps.get(f"{API}/products", status=206, json=page_of("products", [{"number": "last"}], page=3, pages=3))

    rows = list(client.iter_products())

    assert len(rows) == 2001
    assert [query(c)["page"] for c in rsps.calls] == [["1"], ["2"], ["3"]]
    assert all(query(c)["limit"] == ["1000"] for c in rsps.calls)


def test_paging_stops_on_an_empty_page_even_if_more_pages_are_announced(client, rsps):
    full = [{"number": n} for n in range(1000)]
    rsps.get(f"{API}/customers", status=206, json=page_of("customers", full, page=1, pages=5))
    rsps.get(f"{API}/customers", status=206, json=page_of("customers", [], page=2, pages=5))

    assert len(list(client.iter_customers())) == 1000
    assert len(rsps.calls) == 2


def test_paging_stops_on_a_short_page(client, rsps):
    rsps.get(f"{API}/suppliers", status=206,
             json=page_of("suppliers", [{"number": 1}], page=1, pages=9))

    assert len(list(client.iter_suppliers())) == 1
    assert len(rsps.calls) == 1


def test_smaller_page_size_chosen_by_rackbeat_does_not_end_paging_early(client, rsps):
    rsps.get(f"{API}/lots", status=206,
             json=page_of("lots", [{"number": "A"}, {"number": "B"}], page=1, pages=2, limit=2))
    rsps.get(f"{API}/lots", status=206,
             json=page_of("lots", [{"number": "C"}], page=2, pages=2, limit=2))

    assert [r["number"] for r in client.iter_lots()] == ["A", "B", "C"]


# --- filters --------------------------------------------------------------------------------------------

def test_updated_since_is_sent_in_copenhagen_local_time(client, rsps):
    rsps.get(f"{API}/customer-invoices", status=206,
             json=page_of("customer_invoices", [], page=1, pages=0))

    list(client.iter_customer_invoices(updated_since=datetime(2025, 1, 8, 9, 30, tzinfo=UTC)))

    params = query(rsps.calls[0])
    assert params["updated_at_from"] == ["2025-01-08 10:30:00"]
    assert params["is_booked"] == ["true"]


def test_updated_since_in_summer_uses_daylight_saving_time(client, rsps):
    rsps.get(f"{API}/products", status=206, json=page_of("products", [], page=1, pages=0))

    list(client.iter_products(updated_since=datetime(2025, 7, 1, 22, 0, 5, tzinfo=UTC)))

    assert query(rsps.calls[0])["updated_at_from"] == ["2025-07-02 00:00:05"]


def test_supplier_invoices_can_be_listed_regardless_of_booking(client, rsps):
    rsps.get(f"{API}/supplier-invoices", status=206,
             json=page_of("supplier_invoices", [{"number": 9}], page=1, pages=1))

    assert list(client.iter_supplier_invoices(booked=None)) == [{"number": 9}]
    assert "is_booked" not in query(rsps.calls[0])


# --- keys in paths ----------------------------------------------------------------------------------

def test_product_number_is_double_encoded_in_the_path(client, rsps):
    rsps.get(f"{API}/products/ABC%252F123%252BDEF", json={"product": {"number": "ABC/123+DEF"}})

    product = client.get_product("ABC/123+DEF")

    assert product["number"] == "ABC/123+DEF"
    assert rsps.calls[0].request.url == f"{API}/products/ABC%252F123%252BDEF"


def test_bom_number_is_double_encoded_in_the_path(client, rsps):
    rsps.get(f"{API}/lots/KIT%25201%252F2", json={"lot": {"number": "KIT 1/2"}})

    assert client.get_lot("KIT 1/2") == {"number": "KIT 1/2"}


def test_product_update_double_encodes_the_number(client, rsps):
    rsps.put(f"{API}/products/ABC%252F123%252BDEF", json={"product": {"number": "ABC/123+DEF"}})

    client.update_product("ABC/123+DEF", {"name": "Kasse"})

    assert urlsplit(rsps.calls[0].request.url).path == "/api/products/ABC%252F123%252BDEF"


# --- writes ---------------------------------------------------------------------------------------------

def test_writes_suppress_webhooks_in_query_and_body(client, rsps):
    rsps.post(f"{API}/customers", status=201, json={"customer": {"number": 10, "name": "Fjord"}})

    created = client.create_customer({"name": "Fjord"})

    assert created == {"number": 10, "name": "Fjord"}
    call = rsps.calls[0]
    assert query(call)["suppress_webhooks"] == ["true"]
    assert json.loads(call.request.body) == {"name": "Fjord", "suppress_webhooks": True}


def test_update_and_book_suppress_webhooks(client, rsps):
    rsps.put(f"{API}/suppliers/4", json={"supplier": {"number": 4}})
    rsps.post(f"{API}/customer-invoices/3001/book", json={"customer_invoice": {"number": 3001, "is_booked": True}})

    client.update_supplier(4, {"name": "Ny"})
    booked = client.book_customer_invoice(3001)

    assert booked["is_booked"] is True
    for call in rsps.calls:
        assert query(call)["suppress_webhooks"] == ["true"]
        assert json.loads(call.request.body)["suppress_webhooks"] is True


def test_caller_body_is_not_modified(client, rsps):
    rsps.post(f"{API}/supplier-groups", status=201, json={"supplier_group": {"number": 2}})
    body = {"name": "Udland"}

    client.create_supplier_group(body)

    assert body == {"name": "Udland"}


# --- webhooks -----------------------------------------------------------------------------------------

def test_create_webhook_returns_the_token_once_given(client, rsps):
    rsps.post(f"{API}/webhooks", status=201, json={"webhook": {
        "id": 55, "event": "customer_invoice.booked", "url": "https://svc.test/hook", "token": "t" * 32}})

    webhook = client.create_webhook("customer_invoice.booked", "https://svc.test/hook")

    assert webhook["token"] == "t" * 32
    sent = json.loads(rsps.calls[0].request.body)
    assert sent["event"] == "customer_invoice.booked"
    assert sent["url"] == "https://svc.test/hook"


def test_webhooks_are_listed_and_deleted(client, rsps):
    rsps.get(f"{API}/webhooks", status=206,
             json=page_of("webhooks", [{"id": 55, "event": "product.updated"}], page=1, pages=1))
    rsps.delete(f"{API}/webhooks/55", json={})

    [webhook] = list(client.iter_webhooks())
    client.delete_webhook(webhook["id"])

    assert rsps.calls[1].request.method == "DELETE"
    assert query(rsps.calls[1])["suppress_webhooks"] == ["true"]


def test_deleting_a_webhook_that_is_already_gone_is_not_an_error(client, rsps):
    rsps.delete(f"{API}/webhooks/56", status=404, json={"message": "Not found"})

    assert client.delete_webhook(56) is None


# --- errors -----------------------------------------------------------------------------------------

def test_401_means_the_token_was_rejected(client, rsps):
    rsps.get(f"{API}/self", status=401, json={"message": "Unauthenticated."})

    with pytest.raises(AuthenticationFailed) as caught:
        client.self_info()
    assert caught.value.permanent
    assert caught.value.status == 401


def test_403_is_access_denied(client, rsps):
    rsps.get(f"{API}/customers/1", status=403, json={"message": "Forbidden"})

    with pytest.raises(AccessDenied, match="Forbidden"):
        client.get_customer(1)


def test_missing_document_raises_not_found(client, rsps):
    rsps.get(f"{API}/supplier-invoices/77", status=404, json={"message": "Not found"})

    with pytest.raises(NotFound):
        client.get_supplier_invoice(77)


def test_422_names_each_field_and_keeps_the_error_map(client, rsps):
    errors = {"lines.0.item_id": ["The selected item id is invalid."]}
    rsps.post(f"{API}/customer-invoices", status=422, json={"message": "The given data was invalid.",
                                                            "errors": errors})

    with pytest.raises(ValidationFailed) as caught:
        client.create_customer_invoice({"customer_id": 1, "lines": [{"item_id": "X"}]})
    assert "lines.0.item_id: The selected item id is invalid." in caught.value.message
    assert caught.value.details == errors
    assert caught.value.permanent


def test_429_is_rate_limited_with_retry_after_and_penalizes_the_bucket(client, rsps, limiter):
    rsps.get(f"{API}/units", status=429, headers={"Retry-After": "30"}, body="Too Many Attempts.")

    with pytest.raises(RateLimited) as caught:
        list(client.iter_units())
    assert caught.value.retry_after == 30
    assert caught.value.transient
    assert limiter.penalties == [(client.limiter_key, 30)]


def test_429_without_retry_after_waits_ten_seconds(client, rsps, limiter):
    rsps.post(f"{API}/products", status=429, body="Too Many Attempts.")

    with pytest.raises(RateLimited) as caught:
        client.create_product({"number": "A", "name": "A", "group": 1, "sales_price": 1})
    assert caught.value.retry_after == 10
    assert limiter.penalties == [(client.limiter_key, 10)]


def test_read_is_retried_after_a_server_error(client, rsps, sleeps):
    rsps.get(f"{API}/customers/1", status=502, body="Bad gateway")
    rsps.get(f"{API}/customers/1", json={"customer": {"number": 1}})

    assert client.get_customer(1) == {"number": 1}
    assert len(rsps.calls) == 2
    assert len(sleeps) == 1


def test_read_failing_three_times_is_transient(client, rsps, sleeps, limiter):
    rsps.get(f"{API}/customers/1", status=503, body="Down for maintenance")

    with pytest.raises(TransientError) as caught:
        client.get_customer(1)
    assert caught.value.transient
    assert len(rsps.calls) == 3
    assert len(sleeps) == 2
    assert len(limiter.acquired) == 3


def test_read_timeouts_are_retried_then_transient(client, rsps, sleeps):
    rsps.get(f"{API}/products/A", body=requests.ReadTimeout("read timed out"))

    with pytest.raises(TransientError):
        client.get_product("A")
    assert len(rsps.calls) == 3


def test_server_error_on_a_write_is_uncertain_and_not_resent(client, rsps, sleeps):
    rsps.post(f"{API}/customer-invoices", status=500, body="Server Error")

    with pytest.raises(UncertainOutcome) as caught:
        client.create_customer_invoice({"customer_id": 1})
    assert caught.value.uncertain
    assert len(rsps.calls) == 1
    assert sleeps == []


def test_timeout_on_a_write_is_uncertain_and_not_resent(client, rsps):
    rsps.post(f"{API}/customer-invoices/3001/book", body=requests.ReadTimeout("read timed out"))

    with pytest.raises(UncertainOutcome):
        client.book_customer_invoice(3001)
    assert len(rsps.calls) == 1


def test_connect_timeout_on_a_write_is_transient_because_nothing_was_sent(client, rsps):
    rsps.put(f"{API}/customers/3", body=requests.ConnectTimeout("connect timed out"))

    with pytest.raises(TransientError):
        client.update_customer(3, {"name": "X"})
    assert len(rsps.calls) == 1


# --- redaction ---------------------------------------------------------------------------------------

def test_token_never_appears_in_reported_exchanges(client, rsps, exchanges):
    rsps.get(f"{API}/self", json={"user_account": {"id": 1001}, "echo": f"Bearer {TOKEN}"})
    rsps.post(f"{API}/webhooks", status=201, json={"webhook": {"id": 1, "token": "w" * 32}})
    rsps.get(f"{API}/customers/9", status=401, json={"message": f"token {TOKEN} revoked"})

    client.self_info()
    client.create_webhook("customer.updated", "https://svc.test/hook")
    with pytest.raises(AuthenticationFailed) as caught:
        client.get_customer(9)

    assert len(exchanges) == 3
    for exchange in exchanges:
        text = f"{exchange.url} {exchange.request_body} {exchange.response_body}"
        assert TOKEN not in text
        assert "w" * 32 not in text
    assert TOKEN not in caught.value.body
    assert exchanges[0].service == "rackbeat"
    assert exchanges[0].status == 200


# --- PDFs --------------------------------------------------------------------------------------------

def test_invoice_pdf_is_returned_as_bytes(client, rsps, exchanges):
    rsps.get(f"{API}/customer-invoices/3001.pdf", body=b"%PDF-1.7 ...", content_type="application/pdf")

    assert client.customer_invoice_pdf(3001) == b"%PDF-1.7 ..."
    assert "application/pdf" in rsps.calls[0].request.headers["Accept"]


def test_missing_pdf_is_none(client, rsps):
    rsps.get(f"{API}/supplier-invoices/12.pdf", status=404, json={"message": "Not found"})

    assert client.supplier_invoice_pdf(12) is None


def test_non_pdf_answer_to_a_pdf_request_is_an_error(client, rsps):
    rsps.get(f"{API}/supplier-invoices/12.pdf", json={"supplier_invoice": {"number": 12}})

    with pytest.raises(ApiError, match="instead of a PDF"):
        client.supplier_invoice_pdf(12)


# --- links -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "key", "url"), [
    ("customer", 10, "https://rb.test/app/customers/10"),
    ("supplier", 4, "https://rb.test/app/suppliers/4"),
    ("product", "ABC/123+DEF", "https://rb.test/app/products/ABC%252F123%252BDEF"),
    ("bom", "KIT-1", "https://rb.test/app/lots/KIT-1"),
    ("sales_invoice", 3001, "https://rb.test/app/customer-invoices/3001"),
    ("credit_note", 3002, "https://rb.test/app/customer-invoices/3002"),
    ("supplier_invoice", 12, "https://rb.test/app/supplier-invoices/12"),
])
def test_document_url_links_into_rackbeat(client, kind, key, url):
    assert client.document_url(kind, key) == url


def test_document_url_refuses_an_unknown_kind(client):
    with pytest.raises(ValueError, match="item_consumption"):
        client.document_url("item_consumption", 1)


def test_default_limiter_is_the_shared_one_with_the_configured_budget(connection, settings):
    from integration.core.clients.ratelimit import SharedRateLimiter

    settings.RACKBEAT_RATE_LIMIT_PER_MINUTE = 123
    client = RackbeatClient(connection)

    assert isinstance(client.limiter, SharedRateLimiter)
    assert client.limiter.limit == 123


def test_422_without_field_map_uses_rackbeat_message(client, rsps):
    rsps.post(f"{API}/customer-invoices/3001/book", status=422,
              json={"message": "Product 'X' is barred."})

    with pytest.raises(ValidationFailed, match="Product 'X' is barred"):
        client.book_customer_invoice(3001)


def test_other_client_errors_are_permanent_api_errors(client, rsps):
    rsps.get(f"{API}/customers/1", status=405, json={"message": "Method not allowed"})

    with pytest.raises(ApiError) as caught:
        client.get_customer(1)
    assert caught.value.permanent
    assert caught.value.status == 405
    assert "Method not allowed" in caught.value.message


def test_requests_count_against_the_shared_budget_of_the_token(connection, rsps):
    rsps.get(f"{API}/customers/1", json={"customer": {"number": 1}})
    client = RackbeatClient(connection)

    client.get_customer(1)

    assert client.limiter.used(client.limiter_key) == 1
