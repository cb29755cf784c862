"""Dinero's arithmetic and read models, computed from the stored create bodies.

Sales documents: each line total is quantity × unit price × (1 − discount/100), rounded to øre
(half up); its VAT is that rounded total times the rate of the line account's VAT code, rounded
to øre; the document totals are the sums. With ``ShowLinesInclVat`` the unit prices include VAT
and the net amount is derived from the rounded gross line total.

Purchase voucher lines are paid (gross) amounts: with a domestic purchase code (``I25``) the VAT
is taken out of the amount; with a reverse-charge code (EU or abroad purchases) the amount has no
VAT in it and the VAT is booked both ways. Manual voucher amounts include VAT for purchase codes
and exclude it for sales codes; ``none`` suppresses VAT.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils import timezone

from sandbox.dinero.models import Account, Contact, Organization, Product, SalesDocument, VatType, Voucher

ORE = Decimal("0.01")
REVERSE_CHARGE = {"IEUV", "IEUY", "IVV", "IVY"}
EU_COUNTRIES = {
    "AT", "BE", "BG", "CY", "CZ", "DE", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT", "LU", "LV",
    "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
}
PURCHASE_RANGE = range(2000, 9400)
# The schema only names Dinero's 19 units in a description; Dinero itself refuses any other.
UNITS = ("hours", "parts", "km", "day", "week", "month", "kilogram", "cubicMetre", "set", "litre", "box", "case",
         "carton", "metre", "package", "shipment", "squareMetre", "session", "tonne")
SALES_VAT_ACCOUNT, PURCHASE_VAT_ACCOUNT, FOREIGN_VAT_ACCOUNT = 64000, 64060, 64100
DEBTORS_ACCOUNT, CREDITORS_ACCOUNT = 56000, 63000


def ore(value: Decimal) -> Decimal:
    return value.quantize(ORE, rounding=ROUND_HALF_UP)


def dec(value: Any) -> Decimal:
    return Decimal(str(value if value is not None else 0))


def money(value: Decimal) -> float:
    """JSON number for an amount already rounded to øre."""
    return float(value)


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" if moment else None


class BusinessError(Exception):
    """A request that passes the schema but that Dinero refuses (answered 400)."""

    def __init__(self, message: str, *, code: int = 42, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field


class StaleTimestamp(BusinessError):
    def __init__(self) -> None:
        super().__init__("The timestamp is outdated. Fetch the entity again to get the current timestamp.", code=58,
                         field="Timestamp")


@dataclass
class Chart:
    """An organization's accounts and VAT rates, loaded once per request."""

    accounts: dict[int, Account]
    rates: dict[str, Decimal]
    # Writes are checked; reads show what was stored even if the chart changed since.
    strict: bool = True

    @classmethod
    def of(cls, org: Organization, *, strict: bool = True) -> Chart:
        return cls({a.number: a for a in Account.objects.filter(organization=org)},
                   {v.code: v.rate for v in VatType.objects.filter(organization=org)}, strict)

    def account(self, number: Any, field: str, *, purchase: bool = False, deposit: bool = False) -> Account:
        account = self.accounts.get(number) if isinstance(number, int) and not isinstance(number, bool) else None
        if not self.strict:
            return account or Account(number=int(number or 0), name="?", vat_code="none")
        if account is None:
            raise BusinessError(f"Account {number} does not exist in the chart of accounts.", field=field)
        if account.is_hidden:
            raise BusinessError(f"Account {number} ({account.name}) is hidden and cannot be used.", field=field)
        if deposit and not account.is_deposit:
            raise BusinessError(f"Account {number} ({account.name}) is not a deposit account.", field=field)
        if not deposit and account.is_deposit and purchase:
            raise BusinessError(f"Account {number} ({account.name}) is a deposit account.", field=field)
        if purchase and account.number not in PURCHASE_RANGE:
            raise BusinessError(f"Account {number} ({account.name}) is not a purchase account (2000–9399).",
                                field=field)
        return account

    def vat_code(self, code: str | None, account: Account, field: str) -> str:
        effective = account.vat_code if code is None else code
        if effective.lower() == "none":
            return "none"
        if effective not in self.rates and self.strict:
            raise BusinessError(f"VAT code {effective} does not exist.", field=field)
        return effective

    def rate(self, code: str) -> Decimal:
        return Decimal("0") if code == "none" else self.rates.get(code, Decimal("0"))


