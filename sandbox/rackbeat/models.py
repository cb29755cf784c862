"""State of the emulated Rackbeat: accounts, master data, documents, webhooks and their deliveries.

Every row belongs to one :class:`Account` (a Rackbeat company reached through its API token), so
two sandbox accounts never see each other's data — exactly as two Rackbeat customers would not.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from urllib.parse import quote

from django.db import models
from django.utils.translation import gettext_lazy as _

VAT_ZONES = ("domestic", "eu", "abroad", "domestic_exempt")
VAT_ZONE_CHOICES = [
    ("domestic", _("Domestic")),
    ("eu", _("EU")),
    ("abroad", _("Abroad (outside the EU)")),
    ("domestic_exempt", _("Domestic, VAT exempt")),
]
PAYMENT_TERM_TYPES = ("net", "current_month", "cash")


def new_api_token() -> str:
    """Rackbeat's tokens are long JWT-looking strings; the sandbox only needs them unguessable."""
    return "sbx_" + secrets.token_urlsafe(48)


def new_webhook_token() -> str:
    return secrets.token_hex(16)  # 32 characters, like Rackbeat's


def urlfriendly(number: str) -> str:
    """The pre-encoded form of an item number that can be put into a URL path unchanged.

    Rackbeat asks clients to double-encode numbers in paths; ``urlfriendly_number`` is that
    encoding done once by the server.
    """
    return quote(quote(number, safe=""), safe="")


class DocumentShape(models.TextChoices):
    REAL = "real", _("Real Rackbeat (evidence, December 2026)")
    EARLY = "early", _("Early reading of the documentation")


class CreditNoteSigns(models.TextChoices):
    """Where the minus of a credit note stands in the real shape (the evidence allows each)."""

    QUANTITY = "quantity", _("Negative quantities and line totals")
    PRICE = "price", _("Negative unit prices and line totals")
    LINE_TOTAL = "line_total", _("Negative line totals with positive quantities and prices")


class CreditNoteFlag(models.TextChoices):
    """How the real shape marks a credit note (its totals are negative in every case)."""

    IS_CREDITNOTE = "is_creditnote", _("is_creditnote: true (as public code reads it)")
    TYPE = "type", _("type: credit_note (a name the service does not read)")
    NONE = "none", _("No flag at all, only negative totals")


