"""Pure mappers: a Rackbeat document plus the connection's mappings → a Dinero payload.

Nothing here talks to an API or the database. Everything the mapper needs to know about the
connection (the account matrices, unit and layout mappings, bound products, the VAT codes of the
Dinero chart) arrives as small callables, so the same function is used by the transfer handlers
and by the property tests.

Money rules (DESIGN.md, "Rules that keep money safe"):

* every amount is a :class:`~decimal.Decimal` read with ``Decimal(str(x))``; floats appear only
  when the JSON body is built (:func:`json_number`);
* Dinero rounds each line total to øre (``ROUND_HALF_UP``) and the VAT of each line on that
  rounded total; the mapper predicts Dinero's total that way and stops the document, before
  anything is sent, when Rackbeat's own total cannot be reproduced from its lines (rounding the
  VAT per line or once per rate — whichever Rackbeat used). Dinero's real total is compared again
  after the draft is created, which is the check that decides;
* document dates are taken from the document as written, never shifted through UTC;
* a missing mapping never falls back to a default account: the mapper collects every missing
  mapping of the document and raises one :class:`NeedsMapping` naming them all.

Text lines: Dinero's ``LineType: "Text"`` is a purely visual line ("Text lines should only contain
a description", OpenAPI ``InvoiceLinesCreateModel.LineType``). A Rackbeat line without an item
and without an amount becomes such a text line; the schema still requires ``AccountNumber``,
``Quantity``, ``BaseAmountValue`` and ``Discount``, so it carries the account of the invoice's
first priced line and zeros. A Rackbeat line without an item but *with* an amount has no product
group, so the revenue matrix cannot choose its account: that stops the document with a hint
rather than guessing an account.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext_noop

from integration.core.clients.rackbeat_documents import (
    in_dinero_direction,
    line_cost_price,
    line_item_ref,
)
from integration.core.clients.rackbeat_documents import (
    is_credit_note as credit_note_flag,
)
from integration.core.handlers import NeedsMapping
from integration.core.messages import Message, Money, Percent, Sentences, Text
from integration.transfers.cost_readings import base_quantity, cost_agreement

ORE = Decimal("0.01")
ZERO = Decimal("0")
HUNDRED = Decimal("100")

# Rackbeat payment-term types → Dinero PaymentConditionType.
PAYMENT_CONDITION_TYPES = {"net": "Netto", "current_month": "CurrentMonthOut", "cash": "NettoCash"}

DEFAULT_UNIT = "parts"


class TotalsNotReproducible(NeedsMapping):
    """Rackbeat's own totals cannot be reproduced from its lines the way Dinero computes them."""


# --- numbers and dates -------------------------------------------------------------------------

def money(value: Any, what: Text = "amount") -> Decimal:
    """Read a Rackbeat amount (number or numeric string) exactly; ``None``/``""`` is zero."""
    if value is None or value == "":
        return ZERO
    if isinstance(value, Decimal):
        return value
    try:
        result = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise NeedsMapping(_not_a("number", what, value), hint=_CORRECT_IN_RACKBEAT) from exc
    if not result.is_finite():
        raise NeedsMapping(_not_a("number", what, value), hint=_CORRECT_IN_RACKBEAT)
    return result


def ore(value: Decimal) -> Decimal:
    """Round to øre the way Dinero does (half up)."""
    return value.quantize(ORE, rounding=ROUND_HALF_UP)


def line_total(quantity: Decimal, unit_price: Decimal, discount_percentage: Decimal) -> Decimal:
    """One line's total excluding VAT, as Dinero computes it: rounded to øre per line."""
    return ore(quantity * unit_price * (HUNDRED - discount_percentage) / HUNDRED)


def vat_per_line(lines: list[tuple[Decimal, Decimal]]) -> Decimal:
    """VAT as Dinero shows it per line: each rounded line total × its rate (percent), rounded to øre."""
    return sum((ore(net * rate / HUNDRED) for net, rate in lines), ZERO)


def vat_per_rate(lines: list[tuple[Decimal, Decimal]]) -> Decimal:
    """VAT computed once per rate on the sum of the rounded line totals (the other common method)."""
    by_rate: dict[Decimal, Decimal] = {}
    for net, rate in lines:
        by_rate[rate] = by_rate.get(rate, ZERO) + net
    return sum((ore(net * rate / HUNDRED) for rate, net in by_rate.items()), ZERO)


