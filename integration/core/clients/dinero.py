"""Dinero's public API as the integration uses it.

One :class:`DineroClient` per connection (its organization, its login, its rate-limit bucket
``dinero:<organization id>``). Every request goes through the shared
:class:`~integration.core.clients.transport.Transport` and every answer is classified into the
:mod:`integration.core.clients.errors` classes the engine understands:

* the (method, path, version) of every operation is taken from Dinero's OpenAPI document and
  kept in :data:`ENDPOINTS`, so a contract test can walk all of them — versions differ per
  operation (invoice update ``PUT /v1.2/…``, contact update ``PUT /v2/…``, purchase voucher
  create ``POST /v1.2/…``, manual vouchers under ``/vouchers/manuel``);
* lists ask for their ``fields`` in PascalCase, page 0-based with 1000 rows a page and accept
  both Dinero's ``{"Collection": [...], "Pagination": {...}}`` envelope and plain arrays;
* a 401 gets exactly one new token and one more try;
* reads failing with 5xx, a timeout or a broken connection are retried with exponential backoff
  (three tries) and then reported as transient; writes are never re-sent — a 5xx or a timeout on
  a write may have taken effect, so it is an uncertain outcome and the engine looks the document
  up (our ``Guid``, ``ExternalReference``) before creating anything again;
* a 429 penalizes the shared limiter for the whole organization (``Retry-After``, else 60 s).
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import count
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from integration.core.clients import dinero_auth
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
from integration.core.clients.ratelimit import SharedRateLimiter
from integration.core.clients.transport import ExchangeHook, Transport, retry_after_seconds

if TYPE_CHECKING:  # pragma: no cover
    from accounts.models import Connection

SERVICE = "dinero"
TIMEOUT = 60.0
PAGE_SIZE = 1000  # Dinero's maximum page size
READ_ATTEMPTS = 3
BACKOFF_SECONDS = 1.0  # before the 2nd try; doubled before each further try
DEFAULT_RETRY_AFTER = 60.0  # Dinero's advice after a 429: "wait a minute and continue"
NO_PRO_CODES = {90, 48}  # 90 today, 48 in older documentation
STALE_TIMESTAMP_CODE = 58
MAX_MESSAGE = 500
# Statuses of a document that is not booked yet; every other status means it was booked.
DRAFT_STATES = {"Draft", "Editing"}


@dataclass(frozen=True)
class Endpoint:
    """One operation of Dinero's OpenAPI document, with ``{org}`` for the organization id."""

    method: str
    path: str
    paged: bool = False
    # A POST that only computes (``…/fetch``): nothing is written, so it is retried like a read.
    dry_run: bool = False


