"""What a sales invoice's lines consume, and whether Rackbeat's own cost total agrees with them.

The item consumption is Σ unit cost × quantity over the stock-tracked lines. Two readings decide
whether that is right, and both are checked here, by the consumption voucher and by the shape check
alike:

* **the unit**: a line sold in another unit than the product's own (a box of 12 pieces, say) holds
  that many base units; the product's alternative units (``products/{number}/units``) say how many.
  ``item_cost_price`` is read as the cost of one base unit, as the product's ``cost_price`` is. A
  line whose unit Rackbeat does not explain is taken as written (one base unit per unit);
* **the header's ``total_cost``**: Rackbeat's own sum of the lines' costs. When Rackbeat sends it,
  it must equal Σ unit cost × base quantity over every line with an item and a cost — rounded to
  the øre either as a whole or line by line, as Rackbeat may do either. A difference means one of
  the readings above is wrong for this account, so nothing is booked on it (the consumption voucher
  stops with both figures; the shape check reports it as failed).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils.translation import gettext_noop

from integration.core.clients.rackbeat_documents import (
    base_units_per,
    in_dinero_direction,
    line_cost_price,
    line_item_ref,
    number_or_none,
)
from integration.core.messages import Message, Money, Sentences

ORE = Decimal("0.01")


def _ore(value: Decimal) -> Decimal:
    return value.quantize(ORE, rounding=ROUND_HALF_UP)


def base_quantity(line: dict[str, Any], item: dict[str, Any] | None) -> Decimal | None:
    """The line's quantity in the product's base unit; None when the line has no usable quantity."""
    quantity = number_or_none(line.get("quantity"))
    if quantity is None:
        return None
    per_unit = base_units_per(line, item)
    return quantity * (per_unit if per_unit is not None else 1)


@dataclass(frozen=True)
class CostAgreement:
    """Rackbeat's ``total_cost`` next to the sum of its lines' costs, in Dinero's direction."""

    number: str
    given: Decimal | None        # the header's total_cost; None when Rackbeat does not send one
    exact: Decimal               # Σ unit cost × base quantity, unrounded
    per_line: Decimal            # the same with each line rounded to øre first
    lines: int                   # lines with an item and a unit cost
    converted: int               # of those, lines converted by an alternative unit

    @property
    def agrees(self) -> bool:
        return self.given is None or _ore(self.given) in (_ore(self.exact), self.per_line)

    @property
    def from_lines(self) -> Decimal:
        """The lines' figure closest to Rackbeat's (rounded as a whole, or line by line)."""
        if self.given is not None and _ore(self.given) == self.per_line:
            return self.per_line
        return _ore(self.exact)

    def units_note(self) -> Message | None:
        if not self.converted:
            return None
        return Message(gettext_noop("%(n)s of them converted to the product's base unit by its alternative "
                                    "units."), n=self.converted)

    def disagreement(self) -> Sentences:
        return Sentences(Message(gettext_noop(
            "Invoice %(number)s: Rackbeat's total cost (total_cost) is %(given)s, but its lines give %(lines)s "
            "(unit cost × quantity over %(count)s lines with an item)."),
            number=self.number, given=Money(_ore(self.given or Decimal(0)), "DKK"),
            lines=Money(self.from_lines, "DKK"), count=self.lines), self.units_note())

    def agreement(self) -> Sentences:
        return Sentences(Message(gettext_noop(
            "Invoice %(number)s: Rackbeat's total cost (total_cost) %(given)s equals unit cost × quantity over "
            "its %(count)s lines with an item (rounded to the øre as a whole or line by line)."),
            number=self.number, given=Money(_ore(self.given or Decimal(0)), "DKK"), count=self.lines),
            self.units_note())


def cost_agreement(invoice: dict[str, Any]) -> CostAgreement:
    """Compare ``total_cost`` with the lines; each line's item is read from its embedded ``item``."""
    doc = in_dinero_direction(invoice)
    exact = per_line = Decimal(0)
    lines = converted = 0
    for line in doc.get("lines") or []:
        if line_item_ref(line) is None:
            continue
        cost = number_or_none(line_cost_price(line))
        item = line.get("item") if isinstance(line.get("item"), dict) else {}
        quantity = base_quantity(line, item)
        if cost is None or quantity is None:
            continue
        amount = abs(cost) * quantity
        exact += amount
        per_line += _ore(amount)
        lines += 1
        per_unit = base_units_per(line, item)
        converted += per_unit is not None and per_unit != 1
    return CostAgreement(number=str(doc.get("number") or ""), given=number_or_none(doc.get("total_cost")),
                         exact=exact, per_line=per_line, lines=lines, converted=converted)