def json_number(value: Decimal) -> float | int:
    """A Decimal as a JSON number. Whole numbers stay integers; the rest become the shortest float
    that prints back as the same decimal (exact for the øre amounts and prices Dinero stores)."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def document_date(value: Any, what: Text = "date", field: str = "") -> date:
    """A document date as written in Rackbeat (``YYYY-MM-DD``, possibly followed by a time).

    Only the calendar date the user sees is used; a time or offset after it is ignored instead of
    being converted, so an invoice dated the 1st never becomes the 31st. A missing date stops the
    document naming the field Rackbeat did not send (never a date made up by us).
    """
    text = str(value or "").strip()
    if not text and field:
        raise NeedsMapping(Message(gettext_noop(
            "Rackbeat sent no %(what)s: the field %(field)s is missing or empty on this document."),
            what=_what(what), field=field), hint=Message(gettext_noop(
                "Enter the date on the document in Rackbeat, then press Retry. If Rackbeat has it under "
                "another name, run the Rackbeat shape check and report it.")))
    try:
        return date.fromisoformat(text[:10])
    except ValueError as exc:
        raise NeedsMapping(_not_a("date", what, text), hint=_CORRECT_IN_RACKBEAT) from exc


_CORRECT_IN_RACKBEAT = Message(gettext_noop("Correct the document in Rackbeat, then press Retry."))
# The names of the amounts and dates a document gives, as the mappers name them to ``money`` and
# ``document_date`` (each a msgid, so a reader sees it in their language).
_WHATS = (gettext_noop("amount"), gettext_noop("date"), gettext_noop("invoice total"),
          gettext_noop("invoice subtotal"), gettext_noop("invoice VAT"), gettext_noop("invoice date"),
          gettext_noop("due date"), gettext_noop("quantity"), gettext_noop("price"), gettext_noop("discount"))


def _what(what: Text) -> Text:
    return Message(what) if isinstance(what, str) else what


def _not_a(kind: str, what: Text, value: Any) -> Message:
    if kind == "date":
        return Message(gettext_noop("The %(what)s %(value)s in Rackbeat is not a date."), what=_what(what),
                       value=repr(value))
    return Message(gettext_noop("The %(what)s %(value)s in Rackbeat is not a number."), what=_what(what),
                   value=repr(value))


def _line_label(position: int, name: str) -> Message:
    if name:
        return Message(gettext_noop("line %(n)s (%(name)s)"), n=position, name=name)
    return Message(gettext_noop("line %(n)s"), n=position)


def _on(what: str, label: Message) -> Message:
    """"quantity on line 2 (Freight)": which figure of which line could not be read."""
    return Message(gettext_noop("%(what)s on %(line)s"), what=Message(what), line=label)


def _key(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("number", value.get("id"))
    return "" if value is None else str(value)


def _item_group(item: dict[str, Any] | None) -> str:
    """The product group number of a line's item ('' when it has none)."""
    return _key(item.get("group") or item.get("group_id")) if item else ""


def line_item(line: dict[str, Any]) -> dict[str, Any] | None:
    """A line's item: the embedded one, or what the line says about it (``child_id``/``child_type``).

    The transfers embed the complete item before mapping (``RelatedRecords``); a line that only
    names its item still maps to "this product has no product group" rather than to a text line.
    """
    item = line.get("item")
    if isinstance(item, dict) and item:
        return item
    ref = line_item_ref(line)
    if ref is None:
        return None
    kind, number = ref
    return {"type": kind, "number": number}


def _no_group_message(item: dict[str, Any], label: Message, document: Message) -> Message:
    if item.get("missing_in_rackbeat"):
        return Message(gettext_noop(
            "The product %(product)s on %(line)s of %(document)s was not found in Rackbeat, so its product "
            "group is unknown."),
            product=str(item.get("number") or ""), line=label, document=document)
    return Message(gettext_noop("The product %(product)s on %(line)s of %(document)s has no product group."),
                   product=str(item.get("number") or ""), line=label, document=document)


_GIVE_A_GROUP = Message(gettext_noop("Give the product a product group in Rackbeat, then press Retry."))
_ADD_THE_LINES = Message(gettext_noop("Add the lines in Rackbeat, then press Retry."))


# --- collecting every missing mapping ----------------------------------------------------------

@dataclass
class _Problems:
    items: list[NeedsMapping] = field(default_factory=list)

    def call(self, func: Callable[..., Any], *args: Any) -> Any:
        try:
            return func(*args)
        except NeedsMapping as problem:
            if problem.message not in {p.message for p in self.items}:
                self.items.append(problem)
            return None

    def add(self, message: Text, *, hint: Text = "", fix_url: str = "") -> None:
        self.call(_raise, message, hint, fix_url)

    def raise_if_any(self) -> None:
        if not self.items:
            return
        if len(self.items) == 1:
            raise self.items[0]
        first = self.items[0]
        message = Sentences(*(p.message for p in self.items), separator="\n")
        hints = list(OrderedDict.fromkeys(p.hint for p in self.items if p.hint))
        fix_url = next((p.fix_url for p in self.items if p.fix_url), "")
        raise NeedsMapping(message, hint=Sentences(*hints) if hints else first.hint, fix_url=fix_url)


def _raise(message: Text, hint: Text, fix_url: str) -> None:
    raise NeedsMapping(message, hint=hint, fix_url=fix_url)


# --- sales invoices and credit notes -----------------------------------------------------------

@dataclass(frozen=True)
class SalesMappings:
    """What the sales mapper needs from the connection. Each callable raises NeedsMapping."""

    revenue_account: Callable[[str, str], int]            # (product group number, VAT zone)
    dinero_unit: Callable[[str], str]                      # Rackbeat unit number
    dinero_language: Callable[[str], str]                  # Rackbeat layout number
    product_guid: Callable[[str, str], str | None]         # (item type, item number) → bound guid
    # Told every product group the lines will ask ``revenue_account`` about in the invoice's VAT
    # zone, first: the answers can then be looked up together (optional).
    revenue_accounts_ahead: Callable[[list[str], str], None] | None = None


@dataclass
class SalesPayload:
    """A mapped sales invoice or credit note; ``body`` is ready for the Dinero client."""

    body: dict[str, Any]
    is_credit_note: bool
    currency: str
    rackbeat_total: Decimal          # total_total, what the customer pays
    expected_total: Decimal          # Dinero's TotalInclVat as predicted from the mapped lines
    expected_subtotal: Decimal
    vat_zone: str
    external_reference: str
    rackbeat_vat: Decimal | None = None   # Rackbeat's VAT, compared with Dinero's TotalVat; None: not given


def external_reference(kind: str, number: Any) -> str:
    """The ExternalReference that identifies a Rackbeat document in Dinero."""
    return f"rackbeat:{kind}:{number}"


def sales_external_reference(number: Any) -> str:
    return external_reference("customer-invoice", number)


def invoice_vat_zone(invoice: dict[str, Any]) -> str:
    customer = invoice.get("customer") or {}
    return str(invoice.get("vat_zone") or customer.get("vat_zone") or "").strip()


