"""A small stand-in for Dinero's web app: see what arrived in each sandbox organization.

The service's links into Dinero (``DineroClient.document_url``) point here in the sandbox:
``<DINERO_APP_URL><organization id>/<kind>/<guid>/`` with kind one of invoices, creditnotes,
purchasevouchers, manualvouchers, contacts, products.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from sandbox.dinero import documents as docs
from sandbox.dinero.documents import Chart
from sandbox.dinero.models import Contact, Entry, Organization, Product, SalesDocument, Voucher

KINDS = {
    "invoices": gettext_lazy("Invoice"),
    "creditnotes": gettext_lazy("Credit note"),
    "purchasevouchers": gettext_lazy("Purchase voucher"),
    "manualvouchers": gettext_lazy("Manual voucher"),
    "contacts": gettext_lazy("Contact"),
    "products": gettext_lazy("Product"),
}


@staff_member_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "sandbox_dinero/app_home.html",
                  {"organizations": Organization.objects.order_by("organization_id")})


@staff_member_required
def organization(request: HttpRequest, org: int) -> HttpResponse:
    organization = get_object_or_404(Organization, organization_id=org)
    chart = Chart.of(organization, strict=False)
    sales = SalesDocument.objects.filter(organization=organization).order_by("-created_at")
    sales_rows = []
    for document in sales:
        read = docs.sales_read(document, chart)
        sales_rows.append({"document": document, "read": read,
                           "kind": "invoices" if document.kind == SalesDocument.Kind.INVOICE else "creditnotes"})
    vouchers = Voucher.objects.filter(organization=organization).order_by("-created_at")
    voucher_rows = []
    for voucher in vouchers:
        purchase = voucher.kind == Voucher.Kind.PURCHASE
        read = docs.purchase_read(voucher, chart) if purchase else docs.manual_read(voucher, chart)
        total = read["VoucherTotals"][-1]["Total"] if purchase else read["TotalInclVat"]
        voucher_rows.append({"voucher": voucher, "read": read, "total": total,
                             "kind": "purchasevouchers" if purchase else "manualvouchers"})
    return render(request, "sandbox_dinero/app_organization.html", {
        "org": organization,
        "contacts": Contact.objects.filter(organization=organization).order_by("-created_at"),
        "products": Product.objects.filter(organization=organization).order_by("-updated_at"),
        "sales_rows": sales_rows,
        "voucher_rows": voucher_rows,
        "entries": Entry.objects.filter(organization=organization).order_by("-created_at", "-id")[:500],
    })


def _fields(read: dict[str, Any], names: list[str]) -> list[tuple[str, Any]]:
    return [(name, read.get(name)) for name in names if name in read]


@staff_member_required
def detail(request: HttpRequest, org: int, kind: str, guid: str) -> HttpResponse:
    organization = get_object_or_404(Organization, organization_id=org)
    if kind not in KINDS:
        raise Http404(_("Unknown kind of document."))
    try:
        key = uuid.UUID(guid)
    except ValueError as exc:
        raise Http404(_("No such document.")) from exc
    chart = Chart.of(organization, strict=False)
    lines: list[dict[str, Any]] = []
    columns: list[str] = []
    totals: list[tuple[str, Any]] = []
    entries = Entry.objects.filter(organization=organization, voucher_guid=key)
    mail_outs: list[dict[str, Any]] = []
    if kind in ("invoices", "creditnotes"):
        wanted = SalesDocument.Kind.INVOICE if kind == "invoices" else SalesDocument.Kind.CREDIT_NOTE
        document = get_object_or_404(SalesDocument, organization=organization, kind=wanted, guid=key)
        read = docs.sales_read(document, chart)
        fields = _fields(read, ["Number", "Status", "PaymentStatus", "Date", "PaymentDate", "ContactName",
                                "ContactGuid", "ExternalReference", "Description", "Currency", "Language",
                                "CreditNoteFor", "MailOutStatus", "TimeStamp", "Guid"])
        columns = ["Description", "Quantity", "Unit", "BaseAmountValue", "Discount", "AccountNumber", "AccountName",
                   "TotalAmount", "TotalAmountInclVat"]
        lines = read["ProductLines"]
        totals = _fields(read, ["TotalExclVat", "TotalVat", "TotalInclVat"])
        mail_outs = document.mail_outs
    elif kind in ("purchasevouchers", "manualvouchers"):
        wanted = Voucher.Kind.PURCHASE if kind == "purchasevouchers" else Voucher.Kind.MANUAL
        voucher = get_object_or_404(Voucher, organization=organization, kind=wanted, guid=key)
        if wanted == Voucher.Kind.PURCHASE:
            read = docs.purchase_read(voucher, chart)
            fields = _fields(read, ["VoucherNumber", "Status", "PurchaseType", "VoucherDate", "PaymentDate",
                                    "ContactGuid", "DepositAccountNumber", "ExternalReference", "FileGuid",
                                    "CurrencyKey", "Timestamp", "Guid"])
            columns = ["Description", "AccountNumber", "VatCode", "AmountExclVatValue", "VatAmountValue",
                       "AmountInclVatValue"]
            totals = [(t["Label"], t["Total"]) for t in read["VoucherTotals"]]
        else:
            read = docs.manual_read(voucher, chart)
            fields = _fields(read, ["VoucherNumber", "Status", "VoucherDate", "ExternalReference", "FileGuid",
                                    "Timestamp", "Guid"])
            columns = ["Description", "AccountNumber", "AccountVatCode", "BalancingAccountNumber",
                       "BalancingAccountVatCode", "AmountExclVatValue", "VatAmountValue", "AmountInclVatValue"]
            totals = _fields(read, ["TotalExclVat", "TotalInclVat"])
        lines = read["Lines"]
    elif kind == "contacts":
        contact = get_object_or_404(Contact, organization=organization, guid=key)
        read = docs.contact_read(contact)
        fields = [(name, value) for name, value in read.items() if value not in (None, "")]
    else:
        product = get_object_or_404(Product, organization=organization, guid=key)
        read = docs.product_read(product, chart)
        fields = [(name, value) for name, value in read.items() if value not in (None, "")]
    rows = [[line.get(column) for column in columns] for line in lines]
    return render(request, "sandbox_dinero/app_detail.html", {
        "org": organization, "kind": kind, "kind_label": KINDS[kind], "guid": key, "fields": fields,
        "columns": columns, "rows": rows, "totals": totals, "entries": entries, "mail_outs": mail_outs,
    })
