"""The emulated operations, keyed by (method, path template) exactly as in Dinero's OpenAPI document.

Each handler receives a :class:`Call` whose body already passed the schema and answers
``(status, body)``. Business rules Dinero enforces beyond the schema raise
:class:`~sandbox.dinero.documents.BusinessError` (answered 400 in Dinero's error shape).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from sandbox.dinero import documents as docs
from sandbox.dinero.documents import BusinessError, Chart, StaleTimestamp
from sandbox.dinero.listing import flag, matches, page_of, parse_moment, query_filter, select_fields
from sandbox.dinero.models import (
    AccessToken,
    Contact,
    Entry,
    File,
    Organization,
    Product,
    SalesDocument,
    Voucher,
)

MAX_FILE_BYTES = 6 * 1024 * 1024
Answer = tuple[int, Any] | HttpResponse


@dataclass
class Call:
    request: HttpRequest
    token: AccessToken
    org: Organization | None
    params: dict[str, str]
    body: Any
    query: dict[str, str] = field(default_factory=dict)

    @cached_property
    def chart(self) -> Chart:
        return Chart.of(self.org)

    @cached_property
    def reading_chart(self) -> Chart:
        return Chart.of(self.org, strict=False)


class Missing(Exception):
    """Answered 404 with Dinero's code 40."""


ROUTES: dict[tuple[str, str], Callable[[Call], Answer]] = {}


def route(method: str, template: str) -> Callable[[Callable[[Call], Answer]], Callable[[Call], Answer]]:
    def register(handler: Callable[[Call], Answer]) -> Callable[[Call], Answer]:
        ROUTES[(method, template)] = handler
        return handler
    return register


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise Missing(f"{what} {value} was not found.") from exc


def _changed_since(qs, call: Call, *, v2: bool = False):
    since = parse_moment(call.query.get("changesSince"), "changesSince")
    if since:
        qs = qs.filter(updated_at__gte=since)
    deleted_only = flag(call.query.get("deletedOnly"), "deletedOnly")
    if deleted_only:
        return qs.filter(deleted_at__isnull=False)
    if deleted_only is None and v2:
        return qs
    return qs.filter(deleted_at__isnull=True)


def _check_timestamp(current: str, sent: str | None) -> None:
    if sent != current:
        raise StaleTimestamp()


# --- organizations and reference data ------------------------------------------------------------------

def _organization_v1(org: Organization) -> dict[str, Any]:
    return {"Name": org.name, "Id": org.organization_id, "Type": "ApS", "IsPro": org.is_pro,
            "IsPayingPro": org.is_pro, "IsVatFree": False, "Email": org.email or None, "Phone": None,
            "Street": org.street or None, "City": org.city or None, "ZipCode": org.zip_code or None,
            "AttPerson": None, "IsTaxFreeUnion": False, "VatNumber": org.vat_number or None, "CountryKey": "DK",
            "Website": None}


@route("GET", "/v1/organizations")
def organizations(call: Call) -> Answer:
    fields = call.query.get("fields") or "id,name,isPro"
    return 200, [select_fields(_organization_v1(org), fields) for org in call.token.organizations()]


@route("GET", "/v1.1/organizations")
def organizations_v2(call: Call) -> Answer:
    answer = []
    for org in call.token.organizations():
        body = _organization_v1(org)
        for name in ("Type", "IsPro", "IsPayingPro"):
            body.pop(name)
        body.update(CompanyTypeKey="PrivateLimitedCompany", RoleKey="Owner", Subscription={
            "HasPro": org.is_pro, "HasPayingPro": org.is_pro, "HasStarterPlus": False, "HasTotal": False,
            "HasYfs": False})
        answer.append(body)
    return 200, answer


COUNTRIES = [("DK", "Danmark", "Denmark"), ("SE", "Sverige", "Sweden"), ("NO", "Norge", "Norway"),
             ("DE", "Tyskland", "Germany"), ("NL", "Holland", "Netherlands"), ("FI", "Finland", "Finland"),
             ("GB", "Storbritannien", "United Kingdom"), ("US", "USA", "United States")]


@route("GET", "/v1/countries")
def countries(call: Call) -> Answer:
    return 200, [{"Key": k, "DanishName": da, "EnglishName": en} for k, da, en in COUNTRIES]


def _entry_account(account) -> dict[str, Any]:
    return {"AccountNumber": account.number, "PublicStandardNumber": None, "Name": account.name,
            "VatCode": account.vat_code, "Category": account.category, "CategoryName": account.category_name,
            "IsHidden": account.is_hidden, "IsDefaultSalesAccount": account.is_default and not account.is_deposit}