def map_sales_invoice(
    invoice: dict[str, Any],
    mappings: SalesMappings,
    *,
    contact_guid: str | None,
    dinero_guid: str | None,
    credit_note_for: str | None = None,
) -> SalesPayload:
    """Map a booked Rackbeat customer invoice (or credit note) to a Dinero invoice body.

    Raises :class:`NeedsMapping` naming every missing mapping, or :class:`TotalsNotReproducible`
    when Rackbeat's totals cannot be reproduced from its lines.
    """
    problems = _Problems()
    # A credit note's direction comes from its flag; its amounts are read positive (Dinero's form).
    as_written = invoice
    invoice = in_dinero_direction(invoice)
    number = invoice.get("number")
    is_credit_note = credit_note_flag(invoice)
    customer = invoice.get("customer") or {}
    currency = str(invoice.get("currency") or customer.get("currency") or "DKK").upper()
    zone = invoice_vat_zone(invoice)
    if not zone:
        problems.add(Message(gettext_noop(
            "Invoice %(number)s has no VAT zone, and neither has its customer."),
            number=str(number)),
                     hint=Message(gettext_noop("Set the customer's VAT zone in Rackbeat, then press Retry.")))

    invoice_date = problems.call(document_date, invoice.get("invoice_date"), "invoice date")

    lines: list[dict[str, Any]] = []
    text_line_positions: list[int] = []
    line_vats: list[tuple[Decimal, Decimal]] = []
    vat_known = True
    subtotal = ZERO
    first_account: int | None = None

    if zone and mappings.revenue_accounts_ahead is not None:
        mappings.revenue_accounts_ahead(list(dict.fromkeys(
            group for line in invoice.get("lines") or [] if (group := _item_group(line_item(line))))), zone)
    for position, line in enumerate(invoice.get("lines") or [], start=1):
        item = line_item(line)
        name = str(line.get("name") or (item or {}).get("name") or "").strip()
        label = _line_label(position, name)
        quantity = problems.call(money, line.get("quantity"), _on("quantity", label)) or ZERO
        price = problems.call(money, line.get("line_price"), _on("price", label)) or ZERO
        discount = problems.call(money, line.get("discount_percentage"), _on("discount", label)) or ZERO
        if not ZERO <= discount <= HUNDRED:
            problems.add(Message(gettext_noop(
                "The discount %(discount)s on %(line)s of invoice %(number)s is outside 0–100 %%."),
                discount=Percent(discount), line=label, number=str(number)),
                         hint=Message(gettext_noop("Correct the line in Rackbeat, then press Retry.")))
            continue
        total = line_total(quantity, price, discount)

        if not item:
            if total == ZERO:
                text_line_positions.append(len(lines))
                lines.append({"LineType": "Text", "Description": name or "-", "Quantity": 0,
                              "BaseAmountValue": 0, "Discount": 0, "AccountNumber": None})
                continue
            problems.add(
                Message(gettext_noop(
                    "Invoice %(number)s: %(line)s has an amount (%(amount)s) but no product, so no product "
                    "group decides its revenue account."),
                    number=str(number), line=label, amount=Money(total, currency)),
                hint=Message(gettext_noop(
                    "Use a product on the line in Rackbeat (e.g. a product for freight or fees), then "
                    "press Retry.")),
            )
            continue

        group = _item_group(item)
        if not group:
            problems.add(_no_group_message(item, label, Message(gettext_noop("invoice %(number)s"),
                                                                number=str(number))),
                         hint=_GIVE_A_GROUP)
            continue
        account = problems.call(mappings.revenue_account, group, zone) if zone else None
        unit_number = _key(line.get("unit") or item.get("unit") or line.get("unit_id"))
        unit = problems.call(mappings.dinero_unit, unit_number) if unit_number else DEFAULT_UNIT
        product_guid = mappings.product_guid(str(item.get("type") or "product"), str(item.get("number")))
        if account is None or unit is None:
            continue
        if first_account is None:
            first_account = account

        dinero_line: dict[str, Any] = {
            "LineType": "Product",
            "Quantity": json_number(quantity),
            "BaseAmountValue": json_number(price),
            "Discount": json_number(discount),
            "Unit": unit,
            "AccountNumber": account,
        }
        if product_guid:
            dinero_line["ProductGuid"] = product_guid
            dinero_line["Description"] = None
        else:
            dinero_line["Description"] = name or str(item.get("number"))
        lines.append(dinero_line)
        subtotal += total

        rate = line.get("vat_percentage")
        if rate is None or rate == "":
            vat_known = False
        else:
            rate_d = problems.call(money, rate, _on(gettext_noop("VAT rate"), label))
            if rate_d is not None:
                line_vats.append((total, rate_d))

    if not any(line["LineType"] == "Product" for line in lines) and not problems.items:
        problems.add(Message(gettext_noop(
            "Invoice %(number)s has no lines with a product, so there is nothing to book."),
            number=str(number)),
                     hint=_ADD_THE_LINES)

    layout = _key(invoice.get("layout_id") or customer.get("layout_id"))
    language = problems.call(mappings.dinero_language, layout) if layout else None

    terms = invoice.get("payment_terms") or customer.get("payment_terms") or None
    condition_type: str | None = None
    condition_days: int | None = None
    if terms:
        condition_type = PAYMENT_CONDITION_TYPES.get(str(terms.get("type") or ""))
        if condition_type is None:
            problems.add(Message(gettext_noop(
                "The payment terms %(terms)s of invoice %(number)s have the type %(type)s, which Dinero "
                "has no equivalent for."),
                terms=str(terms.get("name") or terms.get("number")), number=str(number),
                type=repr(terms.get("type"))),
                         hint=Message(gettext_noop(
                             "Use net, current month or cash payment terms in Rackbeat, then press Retry.")))
        elif condition_type != "NettoCash":
            condition_days = int(terms.get("maturity_days") or 0)

    problems.raise_if_any()

    for index in text_line_positions:
        lines[index]["AccountNumber"] = first_account

    rackbeat_total = money(invoice.get("total_total"), what="invoice total")
    expected_total = subtotal + vat_per_line(line_vats) if vat_known else rackbeat_total
    alternative_total = subtotal + vat_per_rate(line_vats) if vat_known else rackbeat_total
    if is_credit_note and invoice.get("total_subtotal") not in (None, "") \
            and money(invoice.get("total_subtotal"), what="invoice subtotal") != subtotal:
        # Named in the credit note's figures as Rackbeat shows them, not as read in Dinero's direction.
        raise TotalsNotReproducible(_credit_note_figures(as_written, currency), hint=Message(gettext_noop(
            "Check the signs of the credit note's lines in Rackbeat (a credit note's lines all carry the minus in "
            "the same place), correct it or transfer it by hand, then mark the operation handled.")))
    try:
        _check_reproducible(invoice, subtotal=subtotal, expected_totals=(expected_total, alternative_total),
                            currency=currency, vat_known=vat_known)
    except TotalsNotReproducible as problem:
        if not is_credit_note or as_written is invoice:
            raise
        problem.message += " " + _credit_note_header(as_written, currency)
        problem.args = (problem.message,)
        raise

    reference = sales_external_reference(number)
    english = language == "en-GB"
    if is_credit_note:
        description = f"{'Credit note' if english else 'Kreditnota'} {number}"
    else:
        description = f"{'Invoice' if english else 'Faktura'} {number}"
    body: dict[str, Any] = {
        "Guid": dinero_guid,
        "ContactGuid": contact_guid,
        "Date": invoice_date.isoformat() if invoice_date else None,
        "Currency": currency,
        "ExternalReference": reference,
        "Description": description,
        "ShowLinesInclVat": False,
        "ProductLines": lines,
    }
    if language:
        body["Language"] = language
    heading = str(invoice.get("heading") or "").strip()
    if heading:
        body["Comment"] = heading
    if is_credit_note:
        if credit_note_for:
            body["CreditNoteFor"] = credit_note_for
    elif condition_type:
        body["PaymentConditionType"] = condition_type
        body["PaymentConditionNumberOfDays"] = condition_days
    return SalesPayload(
        body=body, is_credit_note=is_credit_note, currency=currency, rackbeat_total=rackbeat_total,
        expected_total=expected_total, expected_subtotal=subtotal, vat_zone=zone,
        external_reference=reference, rackbeat_vat=rackbeat_vat(invoice),
    )


