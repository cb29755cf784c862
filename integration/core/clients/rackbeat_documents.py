"""Tolerant readers of Rackbeat document fields whose names are not settled (docs/rackbeat-documents.md).

Rackbeat's public documentation does not give the read shape of its invoices. Code that calls the
live API (docs/rackbeat-documents.md, "Sources") shows names that differ from our first
reading, so every field whose name is uncertain is read here, by one function, accepting both
spellings — the evidenced one first:

* the credit-note flag is ``is_creditnote`` (older reading: ``is_credit_note``);
* a line's unit cost is ``item_cost_price`` (older reading: ``cost_price``);
* a line names its item by ``child_id``/``child_type`` and may carry no embedded ``item``;
* a supplier invoice may carry only ``supplier_id``, no embedded ``supplier``;
* a line's unit is ``unit{number}`` or ``unit_id``; a product's alternative units
  (``products/{number}/units``) say how many base units each holds (``unit``, ``name``,
  ``quantity``).

Credit notes very likely carry **negative** totals and line amounts in Rackbeat, while Dinero's
credit notes take positive lines; the minus of a line may stand on its quantity, its unit price or
only its line total. Whether a document is a credit note is decided by the flag
alone, never by the sign; :func:`in_dinero_direction` then turns a credit note stored with negative
amounts into the positive form the mappers work with, and leaves one stored positive unchanged.

What is not embedded is fetched by :class:`RelatedRecords`, once per document: a transfer creates
one per document it reads, so an invoice with twenty lines of the same product costs one request,
and every request still goes through the client's shared rate limit.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _

from integration.core.clients.errors import NotFound

if TYPE_CHECKING:  # pragma: no cover
    from integration.core.clients.rackbeat import RackbeatClient

CREDIT_NOTE_FLAGS = ("is_creditnote", "is_credit_note")
COST_PRICE_FIELDS = ("item_cost_price", "cost_price")
TRUE_TEXTS = ("1", "true", "yes", "on")
# Header amounts whose sign follows the document's (flipped together on a negative credit note).
HEADER_AMOUNTS = ("total_subtotal", "total_vat", "total_total", "total_base_currency", "total_cost",
                  "total_profit", "total_discount")
LINE_AMOUNTS = ("line_total", "total_subtotal", "total_vat", "line_vat", "total_cost", "total_profit")


def party_name(party: dict[str, Any] | None) -> str:
    """A customer's or supplier's name: ``name``, or ``company_name`` as older payloads call it."""
    party = party or {}
    return str(party.get("name") or party.get("company_name") or "").strip()


def master_data_outcome(label: str, number: Any, what: str, *, barred: bool) -> str:
    """The log sentence for a customer, supplier, product or BOM sent to Dinero.

    ``what`` is ``"unchanged"``, ``"updated"`` or ``"created"``.
    """

    messages = {
        "unchanged": _("%(label)s %(number)s is unchanged since the last transfer; nothing was sent to Dinero."),
        "updated": _("%(label)s %(number)s was updated in Dinero."),
        "created": _("%(label)s %(number)s was created in Dinero."),
    }
    outcome = messages[what] % {"label": label, "number": number}
    if barred:
        outcome += " " + _("It is barred in Rackbeat; Dinero has no barred flag, so it stays usable there.")
    return outcome


# --- flags and fields ----------------------------------------------------------------------------

def flag(value: Any) -> bool:
    """A Rackbeat boolean: JSON true/false, 1/0 or their text forms."""
    if isinstance(value, str):
        return value.strip().lower() in TRUE_TEXTS
    return bool(value)


def first_present(doc: dict[str, Any] | None, names: tuple[str, ...]) -> tuple[str, Any] | None:
    """The first of ``names`` that ``doc`` carries with a value, as (name, value)."""
    for name in names:
        value = (doc or {}).get(name)
        if value is not None and value != "":
            return name, value
    return None


def is_credit_note(doc: dict[str, Any] | None) -> bool:
    """Whether a customer invoice is a credit note: ``is_creditnote`` (or ``is_credit_note``).

    Decided by the flag alone, never by the sign of the amounts.
    """
    found = first_present(doc, CREDIT_NOTE_FLAGS)
    return flag(found[1]) if found else False


def line_cost_price(line: dict[str, Any] | None) -> Any:
    """A line's unit cost as Rackbeat wrote it (``item_cost_price``, or ``cost_price``); None if absent."""
    found = first_present(line, COST_PRICE_FIELDS)
    return found[1] if found else None