@route("GET", "/v1/{organizationId}/accounts/entry")
def entry_accounts(call: Call) -> Answer:
    category = (call.query.get("categoryFilter") or "").lower()
    accounts = [a for a in call.chart.accounts.values() if not a.is_deposit]
    if category:
        accounts = [a for a in accounts if a.category.lower() == category]
    fields = call.query.get("fields") or "AccountNumber,Name,IsHidden"
    return 200, [select_fields(_entry_account(a), fields) for a in sorted(accounts, key=lambda a: a.number)]


@route("GET", "/v1/{organizationId}/accounts/purchase")
def purchase_accounts(call: Call) -> Answer:
    accounts = [a for a in call.chart.accounts.values() if not a.is_deposit and a.number in docs.PURCHASE_RANGE]
    fields = call.query.get("fields") or "AccountNumber,Name,VatCode,Category,CategoryName,IsHidden"
    return 200, [select_fields(_entry_account(a), fields) for a in sorted(accounts, key=lambda a: a.number)]


@route("GET", "/v1/{organizationId}/accounts/deposit")
def deposit_accounts(call: Call) -> Answer:
    fields = call.query.get("fields") or "AccountNumber,Name"
    accounts = sorted((a for a in call.chart.accounts.values() if a.is_deposit), key=lambda a: a.number)
    return 200, [select_fields({
        "AccountNumber": a.number, "PublicStandardNumber": None, "Name": a.name, "IsDefault": a.is_default,
        "IsHidden": a.is_hidden, "BankRegistrationNumber": None, "BankAccountNumber": None, "BankSwiftNumber": None,
        "BankIbanNumber": None}, fields) for a in accounts]


@route("GET", "/v1/{organizationId}/vatTypes")
def vat_types(call: Call) -> Answer:
    return 200, [{"VatCode": v.code, "Name": v.name, "VatRate": float(v.rate)}
                 for v in call.org.vat_types.order_by("code")]


# --- contacts ------------------------------------------------------------------------------------------

CONTACT_FILTERS = ["ExternalReference", "Name", "Email", "VatNumber", "EanNumber", "IsPerson", "Phone"]


def _contact(call: Call) -> Contact:
    contact = Contact.objects.filter(organization=call.org, guid=_uuid(call.params["guid"], "Contact")).first()
    if contact is None:
        raise Missing(f"Contact {call.params['guid']} was not found.")
    return contact


def _list_contacts(call: Call, *, v2: bool) -> Answer:
    conditions = query_filter(call.query.get("queryFilter"), CONTACT_FILTERS)
    qs = _changed_since(Contact.objects.filter(organization=call.org), call, v2=v2)
    roles = docs.contact_roles(call.org.pk)  # two queries for the page, not two per contact
    items = [item for item in (docs.contact_read(c, roles) for c in qs) if matches(item, conditions)]
    return 200, page_of(call.query, items, call.query.get("fields") or "name,contactGuid")


@route("GET", "/v1/{organizationId}/contacts")
def list_contacts(call: Call) -> Answer:
    return _list_contacts(call, v2=False)


@route("GET", "/v2/{organizationId}/contacts")
def list_contacts_v2(call: Call) -> Answer:
    return _list_contacts(call, v2=True)


@route("POST", "/v1/{organizationId}/contacts")
def create_contact(call: Call) -> Answer:
    data = dict(call.body)
    guid = uuid.UUID(data.pop("ContactGuid")) if data.get("ContactGuid") else uuid.uuid4()
    if Contact.objects.filter(organization=call.org, guid=guid).exists():
        raise BusinessError(f"A contact with ContactGuid {guid} already exists.", field="ContactGuid")
    Contact.objects.create(organization=call.org, guid=guid, data=data,
                           external_reference=data.get("ExternalReference") or "")
    return 200, {"ContactGuid": str(guid)}


@route("GET", "/v1/{organizationId}/contacts/{guid}")
def get_contact(call: Call) -> Answer:
    return 200, docs.contact_read(_contact(call))


@route("PUT", "/v2/{organizationId}/contacts/{guid}")
def update_contact(call: Call) -> Answer:
    contact = _contact(call)
    if contact.deleted_at:
        raise BusinessError("The contact is deleted.", code=65)
    contact.data = dict(call.body)
    contact.external_reference = call.body.get("ExternalReference") or ""
    contact.save()
    return 200, None


@route("DELETE", "/v1/{organizationId}/contacts/{guid}")
def delete_contact(call: Call) -> Answer:
    contact = _contact(call)
    contact.deleted_at = contact.deleted_at or timezone.now()
    contact.save()
    return 200, None


# --- products ------------------------------------------------------------------------------------------

def _product(call: Call) -> Product:
    product = Product.objects.filter(organization=call.org, guid=_uuid(call.params["guid"], "Product")).first()
    if product is None:
        raise Missing(f"Product {call.params['guid']} was not found.")
    return product