def _figure(value: Any) -> Decimal | str:
    """A figure as Rackbeat wrote it (its sign kept), shown in the reader's number format."""
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)


def _credit_note_figures(written: dict[str, Any], currency: str) -> Message:
    """Why a credit note cannot be read, in Rackbeat's own figures (signs as Rackbeat writes them)."""
    lines = []
    for position, line in enumerate(written.get("lines") or [], start=1):
        if line_item(line) is None and not line.get("line_price"):
            continue
        name = str(line.get("name") or "").strip()
        label = (Message(gettext_noop("line %(position)s (%(name)s):"), position=position, name=name) if name
                 else Message(gettext_noop("line %(position)s:"), position=position))
        figures = Message(gettext_noop("quantity %(quantity)s × price %(price)s"),
                          quantity=_figure(line.get("quantity")), price=_figure(line.get("line_price")))
        total = line.get("line_total", line.get("total_subtotal"))
        line_total = (Message(gettext_noop("(line total %(total)s)"), total=_figure(total))
                      if total not in (None, "") else None)
        lines.append(Sentences(label, figures, line_total))
    return Message(gettext_noop(
        "Credit note %(number)s: Rackbeat's figures fit none of the sign conventions the service reads "
        "(negative quantities, negative unit prices, or negative line totals with positive quantities and "
        "prices), so its lines cannot be matched with its totals. In Rackbeat: %(lines)s; %(totals)s."),
        number=str(written.get("number") or ""), lines=Sentences(*lines, separator="; "),
        totals=_header_figures(written, currency))


def _header_figures(written: dict[str, Any], currency: str) -> Sentences | Message:
    figures = [Message(label, amount=Money(value, currency)) for label, value in (
        (gettext_noop("subtotal %(amount)s"), _figure(written.get("total_subtotal"))),
        (gettext_noop("VAT %(amount)s"), _figure(written.get("total_vat"))),
        (gettext_noop("total %(amount)s"), _figure(written.get("total_total"))))
        if isinstance(value, Decimal)]
    return Sentences(*figures, separator=", ") if figures else Message(gettext_noop("no totals"))


def _credit_note_header(written: dict[str, Any], currency: str) -> Message:
    return Message(gettext_noop("Rackbeat shows the credit note with %(figures)s."),
                   figures=_header_figures(written, currency))