def vat_region(country: str | None) -> str:
    if (country or "DK").upper() == "DK":
        return "DK"
    return "EU" if (country or "").upper() in EU_COUNTRIES else "World"


# --- contacts and products ---------------------------------------------------------------------------

CONTACT_FIELDS = [
    "ExternalReference", "Name", "Street", "ZipCode", "City", "CountryKey", "Phone", "Email", "Webpage",
    "AttPerson", "VatNumber", "EanNumber", "SENumber", "PNumber", "PaymentConditionType",
    "PaymentConditionNumberOfDays", "IsPerson", "IsMember", "MemberNumber", "UseCvr", "CompanyTypeKey",
    "InvoiceMailOutOptionKey", "PreferredInvoiceLanguageKey", "PreferredInvoiceCurrencyKey",
]


def contact_roles(organization_id: int) -> tuple[set[str], set[str]]:
    """The guids of an organization's debtors and creditors, in two queries (for a list page)."""
    debtors = {str(g) for g in SalesDocument.objects.filter(organization_id=organization_id)
               .values_list("contact_guid", flat=True).distinct()}
    creditors = {str(g) for g in Voucher.objects.filter(organization_id=organization_id, kind=Voucher.Kind.PURCHASE)
                 .values_list("data__ContactGuid", flat=True).distinct()}
    return debtors, creditors


def contact_read(contact: Contact, roles: tuple[set[str], set[str]] | None = None) -> dict[str, Any]:
    data = contact.data
    body = {name: data.get(name) for name in CONTACT_FIELDS}
    if roles is None:
        is_debtor = SalesDocument.objects.filter(organization_id=contact.organization_id,
                                                 contact_guid=contact.guid).exists()
        is_creditor = Voucher.objects.filter(organization_id=contact.organization_id, kind=Voucher.Kind.PURCHASE,
                                             data__ContactGuid=str(contact.guid)).exists()
    else:
        is_debtor, is_creditor = str(contact.guid) in roles[0], str(contact.guid) in roles[1]
    body.update(
        ContactGuid=str(contact.guid), CreatedAt=iso(contact.created_at), UpdatedAt=iso(contact.updated_at),
        DeletedAt=iso(contact.deleted_at), CompanyStatus=None, VatRegionKey=vat_region(data.get("CountryKey")),
        IsDebitor=is_debtor, IsCreditor=is_creditor,
        IsPerson=bool(data.get("IsPerson")), IsMember=bool(data.get("IsMember")), UseCvr=bool(data.get("UseCvr")),
        PaymentConditionType=data.get("PaymentConditionType") or "Netto",
        PaymentConditionNumberOfDays=data.get("PaymentConditionNumberOfDays", 8)
        if data.get("PaymentConditionType") != "NettoCash" else None,
    )
    return body


def check_unit(unit: Any, field: str) -> None:
    if unit not in UNITS:
        raise BusinessError(f"Unit {unit!r} is not one of Dinero's units: {', '.join(UNITS)}.", field=field)


def check_product(chart: Chart, data: dict[str, Any]) -> None:
    chart.account(data.get("AccountNumber"), "AccountNumber")
    check_unit(data.get("Unit"), "Unit")


def product_read(product: Product, chart: Chart) -> dict[str, Any]:
    data = product.data
    base, quantity = dec(data.get("BaseAmountValue")), dec(data.get("Quantity"))
    account = chart.accounts.get(int(data.get("AccountNumber") or 0))
    rate = chart.rate(account.vat_code) if account else Decimal("0")
    return {
        "ProductGuid": str(product.guid), "CreatedAt": iso(product.created_at), "UpdatedAt": iso(product.updated_at),
        "DeletedAt": iso(product.deleted_at), "ProductNumber": data.get("ProductNumber"), "Name": data.get("Name"),
        "BaseAmountValue": money(ore(base)), "BaseAmountValueInclVat": money(ore(base * (1 + rate))),
        "Quantity": float(quantity), "TotalAmount": money(ore(base * quantity)),
        "TotalAmountInclVat": money(ore(base * quantity * (1 + rate))), "AccountNumber": data.get("AccountNumber"),
        "Unit": data.get("Unit"), "ExternalReference": data.get("ExternalReference"), "Comment": data.get("Comment"),
    }


