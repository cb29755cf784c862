"""The shape check: does this connection's Rackbeat send what the service reads?

Rackbeat's documentation does not give the read shape of its documents; the service reads what
public code calling the live API shows (docs/rackbeat-documents.md, "Sources"), tolerating
the older names. The check reads one real example of everything the service uses — a recent booked
customer invoice, a credit note, a supplier invoice, a product, a customer, a supplier, product
groups, units and layouts — and reports field by field:

* **found** — under the name the service reads first (the evidenced one);
* **read from the … record** — on a record the service fetches (the customer's VAT zone when the
  invoice does not carry one, a line's product group from the product);
* **found under another name** — under a name the service also accepts (e.g. ``is_credit_note``
  instead of ``is_creditnote``);
* **missing** — the service will stop documents that need it (required) or do without (optional).

It then cross-checks what it read (:mod:`integration.books.rackbeat_crosschecks`): credit notes
flagged under a name the service does not read or not at all, lines naming no item, the header's
``total_cost`` against the lines' unit costs, the VAT against the lines. Each cross-check is
**verified** (naming the document), **not verifiable yet** (why, what to do) or **failed** (what is
wrong, with the number looked up). A section with nothing to read (no booked credit note in the
account yet, say) or a list this account's Rackbeat does not offer (404) is not verifiable yet.
Lists Rackbeat refused to filter or order are listed; a refused order is read without ordering, so
no section disappears. The check never says "all clear" about what it could not see: its outcome
tells *everything verified* (``manage.py rackbeat_check`` exits 0), *something wrong* (1) and
*nothing wrong, but not everything verifiable yet* (2) apart.

It also lists the webhook registrations as Rackbeat has them next to what activation learnt, and
the events seen from Rackbeat: each event name, account id and header set genuine deliveries
carried (``RackbeatDeliveryShape``), an account id other than the connection's marked. The
consultant runs it during setup (``manage.py rackbeat_check <connection>`` or the "Check Rackbeat"
button on the connection page); every run is stored (``RackbeatShapeCheck``) and shown in the admin,
so a wrong assumption is seen on day one, not at month end. It only reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from accounts.models import Connection
from integration.books.rackbeat_crosschecks import (
    FAILED,
    NOT_YET,
    VERIFIED,
    Finding,
    cost_finding,
    items_finding,
    suspect_credit_note,
    suspects_finding,
    vat_finding,
)
from integration.core.clients import errors
from integration.core.clients.factory import rackbeat_client
from integration.core.clients.rackbeat_documents import (
    RelatedRecords,
    customer_number,
    flag,
    is_credit_note,
    line_item_ref,
    stored_negative,
    supplier_number,
)
from integration.core.models import (
    RackbeatDeliveryShape,
    RackbeatEventAnswer,
    RackbeatShapeCheck,
    RackbeatWebhook,
    RefusedListFilter,
)
from integration.triggers.activation import webhook_url
from integration.triggers.webhooks import webhook_events

FOUND = "found"
FETCHED = "fetched"
RENAMED = "renamed"
MISSING = "missing"
RECORDS = {"customer": gettext_lazy("read from the customer record"),
           "supplier": gettext_lazy("read from the supplier record"),
           "item": gettext_lazy("read from the product record")}
RECENT = 100          # invoices looked through for a booked one and a credit note
EXAMPLE_LENGTH = 60


@dataclass(frozen=True)
class Need:
    """One thing the service reads: the names it accepts, the evidenced (preferred) one first."""

    label: str
    names: tuple[str, ...]
    required: bool = True
    note: str = ""


@dataclass
class FieldResult:
    label: str
    status: str
    expected: str
    found_as: str = ""
    example: str = ""
    required: bool = True
    note: str = ""
    where: str = ""       # for a value read from a fetched record: which one, in words


@dataclass
class Section:
    title: str
    document: str = ""
    error: str = ""
    fields: list[FieldResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Why nothing could be verified here yet, and what to do (e.g. no booked credit note so far).
    unverified: str = ""

    def not_verifiable(self, why: str, todo: str = "") -> None:
        self.unverified = _("Not verifiable yet: %(why)s %(todo)s") % {
            "why": why, "todo": todo or _("Run the check again after the first one.")}

    def find(self, finding: Finding | None) -> None:
        if finding is not None:
            self.findings.append(finding)

    def failed(self, label: str, text: str) -> None:
        self.findings.append(Finding(label, FAILED, text))


# --- what the service reads, per document --------------------------------------------------------

INVOICE_HEADER = (
    Need(gettext_noop("invoice number"), ("number",)),
    Need(gettext_noop("invoice date"), ("invoice_date",)),
    Need(gettext_noop("due date"), ("due_date",), required=False),
    Need(gettext_noop("currency"), ("currency",), required=False, note=gettext_noop("DKK is assumed without it.")),
    Need(gettext_noop("booked flag"), ("is_booked",)),
    Need(gettext_noop("subtotal excl. VAT"), ("total_subtotal",), required=False),
    Need(gettext_noop("total incl. VAT"), ("total_total",)),
    Need(gettext_noop("customer number"), ("customer_id", "customer.number")),
    Need(gettext_noop("VAT zone"), ("vat_zone", "customer.vat_zone", "fetched customer.vat_zone")),
    Need(gettext_noop("layout"), ("layout_id", "customer.layout_id", "fetched customer.layout_id"), required=False,
         note=gettext_noop("Decides the invoice language in Dinero through the layout mapping.")),
    Need(gettext_noop("payment terms"), ("payment_terms", "customer.payment_terms", "fetched customer.payment_terms"),
         required=False),
)
SALES_LINE = (
    Need(gettext_noop("line text"), ("name", "item.name"), required=False),
    Need(gettext_noop("quantity"), ("quantity",)),
    Need(gettext_noop("unit price"), ("line_price",)),
    Need(gettext_noop("discount %"), ("discount_percentage",), required=False),
    Need(gettext_noop("item number"), ("child_id", "item.number", "item_id")),
    Need(gettext_noop("item type"), ("child_type", "item.type"), required=False, note=gettext_noop("product is assumed without it.")),
    Need(gettext_noop("unit cost (item consumption)"), ("item_cost_price", "cost_price")),
    Need(gettext_noop("VAT rate"), ("vat_percentage",), required=False,
         note=gettext_noop("Without it Rackbeat's total is checked against Dinero's after the draft is made.")),
    Need(gettext_noop("product group"), ("fetched item.group", "item.group", "fetched item.group_id")),
    Need(gettext_noop("stock-tracked flag"), ("fetched item.inventory_enabled", "item.inventory_enabled")),
)
CREDIT_NOTE = (
    Need(gettext_noop("credit-note flag"), ("is_creditnote", "is_credit_note")),
    Need(gettext_noop("credited invoice number"), ("credited_invoice_number",), required=False,
         note=gettext_noop("Links the Dinero credit note to the original invoice when present.")),
    Need(gettext_noop("total incl. VAT"), ("total_total",)),
)
SUPPLIER_INVOICE = (
    Need(gettext_noop("invoice number"), ("number",)),
    Need(gettext_noop("invoice date"), ("invoice_date",),
         note=gettext_noop("The only public schema of supplier invoices (2018) has no dates; without it a "
                           "supplier invoice stops, naming the field.")),
    Need(gettext_noop("booked flag"), ("is_booked",)),
    Need(gettext_noop("total incl. VAT"), ("total_total",)),
    Need(gettext_noop("subtotal excl. VAT"), ("total_subtotal",), required=False),
    Need(gettext_noop("supplier number"), ("supplier_id", "supplier.number")),
    Need(gettext_noop("VAT zone"), ("fetched supplier.vat_zone", "supplier.vat_zone", "vat_zone")),
    Need(gettext_noop("supplier's own invoice number"), ("supplier_invoice_number",), required=False,
         note=gettext_noop("Shown in the voucher text; Rackbeat's number is used without it.")),
)
SUPPLIER_LINE = (
    Need(gettext_noop("quantity"), ("quantity",)),
    Need(gettext_noop("unit price"), ("line_price",)),
    Need(gettext_noop("item number"), ("child_id", "item.number", "item_id")),
    Need(gettext_noop("product group"), ("fetched item.group", "item.group", "fetched item.group_id")),
)
PRODUCT = (
    Need(gettext_noop("number"), ("number",)),
    Need(gettext_noop("name"), ("name",)),
    Need(gettext_noop("product group"), ("group", "group_id")),
    Need(gettext_noop("stock-tracked flag"), ("inventory_enabled",)),
    Need(gettext_noop("unit"), ("unit", "unit_id"), required=False),
    Need(gettext_noop("sales price"), ("sales_price",), required=False),
    Need(gettext_noop("cost price"), ("cost_price",), required=False),
    Need(gettext_noop("barred flag"), ("is_barred",), required=False),
    Need(gettext_noop("changed at"), ("updated_at",), required=False, note=gettext_noop("The poll asks for changes since its last run.")),
)
PARTY = (
    Need(gettext_noop("number"), ("number",)),
    Need(gettext_noop("name"), ("name", "company_name")),
    Need(gettext_noop("VAT zone"), ("vat_zone",)),
    Need(gettext_noop("country"), ("address_country",), required=False),
    Need(gettext_noop("e-mail"), ("contact_email",), required=False),
    Need(gettext_noop("VAT number"), ("company_vat",), required=False),
    Need(gettext_noop("currency"), ("currency",), required=False),
    Need(gettext_noop("payment terms"), ("payment_terms",), required=False),
    Need(gettext_noop("changed at"), ("updated_at",), required=False),
)
PRODUCT_GROUP = (
    Need(gettext_noop("number"), ("number",)),
    Need(gettext_noop("name"), ("name",)),
    Need(gettext_noop("domestic VAT rate"), ("vat_domestic",), required=False),
)
UNIT = (Need(gettext_noop("number"), ("number",)), Need(gettext_noop("name"), ("name",)))
LAYOUT = (Need(gettext_noop("number"), ("number",)), Need(gettext_noop("name"), ("name",)),
          Need(gettext_noop("language"), ("locale", "language"), required=False))


# --- reading values by dotted names --------------------------------------------------------------

def _value(doc: dict[str, Any], name: str, fetched: dict[str, Any]) -> Any:
    """``name`` in ``doc``; ``item.group`` reads nested, ``fetched x.y`` reads a fetched record."""
    source: Any = doc
    if name.startswith("fetched "):
        name = name.removeprefix("fetched ")
        kind, _sep, name = name.partition(".")
        source = fetched.get(kind) or {}
    for part in name.split("."):
        if not isinstance(source, dict):
            return None
        source = source.get(part)
    return source


def _present(value: Any) -> bool:
    """A value Rackbeat sent; ``False`` and ``0`` count, ``None``, ``""`` and empty objects do not."""
    if isinstance(value, dict | list):
        return bool(value)
    return value is not None and value != ""


def _example(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("number", value.get("name", "{…}"))
    text = str(value)
    return text if len(text) <= EXAMPLE_LENGTH else text[:EXAMPLE_LENGTH - 1] + "…"


def check_fields(doc: dict[str, Any], needs: tuple[Need, ...], fetched: dict[str, Any] | None = None
                 ) -> list[FieldResult]:
    """Each need as found / found under another name / missing in ``doc``."""
    fetched = fetched or {}
    results = []
    for need in needs:
        # Labels and notes are the catalogue's msgids: read in the language of whoever runs the check.
        result = FieldResult(label=_(need.label), status=MISSING, expected=need.names[0], required=need.required,
                             note=_(need.note) if need.note else "")
        for position, name in enumerate(need.names):
            value = _value(doc, name, fetched)
            if _present(value):
                result.status = FOUND if position == 0 else RENAMED
                if name.startswith("fetched "):
                    record = name.removeprefix("fetched ").partition(".")[0]
                    result.status, result.where = FETCHED, str(RECORDS.get(record, record))
                result.found_as = name
                result.example = _example(value)
                break
        results.append(result)
    return results


# --- the check -----------------------------------------------------------------------------------

class ShapeCheck:
    """Reads the examples through one client; each failure is reported in its section."""

    def __init__(self, connection: Connection, client: Any) -> None:
        self.connection = connection
        self.client = client
        self.related = RelatedRecords(client)
        self.sections: list[Section] = []
        self.requests = Section(_("List requests"))

    def _read(self, section: Section, what: Callable[[], Any], *, missing: str = "", listing: str = "") -> Any:
        """``what()``, or None with the reason in ``section``: a 404 is a failed finding naming the
        number looked up (``missing``), or on a ``listing`` a list this account does not offer."""
        try:
            return what()
        except errors.NotFound as exc:
            if missing:
                section.failed(_("record looked up"), missing)
            elif listing:
                section.not_verifiable(
                    _("Rackbeat answers HTTP 404 for the list %(path)s: it is not available on this account.") % {
                        "path": listing},
                    _("Ask Rackbeat whether the module is enabled for the account, then run the check again."))
            else:
                section.error = exc.describe()
        except errors.ApiError as exc:
            section.error = exc.describe()
        return None

    def run(self) -> list[Section]:
        invoices = self._recent("customer-invoices", "customer_invoices", _("Booked customer invoice"))
        listed = invoices is not None
        invoices = invoices or []
        ordinary = [row for row in invoices if not is_credit_note(row)]
        invoice_row = next((row for row in ordinary if not suspect_credit_note(row)), None) or \
            next(iter(ordinary), None)
        credit_row = next((row for row in invoices if is_credit_note(row)), None)
        invoice = self._customer_invoice(invoice_row, _("Booked customer invoice")) if listed else None
        if listed:
            self._credit_note(credit_row, ordinary)
        supplier_rows = self._recent("supplier-invoices", "supplier_invoices", _("Booked supplier invoice"))
        supplier_invoice = self._supplier_invoice(supplier_rows[0] if supplier_rows else None) \
            if supplier_rows is not None else None
        self._product(invoice)
        self._party(_("Customer"), "customer", customer_number(invoice or {}), self.client.get_customer,
                    self.client.iter_customers, invoice)
        self._party(_("Supplier"), "supplier", supplier_number(supplier_invoice or {}), self.client.get_supplier,
                    self.client.iter_suppliers, supplier_invoice)
        self._reference(_("Product groups"), "product-groups", self.client.iter_product_groups, PRODUCT_GROUP)
        self._reference(_("Units"), "units", self.client.iter_units, UNIT)
        self._reference(_("Layouts"), "layouts", self.client.iter_layouts, LAYOUT)
        self._refused_filters()
        return self.sections

    def _recent(self, path: str, key: str, title: str) -> list[dict[str, Any]] | None:
        """The newest booked rows of a list; None (and a section saying why) when it could not be read."""
        probe = Section(title)

        def newest() -> list[dict[str, Any]]:
            try:
                return self.client.recent_rows(path, key, count=RECENT, booked=True)
            except errors.ValidationFailed as exc:
                if not _refuses_ordering(exc):
                    raise
                # Read without ordering rather than lose the section; the refusal itself is wrong for the
                # service, whose polls ask for the same order.
                self.requests.failed(_("ordering by number"), _(
                    "Rackbeat refused to order %(path)s by number (%(answer)s). The check read the list without "
                    "ordering instead and took its highest numbers; the service's polls ask for this order too, "
                    "so tell support.") % {"path": path, "answer": exc.describe()})
                return self.client.recent_rows(path, key, count=RECENT, booked=True, ordered=False)

        rows = self._read(probe, newest, listing=path)
        if probe.error or probe.unverified:
            self.sections.append(probe)
            return None
        return [row for row in rows or [] if flag(row.get("is_booked", True))]

    def _customer_invoice(self, row: dict[str, Any] | None, title: str) -> dict[str, Any] | None:
        section = Section(title)
        self.sections.append(section)
        if row is None:
            section.not_verifiable(_("no booked customer invoice among the newest %(n)s in this account.")
                                   % {"n": RECENT})
            return None
        invoice = self._read(section, lambda: self.client.get_customer_invoice(row["number"]),
                             missing=_("Rackbeat lists invoice %(n)s but has no such invoice when it is looked up "
                                       "(customer-invoices/%(n)s).") % {"n": row["number"]})
        if invoice is None:
            return None
        section.document = _("invoice %(n)s") % {"n": invoice.get("number")}
        fetched: dict[str, Any] = {}
        number = customer_number(invoice)
        if number:
            fetched["customer"] = self._read(Section(""), lambda: self.related.party("customer", number)) or {}
        section.fields = check_fields(invoice, INVOICE_HEADER, fetched)
        self._document_findings(section, invoice, section.document, sales=True)
        section.fields += self._line_fields(invoice, SALES_LINE, _("line"))
        return invoice

    def _document_findings(self, section: Section, doc: dict[str, Any], document: str, *, sales: bool) -> None:
        with_items = self._read(section, lambda: self.related.with_items(doc))
        if with_items is None:
            return
        section.find(items_finding(with_items, document))
        if sales:
            section.find(cost_finding(with_items))
            section.find(vat_finding(doc))

    def _line_fields(self, invoice: dict[str, Any], needs: tuple[Need, ...], prefix: str) -> list[FieldResult]:
        lines = [line for line in invoice.get("lines") or [] if line_item_ref(line)]
        if not lines:
            return [FieldResult(label=f"{prefix}: " + _("a line with an item"), status=MISSING, expected="lines[]",
                                note=_("The document has no line with an item to check."))]
        # The first line whose item Rackbeat has; a line naming no item is reported as its own finding.
        line = next((line for line in lines if self._item_of(line)), lines[0])
        results = check_fields(line, needs, {"item": self._item_of(line)})
        for result in results:
            result.label = f"{prefix}: {result.label}"
        return results

    def _item_of(self, line: dict[str, Any]) -> dict[str, Any]:
        ref = line_item_ref(line)
        if ref is None:
            return {}
        try:
            return self.related.item(*ref) or {}
        except errors.ApiError:
            return {}

    def _credit_note(self, row: dict[str, Any] | None, ordinary: list[dict[str, Any]]) -> None:
        section = Section(_("Credit note"))
        self.sections.append(section)
        suspects = suspects_finding(ordinary)
        if row is None:
            if suspects is None:
                section.not_verifiable(_("no booked credit note among the newest %(n)s invoices in this account.")
                                       % {"n": RECENT})
            section.find(suspects)
            return
        note = self._read(section, lambda: self.client.get_customer_invoice(row["number"]),
                          missing=_("Rackbeat lists credit note %(n)s but has no such invoice when it is looked up "
                                    "(customer-invoices/%(n)s).") % {"n": row["number"]})
        section.find(suspects)
        if note is None:
            return
        section.document = _("credit note %(n)s") % {"n": note.get("number")}
        section.fields = check_fields(note, CREDIT_NOTE)
        self._document_findings(section, note, section.document, sales=True)
        sign = _("negative") if stored_negative(note) else _("positive")
        section.notes.append(_("Its amounts are %(sign)s in Rackbeat; the service books credit notes with positive "
                               "lines in Dinero either way.") % {"sign": sign})

    def _supplier_invoice(self, row: dict[str, Any] | None) -> dict[str, Any] | None:
        section = Section(_("Booked supplier invoice"))
        self.sections.append(section)
        if row is None:
            section.not_verifiable(_("no booked supplier invoice among the newest %(n)s in this account.")
                                   % {"n": RECENT})
            return None
        invoice = self._read(section, lambda: self.client.get_supplier_invoice(row["number"]),
                             missing=_("Rackbeat lists supplier invoice %(n)s but has no such invoice when it is "
                                       "looked up (supplier-invoices/%(n)s).") % {"n": row["number"]})
        if invoice is None:
            return None
        section.document = _("supplier invoice %(n)s") % {"n": invoice.get("number")}
        fetched: dict[str, Any] = {}
        number = supplier_number(invoice)
        if number:
            fetched["supplier"] = self._read(Section(""), lambda: self.related.party("supplier", number)) or {}
        section.fields = check_fields(invoice, SUPPLIER_INVOICE, fetched)
        self._document_findings(section, invoice, section.document, sales=False)
        section.fields += self._line_fields(invoice, SUPPLIER_LINE, _("line"))
        return invoice

    def _product(self, invoice: dict[str, Any] | None) -> None:
        section = Section(_("Product"))
        self.sections.append(section)
        lines = [line for line in (invoice or {}).get("lines") or [] if line_item_ref(line)]
        # The product of the invoice's first line that names one Rackbeat has (a line naming an unknown
        # item is reported with the invoice), else the newest product.
        line = next((line for line in lines if line_item_ref(line)[0] == "product" and self._item_of(line)), None)
        number = line_item_ref(line)[1] if line else None
        where = _("on invoice %(n)s") % {"n": (invoice or {}).get("number")} if line else _("the newest product")
        if number is None:
            rows = self._read(section, lambda: self.client.recent_rows("products", "products", count=1),
                              listing="products")
            if section.error or section.unverified:
                return
            number = (rows or [{}])[0].get("number")
        if number in (None, ""):
            section.not_verifiable(_("this account has no product yet."))
            return
        product = self._read(section, lambda: self.client.get_product(number), missing=_(
            "Rackbeat has no product with the number %(n)s (looked up as products/%(n)s, %(where)s).") % {
            "n": number, "where": where})
        if product is not None:
            section.document = _("product %(n)s") % {"n": number}
            section.fields = check_fields(product, PRODUCT)

    def _party(self, title: str, kind: str, number: str, get: Callable[[Any], Any],
               listing: Callable[[], Any], document: dict[str, Any] | None) -> None:
        section = Section(title)
        self.sections.append(section)
        where = _("named on invoice %(n)s") % {"n": (document or {}).get("number")} if number else ""
        if not number:
            first = self._read(section, lambda: next(iter(listing()), None), listing=f"{kind}s")
            number = str((first or {}).get("number") or "")
            where = _("the first one listed")
        if not number:
            if not (section.error or section.unverified):
                section.not_verifiable(_("this account has no %(kind)s yet.") % {"kind": kind})
            return
        party = self._read(section, lambda: get(number), missing=_(
            "Rackbeat has no %(what)s with the number %(n)s (looked up as %(path)s/%(n)s, %(where)s).") % {
            "what": title.lower(), "path": f"{kind}s", "n": number, "where": where})
        if party is not None:
            section.document = f"{kind} {number}"
            section.fields = check_fields(party, PARTY)

    def _reference(self, title: str, path: str, listing: Callable[[], Any], needs: tuple[Need, ...]) -> None:
        section = Section(title)
        self.sections.append(section)
        rows = self._read(section, lambda: list(listing()), listing=path)
        if rows is None:
            return
        if not rows:
            section.not_verifiable(_("Rackbeat lists none in this account yet."))
            return
        section.document = _("%(n)s listed") % {"n": len(rows)}
        section.fields = check_fields(rows[0], needs)

    def _refused_filters(self) -> None:
        """The list filters Rackbeat refused on this connection (applied by the service itself)."""
        listed = [f"{row.name} ({row.path})" for row in
                  RefusedListFilter.objects.filter(connection=self.connection).order_by("path", "name")]
        if listed:
            self.requests.notes.append(_("Refused filters: %(filters)s. The service asks without them and keeps the "
                                         "matching rows itself.") % {"filters": ", ".join(listed)})
        if self.requests.findings or self.requests.notes:
            self.sections.append(self.requests)


def _refuses_ordering(exc: errors.ApiError) -> bool:
    named = {str(key).split(".")[0] for key in (exc.details or {})}
    text = f"{exc.message} {exc.body}".lower()
    return bool({"order_by", "order_direction"} & named) or "order_by" in text or "order_direction" in text


def webhook_status(connection: Connection, client: Any) -> list[dict[str, Any]]:
    """Each event the connection wants, as Rackbeat lists its registration and as activation learnt it."""

    url = webhook_url(connection)
    try:
        listed = {str(hook.get("id")): hook for hook in client.iter_webhooks() if hook.get("url") == url}
    except errors.ApiError as exc:
        return [{"event": "", "status": MISSING, "text": _("Rackbeat's webhooks could not be read: %(e)s")
                 % {"e": exc.describe()}}]
    ours = {hook.event: hook for hook in RackbeatWebhook.objects.filter(connection=connection)}
    answers = {a.event: a for a in RackbeatEventAnswer.objects.filter(connection=connection)}
    rows = []
    for event in sorted(webhook_events(connection)):
        hook, answer = ours.get(event), answers.get(event)
        in_rackbeat = listed.get(hook.rackbeat_id) if hook else None
        if in_rackbeat is None:
            in_rackbeat = next((h for h in listed.values() if h.get("event") == event), None)
        if answer is not None and not answer.accepted:
            status, text = MISSING, _("Refused by Rackbeat at activation: %(a)s. The poll covers it.") % {
                "a": answer.answer.rstrip(".")}
        elif in_rackbeat is None:
            status, text = MISSING, (_("Registered at activation, but Rackbeat no longer lists it. Activate the "
                                       "connection again.") if hook else _("Not registered; activate the connection."))
        elif not flag(in_rackbeat.get("is_active", True)):
            status, text = MISSING, _("Registered but switched off in Rackbeat.")
        else:
            failures = int(in_rackbeat.get("failures_since_last_success") or 0)
            status = FOUND if not failures else RENAMED
            text = (_("Active.") if not failures else
                    _("Active, but %(n)s deliveries failed since the last success.") % {"n": failures})
        rows.append({"event": event, "status": status, "text": text})
    return rows


def deliveries_seen(connection: Connection) -> list[dict[str, Any]]:
    """What genuine deliveries carried, one entry per shape, for the stored report."""
    return [{"event": shape.event, "taken_as": shape.taken_as, "account_text": shape.account_text,
             "account_differs": shape.account_differs, "header_names": shape.header_names}
            for shape in RackbeatDeliveryShape.objects.filter(connection=connection)]


def run_check(connection: Connection, *, checked_by: str = "", client: Any = None) -> RackbeatShapeCheck:
    """Run the shape check for ``connection`` and store its report."""

    client = client or rackbeat_client(connection)
    sections = ShapeCheck(connection, client).run()
    webhooks = webhook_status(connection, client)
    fields = [f for section in sections for f in section.fields]
    findings = [f for section in sections for f in section.findings]
    found = sum(1 for f in fields if f.status in (FOUND, FETCHED))
    renamed = sum(1 for f in fields if f.status == RENAMED)
    missing_required = [f for f in fields if f.status == MISSING and f.required]
    missing = sum(1 for f in fields if f.status == MISSING)
    if sections and all(section.error for section in sections):
        outcome = RackbeatShapeCheck.Outcome.FAILED
    elif any(f.status == FAILED for f in findings):
        outcome = RackbeatShapeCheck.Outcome.WRONG
    elif any(section.error for section in sections):
        # Before "missing": what could not be read may be why a field looks missing.
        outcome = RackbeatShapeCheck.Outcome.UNREADABLE
    elif missing_required:
        outcome = RackbeatShapeCheck.Outcome.MISSING
    elif any(section.unverified for section in sections) or any(f.status == NOT_YET for f in findings):
        # Nothing wrong was found, but "all clear" is never said about what could not be seen.
        outcome = RackbeatShapeCheck.Outcome.UNVERIFIED
    elif renamed:
        outcome = RackbeatShapeCheck.Outcome.RENAMED
    else:
        outcome = RackbeatShapeCheck.Outcome.OK
    counts = {status: sum(1 for f in findings if f.status == status) for status in (VERIFIED, NOT_YET, FAILED)}
    report = {"sections": [asdict(section) for section in sections], "webhooks": webhooks,
              "deliveries": deliveries_seen(connection), "findings": counts}
    return RackbeatShapeCheck.objects.create(connection=connection, checked_by=checked_by[:150], outcome=outcome,
                                             found=found, renamed=renamed, missing=missing, report=report)