def _check_reproducible(invoice: dict[str, Any], *, subtotal: Decimal, expected_totals: tuple[Decimal, Decimal],
                        currency: str, vat_known: bool) -> None:
    number = invoice.get("number")
    hint = Message(gettext_noop(
        "Rackbeat's totals are not the sum of its lines rounded to øre the way Dinero rounds them. Check "
        "the lines (prices with many decimals, discounts), correct the invoice in Rackbeat or transfer it "
        "by hand, then mark the operation handled."))
    if invoice.get("total_total") in (None, ""):
        raise TotalsNotReproducible(Message(gettext_noop(
            "Invoice %(number)s has no total in Rackbeat, so the transferred total cannot be checked."),
            number=str(number)), hint=hint)
    if invoice.get("total_subtotal") not in (None, ""):
        rackbeat_subtotal = money(invoice.get("total_subtotal"), what="invoice subtotal")
        if rackbeat_subtotal != subtotal:
            raise TotalsNotReproducible(Message(gettext_noop(
                "Invoice %(number)s: the lines add up to %(subtotal)s excluding VAT in Dinero, but "
                "Rackbeat's subtotal is %(rackbeat)s (difference %(difference)s)."),
                number=str(number), subtotal=Money(subtotal, currency),
                rackbeat=Money(rackbeat_subtotal, currency),
                difference=Money(subtotal - rackbeat_subtotal, currency)), hint=hint)
    if vat_known:
        rackbeat_total = money(invoice.get("total_total"), what="invoice total")
        expected_total = expected_totals[0]
        if rackbeat_total not in expected_totals:
            raise TotalsNotReproducible(Message(gettext_noop(
                "Invoice %(number)s: Dinero would compute a total of %(dinero)s including VAT, but "
                "Rackbeat's total is %(rackbeat)s (difference %(difference)s)."),
                number=str(number), dinero=Money(expected_total, currency),
                rackbeat=Money(rackbeat_total, currency),
                difference=Money(expected_total - rackbeat_total, currency)), hint=hint)


# --- supplier invoices → purchase vouchers -----------------------------------------------------

# Purchase VAT codes for EU and non-EU purchases (reverse charge: Dinero books the VAT both as
# purchase and sales VAT, and the line amount is the amount excluding VAT). Dinero's own codes
# are IEUV/IEUY (EU goods/services) and IVV/IVY (goods/services from outside the EU).
FOREIGN_PURCHASE_PREFIXES = ("IEU", "IV")


def purchase_amount_includes_vat(vat_code: str | None) -> bool:
    """Whether a purchase-voucher line ``Amount`` on an account with ``vat_code`` includes VAT.

    Dinero's rule (OpenAPI, voucher line ``Amount``): "amount should include VAT when VAT type is
    purchase and exclude VAT when VAT type is sale or the VAT type is foreign to Denmark". So:
    domestic purchase VAT (I25 and an organization's own partial-deduction I-codes) → including
    VAT; EU/abroad reverse-charge purchase codes, sales codes (U…) and no VAT → excluding VAT.
    """
    code = (vat_code or "").strip().upper()
    if not code or code == "NONE":
        return False
    if code.startswith(FOREIGN_PURCHASE_PREFIXES):
        return False
    return code.startswith("I")


def is_reverse_charge(vat_code: str | None) -> bool:
    """EU/abroad purchase codes: Dinero books the VAT both ways and the amount excludes it."""
    return (vat_code or "").strip().upper().startswith(FOREIGN_PURCHASE_PREFIXES)


def rackbeat_vat(invoice: dict[str, Any]) -> Decimal | None:
    """Rackbeat's VAT of a document (``total_vat``, else total − subtotal); None when it gives neither."""
    if invoice.get("total_vat") not in (None, ""):
        return money(invoice.get("total_vat"), what="invoice VAT")
    if invoice.get("total_total") in (None, "") or invoice.get("total_subtotal") in (None, ""):
        return None
    return money(invoice.get("total_total"), what="invoice total") - money(invoice.get("total_subtotal"),
                                                                             what="invoice subtotal")


def purchase_line_vat(amount: Decimal, vat_code: str | None, rate: Decimal) -> Decimal:
    """The purchase VAT Dinero books for a voucher line of ``amount`` (as sent, :func:`purchase_line_amount`).

    Dinero takes the amount including VAT and works the net out of it, rounded to øre; the VAT is
    the rest. Reverse-charge and VAT-free lines book no deductible VAT of their own here.
    """
    if not purchase_amount_includes_vat(vat_code):
        return ZERO
    fraction = rate / HUNDRED if rate > 1 else rate
    return amount - ore(amount / (1 + fraction))


def purchase_line_amount(net: Decimal, vat_code: str | None, rate: Decimal) -> Decimal:
    """The ``Amount`` Dinero expects for a purchase line whose amount excluding VAT is ``net``.

    ``rate`` is the VAT code's rate as a fraction (0.25) or percent (25).
    """
    if not purchase_amount_includes_vat(vat_code):
        return ore(net)
    fraction = rate / HUNDRED if rate > 1 else rate
    return ore(net * (1 + fraction))


@dataclass(frozen=True)
class AccountVat:
    vat_code: str
    rate: Decimal   # fraction, 0.25


@dataclass(frozen=True)
class SupplierMappings:
    supplier_account: Callable[[str, str], int]            # (product group number, VAT zone)
    account_vat: Callable[[int], AccountVat]                # the account's VAT code in the Dinero chart
    fix_url: str = ""                                       # the supplier matrix, where its accounts are chosen


@dataclass
class PurchasePayload:
    body: dict[str, Any]
    currency: str
    rackbeat_total: Decimal
    voucher_total: Decimal
    vat_zone: str
    external_reference: str
    accounts: list[int]
    rackbeat_vat: Decimal | None = None   # None: not comparable (reverse charge, or Rackbeat gives no VAT)
    dinero_vat: Decimal = ZERO            # the purchase VAT Dinero works out of the lines


def supplier_vat_zone(invoice: dict[str, Any]) -> str:
    supplier = invoice.get("supplier") or {}
    return str(invoice.get("vat_zone") or supplier.get("vat_zone") or "").strip()