def line_item_ref(line: dict[str, Any] | None) -> tuple[str, str] | None:
    """(item type, item number) a line refers to, or None for a text/free line.

    Read from the embedded ``item`` when there is one, else from ``child_id``/``child_type``
    (``item_id``/``product_id`` in older shapes). The type is ``product`` or ``lot``.
    """
    line = line or {}
    item = line.get("item") if isinstance(line.get("item"), dict) else None
    number = (item or {}).get("number")
    if number in (None, ""):
        found = first_present(line, ("child_id", "item_id", "product_id"))
        number = found[1] if found else None
    if number in (None, "") or isinstance(number, dict):
        return None
    kind = str((item or {}).get("type") or line.get("child_type") or "product").strip().lower()
    # Some serialisers name the model class (``App\\Models\\Lot``); only the last word matters.
    kind = kind.rsplit("\\", 1)[-1]
    return ("lot" if kind == "lot" else "product"), str(number)


def supplier_number(invoice: dict[str, Any] | None) -> str:
    """The supplier's number on a supplier invoice: ``supplier_id`` or the embedded supplier's."""
    invoice = invoice or {}
    supplier = invoice.get("supplier") if isinstance(invoice.get("supplier"), dict) else {}
    value = invoice.get("supplier_id")
    if value in (None, ""):
        value = supplier.get("number")
    return "" if value in (None, "") else str(value)


def customer_number(invoice: dict[str, Any] | None) -> str:
    """The customer's number on a customer invoice: ``customer_id`` or the embedded customer's."""
    invoice = invoice or {}
    customer = invoice.get("customer") if isinstance(invoice.get("customer"), dict) else {}
    value = invoice.get("customer_id")
    if value in (None, ""):
        value = customer.get("number")
    return "" if value in (None, "") else str(value)