@route("GET", "/v1/{organizationId}/products")
def list_products(call: Call) -> Answer:
    conditions = query_filter(call.query.get("queryFilter"), ["Name", "ProductNumber", "ExternalReference"])
    search = (call.query.get("freeTextSearch") or "").lower()
    qs = _changed_since(Product.objects.filter(organization=call.org), call).order_by("updated_at", "id")
    items = []
    for product in qs:
        item = docs.product_read(product, call.reading_chart)
        if not matches(item, conditions):
            continue
        if search and search not in f"{item['Name'] or ''} {item['ProductNumber'] or ''}".lower():
            continue
        items.append(item)
    return 200, page_of(call.query, items, call.query.get("fields") or "Name,ProductGuid")


@route("POST", "/v1/{organizationId}/products")
def create_product(call: Call) -> Answer:
    docs.check_product(call.chart, call.body)
    product = Product.objects.create(organization=call.org, data=dict(call.body),
                                     external_reference=call.body.get("ExternalReference") or "")
    return 200, {"ProductGuid": str(product.guid)}


@route("GET", "/v1/{organizationId}/products/{guid}")
def get_product(call: Call) -> Answer:
    return 200, docs.product_read(_product(call), call.reading_chart)


@route("PUT", "/v1/{organizationId}/products/{guid}")
def update_product(call: Call) -> Answer:
    product = _product(call)
    docs.check_product(call.chart, call.body)
    product.data = dict(call.body)
    product.external_reference = call.body.get("ExternalReference") or ""
    product.save()
    return 200, None


@route("DELETE", "/v1/{organizationId}/products/{guid}")
def delete_product(call: Call) -> Answer:
    product = _product(call)
    product.deleted_at = product.deleted_at or timezone.now()
    product.save()
    return 200, None


# --- invoices and credit notes -------------------------------------------------------------------------

SALES_FILTERS = ["ExternalReference", "ContactGuid", "Description"]
KIND_WORD = {SalesDocument.Kind.INVOICE: "Invoice", SalesDocument.Kind.CREDIT_NOTE: "Credit note"}


def _sales(call: Call, kind: str) -> SalesDocument:
    document = SalesDocument.objects.filter(organization=call.org, kind=kind,
                                            guid=_uuid(call.params["guid"], KIND_WORD[kind])).first()
    if document is None:
        raise Missing(f"{KIND_WORD[kind]} {call.params['guid']} was not found.")
    if document.deleted_at:
        raise BusinessError(f"{KIND_WORD[kind]} {document.guid} is deleted.", code=65)
    return document


def _credit_note_for(call: Call, data: dict[str, Any]) -> uuid.UUID | None:
    target = data.get("CreditNoteFor")
    if not target:
        return None
    invoice = SalesDocument.objects.filter(organization=call.org, kind=SalesDocument.Kind.INVOICE,
                                           guid=target, deleted_at__isnull=True).first()
    if invoice is None or invoice.status != "Booked":
        raise BusinessError(f"CreditNoteFor {target} is not a booked invoice.", field="CreditNoteFor")
    return invoice.guid


def _create_sales(call: Call, kind: str) -> Answer:
    data = dict(call.body)
    guid = uuid.UUID(data.pop("Guid")) if data.get("Guid") else uuid.uuid4()
    if SalesDocument.objects.filter(organization=call.org, guid=guid).exists():
        raise BusinessError(f"A document with Guid {guid} already exists; read it with GET instead of creating "
                            "it again.", field="Guid")
    docs.sales_body(call.org, call.chart, data)
    credit_note_for = _credit_note_for(call, data) if kind == SalesDocument.Kind.CREDIT_NOTE else None
    try:
        with transaction.atomic():
            document = SalesDocument.objects.create(
                organization=call.org, kind=kind, guid=guid, data=data, timestamp=call.org.next_timestamp(),
                contact_guid=data.get("ContactGuid"), external_reference=data.get("ExternalReference") or "",
                credit_note_for=credit_note_for)
    except IntegrityError as exc:
        raise BusinessError(f"A document with Guid {guid} already exists.", field="Guid") from exc
    return 200, {"Guid": str(document.guid), "TimeStamp": document.timestamp}


def _update_sales(call: Call, kind: str) -> Answer:
    document = _sales(call, kind)
    data = dict(call.body)
    _check_timestamp(document.timestamp, data.pop("Timestamp", None))
    if document.status != "Draft":
        raise BusinessError(f"{KIND_WORD[kind]} {document.guid} is booked; only drafts can be updated.")
    data.pop("Guid", None)
    docs.sales_body(call.org, call.chart, data)
    document.data = data
    document.contact_guid = data.get("ContactGuid")
    document.external_reference = data.get("ExternalReference") or ""
    if kind == SalesDocument.Kind.CREDIT_NOTE:
        document.credit_note_for = _credit_note_for(call, data)
    document.timestamp = call.org.next_timestamp()
    document.save()
    return 200, {"Guid": str(document.guid), "TimeStamp": document.timestamp}