# --- sales documents ---------------------------------------------------------------------------------


def _product_name(org: Any, product_guid: Any) -> str | None:
    """The name Dinero shows on an invoice line that has a product and no description of its own."""
    if not product_guid:
        return None
    product = Product.objects.filter(organization=org, guid=product_guid).first()
    return product.name if product else None

def sales_lines(chart: Chart, org: Organization, data: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Read-model lines and totals of an invoice or credit note body; raises BusinessError."""
    lines_in = data.get("ProductLines") or []
    if not lines_in:
        raise BusinessError("Invoices must have at least one invoice line", code=45, field="ProductLines")
    incl_vat = bool(data.get("ShowLinesInclVat"))
    lines, vatable, non_vatable, total_vat = [], Decimal("0"), Decimal("0"), Decimal("0")
    rates_used: set[Decimal] = set()
    for index, line in enumerate(lines_in):
        field = f"ProductLines[{index}]"
        account = chart.account(line.get("AccountNumber"), f"{field}.AccountNumber")
        if account.is_deposit:
            raise BusinessError(f"Account {account.number} ({account.name}) is a deposit account.",
                                field=f"{field}.AccountNumber")
        product_guid = line.get("ProductGuid")
        if product_guid and chart.strict and not Product.objects.filter(organization=org, guid=product_guid,
                                                       deleted_at__isnull=True).exists():
            raise BusinessError(f"Product {product_guid} does not exist.", field=f"{field}.ProductGuid")
        is_text = line.get("LineType") == "Text"
        if chart.strict and not is_text and not product_guid and not line.get("Description"):
            raise BusinessError("A line without a product needs a description.", field=f"{field}.Description")
        if chart.strict and not is_text:
            check_unit(line.get("Unit"), f"{field}.Unit")
        rate = chart.rate(account.vat_code) if account.vat_code.upper().startswith("U") else Decimal("0")
        quantity, base, discount = dec(line.get("Quantity")), dec(line.get("BaseAmountValue")), dec(line.get("Discount"))
        if discount < 0 or discount > 100:
            raise BusinessError("Discount must be between 0 and 100.", field=f"{field}.Discount")
        gross_or_net = Decimal("0") if is_text else ore(quantity * base * (100 - discount) / 100)
        if incl_vat:
            total_incl = gross_or_net
            total = ore(total_incl / (1 + rate))
            vat = total_incl - total
            base_excl, base_incl = ore(base / (1 + rate)), ore(base)
        else:
            total = gross_or_net
            vat = ore(total * rate)
            total_incl = total + vat
            base_excl, base_incl = ore(base), ore(base * (1 + rate))
        if rate:
            vatable += total
            rates_used.add(rate)
        else:
            non_vatable += total
        total_vat += vat
        lines.append({
            # Dinero's read model always has a description: the product's name when the line names none.
            "ProductGuid": product_guid, "Description": line.get("Description") or _product_name(org, product_guid),
            "Comments": line.get("Comments"),
            "Quantity": float(quantity), "AccountNumber": account.number, "AccountName": account.name,
            "Unit": line.get("Unit") or "parts", "Discount": float(discount), "LineType": line.get("LineType") or "Product",
            "BaseAmountValue": money(base_excl), "BaseAmountValueInclVat": money(base_incl),
            "TotalAmount": money(total), "TotalAmountInclVat": money(total_incl),
        })
    excl = vatable + non_vatable
    currency = data.get("Currency") or "DKK"
    vat_label = "Moms" if (data.get("Language") or "da-DK") == "da-DK" else "VAT"
    rate_text = f" ({int(max(rates_used) * 100)}%)" if rates_used else ""
    totals = {
        "TotalExclVat": money(excl), "TotalVatableAmount": money(vatable), "TotalNonVatableAmount": money(non_vatable),
        "TotalVat": money(total_vat), "TotalInclVat": money(excl + total_vat),
        "TotalLines": [
            {"Type": "SubTotal", "TotalAmount": money(excl), "Position": 0, "Label": "Subtotal"},
            {"Type": "Vat", "TotalAmount": money(total_vat), "Position": 1, "Label": f"{vat_label}{rate_text}"},
            {"Type": "Total", "TotalAmount": money(excl + total_vat), "Position": 2, "Label": f"Total {currency}"},
        ],
    }
    return lines, totals


def payment_terms(org: Organization, data: dict[str, Any]) -> tuple[str, int | None]:
    kind, days = data.get("PaymentConditionType"), data.get("PaymentConditionNumberOfDays")
    if not kind and days is None and data.get("ContactGuid"):
        contact = Contact.objects.filter(organization=org, guid=data["ContactGuid"]).first()
        if contact:
            kind, days = contact.data.get("PaymentConditionType"), contact.data.get("PaymentConditionNumberOfDays")
    kind = kind or "Netto"
    if kind in ("NettoCash", "Paid"):
        return kind, None
    return kind, 8 if days is None else int(days)


def document_date(data: dict[str, Any], fallback: date | None = None) -> date:
    raw = data.get("Date") or data.get("VoucherDate")
    try:
        return date.fromisoformat(str(raw)[:10]) if raw else (fallback or timezone.localdate())
    except ValueError as exc:
        raise BusinessError(f"The date {raw!r} is not a date (YYYY-MM-DD).", field="Date") from exc


def due_date(issued: date, kind: str, days: int | None) -> date:
    if kind == "CurrentMonthOut":
        month_end = issued.replace(day=calendar.monthrange(issued.year, issued.month)[1])
        return month_end + timedelta(days=days or 0)
    return issued + timedelta(days=days or 0)


def check_contact(org: Organization, guid: Any, field: str = "ContactGuid") -> Contact | None:
    if not guid:
        return None
    contact = Contact.objects.filter(organization=org, guid=guid, deleted_at__isnull=True).first()
    if contact is None:
        raise BusinessError(f"Contact {guid} does not exist.", field=field)
    return contact


def sales_body(org: Organization, chart: Chart, data: dict[str, Any]) -> dict[str, Any]:
    """The computed part of an invoice/credit note read model (also the answer of ``fetch``)."""
    lines, totals = sales_lines(chart, org, data)
    if chart.strict:
        contact = check_contact(org, data.get("ContactGuid"))
    else:
        contact = Contact.objects.filter(organization=org, guid=data.get("ContactGuid")).first() \
            if data.get("ContactGuid") else None
    kind, days = payment_terms(org, data)
    issued = document_date(data)
    language = data.get("Language") or "da-DK"
    default_description = "Faktura" if language == "da-DK" else "Invoice"
    return {
        "ContactGuid": str(contact.guid) if contact else None, "ContactName": contact.name if contact else None,
        "Date": issued.isoformat(), "PaymentDate": due_date(issued, kind, days).isoformat(),
        "PaymentConditionType": kind, "PaymentConditionNumberOfDays": days,
        "Currency": data.get("Currency") or "DKK", "Language": language,
        "ExternalReference": data.get("ExternalReference"),
        "Description": data.get("Description") or default_description, "Comment": data.get("Comment"),
        "Address": data.get("Address") or (contact_address(contact) if contact else None),
        "ShowLinesInclVat": bool(data.get("ShowLinesInclVat")), "InvoiceTemplateId": data.get("InvoiceTemplateId"),
        "ProductLines": lines, **totals,
    }


def contact_address(contact: Contact) -> str:
    data = contact.data
    parts = [data.get("Name"), data.get("Street"), " ".join(p for p in (data.get("ZipCode"), data.get("City")) if p)]
    return "\n".join(p for p in parts if p)


def payment_status(document: SalesDocument, due: str) -> str:
    if document.status == "Draft":
        return "Draft"
    return "Overdue" if date.fromisoformat(due) < timezone.localdate() else "Booked"


def sales_read(document: SalesDocument, chart: Chart) -> dict[str, Any]:
    body = sales_body(document.organization, chart, document.data)
    last_mail = document.mail_outs[-1] if document.mail_outs else None
    body.update(
        Guid=str(document.guid), TimeStamp=document.timestamp, Number=document.number or 0, Status=document.status,
        PaymentStatus=payment_status(document, body["PaymentDate"]), CreatedAt=iso(document.created_at),
        UpdatedAt=iso(document.updated_at), DeletedAt=iso(document.deleted_at),
        MailOutStatus="Sent" if last_mail else "NotSent", LatestMailOutType="Mailout" if last_mail else "None",
    )
    if document.kind == SalesDocument.Kind.INVOICE:
        body.update(FikCode=None, DepositAccountNumber=None, IsSentToDebtCollection=False,
                    IsMobilePayInvoiceEnabled=bool(document.data.get("IsMobilePayInvoiceEnabled")),
                    IsPensoPayEnabled=bool(document.data.get("IsPensoPayEnabled")))
    else:
        body.pop("PaymentConditionType")
        body.pop("PaymentConditionNumberOfDays")
        body["CreditNoteFor"] = str(document.credit_note_for) if document.credit_note_for else None
    return body


def sales_list_item(document: SalesDocument, chart: Chart) -> dict[str, Any]:
    read = sales_read(document, chart)
    return {
        "Number": read["Number"], "Guid": read["Guid"], "ExternalReference": read["ExternalReference"],
        "Date": read["Date"], "PaymentDate": read.get("PaymentDate"), "Description": read["Description"],
        "Status": read["PaymentStatus"],
        "Type": "Invoice" if document.kind == SalesDocument.Kind.INVOICE else "CreditNote",
        "ContactName": read["ContactName"], "ContactGuid": read["ContactGuid"],
        "TotalInclVat": read["TotalInclVat"], "TotalExclVat": read["TotalExclVat"],
        "TotalInclVatInDkk": read["TotalInclVat"], "TotalExclVatInDkk": read["TotalExclVat"],
        "MailOutStatus": read["MailOutStatus"], "LatestMailOutType": read["LatestMailOutType"],
        "Currency": read["Currency"], "CreatedAt": read["CreatedAt"], "UpdatedAt": read["UpdatedAt"],
        "DeletedAt": read["DeletedAt"],
    }


def sales_entries(document: SalesDocument, chart: Chart) -> list[dict[str, Any]]:
    """Ledger lines of a booked invoice (credit note: the same with opposite signs)."""
    read = sales_read(document, chart)
    sign = Decimal("1") if document.kind == SalesDocument.Kind.INVOICE else Decimal("-1")
    entries = [{"account": line["AccountNumber"], "amount": -sign * dec(line["TotalAmount"]),
                "vat_code": chart.account(line["AccountNumber"], "AccountNumber").vat_code,
                "description": line["Description"] or read["Description"]}
               for line in read["ProductLines"] if dec(line["TotalAmount"])]
    if dec(read["TotalVat"]):
        entries.append({"account": SALES_VAT_ACCOUNT, "amount": -sign * dec(read["TotalVat"]), "vat_code": "",
                        "description": read["Description"]})
    entries.append({"account": DEBTORS_ACCOUNT, "amount": sign * dec(read["TotalInclVat"]), "vat_code": "",
                    "description": read["Description"]})
    return entries


# --- purchase vouchers ---------------------------------------------------------------------------------

def purchase_lines(chart: Chart, data: dict[str, Any]) -> list[dict[str, Any]]:
    lines = []
    for index, line in enumerate(data.get("Lines") or []):
        field = f"Lines[{index}]"
        account = chart.account(line.get("AccountNumber"), f"{field}.AccountNumber", purchase=True)
        code = chart.vat_code(line.get("VatCode"), account, f"{field}.VatCode")
        amount, rate = dec(line.get("Amount")), chart.rate(code)
        if amount < 0:
            raise BusinessError("Purchase voucher amounts cannot be negative; use a credit note.",
                                field=f"{field}.Amount")
        if code in REVERSE_CHARGE or code == "none":
            excl, vat = ore(amount), ore(amount * rate)
            incl = excl
        else:
            incl = ore(amount)
            excl = ore(incl / (1 + rate))
            vat = incl - excl
        lines.append({"Description": line.get("Description"), "VatCode": code, "AccountNumber": account.number,
                      "AmountExclVatValue": money(excl), "AmountInclVatValue": money(incl),
                      "VatAmountValue": money(vat), "AccountTagName": line.get("AccountTagName")})
    return lines


def purchase_read(voucher: Voucher, chart: Chart) -> dict[str, Any]:
    data = voucher.data
    lines = purchase_lines(chart, data)
    excl = sum((dec(v["AmountExclVatValue"]) for v in lines), Decimal("0"))
    vat = sum((dec(v["VatAmountValue"]) for v in lines if v["VatCode"] not in REVERSE_CHARGE), Decimal("0"))
    total = sum((dec(v["AmountInclVatValue"]) for v in lines), Decimal("0"))
    status = voucher.status
    if status == "Booked" and data.get("PurchaseType") == "credit" and data.get("PaymentDate") \
            and date.fromisoformat(data["PaymentDate"][:10]) < timezone.localdate():
        status = "Overdue"
    return {
        "Guid": str(voucher.guid), "Timestamp": voucher.timestamp, "Status": status,
        "FileGuid": data.get("FileGuid"), "VoucherNumber": voucher.number, "VoucherDate": data.get("VoucherDate"),
        "PaymentDate": data.get("PaymentDate"), "RegionKey": data.get("RegionKey"),
        "PurchaseType": data.get("PurchaseType"), "Lines": lines,
        "DepositAccountNumber": data.get("DepositAccountNumber"), "ContactGuid": data.get("ContactGuid"),
        "ExternalReference": data.get("ExternalReference"), "CurrencyKey": data.get("CurrencyKey") or "DKK",
        "VoucherTotals": [
            {"Label": "Subtotal", "Total": money(excl), "Type": "SubTotal", "Position": 0},
            {"Label": "Moms", "Total": money(vat), "Type": "Vat", "Position": 1},
            {"Label": "Total", "Total": money(total), "Type": "Total", "Position": 2},
        ],
        "BookedByType": "Api" if voucher.booked_at else None, "BookedByUsername": None,
        "BookingTime": iso(voucher.booked_at),
    }


def check_purchase_for_booking(org: Organization, chart: Chart, data: dict[str, Any]) -> None:
    if not data.get("Lines"):
        raise BusinessError("A purchase voucher needs at least one line.", field="Lines")
    if not data.get("VoucherDate"):
        raise BusinessError("VoucherDate is required to book the voucher.", field="VoucherDate")
    if data.get("PurchaseType") == "credit":
        if not data.get("ContactGuid"):
            raise BusinessError("A credit purchase needs a supplier (ContactGuid) to be booked.", field="ContactGuid")
        check_contact(org, data["ContactGuid"])
        if not data.get("PaymentDate"):
            raise BusinessError("A credit purchase needs a PaymentDate to be booked.", field="PaymentDate")
    else:
        if data.get("PaymentDate"):
            raise BusinessError("A cash purchase cannot have a PaymentDate.", field="PaymentDate")
        if data.get("DepositAccountNumber") is None:
            raise BusinessError("A cash purchase needs the DepositAccountNumber it was paid from.",
                                field="DepositAccountNumber")
        chart.account(data["DepositAccountNumber"], "DepositAccountNumber", deposit=True)


def purchase_entries(voucher: Voucher, chart: Chart) -> list[dict[str, Any]]:
    data = voucher.data
    entries, paid = [], Decimal("0")
    for line in purchase_lines(chart, data):
        excl, vat, incl = dec(line["AmountExclVatValue"]), dec(line["VatAmountValue"]), dec(line["AmountInclVatValue"])
        description = line["Description"] or ""
        entries.append({"account": line["AccountNumber"], "amount": excl, "vat_code": line["VatCode"],
                        "description": description})
        if vat:
            entries.append({"account": PURCHASE_VAT_ACCOUNT, "amount": vat, "vat_code": "", "description": description})
            if line["VatCode"] in REVERSE_CHARGE:
                entries.append({"account": FOREIGN_VAT_ACCOUNT, "amount": -vat, "vat_code": "",
                                "description": description})
        paid += incl
    balancing = CREDITORS_ACCOUNT if data.get("PurchaseType") == "credit" else int(data["DepositAccountNumber"])
    entries.append({"account": balancing, "amount": -paid, "vat_code": "", "description": ""})
    return entries


# --- manual vouchers -----------------------------------------------------------------------------------

def manual_lines(chart: Chart, data: dict[str, Any]) -> list[dict[str, Any]]:
    lines = []
    for index, line in enumerate(data.get("Lines") or []):
        field = f"Lines[{index}]"
        if line.get("AccountNumber") is None and line.get("BalancingAccountNumber") is None:
            raise BusinessError("A line needs an account or a balancing account.", field=f"{field}.AccountNumber")
        account = balancing = None
        code = balancing_code = "none"
        if line.get("AccountNumber") is not None:
            account = chart.account(line["AccountNumber"], f"{field}.AccountNumber")
            code = chart.vat_code(line.get("AccountVatCode"), account, f"{field}.AccountVatCode")
        if line.get("BalancingAccountNumber") is not None:
            balancing = chart.account(line["BalancingAccountNumber"], f"{field}.BalancingAccountNumber")
            balancing_code = chart.vat_code(line.get("BalancingAccountVatCode"), balancing,
                                            f"{field}.BalancingAccountVatCode")
        amount, rate = dec(line.get("Amount")), chart.rate(code)
        if code.startswith("I") and code not in REVERSE_CHARGE:
            incl = ore(amount)
            excl = ore(incl / (1 + rate))
        else:
            excl = ore(amount)
            incl = excl + ore(excl * rate)
        lines.append({
            "Description": line.get("Description"), "AmountExclVatValue": money(excl),
            "AmountInclVatValue": money(incl), "VatAmountValue": money(incl - excl),
            "AccountNumber": account.number if account else None,
            "BalancingAccountNumber": balancing.number if balancing else None,
            "AccountVatCode": code, "BalancingAccountVatCode": balancing_code, "CurrencyKey": "DKK",
            "AmountInForeignCurrency": None,
        })
    return lines


def manual_read(voucher: Voucher, chart: Chart) -> dict[str, Any]:
    data = voucher.data
    lines = manual_lines(chart, data)
    return {
        "Guid": str(voucher.guid), "Timestamp": voucher.timestamp, "Status": voucher.status,
        "VoucherNumber": voucher.number, "VoucherDate": data.get("VoucherDate"), "FileGuid": data.get("FileGuid"),
        "ExternalReference": data.get("ExternalReference"), "CreditNoteFor": None, "Lines": lines,
        "TotalExclVat": money(sum((dec(v["AmountExclVatValue"]) for v in lines), Decimal("0"))),
        "TotalInclVat": money(sum((dec(v["AmountInclVatValue"]) for v in lines), Decimal("0"))),
        "BookedByType": "Api" if voucher.booked_at else None, "BookedByUsername": None,
        "BookingTime": iso(voucher.booked_at),
    }


def manual_entries(voucher: Voucher, chart: Chart) -> list[dict[str, Any]]:
    entries = []
    for line in manual_lines(chart, voucher.data):
        excl, incl = dec(line["AmountExclVatValue"]), dec(line["AmountInclVatValue"])
        description = line["Description"] or ""
        if line["AccountNumber"] is not None:
            entries.append({"account": line["AccountNumber"], "amount": excl, "vat_code": line["AccountVatCode"],
                            "description": description})
            if incl != excl:
                vat_account = SALES_VAT_ACCOUNT if line["AccountVatCode"].startswith("U") else PURCHASE_VAT_ACCOUNT
                entries.append({"account": vat_account, "amount": incl - excl, "vat_code": "",
                                "description": description})
        if line["BalancingAccountNumber"] is not None:
            entries.append({"account": line["BalancingAccountNumber"], "amount": -incl,
                            "vat_code": line["BalancingAccountVatCode"], "description": description})
    return entries