def _unit_number(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("number", value.get("id"))
    return "" if value in (None, "") else str(value).strip()


def line_unit(line: dict[str, Any] | None) -> str:
    """The number of the unit a line is sold in (``unit{number}`` or ``unit_id``); "" when it does not say."""
    line = line or {}
    return _unit_number(line.get("unit")) or _unit_number(line.get("unit_id"))


def base_units_per(line: dict[str, Any] | None, item: dict[str, Any] | None) -> Decimal | None:
    """How many of the item's base units one unit of the line holds; None when Rackbeat does not say.

    1 when the line is in the item's own unit (or names none). A line in another unit is converted
    by the item's alternative units (``alternative_units``: the rows of ``products/{number}/units``,
    each ``{unit, name, quantity}``); an alternative unit not listed there, or listed without a
    usable quantity, is unknown.
    """
    unit = line_unit(line)
    item = item or {}
    base = _unit_number(item.get("unit")) or _unit_number(item.get("unit_id"))
    if not unit or not base or unit == base:
        return Decimal(1)
    for row in item.get("alternative_units") or []:
        if isinstance(row, dict) and (_unit_number(row.get("unit")) or _unit_number(row.get("unit_id"))) == unit:
            quantity = number_or_none(row.get("quantity"))
            return quantity if quantity is not None and quantity > 0 else None
    return None


def unit_rows(payload: Any) -> list[dict[str, Any]]:
    """The rows of a ``products/{number}/units`` answer, whichever envelope it comes in."""
    if isinstance(payload, list):
        return [row for row in payload if isinstance(row, dict)]
    if isinstance(payload, dict):
        for key in ("item_units", "product_units", "units", "data"):
            if isinstance(payload.get(key), list):
                return [row for row in payload[key] if isinstance(row, dict)]
    return []


# --- credit-note direction -----------------------------------------------------------------------

def number_or_none(value: Any) -> Decimal | None:
    """A Rackbeat amount as a Decimal; None when it is absent or not a number."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        result = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() else None


def _negated(value: Any) -> Any:
    number = number_or_none(value)
    return value if number is None else -number


def stored_negative(doc: dict[str, Any]) -> bool:
    """Whether a credit note is stored with negative amounts (Rackbeat's sign convention).

    The total says so; a credit note without a usable total is judged by the sum of its lines.
    """
    total = number_or_none(doc.get("total_total"))
    if total is None or total == 0:
        total = number_or_none(doc.get("total_subtotal"))
    if total is None or total == 0:
        total = Decimal(0)
        for line in doc.get("lines") or []:
            quantity, price = number_or_none(line.get("quantity")), number_or_none(line.get("line_price"))
            if quantity is not None and price is not None:
                total += quantity * price
    return total < 0


def line_amount_as_written(line: dict[str, Any], *, after_discount: bool = False) -> Decimal | None:
    """A line's amount excluding VAT with Rackbeat's own sign: its line total, else quantity × price
    (less the line's discount percentage with ``after_discount``)."""
    for name in ("line_total", "total_subtotal"):
        number = number_or_none(line.get(name))
        if number is not None:
            return number
    quantity, price = number_or_none(line.get("quantity")), number_or_none(line.get("line_price"))
    if quantity is None or price is None:
        return None
    discount = (number_or_none(line.get("discount_percentage")) or Decimal(0)) if after_discount else Decimal(0)
    return quantity * price * (1 - discount / 100)


def in_dinero_direction(doc: dict[str, Any]) -> dict[str, Any]:
    """The document with a credit note's amounts positive, as Dinero's credit notes take them.

    An invoice, and a credit note already stored with positive amounts, are returned unchanged.
    A credit note stored negative gets every amount's sign flipped, whichever of a line's figures
    carries its minus (the sign conventions Rackbeat may use):

    * a negative quantity turns positive, so quantities stay quantities and prices prices;
    * else a negative unit price turns positive;
    * else a line whose total is negative although its quantity and price are positive is already
      in Dinero's direction: only its total's sign is flipped;
    * a line that was positive on such a credit note (a correction) becomes a negative line.

    Figures that fit none of these (e.g. a negative quantity *and* price) are left as they are, so
    the mapper's totals check stops the document, naming Rackbeat's own figures. Unit costs are not
    touched: a cost is a magnitude, its direction comes from the quantity.
    """
    if not is_credit_note(doc) or not stored_negative(doc):
        return doc
    flipped = dict(doc)
    for name in HEADER_AMOUNTS:
        if name in flipped:
            flipped[name] = _negated(flipped[name])
    lines = []
    for line in doc.get("lines") or []:
        line = dict(line)
        quantity, price = number_or_none(line.get("quantity")), number_or_none(line.get("line_price"))
        written = line_amount_as_written(line)
        if quantity is not None and quantity < 0:
            line["quantity"] = -quantity
        elif price is not None and price < 0:
            line["line_price"] = -price
        elif written is not None and written < 0:
            pass
        elif quantity is not None:
            line["quantity"] = -quantity
        for name in LINE_AMOUNTS:
            if name in line:
                line[name] = _negated(line[name])
        lines.append(line)
    flipped["lines"] = lines
    return flipped


# --- related records fetched once per document ---------------------------------------------------

# What a line's item must carry for the mappers; an embedded item missing any of these is
# completed from the product or BOM itself.
ITEM_FIELDS_NEEDED = ("group", "inventory_enabled")
# Everything the transfers read of a product or BOM (group and unit for the accounts, the stock
# flag and cost price for the consumption, name and price for the Dinero product): what is kept
# of a bound item with its binding, so an unchanged item need not be read again.
ITEM_FACT_FIELDS = ("number", "type", "name", "group", "group_id", "unit", "unit_id", "inventory_enabled",
                    "sales_price", *COST_PRICE_FIELDS, "is_barred", "barred", "deleted_at", "is_deleted")


def item_facts(item: dict[str, Any]) -> dict[str, Any]:
    """The part of a product or BOM the transfers read (see :data:`ITEM_FACT_FIELDS`)."""
    return {name: item[name] for name in ITEM_FACT_FIELDS if name in item}


def _embeds_enough(line: dict[str, Any]) -> bool:
    """Whether the line's embedded item carries everything the mappers need of it."""
    embedded = line.get("item") if isinstance(line.get("item"), dict) else None
    return bool(embedded) and all(embedded.get(name) not in (None, "") for name in ITEM_FIELDS_NEEDED) \
        and base_units_per(line, embedded) is not None


class RelatedRecords:
    """The items, customer and supplier one document refers to, each fetched at most once.

    Create one per document read (a transfer attempt); embedded copies are used when they carry
    what the mappers need, the rest is fetched through the connection's client (and its shared
    rate limit). A record Rackbeat no longer has is remembered as missing, not fetched again.
    """

    def __init__(
        self,
        client: RackbeatClient,
        *,
        known: Callable[[list[tuple[str, str]]], dict[tuple[str, str], dict[str, Any]]] | None = None,
        learned: Callable[[str, str, dict[str, Any]], None] | None = None,
    ) -> None:
        """``known(refs)`` answers what is already known of those (type, number) items that are
        unchanged (the others need reading), asked once for all the lines of a document;
        ``learned(type, number, item)`` hears of every item read from Rackbeat."""
        self.client = client
        self.known = known
        self.learned = learned
        self._items: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._asked: set[tuple[str, str]] = set()
        self._parties: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._units: dict[str, list[dict[str, Any]]] = {}

    def item(self, kind: str, number: str) -> dict[str, Any] | None:
        key = (kind, number)
        self._ask_known([key])
        if key not in self._items:
            fetch = self.client.get_lot if kind == "lot" else self.client.get_product
            try:
                self._items[key] = fetch(number)
            except NotFound:
                self._items[key] = None
            if self._items[key] is not None and self.learned is not None:
                self.learned(kind, number, self._items[key])
        return self._items[key]

    def _ask_known(self, keys: list[tuple[str, str]]) -> None:
        """Take what is known of ``keys`` not asked about yet (one question for all of them)."""
        if self.known is None:
            return
        new = [key for key in dict.fromkeys(keys) if key not in self._asked and key not in self._items]
        if new:
            self._asked.update(new)
            self._items.update(self.known(new))

    def alternative_units(self, number: str) -> list[dict[str, Any]]:
        """A product's alternative units (``products/{number}/units``), fetched once."""
        if number not in self._units:
            self._units[number] = self.client.get_product_units(number)
        return self._units[number]

    def party(self, kind: str, number: str) -> dict[str, Any] | None:
        key = (kind, number)
        if key not in self._parties:
            fetch = self.client.get_supplier if kind == "supplier" else self.client.get_customer
            try:
                self._parties[key] = fetch(number)
            except NotFound:
                self._parties[key] = None
        return self._parties[key]

    def line_item(self, line: dict[str, Any]) -> dict[str, Any] | None:
        """The line's item with what the mappers need; None on a text/free line.

        An item Rackbeat no longer has keeps what the line says about it (number, type), so the
        mapper can name it in its message.
        """
        ref = line_item_ref(line)
        if ref is None:
            return None
        kind, number = ref
        embedded = line.get("item") if isinstance(line.get("item"), dict) else {}
        if _embeds_enough(line):
            return {"type": kind, **embedded}
        fetched = self.item(kind, number) or {"missing_in_rackbeat": True}
        # What the line embeds was true when the invoice was booked; the item supplies the rest.
        merged = {**fetched, **{k: v for k, v in embedded.items() if v not in (None, "")}}
        merged.setdefault("number", number)
        merged["type"] = kind
        if kind == "product" and base_units_per(line, merged) is None and "alternative_units" not in merged:
            # Sold in another unit than the product's own: how many base units it holds is asked once.
            merged["alternative_units"] = self.alternative_units(number)
        return merged

    def with_items(self, doc: dict[str, Any]) -> dict[str, Any]:
        """A copy of the document whose lines each embed their complete item."""
        completed = dict(doc)
        lines = []
        # What is kept of the lines' items, asked once for the document rather than per line.
        self._ask_known([ref for line in doc.get("lines") or []
                         if (ref := line_item_ref(line)) is not None and not _embeds_enough(line)])
        for line in doc.get("lines") or []:
            line = dict(line)
            item = self.line_item(line)
            if item is not None:
                line["item"] = item
            lines.append(line)
        completed["lines"] = lines
        return completed

    def supplier_invoice(self, invoice: dict[str, Any]) -> dict[str, Any]:
        """A supplier invoice with its supplier and its lines' items embedded."""
        completed = self.with_items(invoice)
        embedded = invoice.get("supplier") if isinstance(invoice.get("supplier"), dict) else None
        number = supplier_number(invoice)
        if number and not (embedded and embedded.get("vat_zone")):
            fetched = self.party("supplier", number)
            if fetched is not None:
                completed["supplier"] = {**(embedded or {}), **fetched}
        return completed

    def customer_invoice(self, invoice: dict[str, Any]) -> dict[str, Any]:
        """A customer invoice with its lines' items embedded, and its customer when the VAT zone,
        layout or payment terms the mapper needs are neither on the invoice nor embedded."""
        completed = self.with_items(invoice)
        embedded = invoice.get("customer") if isinstance(invoice.get("customer"), dict) else None
        number = customer_number(invoice)
        needs_customer = not (invoice.get("vat_zone") or (embedded or {}).get("vat_zone"))
        if number and (embedded is None or needs_customer):
            fetched = self.party("customer", number)
            if fetched is not None:
                completed["customer"] = {**(embedded or {}), **fetched}
        return completed