def _book_sales(call: Call, kind: str) -> Answer:
    document = _sales(call, kind)
    _check_timestamp(document.timestamp, call.body.get("Timestamp"))
    if document.status != "Draft":
        raise BusinessError(f"{KIND_WORD[kind]} {document.guid} is already booked.")
    if not document.data.get("ContactGuid"):
        raise BusinessError("A contact is required to book. Set ContactGuid on the draft.", field="ContactGuid")
    docs.sales_body(call.org, call.chart, document.data)
    number = call.body.get("Number")
    if number is not None:
        if SalesDocument.objects.filter(organization=call.org, number=number).exists():
            raise BusinessError(f"Number {number} is already used.", field="Number")
    else:
        number = call.org.next_number("last_invoice_number")
    document.status, document.number, document.booked_at = "Booked", number, timezone.now()
    document.timestamp = call.org.next_timestamp()
    document.save()
    record_entries(call.org, document, docs.sales_entries(document, call.chart),
                   "Invoice" if kind == SalesDocument.Kind.INVOICE else "CreditNote",
                   docs.document_date(document.data))
    return 200, docs.sales_read(document, call.reading_chart)


def _email_sales(call: Call, kind: str) -> Answer:
    document = _sales(call, kind)
    if call.body.get("Timestamp") is not None:
        _check_timestamp(document.timestamp, call.body["Timestamp"])
    if document.status != "Booked":
        raise BusinessError(f"{KIND_WORD[kind]} {document.guid} is a draft; only booked documents can be e-mailed.",
                            field="Status")
    message = call.body.get("Message")
    if message and "[link-to-pdf]" not in message:
        raise BusinessError("The message must contain [link-to-pdf].", field="Message")
    receiver = call.body.get("Receiver")
    if not receiver:
        contact = Contact.objects.filter(organization=call.org, guid=document.contact_guid).first()
        receiver = (contact.data.get("Email") if contact else None) or ""
    if not receiver:
        raise BusinessError("The contact has no e-mail address; give a Receiver.", field="Receiver")
    recipients = [{"Email": address.strip()} for address in receiver.split(",") if address.strip()]
    document.mail_outs = [*document.mail_outs, {
        "Recipients": recipients, "Subject": call.body.get("Subject") or f"{KIND_WORD[kind]} {document.number}",
        "SentAt": docs.iso(timezone.now())}]
    document.timestamp = call.org.next_timestamp()
    document.save()
    return 200, {"Recipients": recipients}


def _list_sales(call: Call, kinds: list[str]) -> Answer:
    conditions = query_filter(call.query.get("queryFilter"), SALES_FILTERS)
    statuses = {s.strip().lower() for s in (call.query.get("statusFilter") or "").split(",") if s.strip()}
    start, end = call.query.get("startDate"), call.query.get("endDate")
    if bool(start) != bool(end):
        raise BusinessError("startDate and endDate must be given together.", field="startDate")
    qs = _changed_since(SalesDocument.objects.filter(organization=call.org, kind__in=kinds), call)
    search = (call.query.get("freeTextSearch") or "").lower()
    items = []
    for document in qs.select_related("organization"):
        item = docs.sales_list_item(document, call.reading_chart)
        if not matches(item, conditions) or (statuses and item["Status"].lower() not in statuses):
            continue
        if start and document.status != "Draft" and not (start <= item["Date"] <= end):
            continue
        if search and search not in " ".join(str(item[k] or "") for k in
                                             ("Number", "ContactName", "Description", "TotalInclVat")).lower():
            continue
        items.append(item)
    descending = (call.query.get("sortOrder") or "descending").lower() != "ascending"
    items.sort(key=lambda i: (i["Number"] or 0, i["Date"] or "", i["CreatedAt"] or ""), reverse=descending)
    return 200, page_of(call.query, items, call.query.get("fields") or "Guid,ContactName,Date,Description")


@route("GET", "/v1/{organizationId}/invoices")
def list_invoices(call: Call) -> Answer:
    return _list_sales(call, [SalesDocument.Kind.INVOICE])


@route("GET", "/v1/{organizationId}/sales")
def list_sales(call: Call) -> Answer:
    return _list_sales(call, [SalesDocument.Kind.INVOICE, SalesDocument.Kind.CREDIT_NOTE])


@route("POST", "/v1/{organizationId}/invoices")
def create_invoice(call: Call) -> Answer:
    return _create_sales(call, SalesDocument.Kind.INVOICE)