class Account(models.Model):
    """One Rackbeat company (user account) with its API token and fault injection switches."""

    account_id = models.PositiveIntegerField(_("account id"), unique=True)
    company_name = models.CharField(_("company name"), max_length=200)
    api_token = models.CharField(_("API token"), max_length=200, unique=True, default=new_api_token)
    user_name = models.CharField(_("API user name"), max_length=200, default="API")
    user_email = models.EmailField(_("API user e-mail"), blank=True)
    address_street = models.CharField(max_length=200, blank=True)
    address_zipcode = models.CharField(max_length=20, blank=True)
    address_city = models.CharField(max_length=100, blank=True)
    address_country = models.CharField(max_length=2, default="DK")
    company_vat = models.CharField(max_length=40, blank=True)

    rate_limit_per_minute = models.PositiveIntegerField(
        _("requests per minute"), default=480,
        help_text=_("Requests past this budget within one minute are answered with 429."),
    )

    # --- fault injection -------------------------------------------------------------------
    latency_ms = models.PositiveIntegerField(_("added latency (ms)"), default=0)
    error_429_rate = models.FloatField(_("429 rate"), default=0.0, help_text=_("0–1, share of requests answered 429."))
    error_500_rate = models.FloatField(_("500 rate"), default=0.0, help_text=_("0–1, share of requests answered 500."))
    fail_next_429 = models.PositiveIntegerField(_("answer the next N requests with 429"), default=0)
    fail_next_500 = models.PositiveIntegerField(_("answer the next N requests with 500"), default=0)
    error_500_after_write_rate = models.FloatField(
        _("“500 after the write took effect” rate"), default=0.0,
        help_text=_("0–1, share of writes that are stored and then answered with 500."),
    )
    fail_next_500_after_write = models.PositiveIntegerField(
        _("store the next N writes, then answer 500"), default=0,
    )
    # --- how this account's Rackbeat speaks (DESIGN.md rule 12) ------------------------------
    document_shape = models.CharField(
        _("document shape"), max_length=10, choices=DocumentShape.choices, default=DocumentShape.REAL,
        help_text=_("Real: as public code calling the live API shows (is_creditnote with negative amounts, "
                    "item_cost_price, child_id lines without item, supplier invoices with only supplier_id). "
                    "Early: the service's first reading of the documentation."),
    )
    credit_note_signs = models.CharField(
        _("credit-note signs"), max_length=12, choices=CreditNoteSigns.choices, default=CreditNoteSigns.QUANTITY,
        help_text=_("Real shape only: which line figures of a credit note carry the minus (the totals always "
                    "do)."),
    )
    refuse_is_booked_filter = models.BooleanField(
        _("refuse the is_booked list filter"), default=True,
        help_text=_("Answer a list request filtered on is_booked with 422 “Property 'is_booked' is not "
                    "filterable”, as live Rackbeat was seen doing."),
    )
    supplier_invoices_without_dates = models.BooleanField(
        _("supplier invoices without dates"), default=False,
        help_text=_("Send supplier invoices without invoice_date and due_date, as the only public schema of "
                    "supplier invoices (2018) shows them."),
    )
    credit_note_flag = models.CharField(
        _("credit-note flag"), max_length=14, choices=CreditNoteFlag.choices, default=CreditNoteFlag.IS_CREDITNOTE,
        help_text=_("Real shape only: under which name a customer invoice says it is a credit note."),
    )
    lines_naming_unknown_items = models.BooleanField(
        _("lines naming unknown items"), default=False,
        help_text=_("Real shape only: the first item line of each customer invoice names (child_id) an item "
                    "number this Rackbeat has no record of."),
    )
    total_cost_offset = models.DecimalField(
        _("total_cost offset"), max_digits=14, decimal_places=2, default=Decimal("0"),
        help_text=_("Real shape only: added to each customer invoice's total_cost, so that the header's cost "
                    "disagrees with its lines' unit cost × quantity."),
    )
    refused_webhook_events = models.TextField(
        _("refused webhook events"), blank=True,
        help_text=_("Event names (one per line) whose registration is answered with 422 “The selected event "
                    "is invalid.”, to emulate events this Rackbeat does not offer."),
    )
    webhook_drop_rate = models.FloatField(_("webhook drop rate"), default=0.0, help_text=_("0–1, share of webhooks never sent."))
    drop_next_webhooks = models.PositiveIntegerField(_("drop the next N webhooks"), default=0)
    # The chaos suite's faults: 500 on reads only, webhooks sent twice or held back (out of order).
    error_500_read_rate = models.FloatField(
        _("500 rate on reads"), default=0.0, help_text=_("0–1, share of GET requests answered 500."))
    fail_next_read_500 = models.PositiveIntegerField(_("answer the next N reads with 500"), default=0)
    webhook_duplicate_rate = models.FloatField(
        _("webhook duplicate rate"), default=0.0, help_text=_("0–1, share of webhooks sent twice."))
    duplicate_next_webhooks = models.PositiveIntegerField(_("send the next N webhooks twice"), default=0)
    webhook_delay_rate = models.FloatField(
        _("webhook delay rate"), default=0.0,
        help_text=_("0–1, share of webhooks held back, so that later ones overtake them."))
    delay_next_webhooks = models.PositiveIntegerField(_("hold back the next N webhooks"), default=0)
    webhook_delay_max_seconds = models.FloatField(
        _("longest hold-back (s)"), default=10.0,
        help_text=_("A held-back webhook goes out after a random 0.5 s up to this many seconds."))

    class WebhookBodyShape(models.TextChoices):
        # What real deliveries look like (docs/rackbeat-documents.md, "Sources"): the event
        # is only in the `Rackbeat-Webhook-Event` header and successive updates have identical bodies.
        THIN = "thin", _("Thin: only key_name and key (as Rackbeat sends them)")
        FULL = "full", _("Full: key, key_name, event, data, old/new key, changed (older documentation)")

    webhook_body_shape = models.CharField(
        _("webhook body shape"), max_length=4, choices=WebhookBodyShape.choices, default=WebhookBodyShape.THIN,
    )

    class WebhookAccountHeader(models.TextChoices):
        # The header is documented; that it equals GET self's user_account.id is an inference.
        OWN = "own", _("This account's id (as GET self gives it)")
        OTHER = "other", _("Another id than GET self gives")
        NONE = "none", _("No Rackbeat-Account-Id header")

    webhook_account_header = models.CharField(
        _("Rackbeat-Account-Id on webhooks"), max_length=5, choices=WebhookAccountHeader.choices,
        default=WebhookAccountHeader.OWN,
    )
    sent_webhook_event_names = models.TextField(
        _("event names sent on webhooks"), blank=True,
        help_text=_("Lines “registered=sent”, e.g. “customer.created=debtor.created”: deliveries of a webhook "
                    "registered for the first name carry the second in Rackbeat-Webhook-Event, to emulate event "
                    "names other than the ones registered."),
    )

    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["account_id"]
        verbose_name = _("sandbox Rackbeat account")
        verbose_name_plural = _("sandbox Rackbeat accounts")

    def __str__(self) -> str:
        return f"{self.company_name} ({self.account_id})"

    @property
    def speaks_real_shapes(self) -> bool:
        return self.document_shape != DocumentShape.EARLY

    def sent_event_name(self, event: str) -> str:
        """The Rackbeat-Webhook-Event header for a delivery of the webhook registered for ``event``."""
        for line in self.sent_webhook_event_names.splitlines():
            registered, _sep, sent = line.partition("=")
            if registered.strip() == event and sent.strip():
                return sent.strip()
        return event

    def webhook_account_id(self) -> str | None:
        """The Rackbeat-Account-Id header of its deliveries; None for no header."""
        if self.webhook_account_header == self.WebhookAccountHeader.NONE:
            return None
        if self.webhook_account_header == self.WebhookAccountHeader.OTHER:
            return f"9{self.account_id}"
        return str(self.account_id)

    def refuses_event(self, event: str) -> bool:
        return event.strip() in {line.strip() for line in self.refused_webhook_events.splitlines() if line.strip()}


