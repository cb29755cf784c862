"""Connections (one per customer) and who may see them."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from django.conf import settings
from django.db import models, router, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from accounts import languages
from accounts.fields import EncryptedTextField

SECRET_FIELDS = (
    "rackbeat_api_token",
    "dinero_api_key",
    "visma_access_token",
    "visma_refresh_token",
)


def _new_webhook_secret() -> str:
    # Only for migration 0001, which created the since removed `webhook_secret` column.
    return secrets.token_urlsafe(32)


class Connection(models.Model):
    """One customer: a Rackbeat account connected to a Dinero organization."""

    class State(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")
        BROKEN = "broken", _("Broken")

    class DineroAuth(models.TextChoices):
        API_KEY = "api_key", _("API key (personal integration)")
        VISMA_CONNECT = "visma_connect", _("Visma Connect (OAuth)")

    name = models.CharField(_("name"), max_length=200)
    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)

    rackbeat_account_id = models.CharField(
        _("Rackbeat account id"), max_length=40, blank=True,
        help_text=_("Filled in from Rackbeat's /self when the integration is activated."),
    )
    rackbeat_api_token = EncryptedTextField(_("Rackbeat API token"), blank=True)
    rackbeat_api_token_changed_at = models.DateTimeField(null=True, blank=True, editable=False)

    dinero_organization_id = models.CharField(
        _("Dinero company id"), max_length=20, blank=True,
        help_text=_("Shown in the lower-left corner in Dinero, e.g. 400555."),
    )
    dinero_auth_method = models.CharField(
        _("Dinero login"), max_length=20, choices=DineroAuth.choices, default=DineroAuth.API_KEY
    )
    dinero_api_key = EncryptedTextField(
        _("Dinero API key"), blank=True,
        help_text=_("Created in Dinero under Integrations › API keys, description “Rackbeat”."),
    )
    dinero_api_key_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    visma_access_token = EncryptedTextField(blank=True)
    visma_access_token_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    visma_refresh_token = EncryptedTextField(blank=True)
    visma_refresh_token_changed_at = models.DateTimeField(null=True, blank=True, editable=False)

    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.DRAFT)
    state_reason = models.TextField(_("reason"), blank=True)
    # The reason's meaning (a message of integration.core.messages), shown in the reader's language;
    # ``state_reason`` keeps its English text.
    state_reason_meaning = models.JSONField(null=True, blank=True, editable=False)
    state_changed_at = models.DateTimeField(null=True, blank=True, editable=False)

    alert_recipients = models.TextField(
        _("alert recipients"), blank=True,
        help_text=_("E-mail addresses, one per line, for the daily digest and breakage alerts."),
    )
    language = models.CharField(
        _("language of e-mails"), max_length=5, choices=languages.CHOICES, blank=True,
        help_text=_("The daily digest, breakage alerts and the month-end reconciliation (with its CSV and PDF) "
                    "are written in this language. Empty: from the company's country in Rackbeat."),
    )
    company_country = models.CharField(
        _("company country"), max_length=2, blank=True, editable=False,
        help_text=_("The Rackbeat account's country, read when the connection is activated."),
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=[*SECRET_FIELDS, "visma_access_token_expires_at"])

    class Meta:
        ordering = ["name"]
        verbose_name = _("connection")
        verbose_name_plural = _("connections")
        permissions = [
            ("change_credentials", "Can change the credentials of a connection"),
            ("activate_connection", "Can activate, pause and resume a connection"),
            ("run_troubleshooting", "Can transfer a single document from the troubleshooting page"),
        ]

    def __str__(self) -> str:
        return self.name

    def delete(self, using: str | None = None, keep_parents: bool = False) -> tuple[int, dict[str, int]]:
        """Delete the connection with everything of it, its row locked before anything is collected.

        Work that arrives meanwhile (a webhook delivery) share-locks this row while it writes: the
        lock makes it either finish before the rows to delete are collected, or wait and then find
        the connection gone — never add a row that would stop the delete at its commit.
        """
        using = using or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using):
            type(self).objects.using(using).select_for_update().filter(pk=self.pk).values_list("pk").first()
            return super().delete(using=using, keep_parents=keep_parents)

    # --- secrets ---------------------------------------------------------------------------
    def set_secret(self, field: str, value: str) -> None:
        """Store a secret and remember when it changed (shown as “set, last changed …”)."""
        if field not in SECRET_FIELDS:
            raise ValueError(f"{field} is not a secret field")
        setattr(self, field, value)
        stamp = f"{field}_changed_at"
        if hasattr(self, stamp):
            setattr(self, stamp, timezone.now())

    # --- state -----------------------------------------------------------------------------
    def set_state(self, state: str, reason: str = "", *, reason_meaning: Any = None) -> bool:
        """Move to ``state``; return True when the state actually changed."""
        changed = self.state != state
        self.state = state
        self.state_reason = reason
        self.state_reason_meaning = reason_meaning
        if changed:
            self.state_changed_at = timezone.now()
        return changed

    @property
    def is_active(self) -> bool:
        return self.state == self.State.ACTIVE

    @property
    def mail_language(self) -> str:
        """The language the connection's e-mails and attached reports are written in."""
        return self.language or languages.language_for_country(self.company_country)

    @property
    def recipients(self) -> list[str]:
        return [line.strip() for line in self.alert_recipients.replace(",", "\n").splitlines() if line.strip()]


class Membership(models.Model):
    """Gives a user access to one connection. Non-superusers see only their memberships."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="memberships")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "connection"], name="unique_membership")]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")

    def __str__(self) -> str:
        return f"{self.user} → {self.connection}"
