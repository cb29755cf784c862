"""What the service learnt about one connection's Rackbeat instead of assuming it.

Rackbeat's public documentation leaves open which webhook events exist, which list filters are
accepted and what its documents look like (docs/rackbeat-documents.md, "Sources"). Each
connection therefore records what its Rackbeat actually answered:

* :class:`RackbeatEventAnswer` — per event name, whether Rackbeat accepted the webhook
  registration at activation, and its answer when it refused (the poll covers refused events);
* :class:`RefusedListFilter` — a list filter Rackbeat refused with a 422; the client filters on
  our side from then on for that connection and list;
* :class:`RackbeatDeliveryShape` — per event name, ``Rackbeat-Account-Id`` and set of header names,
  what a genuine delivery (valid token) actually carried, first seen when; an account id other
  than the connection's (or none) is accepted — the token is the secret — and shown here;
* :class:`RackbeatShapeCheck` — the report of the shape check (``manage.py rackbeat_check``, the
  "Check Rackbeat" button): field by field, what the service needs and what it found.

The models live in this module (imported by ``integration.core.models``) so they stay next to the code
that fills them.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Connection


class RackbeatEventAnswer(models.Model):
    """Rackbeat's answer to registering a webhook for one event, as learnt at activation."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="rackbeat_event_answers")
    event = models.CharField(_("event"), max_length=100)
    accepted = models.BooleanField(_("accepted"))
    answer = models.TextField(_("Rackbeat's answer"), blank=True)
    asked_at = models.DateTimeField(_("asked at"), auto_now=True)

    class Meta:
        ordering = ["event"]
        verbose_name = _("Rackbeat webhook event answer")
        constraints = [models.UniqueConstraint(fields=["connection", "event"], name="unique_event_answer")]

    def __str__(self) -> str:
        return f"{self.event}: {'accepted' if self.accepted else 'refused'}"


class RefusedListFilter(models.Model):
    """A list filter Rackbeat answered with a 422 for this connection; applied on our side instead."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="refused_list_filters")
    path = models.CharField(_("list"), max_length=60)
    name = models.CharField(_("filter"), max_length=60)
    answer = models.TextField(_("Rackbeat's answer"), blank=True)
    refused_at = models.DateTimeField(_("refused at"), auto_now_add=True)

    class Meta:
        ordering = ["path", "name"]
        verbose_name = _("list filter refused by Rackbeat")
        verbose_name_plural = _("list filters refused by Rackbeat")
        constraints = [models.UniqueConstraint(fields=["connection", "path", "name"], name="unique_refused_filter")]

    def __str__(self) -> str:
        return f"{self.path}?{self.name}"


class RackbeatDeliveryShape(models.Model):
    """What genuine webhook deliveries to this connection carried: one row per distinct shape.

    The token proves a delivery is Rackbeat's; the ``Rackbeat-Account-Id`` header is only a
    cross-check against the account read from ``GET self``. A delivery whose header differs, or
    which has none, is processed all the same and leaves a row here, shown on the connection page
    and in the shape check, so the assumption is confirmed or corrected by the first delivery.
    """

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="rackbeat_delivery_shapes")
    event = models.CharField(_("event"), max_length=100,
                             help_text=_("The event name the delivery carried (header, else body)."))
    taken_as = models.CharField(_("taken as"), max_length=100, blank=True,
                                help_text=_("The registered event whose token the delivery presented, when its "
                                            "name differs from the one the delivery carried."))
    account_id = models.CharField(_("Rackbeat-Account-Id"), max_length=100, blank=True)
    expected_account_id = models.CharField(_("the connection's Rackbeat account"), max_length=100, blank=True)
    headers = models.CharField(_("headers"), max_length=1000, blank=True)
    first_seen_at = models.DateTimeField(_("first seen"), auto_now_add=True)

    class Meta:
        ordering = ["event", "first_seen_at", "pk"]
        verbose_name = _("Rackbeat delivery as received")
        verbose_name_plural = _("Rackbeat deliveries as received")
        constraints = [models.UniqueConstraint(fields=["connection", "event", "taken_as", "account_id", "headers"],
                                               name="unique_delivery_shape")]

    def __str__(self) -> str:
        return f"{self.event} ({self.account_id or '-'})"

    @property
    def account_differs(self) -> bool:
        """The delivery's account id is not the connection's (or it carried none)."""
        return self.account_id != self.expected_account_id

    @property
    def account_text(self) -> str:
        if not self.account_id:
            return str(_("no Rackbeat-Account-Id header (the connection's account is %(expected)s)")
                       % {"expected": self.expected_account_id or "?"})
        if self.account_differs:
            return str(_("Rackbeat-Account-Id %(seen)s, but the connection's account is %(expected)s")
                       % {"seen": self.account_id, "expected": self.expected_account_id or "?"})
        return str(_("Rackbeat-Account-Id %(seen)s, as expected") % {"seen": self.account_id})

    @property
    def header_names(self) -> list[str]:
        return [name for name in self.headers.split(",") if name]


class RackbeatShapeCheck(models.Model):
    """One run of the shape check: the documents read and, per field, what was found."""

    class Outcome(models.TextChoices):
        OK = "ok", _("Everything needed was found")
        UNVERIFIED = "unverified", _("Nothing wrong found, but not everything is verifiable yet")
        RENAMED = "renamed", _("Found, partly under other names")
        MISSING = "missing", _("Fields are missing")
        WRONG = "wrong", _("Something is wrong: see the failed checks")
        UNREADABLE = "unreadable", _("Part of Rackbeat could not be read")
        FAILED = "failed", _("Rackbeat could not be read")

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="rackbeat_shape_checks")
    checked_at = models.DateTimeField(_("checked at"), auto_now_add=True)
    checked_by = models.CharField(_("checked by"), max_length=150, blank=True)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    found = models.PositiveIntegerField(_("found"), default=0)
    renamed = models.PositiveIntegerField(_("found under another name"), default=0)
    missing = models.PositiveIntegerField(_("missing"), default=0)
    report = models.JSONField(_("report"), default=dict)

    class Meta:
        ordering = ["-checked_at", "-pk"]
        get_latest_by = "checked_at"
        verbose_name = _("Rackbeat shape check")

    def __str__(self) -> str:
        return f"{self.connection} {self.checked_at:%Y-%m-%d %H:%M}: {self.get_outcome_display()}"

    @property
    def sections(self) -> list[dict[str, Any]]:
        return list((self.report or {}).get("sections") or [])

    @property
    def findings(self) -> dict[str, int]:
        """How many cross-checks were verified, not verifiable yet and failed."""
        return dict((self.report or {}).get("findings") or {})

    @property
    def failed_checks(self) -> list[str]:
        return [finding["label"] for section in self.sections for finding in section.get("findings") or []
                if finding.get("status") == "failed"]

    @property
    def webhooks(self) -> list[dict[str, Any]]:
        return list((self.report or {}).get("webhooks") or [])

    @property
    def deliveries(self) -> list[dict[str, Any]]:
        return list((self.report or {}).get("deliveries") or [])