class RequestCount(models.Model):
    """Requests per account and minute, counted in the database so every process shares the budget."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="request_counts")
    minute = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "minute"], name="sbx_rb_unique_request_minute")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.minute:%H:%M}: {self.count}"


class AccountOwned(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        abstract = True


class ProductGroup(AccountOwned):
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    vat_domestic = models.DecimalField(max_digits=6, decimal_places=2, default=Decimal("25"))
    vat_eu = models.DecimalField(max_digits=6, decimal_places=2, default=Decimal("0"))
    vat_abroad = models.DecimalField(max_digits=6, decimal_places=2, default=Decimal("0"))
    vat_domestic_exempt = models.DecimalField(max_digits=6, decimal_places=2, default=Decimal("0"))

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["account", "number"], name="sbx_rb_unique_product_group")]

    def __str__(self) -> str:
        return f"{self.number} {self.name}"

    def vat_rate(self, vat_zone: str) -> Decimal:
        return getattr(self, f"vat_{vat_zone}", self.vat_domestic)


class Unit(AccountOwned):
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["account", "number"], name="sbx_rb_unique_unit")]

    def __str__(self) -> str:
        return self.name


class Layout(AccountOwned):
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    locale = models.CharField(max_length=5, default="da")

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["account", "number"], name="sbx_rb_unique_layout")]

    def __str__(self) -> str:
        return self.name


class PaymentTerm(AccountOwned):
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=20, default="net")
    maturity_days = models.PositiveIntegerField(default=8)

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["account", "number"], name="sbx_rb_unique_payment_term")]

    def __str__(self) -> str:
        return self.name


class CustomerGroup(AccountOwned):
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["account", "number"], name="sbx_rb_unique_customer_group")]

    def __str__(self) -> str:
        return self.name


class SupplierGroup(AccountOwned):
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["account", "number"], name="sbx_rb_unique_supplier_group")]

    def __str__(self) -> str:
        return self.name


class Partner(AccountOwned):
    """Fields customers and suppliers share."""

    number = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    contact_email = models.CharField(max_length=200, blank=True)
    contact_phone = models.CharField(max_length=50, blank=True)
    company_vat = models.CharField(max_length=40, blank=True)
    ean = models.CharField(max_length=20, blank=True)
    address_street = models.CharField(max_length=200, blank=True)
    address_street2 = models.CharField(max_length=200, blank=True)
    address_zipcode = models.CharField(max_length=20, blank=True)
    address_city = models.CharField(max_length=100, blank=True)
    address_country = models.CharField(max_length=2, default="DK")
    vat_zone = models.CharField(max_length=20, choices=VAT_ZONE_CHOICES, default="domestic")
    currency = models.CharField(max_length=3, default="DKK")
    locale = models.CharField(max_length=5, default="da")
    is_person = models.BooleanField(default=False)
    is_barred = models.BooleanField(default=False)
    is_deleted = models.BooleanField(default=False)
    payment_terms = models.ForeignKey(PaymentTerm, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        abstract = True
        ordering = ["number"]

    def __str__(self) -> str:
        return f"{self.number} {self.name}"


class Customer(Partner):
    group = models.ForeignKey(CustomerGroup, null=True, blank=True, on_delete=models.SET_NULL)
    layout = models.ForeignKey(Layout, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta(Partner.Meta):
        constraints = [models.UniqueConstraint(fields=["account", "number"], name="sbx_rb_unique_customer")]


class Supplier(Partner):
    group = models.ForeignKey(SupplierGroup, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta(Partner.Meta):
        constraints = [models.UniqueConstraint(fields=["account", "number"], name="sbx_rb_unique_supplier")]


class Item(AccountOwned):
    """A product or a BOM ("lot"); Rackbeat's ``items`` endpoint lists both."""

    class Type(models.TextChoices):
        PRODUCT = "product", _("Product")
        LOT = "lot", _("BOM")

    number = models.CharField(max_length=100)
    urlfriendly_number = models.CharField(max_length=400, editable=False)
    type = models.CharField(max_length=10, choices=Type.choices, default=Type.PRODUCT)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    barcode = models.CharField(max_length=60, blank=True)
    sales_price = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    cost_price = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    recommended_cost_price = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    group = models.ForeignKey(ProductGroup, on_delete=models.PROTECT)
    unit = models.ForeignKey(Unit, null=True, blank=True, on_delete=models.SET_NULL)
    inventory_enabled = models.BooleanField(default=True)
    is_barred = models.BooleanField(default=False)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["account", "number"], name="sbx_rb_unique_item")]

    def __str__(self) -> str:
        return f"{self.number} {self.name}"

    def save(self, *args, **kwargs) -> None:
        self.urlfriendly_number = urlfriendly(self.number)
        super().save(*args, **kwargs)