# Every operation the client calls. Paths are exactly as in Dinero's OpenAPI document.
ENDPOINTS: dict[str, Endpoint] = {
    "organizations": Endpoint("GET", "/v1/organizations"),
    "entry_accounts": Endpoint("GET", "/v1/{org}/accounts/entry"),
    "purchase_accounts": Endpoint("GET", "/v1/{org}/accounts/purchase"),
    "deposit_accounts": Endpoint("GET", "/v1/{org}/accounts/deposit"),
    "vat_types": Endpoint("GET", "/v1/{org}/vatTypes"),
    "list_contacts": Endpoint("GET", "/v1/{org}/contacts", paged=True),
    "get_contact": Endpoint("GET", "/v1/{org}/contacts/{guid}"),
    "create_contact": Endpoint("POST", "/v1/{org}/contacts"),
    "update_contact": Endpoint("PUT", "/v2/{org}/contacts/{guid}"),
    "list_products": Endpoint("GET", "/v1/{org}/products", paged=True),
    "get_product": Endpoint("GET", "/v1/{org}/products/{guid}"),
    "create_product": Endpoint("POST", "/v1/{org}/products"),
    "update_product": Endpoint("PUT", "/v1/{org}/products/{guid}"),
    "list_invoices": Endpoint("GET", "/v1/{org}/invoices", paged=True),
    "get_invoice": Endpoint("GET", "/v1/{org}/invoices/{guid}"),
    "create_invoice": Endpoint("POST", "/v1/{org}/invoices"),
    "invoice_totals": Endpoint("POST", "/v1/{org}/invoices/fetch", dry_run=True),
    "update_invoice": Endpoint("PUT", "/v1.2/{org}/invoices/{guid}"),
    "book_invoice": Endpoint("POST", "/v1/{org}/invoices/{guid}/book"),
    "email_invoice": Endpoint("POST", "/v1/{org}/invoices/{guid}/email"),
    "list_credit_notes": Endpoint("GET", "/v1/{org}/sales/creditnotes", paged=True),
    "get_credit_note": Endpoint("GET", "/v1/{org}/sales/creditnotes/{guid}"),
    "create_credit_note": Endpoint("POST", "/v1/{org}/sales/creditnotes"),
    "update_credit_note": Endpoint("PUT", "/v1.2/{org}/sales/creditnotes/{guid}"),
    "book_credit_note": Endpoint("POST", "/v1/{org}/sales/creditnotes/{guid}/book"),
    "email_credit_note": Endpoint("POST", "/v1/{org}/sales/creditnotes/{guid}/email"),
    "create_purchase_voucher": Endpoint("POST", "/v1.2/{org}/vouchers/purchase"),
    "get_purchase_voucher": Endpoint("GET", "/v1/{org}/vouchers/purchase/{guid}"),
    "purchase_voucher_totals": Endpoint("POST", "/v1/{org}/vouchers/purchase/fetch", dry_run=True),
    "find_purchase_voucher_by_file": Endpoint("GET", "/v1/{org}/vouchers/purchase/fileguid/{fileGuid}"),
    "update_purchase_voucher": Endpoint("PUT", "/v1.1/{org}/vouchers/purchase/{guid}"),
    "book_purchase_voucher": Endpoint("POST", "/v1/{org}/vouchers/purchase/{guid}/book"),
    "create_manual_voucher": Endpoint("POST", "/v1/{org}/vouchers/manuel"),
    "get_manual_voucher": Endpoint("GET", "/v1/{org}/vouchers/manuel/{guid}"),
    "update_manual_voucher": Endpoint("PUT", "/v1/{org}/vouchers/manuel/{guid}"),
    "book_manual_voucher": Endpoint("POST", "/v1/{org}/vouchers/manuel/{guid}/book"),
    "upload_file": Endpoint("POST", "/v1/{org}/files"),
    "list_files": Endpoint("GET", "/v1/{org}/files"),
    "entries": Endpoint("GET", "/v1/{org}/entries"),
}

# PascalCase `fields` per list: Dinero answers in the casing asked for, so the dicts stay stable.
FIELDS = {
    "organizations": "Id,Name,IsPro,IsPayingPro,IsVatFree,VatNumber",
    # IsHidden: hidden accounts must not be offered in the matrices (the default fields omit it).
    "entry_accounts": "AccountNumber,Name,VatCode,Category,IsHidden",
    "purchase_accounts": "AccountNumber,Name,VatCode,Category,CategoryName,IsHidden",
    "deposit_accounts": "AccountNumber,Name,IsDefault,IsHidden",
    "list_contacts": (
        "ContactGuid,ExternalReference,Name,Street,ZipCode,City,CountryKey,Phone,Email,Webpage,"
        "AttPerson,VatNumber,EanNumber,PaymentConditionType,PaymentConditionNumberOfDays,IsPerson,"
        "IsMember,MemberNumber,CompanyStatus,VatRegionKey,PreferredInvoiceLanguageKey,"
        "PreferredInvoiceCurrencyKey,CreatedAt,UpdatedAt,DeletedAt"
    ),
    "list_products": (
        "ProductGuid,ProductNumber,Name,Quantity,Unit,AccountNumber,BaseAmountValue,"
        "BaseAmountValueInclVat,TotalAmount,TotalAmountInclVat,ExternalReference,CreatedAt,UpdatedAt,"
        "DeletedAt"
    ),
    "list_invoices": (
        "Guid,Number,ExternalReference,ContactName,ContactGuid,Date,PaymentDate,Description,Currency,"
        "Status,MailOutStatus,LatestMailOutType,TotalExclVat,TotalInclVat,TotalExclVatInDkk,"
        "TotalInclVatInDkk,CreatedAt,UpdatedAt,DeletedAt"
    ),
}
FIELDS["list_credit_notes"] = FIELDS["list_invoices"]

