"""The emulated Dinero: organizations, their chart of accounts, documents and vouchers.

Documents keep the body the client sent (``data``, PascalCase as Dinero's create models) next to
the few columns the emulator needs to find, book and number them; read models are computed from
that body by :mod:`sandbox.dinero.documents`, so a GET answers what Dinero would answer.
Everything lives in the database, so several server processes share one emulated Dinero.
"""

from __future__ import annotations

import secrets
import uuid
from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F
from django.utils.translation import gettext_lazy as _

RATE = [MinValueValidator(0.0), MaxValueValidator(1.0)]
# Dinero's timestamps are opaque hex strings such as 00000000020A5EA8; ours count up from there.
FIRST_TIMESTAMP = 0x20A5E00


class Organization(models.Model):
    """One Dinero company ("firma"), with the switches that make the emulator misbehave."""

    organization_id = models.PositiveIntegerField(_("organization id"), unique=True)
    name = models.CharField(_("name"), max_length=200)
    api_key = models.CharField(_("API key"), max_length=128, blank=True,
                               help_text=_("The key the classic API-key login sends as user name and password."))
    is_pro = models.BooleanField(_("has Dinero Pro"), default=True)
    email = models.EmailField(_("e-mail"), blank=True)
    vat_number = models.CharField(_("CVR number"), max_length=20, blank=True)
    street = models.CharField(_("street"), max_length=200, blank=True)
    zip_code = models.CharField(_("postcode"), max_length=20, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)

    rate_limit_per_minute = models.PositiveIntegerField(
        _("requests per minute"), null=True, blank=True,
        help_text=_("Empty: the sandbox default (100, like Dinero)."))
    latency_ms = models.PositiveIntegerField(_("added latency (ms)"), default=0)
    rate_429 = models.FloatField(_("rate of 429"), default=0.0, validators=RATE)
    rate_500 = models.FloatField(_("rate of 500 before the write"), default=0.0, validators=RATE)
    rate_timeout = models.FloatField(_("rate of timeouts"), default=0.0, validators=RATE)
    rate_500_after_write = models.FloatField(_("rate of 500 after the write"), default=0.0, validators=RATE)
    fail_next_429 = models.PositiveIntegerField(_("next requests answered 429"), default=0)
    fail_next_500 = models.PositiveIntegerField(_("next requests answered 500"), default=0)
    fail_next_timeout = models.PositiveIntegerField(_("next requests timing out"), default=0)
    fail_next_500_after_write = models.PositiveIntegerField(_("next writes answered 500 after saving"), default=0)
    # The chaos suite's faults: jitter, an answer lost after the write committed, a short Retry-After.
    latency_jitter_ms = models.PositiveIntegerField(
        _("latency jitter (ms)"), default=0, help_text=_("A random 0–N ms added to every call, on top of the latency."))
    rate_timeout_after_write = models.FloatField(
        _("rate of timeouts after the write"), default=0.0, validators=RATE,
        help_text=_("Writes only: the write is committed, then the answer never comes (the client times out)."))
    fail_next_timeout_after_write = models.PositiveIntegerField(
        _("next writes saved, then timing out"), default=0)
    fault_retry_after_seconds = models.PositiveIntegerField(
        _("Retry-After of injected 429s (s)"), default=60,
        help_text=_("What an injected 429 asks the client to wait; the real quota's 429 says until the minute ends."))

    timestamp_counter = models.BigIntegerField(default=FIRST_TIMESTAMP, editable=False)
    last_invoice_number = models.PositiveIntegerField(default=0, editable=False)
    last_voucher_number = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")
        ordering = ["organization_id"]

    def __str__(self) -> str:
        return f"{self.organization_id} {self.name}"

    def next_timestamp(self) -> str:
        Organization.objects.filter(pk=self.pk).update(timestamp_counter=F("timestamp_counter") + 1)
        value = Organization.objects.values_list("timestamp_counter", flat=True).get(pk=self.pk)
        return f"{value:016X}"

    def next_number(self, counter: str) -> int:
        """The next invoice/credit note number or voucher number (shared by all processes)."""
        Organization.objects.filter(pk=self.pk).update(**{counter: F(counter) + 1})
        return Organization.objects.values_list(counter, flat=True).get(pk=self.pk)


