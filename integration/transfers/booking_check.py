"""Compare before booking (DESIGN.md rule 13): one rule for every money document, every path.

Whatever is about to be booked in Dinero — a draft just created, a draft left by an earlier
attempt, a document a person linked — is read back and compared with what Rackbeat's *current*
document gives: each line's account, VAT code and amount, the VAT and the total, to the øre.

* Equal → the transfer goes on, and its log text is built from the document as read back here
  (:class:`Figures`), never from what was meant to be sent.
* A draft that differs → it is updated with the current content, read back and compared again;
  still different → needs attention with both figures (typically a VAT code in Dinero).
* A document Dinero cannot update any more (booked) that differs → needs attention with both
  figures; nothing is written.

Each document kind contributes two readers — what Rackbeat's document gives (from the mapped
payload) and what Dinero holds (from Dinero's read model) — as :class:`Figures`, and a
:class:`DineroDocument` saying how to read and update it. :func:`check_before_booking` is the
one rule the sales, supplier and consumption transfers call before booking.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_noop

from integration.core.handlers import TotalsMismatch, TransferContext, TransferProblem
from integration.core.messages import Message, Money, Sentences
from integration.transfers.invoice_mapping import (
    line_total,
    money,
    ore,
    purchase_amount_includes_vat,
)

ZERO = Decimal("0")
DRAFT_STATES = ("Draft", "Editing")


@dataclass(frozen=True, order=True)
class Line:
    """One booked line as compared: its account, its amount to the øre, and its VAT code or the
    account it balances against where the document kind has one."""

    account: str
    amount: Decimal
    code: str = ""
    against: str = ""

    def message(self) -> Message:
        if self.against:
            return Message(gettext_noop("account %(account)s against %(balancing)s: %(amount)s"),
                           account=self.account, balancing=self.against, amount=self.amount)
        if self.code:
            return Message(gettext_noop("account %(account)s (%(code)s): %(amount)s"),
                           account=self.account, code=self.code, amount=self.amount)
        return Message(gettext_noop(
            "account %(account)s: %(amount)s"),
            account=self.account, amount=self.amount)

    def __str__(self) -> str:
        return self.message().render()


@dataclass(frozen=True)
class Figures:
    """What a money document books, as a person reads it: lines, VAT and total, to the øre."""

    lines: tuple[Line, ...]
    vat: Decimal | None      # None: the source states no VAT to compare with
    total: Decimal
    currency: str

    def describe(self) -> Message:
        return Message(gettext_noop("%(total)s, VAT %(vat)s, lines: %(lines)s"),
                       total=Money(self.total, self.currency),
                       vat="?" if self.vat is None else Money(self.vat, self.currency),
                       lines=Sentences(*(line.message() for line in self.lines), separator="; ") or "-")

    def matches(self, found: Figures) -> bool:
        """Whether Dinero's ``found`` figures equal these expected ones (VAT only where known)."""
        return (self.lines, self.total, self.currency) == (found.lines, found.total, found.currency) \
            and (self.vat is None or self.vat == found.vat)

    def accounts(self) -> str:
        """The accounts the lines book on, in order of appearance, for the log."""
        seen: list[str] = []
        for line in self.lines:
            if line.account and line.account not in seen:
                seen.append(line.account)
        return ", ".join(seen)


def _amount(value: Any) -> Decimal:
    return ore(money(value, "Dinero amount"))


def _code(value: Any) -> str:
    code = str(value or "").strip()
    return "none" if not code or code.lower() == "none" else code.upper()


def _figures(lines: list[Line], vat: Decimal | None, total: Decimal, currency: str) -> Figures:
    return Figures(lines=tuple(sorted(lines)), vat=None if vat is None else ore(vat), total=ore(total),
                   currency=currency or "DKK")


# --- sales invoices and credit notes -------------------------------------------------------------

def _sales_line(account: Any, total: Decimal) -> Line:
    return Line(str(account), ore(total))


def sales_expected(payload: Any) -> Figures:
    """What Rackbeat's invoice gives: each priced line's account and total, Rackbeat's VAT and total.

    The VAT is the one Rackbeat states (``total_vat``) where it gives one, else its total less its
    subtotal: VAT is what the company reports, so it is compared to the øre, not only the total."""
    lines = [_sales_line(line.get("AccountNumber"), line_total(money(line.get("Quantity")),
                                                               money(line.get("BaseAmountValue")),
                                                               money(line.get("Discount"))))
             for line in payload.body.get("ProductLines") or [] if line.get("LineType") != "Text"]
    vat = payload.rackbeat_vat if payload.rackbeat_vat is not None \
        else payload.rackbeat_total - payload.expected_subtotal
    return _figures(lines, vat, payload.rackbeat_total, payload.currency)


def sales_found(document: dict[str, Any]) -> Figures:
    """What Dinero's invoice (or credit note) holds, read back."""
    lines = [_sales_line(line.get("AccountNumber"), _amount(line.get("TotalAmount")))
             for line in document.get("ProductLines") or [] if line.get("LineType") != "Text"]
    return _figures(lines, _amount(document.get("TotalVat")), _amount(document.get("TotalInclVat")),
                    str(document.get("Currency") or "DKK").upper())


# --- purchase vouchers ---------------------------------------------------------------------------

def _purchase_line(account: Any, code: str, amount: Decimal) -> Line:
    return Line(str(account), ore(amount), code=code)