# document_url kinds → the page of Dinero's web app showing that document.
_APP_PATHS = {
    "invoice": "invoices/{guid}",
    "sales_invoice": "invoices/{guid}",
    "credit_note": "creditnotes/{guid}",
    "contact": "contacts/{guid}",
    "customer": "contacts/{guid}",
    "supplier": "contacts/{guid}",
    "product": "products/{guid}",
    "purchase_voucher": "purchasevouchers/{guid}",
    "supplier_invoice": "purchasevouchers/{guid}",
    "manual_voucher": "manualvouchers/{guid}",
    "item_consumption": "manualvouchers/{guid}",
}


# --- small pure helpers -----------------------------------------------------------------------------

def format_changes_since(moment: datetime) -> str:
    """``moment`` as Dinero's ``changesSince`` wants it: UTC, ``YYYY-MM-DDTHH:MM:SSZ``."""
    if timezone.is_naive(moment):
        raise ValueError("changesSince needs an aware datetime; a naive one has no defined UTC instant")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def quote_filter_value(value: str) -> str:
    """A value for ``queryFilter``: in single quotes, embedded single quotes doubled."""
    return "'" + str(value).replace("'", "''") + "'"


def external_reference_filter(external_reference: str) -> str:
    return f"ExternalReference eq {quote_filter_value(external_reference)}"


def timestamp_of(document: dict[str, Any] | None) -> str:
    """A document's version: sales documents say ``TimeStamp``, vouchers ``Timestamp``."""
    if not document:
        return ""
    return str(document.get("TimeStamp") or document.get("Timestamp") or "")


def _pick(body: dict[str, Any], *names: str) -> Any:
    """The first present key of ``names``, in either camelCase or PascalCase."""
    for name in names:
        for key in (name, name[:1].upper() + name[1:], name[:1].lower() + name[1:]):
            if key in body and body[key] not in (None, "", [], {}):
                return body[key]
    return None


def _as_code(value: Any) -> int | str | None:
    if value is None:
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    return int(text) if text.isdigit() else text or None


def _plain_text(text: str) -> str:
    """A readable excerpt of an HTML or plain-text body."""
    text = re.sub(r"(?is)<(script|style)[^>]*>.*?</\1>", " ", text)
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    return " ".join(text.split())[:MAX_MESSAGE]


def parse_error_body(response: requests.Response) -> tuple[int | str | None, str, dict[str, Any]]:
    """(code, message, details) from Dinero's error body, whatever its shape.

    Dinero's business errors are JSON with ``code``, ``message``, ``validationErrors`` and
    ``languageSpecificMessages`` (camelCase, though PascalCase is accepted too); 404s may be
    HTML and 429s are plain text.
    """
    text = response.text or ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return None, _plain_text(text) if text.strip() else "", {}
    code = _as_code(_pick(body, "code", "errorCode"))
    message = str(_pick(body, "message", "error_description", "error") or "")
    details: dict[str, Any] = {}
    validation = _pick(body, "validationErrors")
    if isinstance(validation, dict):
        details.update({str(k): v for k, v in validation.items()})
    elif isinstance(validation, list):
        details["validation"] = [str(v) for v in validation]
    for item in _pick(body, "languageSpecificMessages") or []:
        if isinstance(item, dict):
            field = str(_pick(item, "property") or "message")
            text_ = _pick(item, "message")
            if text_ and field not in details:
                details[field] = text_
    for item in _pick(body, "errorMessageList") or []:
        if isinstance(item, dict) and _pick(item, "message"):
            details.setdefault(str(_pick(item, "code") or "error"), _pick(item, "message"))
    if not message and not details:
        message = _plain_text(text)
    return code, message[:MAX_MESSAGE], details