@route("POST", "/v1/{organizationId}/invoices/fetch")
def fetch_invoice(call: Call) -> Answer:
    body = docs.sales_body(call.org, call.chart, call.body)
    body.update(Number=0, CanEnableMobilePayInvoice=False, CanEnablePensoPay=False)
    return 200, body


@route("GET", "/v1/{organizationId}/invoices/{guid}")
def get_invoice(call: Call) -> Answer:
    return 200, docs.sales_read(_sales(call, SalesDocument.Kind.INVOICE), call.reading_chart)


@route("PUT", "/v1.2/{organizationId}/invoices/{guid}")
def update_invoice(call: Call) -> Answer:
    return _update_sales(call, SalesDocument.Kind.INVOICE)


@route("DELETE", "/v1/{organizationId}/invoices/{guid}")
def delete_invoice(call: Call) -> Answer:
    return _delete_sales(call, SalesDocument.Kind.INVOICE)


def _delete_sales(call: Call, kind: str) -> Answer:
    document = _sales(call, kind)
    if isinstance(call.body, dict) and call.body.get("Timestamp") is not None:
        _check_timestamp(document.timestamp, call.body["Timestamp"])
    if document.status != "Draft":
        raise BusinessError("Booked documents cannot be deleted; credit them instead.")
    document.deleted_at = timezone.now()
    document.timestamp = call.org.next_timestamp()
    document.save()
    return 200, None


@route("POST", "/v1/{organizationId}/invoices/{guid}/book")
def book_invoice(call: Call) -> Answer:
    return _book_sales(call, SalesDocument.Kind.INVOICE)


@route("POST", "/v1/{organizationId}/invoices/{guid}/email")
def email_invoice(call: Call) -> Answer:
    return _email_sales(call, SalesDocument.Kind.INVOICE)


@route("POST", "/v1/{organizationId}/invoices/{guid}/generate-creditnote")
def generate_credit_note(call: Call) -> Answer:
    invoice = _sales(call, SalesDocument.Kind.INVOICE)
    if isinstance(call.body, dict) and call.body.get("Timestamp") is not None:
        _check_timestamp(invoice.timestamp, call.body["Timestamp"])
    if invoice.status != "Booked":
        raise BusinessError("Only booked invoices can be credited.")
    data = {k: v for k, v in invoice.data.items()
            if k not in ("Guid", "PaymentConditionType", "PaymentConditionNumberOfDays",
                         "IsMobilePayInvoiceEnabled", "IsPensoPayEnabled", "ReminderFee", "ReminderInterestRate")}
    data["CreditNoteFor"] = str(invoice.guid)
    note = SalesDocument.objects.create(organization=call.org, kind=SalesDocument.Kind.CREDIT_NOTE, data=data,
                                        timestamp=call.org.next_timestamp(), contact_guid=invoice.contact_guid,
                                        external_reference=invoice.external_reference, credit_note_for=invoice.guid)
    return 200, {"Guid": str(note.guid), "TimeStamp": note.timestamp}


@route("GET", "/v1/{organizationId}/sales/creditnotes")
def list_credit_notes(call: Call) -> Answer:
    return _list_sales(call, [SalesDocument.Kind.CREDIT_NOTE])


@route("POST", "/v1/{organizationId}/sales/creditnotes")
def create_credit_note(call: Call) -> Answer:
    return _create_sales(call, SalesDocument.Kind.CREDIT_NOTE)


@route("POST", "/v1/{organizationId}/sales/creditnotes/fetch")
def fetch_credit_note(call: Call) -> Answer:
    body = docs.sales_body(call.org, call.chart, call.body)
    for name in ("PaymentConditionType", "PaymentConditionNumberOfDays", "PaymentDate"):
        body.pop(name, None)
    body.update(Number=0, CreditNoteFor=call.body.get("CreditNoteFor"))
    return 200, body


@route("GET", "/v1/{organizationId}/sales/creditnotes/{guid}")
def get_credit_note(call: Call) -> Answer:
    return 200, docs.sales_read(_sales(call, SalesDocument.Kind.CREDIT_NOTE), call.reading_chart)


@route("PUT", "/v1.2/{organizationId}/sales/creditnotes/{guid}")
def update_credit_note(call: Call) -> Answer:
    return _update_sales(call, SalesDocument.Kind.CREDIT_NOTE)


@route("DELETE", "/v1/{organizationId}/sales/creditnotes/{guid}")
def delete_credit_note(call: Call) -> Answer:
    return _delete_sales(call, SalesDocument.Kind.CREDIT_NOTE)


@route("POST", "/v1/{organizationId}/sales/creditnotes/{guid}/book")
def book_credit_note(call: Call) -> Answer:
    return _book_sales(call, SalesDocument.Kind.CREDIT_NOTE)