def purchase_expected(payload: Any, invoice: dict[str, Any]) -> Figures:
    """What Rackbeat's supplier invoice gives: the voucher lines as sent, Rackbeat's VAT and total.

    The VAT is Rackbeat's ``total_vat``, else its total less its subtotal; with neither, only the
    lines and the total are compared.
    """
    lines = [_purchase_line(line.get("AccountNumber"), _code(line.get("VatCode")), money(line.get("Amount")))
             for line in payload.body.get("Lines") or []]
    vat: Decimal | None = None
    if invoice.get("total_vat") not in (None, ""):
        vat = money(invoice.get("total_vat"), "invoice VAT")
    elif invoice.get("total_subtotal") not in (None, ""):
        vat = payload.rackbeat_total - money(invoice.get("total_subtotal"), "invoice subtotal")
    return _figures(lines, vat, payload.rackbeat_total, payload.currency)


def purchase_found(voucher: dict[str, Any]) -> Figures:
    """What Dinero's purchase voucher holds: each line as an amount paid (including VAT on domestic
    purchase-VAT codes, excluding it on reverse-charge and VAT-free codes), the input VAT, the total owed."""
    lines, vat, total = [], ZERO, ZERO
    for line in voucher.get("Lines") or []:
        code = _code(line.get("VatCode"))
        if purchase_amount_includes_vat(code):
            amount = _amount(line.get("AmountInclVatValue"))
            vat += _amount(line.get("VatAmountValue"))
        else:
            amount = _amount(line.get("AmountExclVatValue"))
        total += amount
        lines.append(_purchase_line(line.get("AccountNumber"), code, amount))
    return _figures(lines, vat, total, str(voucher.get("CurrencyKey") or "DKK").upper())


# --- manual vouchers (item consumption) ----------------------------------------------------------

def _manual_line(account: Any, balancing: Any, amount: Decimal) -> Line:
    return Line(str(account), ore(amount), against=str(balancing))


def manual_expected(payload: Any) -> Figures:
    lines = [_manual_line(line.get("AccountNumber"), line.get("BalancingAccountNumber"), money(line.get("Amount")))
             for line in payload.body.get("Lines") or []]
    return _figures(lines, ZERO, payload.amount, "DKK")


def manual_found(voucher: dict[str, Any]) -> Figures:
    lines, vat, total = [], ZERO, ZERO
    for line in voucher.get("Lines") or []:
        amount = _amount(line.get("AmountInclVatValue"))
        vat += _amount(line.get("VatAmountValue"))
        total += amount
        lines.append(_manual_line(line.get("AccountNumber"), line.get("BalancingAccountNumber"), amount))
    return _figures(lines, vat, total, "DKK")


def manual_accounts(voucher: dict[str, Any]) -> tuple[str, str]:
    """The (account, balancing account) of a one-line manual voucher as Dinero holds it, for the log."""
    lines = voucher.get("Lines") or [{}]
    return str(lines[0].get("AccountNumber") or "-"), str(lines[0].get("BalancingAccountNumber") or "-")


# --- the rule ------------------------------------------------------------------------------------

@dataclass
class DineroDocument:
    """One Dinero document as the check needs it: how to name, read and update it."""

    label: str                                        # "purchase voucher 61001" — for messages
    read: Callable[[], dict[str, Any]]                # the document as Dinero holds it now
    found: Callable[[dict[str, Any]], Figures]        # its figures
    update: Callable[[dict[str, Any]], Any] | None    # replace a draft's content (given the read document)


class DocumentDiffers(TotalsMismatch):
    """What Dinero holds differs from Rackbeat's current document; both figures are named."""

    def __init__(self, label: Any, expected: Figures, found: Figures, *, booked: bool) -> None:
        if booked:
            message = Message(gettext_noop(
                "The %(label)s is booked in Dinero and differs from Rackbeat's current document. Dinero "
                "has %(found)s. Rackbeat now gives %(expected)s. Nothing was changed in Dinero."))
            hint = Message(gettext_noop(
                "Correct Dinero by hand (for example a credit note and a new document), then mark this "
                "operation handled."))
        else:
            message = Message(gettext_noop(
                "The %(label)s differs from Rackbeat's document even after it was updated. Dinero has "
                "%(found)s. Rackbeat gives %(expected)s. It was left as a draft in Dinero."))
            hint = Message(gettext_noop(
                "Compare the lines in both systems (accounts, VAT codes in Dinero, rounding, discounts), "
                "correct the cause, then press Retry."))
        TransferProblem.__init__(self, message % {"label": label, "found": found.describe(),
                                                  "expected": expected.describe()}, hint=hint)
        self.rackbeat_total = expected.total
        self.dinero_total = found.total
        self.booked = booked


def is_draft(document: dict[str, Any]) -> bool:
    return str(document.get("Status") or "Draft") in DRAFT_STATES


def check_before_booking(ctx: TransferContext, document: DineroDocument, expected: Figures, *,
                         current: dict[str, Any] | None = None, written_now: bool = False) -> tuple[dict[str, Any],
                                                                                                  Figures]:
    """Read the document back and compare it with ``expected``; answer it and its figures when equal.

    ``current`` is the document as Dinero answered it a moment ago (a create's read model), read
    again when absent. ``written_now`` says it was just written with the current content, so a
    difference cannot be cured by writing it once more.
    """
    read = current if current is not None else document.read()
    found = document.found(read)
    if expected.matches(found):
        return read, found
    if not is_draft(read) or document.update is None:
        raise DocumentDiffers(document.label, expected, found, booked=not is_draft(read))
    if written_now:
        raise DocumentDiffers(document.label, expected, found, booked=False)
    document.update(read)
    ctx.note(Message(gettext_noop(
        "The draft %(label)s in Dinero differed from Rackbeat's current document (Dinero had %(found)s; "
        "Rackbeat gives %(expected)s); it was updated before booking."),
        label=document.label, found=found.describe(), expected=expected.describe()))
    read = document.read()
    found = document.found(read)
    if not expected.matches(found):
        raise DocumentDiffers(document.label, expected, found, booked=not is_draft(read))
    return read, found