def map_supplier_invoice(
    invoice: dict[str, Any],
    mappings: SupplierMappings,
    *,
    contact_guid: str,
    file_guid: str | None = None,
) -> PurchasePayload:
    """Map a booked Rackbeat supplier invoice to a Dinero credit purchase voucher body.

    Each Rackbeat line with an amount becomes one voucher line on its Dinero account (product
    group → supplier matrix for the supplier's VAT zone) with the ``Amount`` of
    :func:`purchase_line_amount`. Dinero works a line's VAT out of its amount including VAT
    (:func:`purchase_line_vat`); per Rackbeat line that gives back Rackbeat's VAT of the line
    exactly, whereas one line per account would give the right total with another VAT (three lines
    of 0.10: Rackbeat 0.09 VAT, Dinero 0.08 on one line of 0.39). The VAT Dinero would book is
    compared with Rackbeat's ``total_vat`` before anything is sent.
    """
    problems = _Problems()
    number = invoice.get("number")
    supplier = invoice.get("supplier") or {}
    currency = str(invoice.get("currency") or supplier.get("currency") or "DKK").upper()
    zone = supplier_vat_zone(invoice)
    if not zone and not supplier:
        problems.add(Message(gettext_noop(
            "Supplier invoice %(number)s: its supplier %(supplier)s could not be read from Rackbeat, so "
            "its VAT zone is unknown."),
            number=str(number), supplier=str(invoice.get("supplier_id") or "")),
                     hint=Message(gettext_noop(
                         "Check that the supplier exists in Rackbeat, then press Retry.")))
    elif not zone:
        problems.add(Message(gettext_noop("Supplier invoice %(number)s: the supplier has no VAT zone."),
                             number=str(number)),
                     hint=Message(gettext_noop("Set the supplier's VAT zone in Rackbeat, then press Retry.")))
    voucher_date = problems.call(document_date, invoice.get("invoice_date"), "invoice date", "invoice_date")
    due = invoice.get("due_date")
    payment_date = problems.call(document_date, due, "due date") if due else voucher_date

    own_number = str(invoice.get("supplier_invoice_number") or "").strip()
    # One voucher line per Rackbeat line: Dinero works each line's VAT out of its amount, so a
    # line per Rackbeat line gives back Rackbeat's VAT of that line exactly (see module docstring).
    priced: list[tuple[int, Decimal, str]] = []
    subtotal = ZERO
    for position, line in enumerate(invoice.get("lines") or [], start=1):
        item = line_item(line) or {}
        name = str(line.get("name") or item.get("name") or "").strip()
        label = _line_label(position, name)
        quantity = problems.call(money, line.get("quantity"), _on("quantity", label)) or ZERO
        price = problems.call(money, line.get("line_price"), _on("price", label)) or ZERO
        discount = problems.call(money, line.get("discount_percentage"), _on("discount", label)) or ZERO
        total = line_total(quantity, price, discount)
        if total == ZERO:
            continue
        group = _key(item.get("group") or item.get("group_id"))
        if not group and item:
            problems.add(_no_group_message(item, label, Message(gettext_noop("supplier invoice %(number)s"),
                                                                number=str(number))),
                         hint=_GIVE_A_GROUP)
            continue
        if not group:
            problems.add(Message(gettext_noop(
                "Supplier invoice %(number)s: %(line)s has an amount (%(amount)s) but no product group, so "
                "the supplier matrix cannot choose its account."),
                number=str(number), line=label, amount=Money(total, currency)),
                         hint=Message(gettext_noop(
                             "Use a product with a product group on the line in Rackbeat, then press Retry.")))
            continue
        account = problems.call(mappings.supplier_account, group, zone) if zone else None
        if account is None:
            continue
        group_name = (item.get("group") or {}).get("name") if isinstance(item.get("group"), dict) else None
        priced.append((account, total, name or str(group_name or group)))
        subtotal += total

    accounts = list(OrderedDict.fromkeys(account for account, _net, _name in priced))
    vats = {account: problems.call(mappings.account_vat, account) for account in accounts}
    if not priced and not problems.items:
        problems.add(Message(gettext_noop(
            "Supplier invoice %(number)s has no lines with an amount, so there is nothing to book."),
            number=str(number)),
                     hint=_ADD_THE_LINES)
    problems.raise_if_any()

    lines = []
    voucher_total = dinero_vat = ZERO
    for account, net, name in priced:
        vat = vats[account]
        amount = purchase_line_amount(net, vat.vat_code, vat.rate)
        voucher_total += amount
        dinero_vat += purchase_line_vat(amount, vat.vat_code, vat.rate)
        description = f"{name} – faktura {own_number or number}"
        lines.append({"Description": description[:250], "AccountNumber": account,
                      "Amount": json_number(amount), "VatCode": vat.vat_code or None})
    inclusive = [purchase_amount_includes_vat(vats[account].vat_code) for account in accounts]

    rackbeat_total = money(invoice.get("total_total"), what="invoice total")
    _check_purchase_totals(invoice, subtotal=subtotal, voucher_total=voucher_total, inclusive=inclusive,
                           currency=currency, accounts=accounts, fix_url=mappings.fix_url)
    reverse_charge = any(is_reverse_charge(vats[account].vat_code) for account in accounts)
    vat = None if reverse_charge else rackbeat_vat(invoice)
    if vat is not None and vat != dinero_vat:
        raise TotalsNotReproducible(Message(gettext_noop(
            "Supplier invoice %(number)s: Dinero would book %(dinero)s purchase VAT, but Rackbeat's VAT is "
            "%(rackbeat)s (difference %(difference)s); the totals are %(voucher_total)s and "
            "%(rackbeat_total)s."),
            number=str(number), dinero=Money(dinero_vat, currency), rackbeat=Money(vat, currency),
            difference=Money(dinero_vat - vat, currency), voucher_total=Money(voucher_total, currency),
            rackbeat_total=Money(rackbeat_total, currency)),
            hint=Message(gettext_noop(
                "Compare the VAT rates of Rackbeat's lines with the VAT codes of the supplier matrix "
                "accounts in Dinero, correct the cause, then press Retry.")))
    reference = external_reference("supplier-invoice", number)
    body: dict[str, Any] = {
        "PurchaseType": "credit",
        "ContactGuid": contact_guid,
        "VoucherDate": voucher_date.isoformat(),
        "PaymentDate": payment_date.isoformat(),
        "CurrencyKey": currency,
        "ExternalReference": reference,
        "Lines": lines,
    }
    if file_guid:
        body["FileGuid"] = file_guid
    return PurchasePayload(body=body, currency=currency, rackbeat_total=rackbeat_total,
                           voucher_total=voucher_total, vat_zone=zone, external_reference=reference,
                           accounts=accounts, rackbeat_vat=vat, dinero_vat=dinero_vat)