@route("POST", "/v1/{organizationId}/sales/creditnotes/{guid}/email")
def email_credit_note(call: Call) -> Answer:
    return _email_sales(call, SalesDocument.Kind.CREDIT_NOTE)


# --- purchase and manual vouchers ----------------------------------------------------------------------

def _voucher(call: Call, kind: str) -> Voucher:
    word = "Purchase voucher" if kind == Voucher.Kind.PURCHASE else "Manual voucher"
    voucher = Voucher.objects.filter(organization=call.org, kind=kind, guid=_uuid(call.params["guid"], word)).first()
    if voucher is None:
        raise Missing(f"{word} {call.params['guid']} was not found.")
    if voucher.deleted_at:
        raise BusinessError(f"{word} {voucher.guid} is deleted.", code=65)
    return voucher


def _check_file(call: Call, data: dict[str, Any]) -> None:
    if data.get("FileGuid") and not File.objects.filter(organization=call.org, file_guid=data["FileGuid"]).exists():
        raise BusinessError(f"File {data['FileGuid']} does not exist.", field="FileGuid")


def _check_purchase(call: Call, data: dict[str, Any]) -> None:
    if data.get("PurchaseType") not in ("cash", "credit"):
        raise BusinessError("PurchaseType must be cash or credit.", field="PurchaseType")
    _check_file(call, data)
    docs.check_contact(call.org, data.get("ContactGuid"))
    docs.purchase_lines(call.chart, data)


def _create_purchase(call: Call) -> Answer:
    data = dict(call.body)
    _check_purchase(call, data)
    voucher = Voucher.objects.create(organization=call.org, kind=Voucher.Kind.PURCHASE, data=data,
                                     timestamp=call.org.next_timestamp(),
                                     external_reference=data.get("ExternalReference") or "")
    return 200, docs.purchase_read(voucher, call.reading_chart)


route("POST", "/v1.2/{organizationId}/vouchers/purchase")(_create_purchase)
route("POST", "/v1.1/{organizationId}/vouchers/purchase")(_create_purchase)


@route("POST", "/v1/{organizationId}/vouchers/purchase/fetch")
def fetch_purchase_voucher(call: Call) -> Answer:
    """Dinero's dry run: the voucher as it would be read back, computed and checked, never stored."""
    data = dict(call.body)
    _check_purchase(call, data)
    draft = Voucher(organization=call.org, kind=Voucher.Kind.PURCHASE, data=data, status="Draft")
    read = docs.purchase_read(draft, call.chart)
    for key in ("Guid", "Timestamp", "BookedByType", "BookedByUsername", "BookingTime"):
        read.pop(key, None)
    return 200, {**read, "ShouldPossiblyBeFixedAsset": False}


@route("GET", "/v1/{organizationId}/vouchers/purchase/fileguid/{fileGuid}")
def purchase_vouchers_by_file(call: Call) -> Answer:
    """The Guids of the (not deleted) purchase vouchers carrying a file."""
    file_guid = str(call.params["fileGuid"])
    vouchers = Voucher.objects.filter(organization=call.org, kind=Voucher.Kind.PURCHASE, deleted_at__isnull=True,
                                      data__FileGuid=file_guid).order_by("created_at", "id")
    return 200, [str(voucher.guid) for voucher in vouchers]


@route("GET", "/v1/{organizationId}/vouchers/purchase/{guid}")
def get_purchase_voucher(call: Call) -> Answer:
    return 200, docs.purchase_read(_voucher(call, Voucher.Kind.PURCHASE), call.reading_chart)


def _update_purchase(call: Call) -> Answer:
    voucher = _voucher(call, Voucher.Kind.PURCHASE)
    data = dict(call.body)
    _check_timestamp(voucher.timestamp, data.pop("Timestamp", None))
    if voucher.status != "Draft":
        raise BusinessError("Only draft vouchers can be updated.")
    _check_purchase(call, data)
    voucher.data, voucher.external_reference = data, data.get("ExternalReference") or ""
    voucher.timestamp = call.org.next_timestamp()
    voucher.save()
    return 200, docs.purchase_read(voucher, call.reading_chart)


route("PUT", "/v1/{organizationId}/vouchers/purchase/{guid}")(_update_purchase)
route("PUT", "/v1.1/{organizationId}/vouchers/purchase/{guid}")(_update_purchase)