def classify(response: requests.Response, *, method: str) -> ApiError:
    """The error class of a failed answer (the 401 re-authentication has happened already)."""
    status = response.status_code
    code, message, details = parse_error_body(response)
    what = f"{method.upper()} {_path_of(response)}"
    text = message or _("HTTP %(status)s") % {"status": status}
    common = {"service": SERVICE, "status": status, "code": code, "details": details,
              "body": (response.text or "")[:4000]}
    if status == 400:
        if code == STALE_TIMESTAMP_CODE:
            return StaleTimestamp(_("Dinero: the document changed meanwhile (%(m)s).") % {"m": text}, **common)
        return ValidationFailed(_("Dinero rejected the request: %(m)s") % {"m": text}, **common)
    if status == 401:
        return AuthenticationFailed(_("Dinero did not accept the login: %(m)s") % {"m": text}, **common)
    if status == 403:
        if code in NO_PRO_CODES:
            return NoProSubscription(_("The Dinero organization has no Dinero Pro subscription."), **common)
        return AccessDenied(_("Dinero denied access to %(what)s: %(m)s") % {"what": what, "m": text}, **common)
    if status == 404:
        return NotFound(_("Not found in Dinero: %(what)s") % {"what": what}, **common)
    if status == 429:
        return RateLimited(
            _("Dinero's request budget is used up: %(m)s") % {"m": text},
            retry_after=retry_after_seconds(response, DEFAULT_RETRY_AFTER), **common,
        )
    if status == 480:
        return DeprecatedEndpoint(_("Dinero is removing %(what)s: %(m)s") % {"what": what, "m": text}, **common)
    if status >= 500:
        if method.upper() == "GET":
            return TransientError(_("Dinero failed with HTTP %(status)s on %(what)s.")
                                  % {"status": status, "what": what}, **common)
        return UncertainOutcome(_("Dinero failed with HTTP %(status)s while saving (%(what)s); it may "
                                  "have been saved.") % {"status": status, "what": what}, **common)
    return ValidationFailed(_("Dinero answered HTTP %(status)s: %(m)s") % {"status": status, "m": text}, **common)


def jsonable(value: Any) -> Any:
    """A request body ready for JSON: Decimal amounts as numbers, dates as ``YYYY-MM-DD``.

    Transfers compute money as ``Decimal``; Dinero's schemas take JSON numbers (doubles), and
    amounts rounded to øre survive the conversion exactly.
    """
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent >= 0 else float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def limiter_key(organization_id: str) -> str:
    """The shared request budget of an organization (Dinero counts per organization)."""
    return f"dinero:{organization_id}"


def _path_of(response: requests.Response) -> str:
    url = response.request.url if response.request is not None else response.url
    return (url or "").split("?", 1)[0]


# --- the client ---------------------------------------------------------------------------------------

