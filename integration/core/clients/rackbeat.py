"""Rackbeat's REST API as the integration uses it.

One :class:`RackbeatClient` per connection. Every request goes through the shared
:class:`~integration.core.clients.transport.Transport` (rate limit shared by every worker using the same
token, redaction of the token, exchange reporting) and every answer is classified into the
:mod:`integration.core.clients.errors` classes the engine understands:

* 200, 201 and 206 are all success — Rackbeat answers lists with *206 Partial Content*;
* single objects arrive wrapped in a singular key (``{"customer": {...}}``) and are unwrapped;
  lists arrive under one plural key next to ``total``/``pages``/``limit``/``page`` and that key is
  found generically, because it is not always the path name (``/inventory-movements`` answers
  ``inventory_regulations``);
* reads that fail with 5xx or a timeout are retried a few times, then reported as transient;
  writes are never re-sent — a 5xx or timeout on a write may have taken effect, so it is reported
  as an uncertain outcome and the engine looks the document up before creating anything again;
* every write carries ``suppress_webhooks=true`` (query and body) so the integration's own writes
  do not come back to it as webhooks.

What was assumed about Rackbeat's API where its public documentation is silent is listed in
``docs/rackbeat-client.md``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import requests
from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from integration.core.clients import list_filters
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
from integration.core.clients.rackbeat_documents import unit_rows
from integration.core.clients.ratelimit import SharedRateLimiter
from integration.core.clients.transport import ExchangeHook, Transport, retry_after_seconds

if TYPE_CHECKING:  # pragma: no cover
    from accounts.models import Connection

SERVICE = "rackbeat"
TIMEOUT = 90.0  # seconds; Rackbeat's own SDK allows 90 s for a whole request
PAGE_SIZE = 1000  # Rackbeat's maximum page size
READ_ATTEMPTS = 3
RETRY_DELAYS = (2.0, 5.0)  # seconds before the 2nd and 3rd attempt of a read
DEFAULT_RETRY_AFTER = 10.0  # seconds to wait after a 429 without Retry-After
SUCCESS = {200, 201, 202, 204, 206}
PAGING_KEYS = {"total", "pages", "limit", "page"}
# Rackbeat's filters (``updated_at_from``) take a wall-clock time without offset; they are read in
# the account's local time, which for the Danish accounts this service serves is Copenhagen time.
RACKBEAT_TIME_ZONE = ZoneInfo("Europe/Copenhagen")
MAX_ERROR_BODY = 4000

# document_url kinds → the path of Rackbeat's web app and whether the key is an item number.
_APP_PATHS: dict[str, tuple[str, bool]] = {
    "customer": ("customers", False),
    "supplier": ("suppliers", False),
    "supplier_group": ("supplier-groups", False),
    "customer_group": ("customer-groups", False),
    "product_group": ("product-groups", False),
    "product": ("products", True),
    "bom": ("lots", True),
    "lot": ("lots", True),
    "sales_invoice": ("customer-invoices", False),
    "credit_note": ("customer-invoices", False),
    "customer_invoice": ("customer-invoices", False),
    "supplier_invoice": ("supplier-invoices", False),
}


def item_path_key(number: str | int) -> str:
    """A product or BOM number for a URL path: URL-encoded twice, as Rackbeat documents.

    Item numbers are free text (``ABC/123+DEF``); a single encoding is decoded by Rackbeat's
    router before the lookup and the number is then not found.
    """
    return quote(quote(str(number), safe=""), safe="")


def path_key(key: str | int) -> str:
    """Any other key (customer, invoice, webhook …) for a URL path."""
    return quote(str(key), safe="")


def rackbeat_datetime(moment: datetime) -> str:
    """``moment`` as Rackbeat's filters expect it: ``YYYY-MM-DD HH:MM:SS`` in Copenhagen time."""
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment.astimezone(RACKBEAT_TIME_ZONE).strftime("%Y-%m-%d %H:%M:%S")


def parse_rackbeat_time(value: Any) -> datetime | None:
    """Rackbeat timestamps: ISO 8601 with an offset, or ``YYYY-MM-DD HH:MM:SS`` in Danish time."""
    if not value:
        return None
    parsed = parse_datetime(str(value))
    if parsed is None:
        return None
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=RACKBEAT_TIME_ZONE)
    return parsed