@route("POST", "/v1/{organizationId}/vouchers/purchase/{guid}/book")
def book_purchase_voucher(call: Call) -> Answer:
    voucher = _voucher(call, Voucher.Kind.PURCHASE)
    _check_timestamp(voucher.timestamp, call.body.get("Timestamp"))
    if voucher.status != "Draft":
        raise BusinessError("The voucher is already booked.")
    docs.check_purchase_for_booking(call.org, call.chart, voucher.data)
    docs.purchase_lines(call.chart, voucher.data)
    voucher.status = "Booked" if voucher.data.get("PurchaseType") == "credit" else "Paid"
    _book_voucher(call, voucher, docs.purchase_entries(voucher, call.chart), "PurchaseVoucher")
    return 200, docs.purchase_read(voucher, call.reading_chart)


@route("POST", "/v1/{organizationId}/vouchers/manuel")
def create_manual_voucher(call: Call) -> Answer:
    data = dict(call.body)
    _check_file(call, data)
    docs.manual_lines(call.chart, data)
    voucher = Voucher.objects.create(organization=call.org, kind=Voucher.Kind.MANUAL, data=data,
                                     timestamp=call.org.next_timestamp(),
                                     external_reference=data.get("ExternalReference") or "")
    return 200, docs.manual_read(voucher, call.reading_chart)


@route("GET", "/v1/{organizationId}/vouchers/manuel/{guid}")
def get_manual_voucher(call: Call) -> Answer:
    return 200, docs.manual_read(_voucher(call, Voucher.Kind.MANUAL), call.reading_chart)


@route("PUT", "/v1/{organizationId}/vouchers/manuel/{guid}")
def update_manual_voucher(call: Call) -> Answer:
    voucher = _voucher(call, Voucher.Kind.MANUAL)
    data = dict(call.body)
    _check_timestamp(voucher.timestamp, data.pop("Timestamp", None))
    if voucher.status != "Draft":
        raise BusinessError("Only draft vouchers can be updated.")
    docs.manual_lines(call.chart, data)
    voucher.data, voucher.external_reference = data, data.get("ExternalReference") or ""
    voucher.timestamp = call.org.next_timestamp()
    voucher.save()
    return 200, docs.manual_read(voucher, call.reading_chart)


@route("DELETE", "/v1/{organizationId}/vouchers/manuel/{guid}")
def delete_manual_voucher(call: Call) -> Answer:
    voucher = _voucher(call, Voucher.Kind.MANUAL)
    _check_timestamp(voucher.timestamp, (call.body or {}).get("Timestamp"))
    if voucher.status != "Draft":
        raise BusinessError("Booked vouchers cannot be deleted; book an offsetting voucher instead.")
    voucher.deleted_at = timezone.now()
    voucher.timestamp = call.org.next_timestamp()
    voucher.save()
    return 200, None


@route("POST", "/v1/{organizationId}/vouchers/manuel/{guid}/book")
def book_manual_voucher(call: Call) -> Answer:
    voucher = _voucher(call, Voucher.Kind.MANUAL)
    _check_timestamp(voucher.timestamp, call.body.get("Timestamp"))
    if voucher.status != "Draft":
        raise BusinessError("The voucher is already booked.")
    if not voucher.data.get("Lines"):
        raise BusinessError("A manual voucher needs at least one line.", field="Lines")
    if not voucher.data.get("VoucherDate"):
        raise BusinessError("VoucherDate is required to book the voucher.", field="VoucherDate")
    entries = docs.manual_entries(voucher, call.chart)
    voucher.status = "Booked"
    _book_voucher(call, voucher, entries, "ManualVoucher")
    return 200, docs.manual_read(voucher, call.reading_chart)


def _book_voucher(call: Call, voucher: Voucher, entries: list[dict[str, Any]], voucher_type: str) -> None:
    number = call.body.get("Number")
    if number is not None and Voucher.objects.filter(organization=call.org, number=number).exists():
        raise BusinessError(f"Voucher number {number} is already used.", field="Number")
    voucher.number = number if number is not None else call.org.next_number("last_voucher_number")
    voucher.booked_at = timezone.now()
    voucher.timestamp = call.org.next_timestamp()
    voucher.save()
    record_entries(call.org, voucher, entries, voucher_type, docs.document_date(voucher.data),
                   contact_guid=voucher.data.get("ContactGuid"), file_guid=voucher.data.get("FileGuid") or "")


def record_entries(org: Organization, document: SalesDocument | Voucher, entries: list[dict[str, Any]],
                   voucher_type: str, on: date, *, contact_guid: Any = None, file_guid: str = "") -> None:
    chart = Chart.of(org, strict=False)
    contact = contact_guid or getattr(document, "contact_guid", None)
    Entry.objects.bulk_create([Entry(
        organization=org, account_number=e["account"], account_name=chart.account(e["account"], "").name,
        date=on, voucher_number=document.number, voucher_guid=document.guid, voucher_type=voucher_type,
        description=(e["description"] or "")[:255], vat_code=e["vat_code"] or "", amount=e["amount"],
        contact_guid=contact, file_guid=file_guid) for e in entries if e["amount"]])