def _check_purchase_totals(invoice: dict[str, Any], *, subtotal: Decimal, voucher_total: Decimal,
                           inclusive: list[bool], currency: str, accounts: list[int], fix_url: str = "") -> None:
    """The voucher must book what the supplier charges, to the øre, whatever the mix of VAT codes.

    What Dinero books as owed to the supplier is the sum of the line amounts (including VAT on
    domestic purchase-VAT accounts, excluding it on reverse-charge and VAT-free accounts); that sum
    must equal Rackbeat's ``total_total``.
    """
    number = invoice.get("number")
    hint = Message(gettext_noop(
        "Compare the supplier invoice in Rackbeat with the supplier matrix accounts' VAT codes in Dinero "
        "(a domestic supplier needs accounts with purchase VAT, an EU or foreign supplier accounts with "
        "reverse-charge VAT), correct the cause, then press Retry."))
    if invoice.get("total_subtotal") not in (None, ""):
        rackbeat_subtotal = money(invoice.get("total_subtotal"), what="invoice subtotal")
        if rackbeat_subtotal != subtotal:
            raise TotalsNotReproducible(Message(gettext_noop(
                "Supplier invoice %(number)s: the lines add up to %(subtotal)s excluding VAT, but "
                "Rackbeat's subtotal is %(rackbeat)s."),
                number=str(number), subtotal=Money(subtotal, currency),
                rackbeat=Money(rackbeat_subtotal, currency)),
                hint=hint)
    if invoice.get("total_total") in (None, ""):
        raise TotalsNotReproducible(Message(gettext_noop(
            "Supplier invoice %(number)s has no total in Rackbeat, so the voucher's total cannot be "
            "checked."),
            number=str(number)), hint=hint)
    rackbeat_total = money(invoice.get("total_total"), what="invoice total")
    if voucher_total == rackbeat_total:
        return
    if all(inclusive):
        raise TotalsNotReproducible(Message(gettext_noop(
            "Supplier invoice %(number)s: the voucher lines including VAT add up to %(voucher)s, but "
            "Rackbeat's total is %(rackbeat)s."),
            number=str(number), voucher=Money(voucher_total, currency),
            rackbeat=Money(rackbeat_total, currency)),
            hint=hint, fix_url=fix_url)
    if not any(inclusive):
        raise TotalsNotReproducible(Message(gettext_noop(
            "Supplier invoice %(number)s: the accounts' VAT codes book no purchase VAT (amount "
            "%(voucher)s), but Rackbeat's invoice carries VAT (total %(rackbeat)s)."),
            number=str(number), voucher=Money(voucher_total, currency),
            rackbeat=Money(rackbeat_total, currency)),
            hint=hint, fix_url=fix_url)
    with_vat = ", ".join(str(a) for a, inc in zip(accounts, inclusive, strict=True) if inc)
    without_vat = ", ".join(str(a) for a, inc in zip(accounts, inclusive, strict=True) if not inc)
    raise TotalsNotReproducible(Message(gettext_noop(
        "Supplier invoice %(number)s: the voucher would book %(voucher)s, but Rackbeat's total is "
        "%(rackbeat)s (difference %(difference)s): account(s) %(with_vat)s book purchase VAT, account(s) "
        "%(without_vat)s do not."),
        number=str(number), voucher=Money(voucher_total, currency), rackbeat=Money(rackbeat_total, currency),
        difference=Money(voucher_total - rackbeat_total, currency), with_vat=with_vat,
        without_vat=without_vat),
        hint=hint, fix_url=fix_url)


# --- item consumption → manual voucher ---------------------------------------------------------

@dataclass(frozen=True)
class ConsumptionLine:
    """One stock line of the consumption, as its specification shows it."""

    item: str
    name: str
    quantity: Decimal
    cost_price: Decimal
    amount: Decimal        # quantity × cost price, rounded to øre for the specification


@dataclass
class ConsumptionPayload:
    body: dict[str, Any]
    amount: Decimal
    external_reference: str
    number: str = ""
    voucher_date: str = ""
    lines: list[ConsumptionLine] = field(default_factory=list)