def invoice_date_range(dated: tuple[date, date] | None) -> dict[str, str]:
    """Rackbeat's ``invoice_date_from``/``_to`` filters for a period of calendar dates."""
    if dated is None:
        return {}
    return {"invoice_date_from": f"{dated[0].isoformat()} 00:00:00",
            "invoice_date_to": f"{dated[1].isoformat()} 23:59:59"}


def limiter_key(token: str) -> str:
    """The rate-limit bucket of a token; a hash, so the token itself is never stored there."""
    return "rackbeat:" + hashlib.sha256(token.encode()).hexdigest()[:16]


def unwrap(payload: Any, key: str) -> Any:
    """A single object out of Rackbeat's ``{"<key>": {...}}`` envelope.

    ``key`` is the expected singular name; an envelope with one other object-valued key is
    unwrapped too, and anything else is returned as it came.
    """
    if isinstance(payload, dict):
        if isinstance(payload.get(key), dict):
            return payload[key]
        if len(payload) == 1:
            (value,) = payload.values()
            if isinstance(value, dict):
                return value
    return payload


def list_rows(payload: Any, key: str = "") -> list[dict[str, Any]] | None:
    """The rows of a list answer, or None when the answer holds no list at all.

    Accepts a bare JSON list (an unpaginated answer) and an object holding exactly one list next
    to the paging fields; ``key`` breaks the tie if an object ever holds several lists.
    """
    if isinstance(payload, list):
        return payload
    if not isinstance(payload, dict):
        return None
    if isinstance(payload.get(key), list):
        return payload[key]
    lists = [v for k, v in payload.items() if k not in PAGING_KEYS and isinstance(v, list)]
    if len(lists) == 1:
        return lists[0]
    return None


def _field_problems(errors: Any) -> str:
    """``{"lines.0.item_id": ["The selected item id is invalid."]}`` as one readable line."""
    if isinstance(errors, dict):
        parts = []
        for field, problems in errors.items():
            if isinstance(problems, list | tuple):
                problems = " ".join(str(p) for p in problems)
            parts.append(f"{field}: {problems}")
        return "; ".join(parts)
    if isinstance(errors, list | tuple):
        return "; ".join(str(p) for p in errors)
    return str(errors or "")


def _number_order(row: dict[str, Any]) -> tuple[int, int, str]:
    """Sorts rows by number: numeric numbers as numbers, after them any others as text."""
    text = str(row.get("number") or "")
    return (1, int(text), "") if text.isdigit() else (0, 0, text)