# --- files and entries ---------------------------------------------------------------------------------

@route("POST", "/v1/{organizationId}/files")
def upload_file(call: Call) -> Answer:
    upload = call.request.FILES.get("file") or next(iter(call.request.FILES.values()), None)
    if upload is None:
        raise BusinessError("Send the file as multipart/form-data in a part named file.", field="file")
    if upload.size > MAX_FILE_BYTES:
        raise BusinessError("The file is larger than 6 MB.", code=43, field="file")
    name = call.query.get("fileName") or upload.name or "file"
    stored = File.objects.create(organization=call.org, name=name, content=upload.read())
    return 200, {"FileGuid": stored.file_guid}


@route("GET", "/v1/{organizationId}/files")
def list_files(call: Call) -> Answer:
    """``FilteredFileReadModel`` rows: each file with the (not deleted) vouchers it is linked to.

    ``fileStatus`` (All, Used, Unused), ``extensions`` (comma separated) and ``page``/``pageSize``
    (a plain array per page, default page size 1000) as the OpenAPI document gives them.
    """
    links: dict[str, list[dict[str, Any]]] = {}
    for voucher in Voucher.objects.filter(organization=call.org, deleted_at__isnull=True).order_by("created_at", "id"):
        file_guid = (voucher.data or {}).get("FileGuid")
        if file_guid:
            links.setdefault(str(file_guid), []).append({"VoucherId": voucher.pk, "VoucherGuid": str(voucher.guid),
                                                         "LinkedAt": docs.iso(voucher.created_at)})
    status = str(call.query.get("fileStatus") or "All")
    extensions = {e.strip().lower() for e in str(call.query.get("extensions") or "").split(",") if e.strip()}
    rows = []
    for f in File.objects.filter(organization=call.org).order_by("uploaded_at", "id"):
        extension = f.name.rsplit(".", 1)[-1].lower()
        linked = links.get(f.file_guid, [])
        if (status == "Used" and not linked) or (status == "Unused" and linked):
            continue
        if extensions and extension not in extensions:
            continue
        rows.append({"FileGuid": f.file_guid, "Name": f.name, "Extension": extension, "Size": len(f.content),
                     "UploadedAt": docs.iso(f.uploaded_at), "Linked": linked})
    page, size = int(call.query.get("page") or 0), int(call.query.get("pageSize") or 1000)
    return 200, rows[page * size:(page + 1) * size]


@route("GET", "/v1/{organizationId}/files/{fileGuid}")
def download_file(call: Call) -> Answer:
    stored = File.objects.filter(organization=call.org, file_guid=call.params["fileGuid"]).first()
    if stored is None:
        raise Missing(f"File {call.params['fileGuid']} was not found.")
    response = HttpResponse(bytes(stored.content), content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="{stored.name}"'
    return response


def _entry(entry: Entry) -> dict[str, Any]:
    return {"AccountNumber": entry.account_number, "AccountName": entry.account_name,
            "Date": entry.date.isoformat(), "VoucherNumber": entry.voucher_number,
            "VoucherGuid": str(entry.voucher_guid), "FileGuid": entry.file_guid or None,
            "VoucherType": entry.voucher_type, "Description": entry.description, "VatType": None,
            "VatCode": entry.vat_code or None, "Amount": float(entry.amount), "EntryGuid": str(entry.entry_guid),
            "ContactGuid": str(entry.contact_guid) if entry.contact_guid else None, "Type": "Normal"}


def _date(raw: str | None, name: str) -> date:
    try:
        return date.fromisoformat((raw or "")[:10])
    except ValueError as exc:
        raise BusinessError(f"{name} is required as YYYY-MM-DD.", field=name) from exc


@route("GET", "/v1/{organizationId}/entries")
def entries(call: Call) -> Answer:
    start, end = _date(call.query.get("fromDate"), "fromDate"), _date(call.query.get("toDate"), "toDate")
    qs = Entry.objects.filter(organization=call.org, date__gte=start, date__lte=end)
    return 200, [_entry(e) for e in qs]


@route("GET", "/v1/{organizationId}/entries/changes")
def entry_changes(call: Call) -> Answer:
    start = parse_moment(call.query.get("changesFrom"), "changesFrom")
    end = parse_moment(call.query.get("changesTo"), "changesTo")
    if start is None or end is None:
        raise BusinessError("changesFrom and changesTo are required.", field="changesFrom")
    if (end - start).days > 31:
        raise BusinessError("The period between changesFrom and changesTo can be at most 31 days.", code=43,
                            field="changesTo")
    qs = Entry.objects.filter(organization=call.org, created_at__gte=start, created_at__lte=end)
    return 200, [_entry(e) for e in qs]