class DineroClient:
    """Dinero's API for one connection's organization."""

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
        self.organization_id = str(connection.dinero_organization_id or "")
        if limiter is None:
            limiter = SharedRateLimiter(settings.DINERO_RATE_LIMIT_PER_MINUTE)
        self.limiter = limiter
        self.limiter_key = limiter_key(self.organization_id)
        self._sleep = sleep
        self.transport = Transport(
            SERVICE,
            timeout=TIMEOUT,
            on_exchange=on_exchange,
            limiter=limiter,
            limiter_key=self.limiter_key,
            secrets=dinero_auth.secrets_of(connection),
            default_headers={"Accept": "application/json"},
            session=session,
        )
        self.tokens = dinero_auth.provider_for(connection, self.transport, sleep=sleep)

    # --- organization and reference data -------------------------------------------------------

    def organizations(self) -> list[dict[str, Any]]:
        """The organizations the login gives access to."""
        return self._list("organizations")

    def check_access(self) -> dict[str, Any]:
        """The connection's organization, proving the login works and the organization has Pro."""
        wanted = self.organization_id
        for organization in self.organizations():
            if str(organization.get("Id")) == wanted:
                if organization.get("IsPro") is False:
                    raise NoProSubscription(
                        _("The Dinero organization %(id)s has no Dinero Pro subscription.") % {"id": wanted},
                        service=SERVICE,
                    )
                return organization
        raise NotFound(
            _("The Dinero login has no access to company id %(id)s.") % {"id": wanted or "—"},
            service=SERVICE,
            hint=_("Check the Dinero company id (lower-left corner in Dinero) and that the API key or "
                   "Visma login belongs to that company."),
        )

    def entry_accounts(self) -> list[dict[str, Any]]:
        return self._list("entry_accounts")

    def purchase_accounts(self) -> list[dict[str, Any]]:
        return self._list("purchase_accounts")

    def deposit_accounts(self) -> list[dict[str, Any]]:
        return self._list("deposit_accounts")

    def vat_types(self) -> list[dict[str, Any]]:
        return self._list("vat_types")

    # --- contacts -------------------------------------------------------------------------------

    def iter_contacts(
        self, *, changes_since: datetime | None = None, query_filter: str | None = None
    ) -> Iterator[dict[str, Any]]:
        return self._iter("list_contacts", changes_since=changes_since, query_filter=query_filter)

    def get_contact(self, guid: str) -> dict[str, Any]:
        return self._json("get_contact", guid=guid)

    def find_contact(self, external_reference: str) -> dict[str, Any] | None:
        return self._find("list_contacts", external_reference)

    def create_contact(self, body: dict[str, Any]) -> str:
        """Creates the contact; answers its ContactGuid."""
        return str(self._json("create_contact", body=body)["ContactGuid"])

    def update_contact(self, guid: str, body: dict[str, Any]) -> None:
        """Replaces the whole contact (send every field)."""
        self._call("update_contact", guid=guid, body=body)

    # --- products -------------------------------------------------------------------------------

    def iter_products(
        self, *, changes_since: datetime | None = None, query_filter: str | None = None
    ) -> Iterator[dict[str, Any]]:
        return self._iter("list_products", changes_since=changes_since, query_filter=query_filter)

    def get_product(self, guid: str) -> dict[str, Any]:
        return self._json("get_product", guid=guid)

    def find_product(self, external_reference: str) -> dict[str, Any] | None:
        return self._find("list_products", external_reference)

    def find_product_by_number(self, number: str) -> dict[str, Any] | None:
        wanted = str(number)
        for product in self._iter("list_products", query_filter=f"ProductNumber eq {quote_filter_value(wanted)}"):
            # The filter matches case-insensitively; product numbers are compared exactly.
            if str(product.get("ProductNumber") or "") == wanted:
                return product
        return None

    def create_product(self, body: dict[str, Any]) -> str:
        """Creates the product; answers its ProductGuid."""
        return str(self._json("create_product", body=body)["ProductGuid"])

    def update_product(self, guid: str, body: dict[str, Any]) -> None:
        self._call("update_product", guid=guid, body=body)

    # --- sales invoices -------------------------------------------------------------------------

    def create_invoice(self, body: dict[str, Any]) -> dict[str, Any]:
        """Creates a draft; answers ``{"Guid": …, "TimeStamp": …}``."""
        return self._json("create_invoice", body=body)

    def get_invoice(self, guid: str) -> dict[str, Any] | None:
        """The invoice, or None when Dinero does not have it (e.g. after an uncertain create)."""
        return self._json_or_none("get_invoice", guid=guid)

    def find_invoice(self, external_reference: str) -> dict[str, Any] | None:
        return self._find("list_invoices", external_reference)

    def invoice_totals(self, body: dict[str, Any]) -> dict[str, Any]:
        """Dinero's own calculation of an invoice's lines and totals, without saving anything."""
        return self._json("invoice_totals", body=body)

    def update_invoice(self, guid: str, body: dict[str, Any]) -> dict[str, Any]:
        """Replaces a draft (``body`` carries the current ``Timestamp``); answers Guid and TimeStamp."""
        return self._json("update_invoice", guid=guid, body=body)

    def book_invoice(self, guid: str, timestamp: str) -> dict[str, Any]:
        return self._book("book_invoice", "get_invoice", guid, timestamp)

    def email_invoice(self, guid: str, *, timestamp: str | None = None) -> dict[str, Any]:
        return self._json("email_invoice", guid=guid, body=self._mailout(timestamp))

    def iter_invoices(
        self, *, changes_since: datetime | None = None, status_filter: str | None = None,
        dated: tuple[date, date] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Invoices; ``dated`` keeps booked ones dated within (from, to) — Dinero always lists drafts."""
        extra = {"statusFilter": status_filter} if status_filter else {}
        return self._iter("list_invoices", changes_since=changes_since, extra={**extra, **_date_range(dated)})

    # --- credit notes ---------------------------------------------------------------------------

    def create_credit_note(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._json("create_credit_note", body=body)

    def get_credit_note(self, guid: str) -> dict[str, Any] | None:
        return self._json_or_none("get_credit_note", guid=guid)

    def find_credit_note(self, external_reference: str) -> dict[str, Any] | None:
        return self._find("list_credit_notes", external_reference)

    def update_credit_note(self, guid: str, body: dict[str, Any]) -> dict[str, Any]:
        """Replaces a draft credit note (``body`` carries the current ``Timestamp``)."""
        return self._json("update_credit_note", guid=guid, body=body)

    def iter_credit_notes(self, *, dated: tuple[date, date] | None = None) -> Iterator[dict[str, Any]]:
        """Sales credit notes; ``dated`` as for :meth:`iter_invoices`."""
        return self._iter("list_credit_notes", extra=_date_range(dated))

    def book_credit_note(self, guid: str, timestamp: str) -> dict[str, Any]:
        return self._book("book_credit_note", "get_credit_note", guid, timestamp)

    def email_credit_note(self, guid: str, *, timestamp: str | None = None) -> dict[str, Any]:
        return self._json("email_credit_note", guid=guid, body=self._mailout(timestamp))

    # --- purchase and manual vouchers -----------------------------------------------------------

    def create_purchase_voucher(self, body: dict[str, Any]) -> dict[str, Any]:
        """Creates a draft; answers the read model (Guid, Timestamp, …). Store the Guid at once."""
        return self._json("create_purchase_voucher", body=body)

    def get_purchase_voucher(self, guid: str) -> dict[str, Any]:
        return self._json("get_purchase_voucher", guid=guid)

    def purchase_voucher_totals(self, body: dict[str, Any]) -> dict[str, Any]:
        """Dinero's own totals of a purchase voucher body (``VoucherTotals``), without saving anything."""
        return self._json("purchase_voucher_totals", body=body)

    def find_purchase_voucher_by_file(self, file_guid: str) -> str | None:
        """The Guid of the purchase voucher that carries the file ``file_guid``; None when none does."""
        try:
            answer = self._json("find_purchase_voucher_by_file", guid=file_guid)
        except NotFound:
            return None
        if isinstance(answer, list):
            return str(answer[0]) if answer else None
        if isinstance(answer, str | int):
            return str(answer) or None
        if isinstance(answer, dict):
            return str(answer.get("Guid") or "") or None
        return None

    def update_purchase_voucher(self, guid: str, body: dict[str, Any]) -> dict[str, Any]:
        """Replaces a draft's content; ``body`` carries the draft's current ``Timestamp``."""
        return self._json("update_purchase_voucher", guid=guid, body=body)

    def book_purchase_voucher(self, guid: str, timestamp: str) -> dict[str, Any]:
        return self._book("book_purchase_voucher", "get_purchase_voucher", guid, timestamp)

    def create_manual_voucher(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._json("create_manual_voucher", body=body)

    def get_manual_voucher(self, guid: str) -> dict[str, Any]:
        return self._json("get_manual_voucher", guid=guid)

    def update_manual_voucher(self, guid: str, body: dict[str, Any]) -> dict[str, Any]:
        """Replaces a draft's content; ``body`` carries the draft's current ``Timestamp``."""
        return self._json("update_manual_voucher", guid=guid, body=body)

    def book_manual_voucher(self, guid: str, timestamp: str) -> dict[str, Any]:
        return self._book("book_manual_voucher", "get_manual_voucher", guid, timestamp)

    # --- files ----------------------------------------------------------------------------------

    def upload_file(self, file_name: str, content: bytes) -> str:
        """Uploads a PDF or image to the organization's file archive; answers its FileGuid."""
        content_type = "application/pdf" if file_name.lower().endswith(".pdf") else "application/octet-stream"
        response = self._call(
            "upload_file", params={"fileName": file_name}, files={"file": (file_name, content, content_type)}
        )
        return str(_json_of(response, written=True)["FileGuid"])

    def find_unused_file(self, file_name: str) -> str | None:
        """The FileGuid of an archived file named ``file_name`` that no voucher uses yet, or None.

        Used after an upload whose answer was lost, so the file is reused instead of uploaded twice.
        """
        answer = self._json("list_files", params={"fileStatus": "Unused"})
        rows, _pagination = _rows(answer) if not isinstance(answer, list) else (answer, {})
        for row in rows:
            if str(row.get("Name") or "") == file_name and not row.get("Linked") and row.get("FileGuid"):
                return str(row["FileGuid"])
        return None

    def voucher_with_file(self, file_guid: str) -> str | None:
        """The Guid of the voucher (of any kind) that Dinero's file archive says carries ``file_guid``.

        Dinero cannot list manual vouchers by reference, but each file in ``GET /v1/{org}/files``
        names the vouchers it is linked to (``FilteredFileReadModel.Linked`` → ``VoucherGuid``).
        None when the file is linked to no voucher: the voucher was not written.
        """
        for page in count():
            answer = self._json("list_files", params={"fileStatus": "All", "extensions": "pdf", "page": page,
                                                      "pageSize": PAGE_SIZE})
            rows, _pagination = _rows(answer)
            for row in rows:
                if str(row.get("FileGuid") or "") != file_guid:
                    continue
                links = [link for link in row.get("Linked") or [] if isinstance(link, dict) and link.get("VoucherGuid")]
                return str(links[0]["VoucherGuid"]) if links else None
            if len(rows) < PAGE_SIZE:
                return None
        return None  # pragma: no cover  (count() never ends)

    # --- the ledger -----------------------------------------------------------------------------

    def entries(self, start: date, end: date) -> list[dict[str, Any]]:
        """Every booked accounting entry dated ``start``..``end`` (one request for the whole period)."""
        payload = self._json("entries", params={"fromDate": start.isoformat(), "toDate": end.isoformat()})
        rows, _pagination = _rows(payload)
        return rows

    # --- links ----------------------------------------------------------------------------------

    def document_url(self, kind: str, guid: str) -> str:
        """A link to the document in Dinero's web app."""
        page = _APP_PATHS.get(kind, "{guid}").format(guid=quote(str(guid), safe=""))
        return f"{settings.DINERO_APP_URL.rstrip('/')}/{quote(self.organization_id, safe='')}/{page}"

    # --- request machinery ----------------------------------------------------------------------

    def url(self, name: str, **path_params: str) -> str:
        endpoint = ENDPOINTS[name]
        values = {"org": quote(self.organization_id, safe="")}
        values.update({k: quote(str(v), safe="") for k, v in path_params.items()})
        if "guid" in values:
            # The one document id of a path, whatever the OpenAPI document calls it.
            values.setdefault("fileGuid", values["guid"])
        return settings.DINERO_API_URL.rstrip("/") + endpoint.path.format(**values)

    def _call(
        self,
        name: str,
        *,
        guid: str | None = None,
        params: dict[str, Any] | None = None,
        body: Any = None,
        files: Any = None,
    ) -> requests.Response:
        """One operation, with the retries and error classification described in the module."""
        endpoint = ENDPOINTS[name]
        url = self.url(name, **({"guid": guid} if guid is not None else {}))
        body = jsonable(body) if body is not None else None
        is_read = endpoint.method == "GET" or endpoint.dry_run
        attempts = READ_ATTEMPTS if is_read else 1
        reauthenticated = False
        renewed_token = ""
        attempt = 0
        while True:
            attempt += 1
            token = renewed_token or self.tokens.token()
            try:
                response = self.transport.send(
                    endpoint.method, url, params=params, json_body=body, files=files,
                    headers={"Authorization": f"Bearer {token}"},
                )
            except requests.RequestException as exc:
                error = self._connection_error(exc, endpoint, url)
                if error.transient and attempt < attempts:
                    self._backoff(attempt)
                    continue
                raise error from exc
            status = response.status_code
            if status < 400:
                return response
            if status == 401 and not reauthenticated:
                # A token may expire or be revoked early: one new token, one more try.
                reauthenticated = True
                attempt -= 1
                renewed_token = self.tokens.renew(stale=token)
                continue
            error = classify(response, method="GET" if is_read else endpoint.method)
            if isinstance(error, RateLimited):
                self.limiter.penalize(self.limiter_key, error.retry_after)
                raise error
            if is_read and status >= 500 and attempt < attempts:
                self._backoff(attempt)
                continue
            raise error

    def _connection_error(self, exc: requests.RequestException, endpoint: Endpoint, url: str) -> ApiError:
        what = f"{endpoint.method} {url.split('?', 1)[0]}"
        reason = type(exc).__name__
        if endpoint.method == "GET" or endpoint.dry_run or isinstance(exc, requests.ConnectTimeout):
            # A read is safe to repeat; a connect timeout means the request never left.
            return TransientError(_("Dinero did not answer (%(reason)s) on %(what)s.")
                                  % {"reason": reason, "what": what}, service=SERVICE)
        return UncertainOutcome(_("Dinero did not answer (%(reason)s) while saving (%(what)s); it may "
                                  "have been saved.") % {"reason": reason, "what": what}, service=SERVICE)

    def _backoff(self, attempt: int) -> None:
        self._sleep(BACKOFF_SECONDS * (2 ** (attempt - 1)))

    def _json(self, name: str, **kwargs: Any) -> Any:
        endpoint = ENDPOINTS[name]
        return _json_of(self._call(name, **kwargs), written=endpoint.method != "GET" and not endpoint.dry_run)

    def _json_or_none(self, name: str, **kwargs: Any) -> Any:
        try:
            return self._json(name, **kwargs)
        except NotFound:
            return None

    def _list(self, name: str) -> list[dict[str, Any]]:
        params = {"fields": FIELDS[name]} if name in FIELDS else None
        payload = self._json(name, params=params)
        rows, _pagination = _rows(payload)
        return rows

    def _iter(
        self,
        name: str,
        *,
        changes_since: datetime | None = None,
        query_filter: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {"fields": FIELDS[name], "pageSize": PAGE_SIZE}
        if changes_since is not None:
            params["changesSince"] = format_changes_since(changes_since)
        if query_filter:
            params["queryFilter"] = query_filter
        params.update(extra or {})
        page = 0
        while True:
            payload = self._json(name, params={**params, "page": page})
            rows, pagination = _rows(payload)
            yield from rows
            page_size = int(pagination.get("PageSize") or PAGE_SIZE) if pagination else PAGE_SIZE
            if len(rows) < page_size or not rows:
                return
            # The count before paging: a list of exactly a page's multiple needs no empty last page.
            total = pagination.get("ResultWithoutFilter") if pagination else None
            if isinstance(total, int) and not isinstance(total, bool) and (page + 1) * page_size >= total:
                return
            page += 1

    def _find(self, name: str, external_reference: str) -> dict[str, Any] | None:
        wanted = str(external_reference)
        for row in self._iter(name, query_filter=external_reference_filter(wanted)):
            # `eq` matches case-insensitively in Dinero; references are compared exactly here.
            if str(row.get("ExternalReference") or "") == wanted:
                return row
        return None

    @staticmethod
    def _mailout(timestamp: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"ShouldAddTrustPilotEmailAsBcc": False}
        if timestamp:
            body["Timestamp"] = timestamp
        return body

    def _book(self, name: str, read: str, guid: str, timestamp: str) -> dict[str, Any]:
        """Books a draft; on Dinero's code 58 re-reads the timestamp and tries once more."""
        try:
            return self._json(name, guid=guid, body={"Timestamp": timestamp})
        except StaleTimestamp:
            current = self._json(read, guid=guid)
            if current is None:
                raise
            if str(current.get("Status") or "Draft") not in DRAFT_STATES:
                # Booked meanwhile (by an earlier, uncertain attempt or a person): nothing to do.
                return current
            return self._json(name, guid=guid, body={"Timestamp": timestamp_of(current)})


def _date_range(dated: tuple[date, date] | None) -> dict[str, str]:
    """Dinero's ``startDate``/``endDate`` pair (both or neither)."""
    if dated is None:
        return {}
    return {"startDate": dated[0].isoformat(), "endDate": dated[1].isoformat()}


def _json_of(response: requests.Response, *, written: bool = False) -> Any:
    """The JSON of a successful answer; an unreadable answer to a write may follow a write (rule 10)."""
    if not response.content:
        return {}
    try:
        return response.json()
    except ValueError as exc:
        if written:
            raise UncertainOutcome(
                _("Dinero answered something that is not JSON (HTTP %(status)s) after saving; it may have been "
                  "saved.") % {"status": response.status_code},
                service=SERVICE, status=response.status_code, body=(response.text or "")[:4000],
            ) from exc
        raise TransientError(
            _("Dinero answered something that is not JSON (HTTP %(status)s).") % {"status": response.status_code},
            service=SERVICE, status=response.status_code, body=(response.text or "")[:4000],
        ) from exc


def _rows(payload: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows and pagination of either list shape: the Collection envelope or a plain array."""
    if isinstance(payload, list):
        return payload, {}
    if isinstance(payload, dict):
        collection = payload.get("Collection", payload.get("collection"))
        if isinstance(collection, list):
            pagination = payload.get("Pagination") or payload.get("pagination") or {}
            return collection, pagination if isinstance(pagination, dict) else {}
    raise TransientError(_("Dinero answered a list in an unknown shape."), service=SERVICE,
                         body=str(payload)[:4000])