class Account(models.Model):
    """One account of the chart (entry accounts and deposit accounts alike)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="accounts")
    number = models.PositiveIntegerField(_("number"))
    name = models.CharField(_("name"), max_length=200)
    vat_code = models.CharField(_("VAT code"), max_length=10, default="none")
    category = models.CharField(_("category"), max_length=50, blank=True)
    category_name = models.CharField(_("category name"), max_length=100, blank=True)
    is_hidden = models.BooleanField(_("hidden"), default=False)
    is_deposit = models.BooleanField(_("deposit account"), default=False)
    is_default = models.BooleanField(_("default sales/deposit account"), default=False)

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        ordering = ["organization", "number"]
        constraints = [models.UniqueConstraint(fields=["organization", "number"], name="sandbox_dinero_account_unique")]

    def __str__(self) -> str:
        return f"{self.number} {self.name}"


class VatType(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="vat_types")
    code = models.CharField(_("VAT code"), max_length=10)
    name = models.CharField(_("name"), max_length=200)
    rate = models.DecimalField(_("rate"), max_digits=5, decimal_places=4, default=Decimal("0"))

    class Meta:
        verbose_name = _("VAT type")
        verbose_name_plural = _("VAT types")
        ordering = ["organization", "code"]
        constraints = [models.UniqueConstraint(fields=["organization", "code"], name="sandbox_dinero_vattype_unique")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Record(models.Model):
    """What every stored Dinero object has: an id, the body as sent, and change times."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    guid = models.UUIDField(default=uuid.uuid4)
    data = models.JSONField(default=dict)
    external_reference = models.CharField(max_length=128, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def name(self) -> str:
        return str(self.data.get("Name") or self.data.get("Description") or self.guid)


class Contact(Record):
    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["organization", "created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["organization", "guid"], name="sandbox_dinero_contact_unique")]

    def __str__(self) -> str:
        return self.name


class Product(Record):
    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["organization", "updated_at", "id"]
        constraints = [models.UniqueConstraint(fields=["organization", "guid"], name="sandbox_dinero_product_unique")]

    def __str__(self) -> str:
        return self.name


class SalesDocument(Record):
    """An invoice or a sales credit note: a draft until booked, then numbered."""

    class Kind(models.TextChoices):
        INVOICE = "invoice", _("invoice")
        CREDIT_NOTE = "creditnote", _("credit note")

    kind = models.CharField(max_length=12, choices=Kind.choices)
    status = models.CharField(max_length=10, default="Draft")
    number = models.PositiveIntegerField(null=True, blank=True)
    timestamp = models.CharField(max_length=16)
    contact_guid = models.UUIDField(null=True, blank=True)
    credit_note_for = models.UUIDField(null=True, blank=True)
    mail_outs = models.JSONField(default=list, blank=True)
    booked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("sales document")
        verbose_name_plural = _("sales documents")
        ordering = ["organization", "created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["organization", "guid"], name="sandbox_dinero_sales_unique")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.number or self.guid}"


class Voucher(Record):
    """A purchase voucher (købsbilag) or a manual voucher (finansbilag)."""

    class Kind(models.TextChoices):
        PURCHASE = "purchase", _("purchase voucher")
        MANUAL = "manual", _("manual voucher")

    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, default="Draft")
    number = models.PositiveIntegerField(null=True, blank=True)
    timestamp = models.CharField(max_length=16)
    booked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("voucher")
        verbose_name_plural = _("vouchers")
        ordering = ["organization", "created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["organization", "guid"], name="sandbox_dinero_voucher_unique")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.number or self.guid}"


def _file_guid() -> str:
    # Dinero's file ids are not UUID-shaped, e.g. web0crmck5v0ndcx3313g6zn61tc7wgc.
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "web0" + "".join(secrets.choice(alphabet) for _ in range(28))


class File(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="files")
    file_guid = models.CharField(max_length=40, default=_file_guid, unique=True)
    name = models.CharField(max_length=255)
    content = models.BinaryField()
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("file")
        verbose_name_plural = _("files")

    def __str__(self) -> str:
        return self.name


class Entry(models.Model):
    """One accounting entry, written when a document or voucher is booked."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="entries")
    entry_guid = models.UUIDField(default=uuid.uuid4)
    account_number = models.PositiveIntegerField()
    account_name = models.CharField(max_length=200)
    date = models.DateField()
    voucher_number = models.PositiveIntegerField(null=True)
    voucher_guid = models.UUIDField()
    voucher_type = models.CharField(max_length=30)
    description = models.CharField(max_length=255, blank=True)
    vat_code = models.CharField(max_length=10, blank=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    contact_guid = models.UUIDField(null=True, blank=True)
    file_guid = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("entry")
        verbose_name_plural = _("entries")
        ordering = ["organization", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.account_number} {self.amount}"


class RequestCount(models.Model):
    """Requests per organization and minute: the rate limit every server process shares."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    minute = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "minute"], name="sandbox_dinero_requests_unique")]

    def __str__(self) -> str:
        return f"{self.organization_id} {self.minute:%H:%M} {self.count}"


# --- logins --------------------------------------------------------------------------------------------

class VismaConsent(models.Model):
    """A Visma Connect user's "Allow access" for one client: the organizations it may use."""

    client_id = models.CharField(max_length=100)
    scope = models.CharField(max_length=300, blank=True)
    organizations = models.ManyToManyField(Organization, related_name="visma_consents")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("Visma Connect consent")
        verbose_name_plural = _("Visma Connect consents")

    def __str__(self) -> str:
        return f"{self.client_id} #{self.pk}"


class VismaAuthorizationCode(models.Model):
    consent = models.ForeignKey(VismaConsent, on_delete=models.CASCADE)
    code = models.CharField(max_length=64, unique=True)
    redirect_uri = models.URLField(max_length=500)
    code_challenge = models.CharField(max_length=128, blank=True)
    code_challenge_method = models.CharField(max_length=10, blank=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"code for consent #{self.consent_id}"


class VismaRefreshToken(models.Model):
    consent = models.ForeignKey(VismaConsent, on_delete=models.CASCADE)
    token = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"refresh token for consent #{self.consent_id}"


class AccessToken(models.Model):
    """A bearer token: for one organization (API key) or for a Visma Connect consent."""

    token = models.CharField(max_length=64, unique=True)
    organization = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.CASCADE)
    consent = models.ForeignKey(VismaConsent, null=True, blank=True, on_delete=models.CASCADE)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"access token until {self.expires_at:%Y-%m-%d %H:%M}"

    def allows(self, organization: Organization) -> bool:
        if self.organization_id is not None:
            return self.organization_id == organization.pk
        return self.consent is not None and self.consent.organizations.filter(pk=organization.pk).exists()

    def organizations(self) -> models.QuerySet[Organization]:
        if self.organization_id is not None:
            return Organization.objects.filter(pk=self.organization_id)
        if self.consent is None:
            return Organization.objects.none()
        return self.consent.organizations.all()