class RackbeatClient:
    """The Rackbeat API for one connection (its token and rate-limit bucket)."""

    def __init__(
        self,
        connection: Connection,
        *,
        on_exchange: ExchangeHook | None = None,
        session: requests.Session | None = None,
        limiter: Any | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.connection = connection
        self._token: str = connection.rackbeat_api_token or ""
        if limiter is None:
            limiter = SharedRateLimiter(settings.RACKBEAT_RATE_LIMIT_PER_MINUTE)
        self.limiter = limiter
        self.limiter_key = limiter_key(self._token)
        self._sleep = sleep
        self.transport = Transport(
            SERVICE,
            timeout=TIMEOUT,
            on_exchange=on_exchange,
            limiter=limiter,
            limiter_key=self.limiter_key,
            secrets=[self._token],
            session=session,
        )

    # --- account -------------------------------------------------------------------------------

    def self_info(self) -> dict[str, Any]:
        """The account and the user the token belongs to: ``{"user_account": …, "user": …}``."""
        return self._get("self")

    # --- customers and suppliers -----------------------------------------------------------------

    def get_customer(self, number: int | str) -> dict[str, Any]:
        return self._get_one(f"customers/{path_key(number)}", "customer")

    def iter_customers(self, *, updated_since: datetime | None = None) -> Iterator[dict[str, Any]]:
        return self._iter("customers", "customers", updated_since=updated_since)

    def create_customer(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._write("POST", "customers", "customer", body)

    def update_customer(self, number: int | str, body: dict[str, Any]) -> dict[str, Any]:
        return self._write("PUT", f"customers/{path_key(number)}", "customer", body)

    def iter_customer_groups(self) -> Iterator[dict[str, Any]]:
        return self._iter("customer-groups", "customer_groups")

    def get_supplier(self, number: int | str) -> dict[str, Any]:
        return self._get_one(f"suppliers/{path_key(number)}", "supplier")

    def iter_suppliers(self, *, updated_since: datetime | None = None) -> Iterator[dict[str, Any]]:
        return self._iter("suppliers", "suppliers", updated_since=updated_since)

    def create_supplier(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._write("POST", "suppliers", "supplier", body)

    def update_supplier(self, number: int | str, body: dict[str, Any]) -> dict[str, Any]:
        return self._write("PUT", f"suppliers/{path_key(number)}", "supplier", body)

    def iter_supplier_groups(self) -> Iterator[dict[str, Any]]:
        return self._iter("supplier-groups", "supplier_groups")

    def create_supplier_group(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._write("POST", "supplier-groups", "supplier_group", body)

    # --- products, BOMs, items -------------------------------------------------------------------

    def get_product(self, number: str) -> dict[str, Any]:
        return self._get_one(f"products/{item_path_key(number)}", "product")

    def get_product_units(self, number: str) -> list[dict[str, Any]]:
        """The product's alternative units (``{unit, name, quantity}``: base units per unit); [] when none.

        Seen in public code calling the live API (docs/rackbeat-documents.md, "Sources"); an
        account whose Rackbeat answers 404 for the list simply has none.
        """
        try:
            payload = self._get(f"products/{item_path_key(number)}/units")
        except NotFound:
            return []
        return unit_rows(payload)

    def iter_products(self, *, updated_since: datetime | None = None) -> Iterator[dict[str, Any]]:
        return self._iter("products", "products", updated_since=updated_since)

    def create_product(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._write("POST", "products", "product", body)

    def update_product(self, number: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._write("PUT", f"products/{item_path_key(number)}", "product", body)

    def get_lot(self, number: str) -> dict[str, Any]:
        """A bill of materials (Rackbeat's API calls BOMs *lots*)."""
        return self._get_one(f"lots/{item_path_key(number)}", "lot")

    def iter_lots(self, *, updated_since: datetime | None = None) -> Iterator[dict[str, Any]]:
        return self._iter("lots", "lots", updated_since=updated_since)

    def get_item(self, number: str) -> dict[str, Any]:
        """A product or a BOM by number; ``type`` says which."""
        return self._get_one(f"items/{item_path_key(number)}", "item")

    def iter_items(self, *, updated_since: datetime | None = None) -> Iterator[dict[str, Any]]:
        return self._iter("items", "items", updated_since=updated_since)

    # --- reference data --------------------------------------------------------------------------

    def iter_product_groups(self) -> Iterator[dict[str, Any]]:
        return self._iter("product-groups", "product_groups")

    def iter_units(self) -> Iterator[dict[str, Any]]:
        return self._iter("units", "units")

    def iter_layouts(self) -> Iterator[dict[str, Any]]:
        return self._iter("layouts", "layouts")

    def iter_payment_terms(self) -> Iterator[dict[str, Any]]:
        return self._iter("payment-terms", "payment_terms")

    # --- customer invoices -----------------------------------------------------------------------

    def get_customer_invoice(self, number: int | str) -> dict[str, Any]:
        return self._get_one(f"customer-invoices/{path_key(number)}", "customer_invoice")

    def iter_customer_invoices(
        self, *, booked: bool | None = True, updated_since: datetime | None = None,
        dated: tuple[date, date] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Sales invoices and credit notes; ``booked=None`` lists drafts and booked ones alike.

        ``dated`` (from, to) asks for invoice dates within the period; callers check the dates again,
        since a filter Rackbeat does not know is ignored rather than refused.
        """
        return self._iter(
            "customer-invoices", "customer_invoices", updated_since=updated_since, booked=booked,
            extra=invoice_date_range(dated),
        )

    def latest_customer_invoices(self, count: int) -> list[dict[str, Any]]:
        """The ``count`` most recent customer invoices (highest numbers first), one request."""
        return self._latest("customer-invoices", "customer_invoices", count)

    def create_customer_invoice(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._write("POST", "customer-invoices", "customer_invoice", body)

    def book_customer_invoice(self, number: int | str) -> dict[str, Any]:
        """Books the invoice without e-mailing it; answers the booked invoice as Rackbeat returns it."""
        return self._write("POST", f"customer-invoices/{path_key(number)}/book", "customer_invoice", {})

    def customer_invoice_pdf(self, number: int | str) -> bytes | None:
        return self._pdf(f"customer-invoices/{path_key(number)}.pdf")

    # --- supplier invoices -----------------------------------------------------------------------

    def get_supplier_invoice(self, number: int | str) -> dict[str, Any]:
        return self._get_one(f"supplier-invoices/{path_key(number)}", "supplier_invoice")

    def iter_supplier_invoices(
        self, *, booked: bool | None = True, updated_since: datetime | None = None,
        dated: tuple[date, date] | None = None,
    ) -> Iterator[dict[str, Any]]:
        return self._iter(
            "supplier-invoices", "supplier_invoices", updated_since=updated_since, booked=booked,
            extra=invoice_date_range(dated),
        )

    def latest_supplier_invoices(self, count: int) -> list[dict[str, Any]]:
        """The ``count`` most recent supplier invoices (highest numbers first), one request."""
        return self._latest("supplier-invoices", "supplier_invoices", count)

    def supplier_invoice_pdf(self, number: int | str) -> bytes | None:
        return self._pdf(f"supplier-invoices/{path_key(number)}.pdf")

    # --- newest rows (the shape check) -----------------------------------------------------------

    def recent_rows(self, path: str, key: str, *, count: int = 50, booked: bool | None = None,
                    ordered: bool = True) -> list[dict[str, Any]]:
        """Up to ``count`` rows of a list, highest numbers first (one request in the usual case).

        ``ordered=False`` asks without ``order_by`` (for a Rackbeat that refuses it): the first
        page of the largest size is read and its highest numbers kept.
        """
        filters: dict[str, Any] = {}
        if booked is not None:
            filters["is_booked"] = "true" if booked else "false"
        if ordered:
            params: dict[str, Any] = {"limit": count, "order_by": "number", "order_direction": "DESC"}
            return list(itertools.islice(self._filtered_pages(path, key, params, filters), count))
        rows = list(itertools.islice(self._filtered_pages(path, key, {"limit": PAGE_SIZE}, filters), PAGE_SIZE))
        return sorted(rows, key=_number_order, reverse=True)[:count]

    # --- webhooks --------------------------------------------------------------------------------

    def iter_webhooks(self) -> Iterator[dict[str, Any]]:
        return self._iter("webhooks", "webhooks", sort=False)

    def create_webhook(self, event: str, url: str) -> dict[str, Any]:
        """Registers ``url`` for ``event``; the answer holds the delivery ``token`` — only this once."""
        return self._write("POST", "webhooks", "webhook", {"event": event, "url": url, "is_active": True})

    def delete_webhook(self, webhook_id: int | str) -> None:
        """Removes a registration; one that is already gone counts as removed."""
        try:
            self._write("DELETE", f"webhooks/{path_key(webhook_id)}", "webhook", None)
        except NotFound:
            return

    # --- links -----------------------------------------------------------------------------------

    def document_url(self, kind: str, key: int | str) -> str:
        """A link to the document in Rackbeat's web app, for people reading the log."""
        try:
            path, is_item = _APP_PATHS[kind]
        except KeyError:
            raise ValueError(f"No Rackbeat page is known for documents of kind {kind!r}.") from None
        encoded = item_path_key(key) if is_item else path_key(key)
        return f"{settings.RACKBEAT_APP_URL.rstrip('/')}/{path}/{encoded}"

    # --- HTTP ------------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{settings.RACKBEAT_API_URL.rstrip('/')}/{path.lstrip('/')}"

    def _headers(self, accept: str) -> dict[str, str]:
        name, contact = settings.RACKBEAT_CONSUMER_NAME, settings.RACKBEAT_CONSUMER_CONTACT
        return {
            "Authorization": f"Bearer {self._token}",
            "Accept": accept,
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": f"{name} ({contact})",
            "Consumer-Name": name,
            "Consumer-Contact": contact,
            "API-Version": "latest",
        }

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self._json(self._read(path, params), "GET", path, write=False)

    def _get_one(self, path: str, key: str) -> dict[str, Any]:
        return unwrap(self._get(path), key)

    def _iter(
        self,
        path: str,
        key: str,
        *,
        updated_since: datetime | None = None,
        booked: bool | None = None,
        sort: bool = True,
        extra: dict[str, Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every row of a list endpoint, page by page (pages are 1-based)."""
        params: dict[str, Any] = {"limit": PAGE_SIZE, **(extra or {})}
        if sort:
            # A stable order keeps offset paging from skipping rows that change meanwhile.
            params["order_by"] = "number"
        filters: dict[str, Any] = {}
        if updated_since is not None:
            filters["updated_at_from"] = rackbeat_datetime(updated_since)
        if booked is not None:
            filters["is_booked"] = "true" if booked else "false"
        return self._filtered_pages(path, key, params, filters)

    def _filtered_pages(self, path: str, key: str, params: dict[str, Any], filters: dict[str, Any]
                        ) -> Iterator[dict[str, Any]]:
        """Rows matching ``filters``: sent to Rackbeat, except those it refused for this connection,
        which are applied here (see :mod:`integration.core.clients.list_filters`)."""
        refused = list_filters.refused(self.connection, path) & filters.keys()
        while True:
            sent = {name: value for name, value in filters.items() if name not in refused}
            local = {name: value for name, value in filters.items() if name in refused}
            rows = self._pages(path, key, {**params, **sent})
            try:
                first = next(rows, None)
            except ValidationFailed as exc:
                # Only the first page can be refused for its filters; nothing was yielded yet.
                name = list_filters.refused_filter(exc, sent)
                if name is None or not list_filters.can_apply_locally(name):
                    raise
                list_filters.remember(self.connection, path, name, exc.describe())
                refused.add(name)
                continue
            if first is None:
                return
            for row in itertools.chain([first], rows):
                if all(list_filters.matches(row, name, value) for name, value in local.items()):
                    yield row
            return

    def _latest(self, path: str, key: str, count: int) -> list[dict[str, Any]]:
        count = max(1, min(int(count), PAGE_SIZE))
        payload = self._get(path, {"limit": count, "page": 1, "order_by": "number", "order_direction": "DESC"})
        return list(list_rows(payload, key) or [])[:count]

    def _pages(self, path: str, key: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        page = 1
        while True:
            payload = self._get(path, {**params, "page": page})
            rows = list_rows(payload, key)
            if rows is None:
                raise ApiError(
                    _("Rackbeat answered the list %(path)s without a list of rows.") % {"path": path},
                    service=SERVICE, status=200, body=self._redacted(json.dumps(payload)),
                )
            yield from rows
            if not isinstance(payload, dict) or not PAGING_KEYS & payload.keys():
                return  # an unpaginated list is complete in one answer
            pages = payload.get("pages")
            page_size = payload.get("limit") if isinstance(payload.get("limit"), int) else PAGE_SIZE
            if not rows or len(rows) < max(page_size, 1):
                return
            if isinstance(pages, int) and page >= pages:
                return
            page += 1

    def _read(self, path: str, params: dict[str, Any] | None = None, *, accept: str | None = None
              ) -> requests.Response:
        """A GET, retried on 5xx and timeouts; other failures raise at once."""
        url = self._url(path)
        for attempt in range(1, READ_ATTEMPTS + 1):
            last = attempt == READ_ATTEMPTS
            try:
                response = self._send("GET", url, params=params, accept=accept)
            except requests.RequestException as exc:
                if last:
                    raise TransientError(
                        _("Rackbeat did not answer GET %(path)s: %(error)s")
                        % {"path": path, "error": type(exc).__name__},
                        service=SERVICE,
                    ) from exc
            else:
                if response.status_code < 500:
                    return response
                if last:
                    raise TransientError(
                        _("Rackbeat failed GET %(path)s with HTTP %(status)s.")
                        % {"path": path, "status": response.status_code},
                        service=SERVICE, status=response.status_code,
                        body=self._redacted(response.text),
                    )
            self._sleep(RETRY_DELAYS[min(attempt - 1, len(RETRY_DELAYS) - 1)])
        raise AssertionError("unreachable")  # pragma: no cover

    def _write(self, method: str, path: str, key: str, body: dict[str, Any] | None) -> Any:
        """A POST/PUT/DELETE, sent once: a failure that may have taken effect is uncertain."""
        params = {"suppress_webhooks": "true"}
        if body is not None:
            body = {**body, "suppress_webhooks": True}
        try:
            response = self._send(method, self._url(path), params=params, json_body=body)
        except requests.ConnectTimeout as exc:
            # No connection was made, so nothing can have been written: safe to try again later.
            raise TransientError(
                _("Rackbeat could not be reached for %(method)s %(path)s.") % {"method": method, "path": path},
                service=SERVICE,
            ) from exc
        except requests.RequestException as exc:
            raise UncertainOutcome(
                _("Rackbeat did not answer %(method)s %(path)s (%(error)s); it may have been saved.")
                % {"method": method, "path": path, "error": type(exc).__name__},
                service=SERVICE,
            ) from exc
        if response.status_code >= 500:
            raise UncertainOutcome(
                _("Rackbeat failed %(method)s %(path)s with HTTP %(status)s; it may have been saved.")
                % {"method": method, "path": path, "status": response.status_code},
                service=SERVICE, status=response.status_code, body=self._redacted(response.text),
            )
        return unwrap(self._json(response, method, path, write=True), key)

    def _pdf(self, path: str) -> bytes | None:
        response = self._read(path, accept="application/pdf, application/json;q=0.5")
        if response.status_code == 404:
            return None
        self._raise_for_status(response, "GET", path)
        content_type = response.headers.get("Content-Type", "")
        if "pdf" in content_type.lower() or response.content.startswith(b"%PDF"):
            return response.content
        raise ApiError(
            _("Rackbeat answered %(path)s with %(type)s instead of a PDF.")
            % {"path": path, "type": content_type or _("no content type")},
            service=SERVICE, status=response.status_code, body=self._redacted(response.text),
        )

    def _send(self, method: str, url: str, *, params: dict[str, Any] | None = None,
              json_body: Any = None, accept: str | None = None) -> requests.Response:
        if not self._token:
            raise AuthenticationFailed(
                _("The connection has no Rackbeat API token."), service=SERVICE,
            )
        headers = self._headers(accept or "application/json; charset=utf-8")
        return self.transport.send(method, url, params=params, json_body=json_body, headers=headers)

    def _json(self, response: requests.Response, method: str, path: str, *, write: bool) -> Any:
        self._raise_for_status(response, method, path)
        if not response.content.strip():
            return {}
        try:
            return response.json()
        except ValueError:
            error = UncertainOutcome if write else TransientError
            raise error(
                _("Rackbeat answered %(method)s %(path)s with something that is not JSON.")
                % {"method": method, "path": path},
                service=SERVICE, status=response.status_code, body=self._redacted(response.text),
            ) from None

    def _raise_for_status(self, response: requests.Response, method: str, path: str) -> None:
        status = response.status_code
        if status in SUCCESS:
            return
        body = self._redacted(response.text)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        server_message = ""
        errors: Any = None
        if isinstance(payload, dict):
            server_message = str(payload.get("message") or payload.get("error") or "")
            errors = payload.get("errors")
        common = {"service": SERVICE, "status": status, "body": body}
        where = {"method": method, "path": path}
        if status == 401:
            raise AuthenticationFailed(
                _("Rackbeat rejected the API token (HTTP 401) on %(method)s %(path)s.") % where, **common
            )
        if status == 403:
            raise AccessDenied(
                (_("Rackbeat denied access to %(method)s %(path)s (HTTP 403). %(reason)s")
                 % {**where, "reason": server_message}).strip(), **common
            )
        if status == 404:
            raise NotFound(_("Rackbeat has nothing at %(path)s (HTTP 404).") % where, **common)
        if status == 429:
            retry_after = retry_after_seconds(response, DEFAULT_RETRY_AFTER)
            self.limiter.penalize(self.limiter_key, retry_after)
            raise RateLimited(
                _("Rackbeat's request limit was reached; retry in %(seconds)d seconds.")
                % {"seconds": retry_after}, retry_after=retry_after, **common
            )
        if status in (400, 422):
            problems = _field_problems(errors) or server_message or _("no reason given")
            raise ValidationFailed(
                _("Rackbeat rejected %(method)s %(path)s: %(problems)s") % {**where, "problems": problems},
                details=errors if isinstance(errors, dict) else {}, **common
            )
        if status >= 500:
            raise TransientError(
                _("Rackbeat failed %(method)s %(path)s with HTTP %(status)s.") % {**where, "status": status},
                **common
            )
        raise ApiError(
            (_("Rackbeat answered %(method)s %(path)s with HTTP %(status)s. %(reason)s")
             % {**where, "status": status, "reason": server_message}).strip(), **common
        )

    def _redacted(self, text: str) -> str:
        return self.transport.redactor.body(text)[:MAX_ERROR_BODY]