def consumption_lines(invoice: dict[str, Any]) -> tuple[Decimal, list[ConsumptionLine]]:
    """The consumption (rounded to øre, negative on credit notes) and the stock lines it is made of.

    Σ cost price × quantity over the stock-tracked lines. The direction comes from the credit-note
    flag, never from the sign of Rackbeat's amounts: the credit note is first read in Dinero's
    (positive) direction, and a unit cost is a magnitude.
    """
    problems = _Problems()
    invoice = in_dinero_direction(invoice)
    total = ZERO
    lines: list[ConsumptionLine] = []
    # Stock lines whose cost is missing or 0: a zero consumption would be booked (or the voucher
    # skipped) with nobody told, so they stop the voucher together, each item named.
    without_cost: list[Message] = []
    for position, line in enumerate(invoice.get("lines") or [], start=1):
        item = line_item(line) or {}
        if not item:
            continue
        name = str(line.get("name") or item.get("name") or "").strip()
        label = _line_label(position, name)
        if "inventory_enabled" not in item:
            problems.add(Message(gettext_noop(
                "Rackbeat does not say whether the product %(product)s on %(line)s of invoice %(number)s "
                "is stock-tracked, so its consumption cannot be computed."),
                product=str(item.get("number") or ""), line=label, number=str(invoice.get("number") or "")),
                         hint=Message(gettext_noop(
                             "Check that the product still exists in Rackbeat, then press Retry.")))
            continue
        if not item.get("inventory_enabled"):
            continue
        cost_price = line_cost_price(line)
        cost = problems.call(money, cost_price, _on(gettext_noop("cost price"), label)) if cost_price is not None \
            else ZERO
        if cost is None:
            continue
        if cost == ZERO:
            without_cost.append(Message(gettext_noop(
                "%(product)s (%(line)s)"),
                product=str(item.get("number") or ""), line=label))
            continue
        if problems.call(money, line.get("quantity"), _on("quantity", label)) is None:
            continue
        # In the product's base unit: a box of 12 consumes 12 pieces at the piece's cost.
        quantity = base_quantity(line, item) or ZERO
        total += abs(cost) * quantity
        lines.append(ConsumptionLine(item=str(item.get("number") or ""), name=name, quantity=quantity,
                                     cost_price=abs(cost), amount=ore(abs(cost) * quantity)))
    if without_cost:
        problems.add(Message(gettext_noop(
            "Invoice %(number)s: stock items without a cost price (missing or 0): %(items)s. Their "
            "consumption cannot be computed, so no consumption voucher was booked."),
            number=str(invoice.get("number") or ""), items=Sentences(*without_cost, separator=", ")),
                     hint=Message(gettext_noop(
                         "Enter the cost price of these products in Rackbeat (or correct the invoice "
                         "lines), then press Retry.")))
    agreement = cost_agreement(invoice)
    if not agreement.agrees:
        problems.add(Sentences(agreement.disagreement(), Message(gettext_noop(
            "Rackbeat's own figures disagree, so no consumption voucher was booked."))),
                     hint=Message(gettext_noop(
                         "Open the invoice in Rackbeat and compare its cost with the lines' unit costs and "
                         "units (the shape check reports the same comparison). If the lines are right, book "
                         "the consumption by hand in Dinero and mark this operation handled.")))
    problems.raise_if_any()
    amount = ore(total)
    return (-amount if credit_note_flag(invoice) else amount), lines


def consumption_amount(invoice: dict[str, Any]) -> Decimal:
    """Σ cost price × quantity over the stock-tracked lines, rounded to øre; negative on credit notes."""
    return consumption_lines(invoice)[0]


def map_consumption(invoice: dict[str, Any], *, stock_account: int, consumption_account: int,
                    file_guid: str | None = None) -> ConsumptionPayload:
    """One manual voucher: consumption account debited, stock account credited, VAT suppressed.

    A credit note reverses the consumption (negative amount: the goods came back into stock). The
    voucher's specification (a PDF of :attr:`ConsumptionPayload.lines`) is attached as ``FileGuid``.
    """
    number = invoice.get("number")
    amount, lines = consumption_lines(invoice)
    voucher_date = document_date(invoice.get("invoice_date"), what="invoice date")
    reference = external_reference("consumption", number)
    kind = "kreditnota" if credit_note_flag(invoice) else "faktura"
    body: dict[str, Any] = {
        "VoucherDate": voucher_date.isoformat(),
        "ExternalReference": reference,
        "Lines": [{
            "Description": f"Vareforbrug {kind} {number}",
            "AccountNumber": consumption_account,
            "BalancingAccountNumber": stock_account,
            "Amount": json_number(amount),
            "AccountVatCode": "none",
            "BalancingAccountVatCode": "none",
        }],
    }
    if file_guid:
        body["FileGuid"] = file_guid
    return ConsumptionPayload(body=body, amount=amount, external_reference=reference, number=str(number),
                              voucher_date=voucher_date.isoformat(), lines=lines)


# --- Dinero invoice → Rackbeat customer invoice ------------------------------------------------

def dinero_marker(guid: str) -> str:
    """Written on the Rackbeat invoice so a lost answer can be found again."""
    return f"dinero:invoice:{guid}"


def map_dinero_invoice(
    invoice: dict[str, Any],
    *,
    customer_number: str,
    product_number_for: Callable[[dict[str, Any]], str | None],
) -> dict[str, Any]:
    """A booked Dinero invoice → the body of a Rackbeat customer invoice.

    Lines whose product is known in Rackbeat carry the product number; others become free lines
    with the description. Dinero's date and payment date are copied as written.
    """
    guid = str(invoice.get("Guid") or "")
    number = invoice.get("Number")
    lines = []
    for line in invoice.get("ProductLines") or []:
        if str(line.get("LineType") or "Product") == "Text":
            lines.append({"name": str(line.get("Description") or ""), "quantity": 0, "line_price": 0})
            continue
        entry: dict[str, Any] = {
            "name": str(line.get("Description") or ""),
            "quantity": json_number(money(line.get("Quantity"), what="quantity")),
            "line_price": json_number(money(line.get("BaseAmountValue"), what="price")),
            "discount_percentage": json_number(money(line.get("Discount"), what="discount")),
        }
        product_number = product_number_for(line)
        if product_number:
            entry["item_id"] = product_number
        lines.append(entry)
    body: dict[str, Any] = {
        "customer_id": customer_number,
        "invoice_date": str(invoice.get("Date") or "")[:10],
        "currency": str(invoice.get("Currency") or "DKK"),
        "heading": f"Dinero faktura {number}" if number else "Dinero faktura",
        "other_reference": dinero_marker(guid),
        "note": dinero_marker(guid),
        "lines": lines,
    }
    if invoice.get("PaymentDate"):
        body["due_date"] = str(invoice["PaymentDate"])[:10]
    return body