class LotLine(models.Model):
    lot = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="lot_lines")
    product = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="used_in_lines")
    quantity = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal("1"))
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.product_id}"


class Invoice(AccountOwned):
    """Fields sales and supplier invoices share. Totals are stored as Rackbeat computes them."""

    number = models.PositiveIntegerField()
    invoice_date = models.DateField()
    due_date = models.DateField()
    currency = models.CharField(max_length=3, default="DKK")
    currency_rate = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("100"))
    vat_zone = models.CharField(max_length=20, choices=VAT_ZONE_CHOICES, default="domestic")
    heading = models.CharField(max_length=200, blank=True)
    note = models.TextField(blank=True)
    total_subtotal = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    total_vat = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    total_total = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    is_booked = models.BooleanField(default=False)
    booked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["number"]

    def __str__(self) -> str:
        return str(self.number)


class CustomerInvoice(Invoice):
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices")
    is_credit_note = models.BooleanField(default=False)
    credited_invoice_number = models.PositiveIntegerField(null=True, blank=True)
    layout = models.ForeignKey(Layout, null=True, blank=True, on_delete=models.SET_NULL)
    payment_terms = models.ForeignKey(PaymentTerm, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta(Invoice.Meta):
        constraints = [models.UniqueConstraint(fields=["account", "number"], name="sbx_rb_unique_customer_invoice")]


class SupplierInvoice(Invoice):
    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT, related_name="invoices")
    supplier_invoice_number = models.CharField(max_length=60, blank=True)
    payment_terms = models.ForeignKey(PaymentTerm, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta(Invoice.Meta):
        constraints = [models.UniqueConstraint(fields=["account", "number"], name="sbx_rb_unique_supplier_invoice")]


class ProductUnit(models.Model):
    """An alternative unit of a product: one of it holds ``quantity`` of the product's own unit."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="alternative_units")
    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="+")
    quantity = models.DecimalField(max_digits=14, decimal_places=4)

    class Meta:
        ordering = ["unit__number"]
        constraints = [models.UniqueConstraint(fields=["item", "unit"], name="sbx_rb_unique_product_unit")]

    def __str__(self) -> str:
        return f"{self.item.number}: 1 {self.unit.name} = {self.quantity}"


class InvoiceLine(models.Model):
    """One line of a sales or a supplier invoice; a line without item is a text line."""

    customer_invoice = models.ForeignKey(CustomerInvoice, null=True, blank=True, on_delete=models.CASCADE, related_name="lines")
    supplier_invoice = models.ForeignKey(SupplierInvoice, null=True, blank=True, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(default=0)
    item = models.ForeignKey(Item, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=300, blank=True)
    quantity = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal("0"))
    line_price = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal("0"))
    discount_percentage = models.DecimalField(max_digits=6, decimal_places=2, default=Decimal("0"))
    cost_price = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    vat_percentage = models.DecimalField(max_digits=6, decimal_places=2, default=Decimal("0"))
    unit = models.ForeignKey(Unit, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    line_total = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    line_vat = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class Webhook(AccountOwned):
    event = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    is_active = models.BooleanField(default=True)
    token = models.CharField(max_length=32, default=new_webhook_token)
    failures_since_last_success = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.event} → {self.url}"


class WebhookDelivery(models.Model):
    """One webhook sent (or deliberately dropped) by the sandbox, with its outcome."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")
        DROPPED = "dropped", _("Dropped by fault injection")
        HELD = "held", _("Held back by fault injection")

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="deliveries")
    webhook = models.ForeignKey(Webhook, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries")
    event = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    payload = models.JSONField(default=dict)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = _("webhook deliveries")

    def __str__(self) -> str:
        return f"{self.event} #{self.pk}"
