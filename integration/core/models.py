"""The sync engine's tables: settings per connection, the operation ledger and its evidence.

The ``SyncOperation`` row is the unit of truth; django-q2 only executes it. Every transfer —
started by a webhook, a poll, the start sync, troubleshooting or a retry — is one of these rows.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from accounts.fields import EncryptedTextField
from accounts.models import Connection
from integration.core.kinds import Direction, Kind, Priority, Trigger, priority_of
from integration.core.messages import Shown, register_labels
from integration.core.settings_checks import webhook_events_problems


class IntegrationSettings(models.Model):
    """Every option of the product description, one row per connection."""

    class SupplierInvoiceStatus(models.TextChoices):
        DRAFT = "draft", _("Draft")
        BOOKED = "booked", _("Booked")

    class SalesInvoiceStatus(models.TextChoices):
        DRAFT = "draft", _("Draft")
        BOOKED = "booked", _("Booked")
        BOOKED_EMAILED = "booked_emailed", _("Booked and e-mailed to the customer")

    class InvoicesCreatedIn(models.TextChoices):
        RACKBEAT = "rackbeat", _("In Rackbeat, transferred to Dinero immediately")
        DINERO = "dinero", _("In Dinero, transferred to Rackbeat every hour at 13 minutes past")

    connection = models.OneToOneField(Connection, on_delete=models.CASCADE, related_name="settings", verbose_name=_("connection"))

    # Purchases and suppliers
    supplier_integration_enabled = models.BooleanField(
        _("enable supplier integration"), default=False,
        help_text=_("New suppliers created in Rackbeat are transferred to Dinero, and so are booked "
                    "supplier invoices."),
    )
    supplier_invoice_status = models.CharField(
        _("status of supplier invoices created in Dinero"), max_length=10,
        choices=SupplierInvoiceStatus.choices, default=SupplierInvoiceStatus.DRAFT,
        help_text=_("In Rackbeat a supplier invoice must always be booked before it is transferred."),
    )
    supplier_number_in_name = models.BooleanField(
        _("include the supplier number in the Dinero name"), default=True,
        help_text=_("Recommended: Dinero does not work with numbers the way Rackbeat does."),
    )

    # Sales and customers
    customer_integration_enabled = models.BooleanField(
        _("enable customer integration"), default=False,
        help_text=_("New customers created in Rackbeat are transferred to Dinero, and so are booked "
                    "sales invoices."),
    )
    customer_number_in_name = models.BooleanField(
        _("include the customer number in the Dinero name"), default=True,
        help_text=_("Recommended: Dinero does not work with numbers the way Rackbeat does."),
    )
    item_consumption_enabled = models.BooleanField(
        _("automatic booking of item consumption in Dinero"), default=False,
        help_text=_("Books a voucher with the cost of goods of each booked sales invoice. This covers "
                    "sales invoices only: the stock still needs a manual regulation now and then "
                    "(monthly, quarterly or yearly)."),
    )
    stock_account = models.PositiveIntegerField(_("stock account"), null=True, blank=True)
    consumption_account = models.PositiveIntegerField(_("consumption account"), null=True, blank=True)
    sales_invoice_status = models.CharField(
        _("status of sales invoices created in Dinero"), max_length=20,
        choices=SalesInvoiceStatus.choices, default=SalesInvoiceStatus.DRAFT,
    )
    customer_invoices_created_in = models.CharField(
        _("where customer invoices are created"), max_length=10,
        choices=InvoicesCreatedIn.choices, default=InvoicesCreatedIn.RACKBEAT,
    )

    # Products and BOMs follow the customer integration switch (they are needed on sales lines),
    # but can be turned off on their own.
    product_integration_enabled = models.BooleanField(
        _("transfer products and bills of materials"), default=True,
    )

    # Rackbeat's webhook catalogue is only partly known: event names are configurable.
    webhook_events = models.JSONField(
        _("Rackbeat webhook events"), default=dict, blank=True,
        help_text=_("Event name → document kind. Empty means the built-in defaults."),
    )

    start_sync_requested = models.BooleanField(_("run the start sync from Dinero"), default=False)
    # The setup wizard's steps a person has completed ("start-sync": "skipped", "purchases": "saved" …),
    # for the steps whose completion cannot be read from the settings themselves.
    setup_progress = models.JSONField(default=dict, blank=True, editable=False, verbose_name=_("setup progress"))
    setup_completed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("setup completed at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("integration settings")
        verbose_name_plural = _("integration settings")

    def __str__(self) -> str:
        return f"Settings for {self.connection}"

    @property
    def sales_from_rackbeat(self) -> bool:
        return self.customer_invoices_created_in == self.InvoicesCreatedIn.RACKBEAT

    def clean_fields(self, exclude=None) -> None:  # type: ignore[no-untyped-def]
        """The same checks whichever form saves the settings (see ``integration.core.settings_checks``)."""
        super().clean_fields(exclude)
        if exclude and "webhook_events" in exclude:
            return
        problems = webhook_events_problems(self.webhook_events)
        if problems:
            raise ValidationError({"webhook_events": problems})


class SyncRun(models.Model):
    """A batch: a start sync or a poll, with counts and progress."""

    class RunKind(models.TextChoices):
        START_SYNC = "start_sync", _("Start sync from Dinero")
        POLL_RACKBEAT = "poll_rackbeat", _("Poll Rackbeat")
        POLL_DINERO = "poll_dinero", _("Poll Dinero invoices")
        REFERENCE_DATA = "reference_data", _("Refresh reference data")

    class State(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="runs", verbose_name=_("connection"))
    kind = models.CharField(max_length=20, choices=RunKind.choices, verbose_name=_("kind"))
    state = models.CharField(max_length=10, choices=State.choices, default=State.RUNNING, verbose_name=_("state"))
    started_at = models.DateTimeField(default=timezone.now, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    heartbeat_at = models.DateTimeField(null=True, blank=True, verbose_name=_("heartbeat at"))
    total = models.PositiveIntegerField(default=0, verbose_name=_("total"))
    processed = models.PositiveIntegerField(default=0, verbose_name=_("processed"))
    created = models.PositiveIntegerField(default=0, verbose_name=_("created"))
    matched = models.PositiveIntegerField(default=0, verbose_name=_("matched"))
    skipped = models.PositiveIntegerField(default=0, verbose_name=_("skipped"))
    failed = models.PositiveIntegerField(default=0, verbose_name=_("failed"))
    # Free-form report: per-stream progress, skip reasons, resume markers.
    report = models.JSONField(default=dict, blank=True, verbose_name=_("report"))
    error = models.TextField(blank=True, verbose_name=_("error"))
    error_meaning = models.JSONField(null=True, blank=True, editable=False)
    shown_error = Shown("error")

    class Meta:
        verbose_name = _("sync run")
        verbose_name_plural = _("sync runs")
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["connection", "kind", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def progress_percent(self) -> int:
        if not self.total:
            return 100 if self.state != self.State.RUNNING else 0
        return min(100, round(100 * self.processed / self.total))


class StartSyncRecord(models.Model):
    """One line of a start sync's report: a Dinero record handled, with its outcome.

    Written in small batches as the run goes, so a run of 20,000 contacts appends its report
    instead of rewriting one ever-growing document, and a resumed run knows what it has done.
    """

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="records")
    key = models.CharField(max_length=160)
    outcome = models.CharField(max_length=10)  # created | matched | skipped
    what = models.CharField(max_length=300, blank=True)
    what_meaning = models.JSONField(null=True, blank=True, editable=False)
    reason = models.TextField(blank=True)
    reason_meaning = models.JSONField(null=True, blank=True, editable=False)
    shown_what = Shown("what")
    shown_reason = Shown("reason")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="unique_start_sync_record")]
        indexes = [models.Index(fields=["run", "outcome"], name="start_sync_record_outcome_idx")]

    def __str__(self) -> str:
        return f"{self.key}: {self.outcome}"


class KindPriorityField(models.PositiveSmallIntegerField):
    """The operation's :class:`~integration.core.kinds.Priority`, set from its kind when the row is
    written first — by ``save()``, ``bulk_create`` and the intake's single INSERT alike."""

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        if add:
            value = priority_of(model_instance.kind)  # type: ignore[attr-defined]
            setattr(model_instance, self.attname, value)
            return value
        return super().pre_save(model_instance, add)


class SyncOperation(models.Model):
    """One unit of work with a natural key: (connection, kind, direction, source key)."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        NEEDS_ATTENTION = "needs_attention", _("Needs attention")
        SKIPPED = "skipped", _("Skipped")

    OPEN_STATES = (State.PENDING, State.RUNNING)
    PROBLEM_STATES = (State.FAILED, State.NEEDS_ATTENTION)

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="operations", verbose_name=_("connection"))
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    direction = models.CharField(_("direction"), max_length=12, choices=Direction.choices,
                                 default=Direction.TO_DINERO)
    source_key = models.CharField(_("source key"), max_length=128)
    document_number = models.CharField(_("number"), max_length=128, blank=True, db_index=True)
    document_name = models.CharField(_("name"), max_length=255, blank=True)

    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.PENDING)
    # Booked documents before master data, within a connection and its request budget.
    priority = KindPriorityField(_("priority"), choices=Priority.choices, default=Priority.MASTER_DATA)
    trigger = models.CharField(_("trigger"), max_length=16, choices=Trigger.choices, default=Trigger.WEBHOOK)
    run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="operations", verbose_name=_("run"))

    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, verbose_name=_("next attempt at"))
    claimed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("claimed at"))
    claimed_by = models.CharField(max_length=100, blank=True, verbose_name=_("claimed by"))
    # Set when new work arrives while the row is running: the worker runs it again afterwards.
    rerun_requested = models.BooleanField(default=False, verbose_name=_("rerun requested"))
    # When a django-q2 task was last queued for the row: the minutely `run_due` schedule queues a
    # task only for due rows without a recent one (backoff retries and lost tasks).
    enqueued_at = models.DateTimeField(null=True, blank=True, verbose_name=_("enqueued at"))
    # Transient failures since the row was last (re)queued by new work or a person; the backoff
    # and the give-up limit count these, `attempts` counts every claim ever made.
    transient_failures = models.PositiveIntegerField(default=0, verbose_name=_("transient failures"))
    # The request budget (e.g. ``dinero:<organization>``) the row waits for, when it was put back
    # because the budget had no room; empty otherwise. Not a failure: no attempt is counted.
    budget_key = models.CharField(max_length=120, blank=True, verbose_name=_("budget key"))

    last_error_class = models.CharField(_("error class"), max_length=100, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    hint = models.TextField(_("how to fix"), blank=True)
    # The meaning of the texts above and of ``outcome`` (integration.core.messages); the text
    # columns hold their English rendering, for search.
    last_error_meaning = models.JSONField(null=True, blank=True, editable=False)
    hint_meaning = models.JSONField(null=True, blank=True, editable=False)
    fix_url = models.CharField(max_length=500, blank=True, verbose_name=_("where to fix it"))

    # Intent and results. `intent` holds what must survive a crash between steps, e.g. the
    # Dinero Guid chosen before the first POST, the Dinero timestamp, the step reached.
    intent = models.JSONField(default=dict, blank=True, verbose_name=_("intent"))
    target_id = models.CharField(_("id on the other side"), max_length=128, blank=True)
    target_number = models.CharField(_("number on the other side"), max_length=64, blank=True)
    outcome = models.TextField(_("outcome"), blank=True)
    outcome_meaning = models.JSONField(null=True, blank=True, editable=False)
    # The source document as the operation that queued this one had just read it (a booked
    # invoice, for its consumption voucher): used instead of reading it again while nothing of
    # this operation reached Dinero, and emptied when the operation finishes.
    handed_over = models.JSONField(null=True, blank=True, editable=False, verbose_name=_("handed over"))

    handled_note = models.TextField(blank=True, verbose_name=_("handling note"))
    handled_by = models.CharField(max_length=150, blank=True, verbose_name=_("handled by"))
    handled_at = models.DateTimeField(null=True, blank=True, verbose_name=_("handled at"))

    created_at = models.DateTimeField(default=timezone.now, db_index=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))

    class Meta:
        ordering = ["-updated_at"]
        verbose_name = _("sync operation")
        verbose_name_plural = _("sync log")
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "kind", "direction", "source_key"], name="unique_operation_natural_key"
            )
        ]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="op_due_idx"),
            models.Index(fields=["connection", "-updated_at"], name="op_conn_recent_idx"),
            models.Index(fields=["connection", "state", "-updated_at"], name="op_conn_state_idx"),
            models.Index(fields=["-updated_at"], name="op_recent_idx"),
            models.Index(fields=["kind", "-updated_at"], name="op_kind_recent_idx"),
        ]
        permissions = [
            ("retry_syncoperation", "Can retry a sync operation"),
            ("handle_syncoperation", "Can mark a sync operation as handled"),
        ]

    def __str__(self) -> str:
        label = self.document_number or self.source_key
        return f"{self.get_kind_display()} {label}"

    shown_last_error = Shown("last_error")
    shown_hint = Shown("hint")
    shown_outcome = Shown("outcome")

    @property
    def has_error(self) -> bool:
        return bool(self.last_error)


register_labels("operation_state", dict(SyncOperation.State.choices))
register_labels("operation_state_in_sentence", lambda state: str(dict(SyncOperation.State.choices).get(state, state)).lower())


class NeedsAttention(SyncOperation):
    """Proxy giving the operations that wait for a person their own admin list."""

    class Meta:
        proxy = True
        verbose_name = _("document that needs attention")
        verbose_name_plural = _("needs attention")


class OperationEvent(models.Model):
    """The timeline of an operation: claims, attempts, state changes, notes."""

    operation = models.ForeignKey(SyncOperation, on_delete=models.CASCADE, related_name="events", verbose_name=_("operation"))
    at = models.DateTimeField(default=timezone.now, verbose_name=_("time"))
    attempt = models.PositiveIntegerField(default=0, verbose_name=_("attempt"))
    state = models.CharField(max_length=16, blank=True, verbose_name=_("state"))
    message = models.TextField(verbose_name=_("message"))
    message_meaning = models.JSONField(null=True, blank=True, editable=False)
    shown_message = Shown("message")

    class Meta:
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["operation", "at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.message[:60]}"


class HttpExchange(models.Model):
    """One API call as reported by a client, already redacted at the HTTP chokepoint."""

    class Service(models.TextChoices):
        RACKBEAT = "rackbeat", "Rackbeat"
        DINERO = "dinero", "Dinero"

    connection = models.ForeignKey(Connection, null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="exchanges", verbose_name=_("connection"))
    operation = models.ForeignKey(SyncOperation, null=True, blank=True, on_delete=models.CASCADE,
                                  related_name="exchanges", verbose_name=_("operation"))
    attempt = models.PositiveIntegerField(default=0, verbose_name=_("attempt"))
    service = models.CharField(max_length=10, choices=Service.choices, verbose_name=_("service"))
    method = models.CharField(max_length=10, verbose_name=_("method"))
    url = models.TextField(verbose_name=_("URL"))
    status = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("status"))
    duration_ms = models.PositiveIntegerField(default=0, verbose_name=_("duration (ms)"))
    request_body = models.TextField(blank=True, verbose_name=_("request body"))
    response_body = models.TextField(blank=True, verbose_name=_("response body"))
    error = models.TextField(blank=True, verbose_name=_("error"))
    bodies_pruned = models.BooleanField(default=False, verbose_name=_("bodies pruned"))
    at = models.DateTimeField(default=timezone.now, verbose_name=_("time"))

    class Meta:
        verbose_name = _("HTTP exchange")
        verbose_name_plural = _("HTTP exchanges")
        ordering = ["at", "pk"]
        indexes = [
            models.Index(fields=["operation", "at"], name="exch_op_idx"),
            models.Index(fields=["at"], name="exch_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.url} → {self.status}"


class Binding(models.Model):
    """A Rackbeat key bound to a Dinero id, per connection and kind, unique on both sides."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="bindings")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    rackbeat_key = models.CharField(max_length=128)
    dinero_id = models.CharField(max_length=128)
    # Hash of the payload last sent; an unchanged object makes no API call.
    fingerprint = models.CharField(max_length=64, blank=True)
    dinero_timestamp = models.CharField(max_length=64, blank=True)
    # Rackbeat's ``updated_at`` of a record this service wrote itself (the start sync creates
    # them): a poll that sees the record unchanged since then knows there is nothing to send back.
    rackbeat_written_at = models.DateTimeField(null=True, blank=True)
    # Of a product or BOM: what the transfers read of it, as last read from Rackbeat
    # (integration.core.product_facts says when it is trusted).
    facts = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "kind", "rackbeat_key"], name="unique_binding_rackbeat"),
            models.UniqueConstraint(fields=["connection", "kind", "dinero_id"], name="unique_binding_dinero"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.rackbeat_key} ⇄ {self.dinero_id}"

    @staticmethod
    def fingerprint_of(payload: Any) -> str:
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class CreationClaim(models.Model):
    """The one transfer allowed to create a bound object in Dinero right now (DESIGN.md rule 11).

    Taken (unique per connection, kind and Rackbeat key) before the POST that creates a contact
    or product, released when the Binding is written. Another transfer needing the same object
    meanwhile looks it up, or waits and retries, instead of creating a second one.
    """

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="creation_claims")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    rackbeat_key = models.CharField(max_length=128)
    # The id chosen for the object before the POST (a contact's ContactGuid); '' when Dinero chooses.
    planned_id = models.CharField(max_length=128, blank=True)
    operation = models.ForeignKey(SyncOperation, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="creation_claims")
    claimed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "kind", "rackbeat_key"], name="unique_creation_claim"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.rackbeat_key} being created"


class WebhookDelivery(models.Model):
    """A webhook as received (every accepted one is stored), with what it caused.

    Not unique on its body: Rackbeat sends identical bodies for successive updates of a record.
    """

    class Outcome(models.TextChoices):
        ACCEPTED = "accepted", _("Accepted: the record is read again")
        DUPLICATE = "duplicate", _("Duplicate: joined the operation already queued")
        KEPT = "kept", _("Not queued again: the operation is done or waits for a person")
        IGNORED = "ignored", _("Ignored: unknown event")

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="webhook_deliveries", verbose_name=_("connection"))
    event = models.CharField(max_length=100, verbose_name=_("event"))
    key = models.CharField(max_length=128, blank=True, verbose_name=_("key"))
    body_sha256 = models.CharField(max_length=64, verbose_name=_("body sha256"))
    body = models.TextField(verbose_name=_("body"))
    outcome = models.CharField(max_length=10, choices=Outcome.choices, verbose_name=_("outcome"))
    operation = models.ForeignKey(SyncOperation, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("operation"))
    received_at = models.DateTimeField(default=timezone.now, verbose_name=_("received at"))

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["connection", "-received_at"], name="webhook_conn_recent_idx")]

    def __str__(self) -> str:
        return f"{self.event} {self.key} ({self.outcome})"


class RackbeatWebhook(models.Model):
    """A webhook we registered in Rackbeat, with the token it answered once."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="rackbeat_webhooks")
    event = models.CharField(max_length=100)
    rackbeat_id = models.CharField(max_length=40)
    url = models.TextField()
    token = EncryptedTextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "event"], name="unique_webhook_event")]

    def __str__(self) -> str:
        return f"{self.event} → {self.url}"


class PollCursor(models.Model):
    """Where a poll stream stopped last time (UTC), per connection and stream."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="cursors")
    stream = models.CharField(max_length=40)
    value = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "stream"], name="unique_cursor")]

    def __str__(self) -> str:
        return f"{self.stream} @ {self.value:%Y-%m-%d %H:%M:%S}"


class RateLimitWindow(models.Model):
    """Shared request budget per API and key: the log of the grants of the last sliding minute.

    One row per key, rewritten by a conditional update on ``version`` (see
    :mod:`integration.core.clients.ratelimit`), so every process and host counts against one log.
    """

    key = models.CharField(max_length=120, unique=True)
    # JSON list of the grant times (epoch seconds) still inside the sliding window, ascending.
    grants = models.TextField(default="[]")
    version = models.PositiveBigIntegerField(default=0)
    blocked_until = models.DateTimeField(null=True, blank=True)
    # The due time last promised to an operation put back for lack of room (epoch seconds).
    promised_until = models.FloatField(null=True, blank=True)
    # The same for booked documents, whose waits are spaced among themselves only: they take the
    # budget's next free requests, and master data yields those to them (see the engine).
    money_promised_until = models.FloatField(null=True, blank=True)

    def __str__(self) -> str:
        return self.key


class WorkerHeartbeat(models.Model):
    """Written by a schedule every minute; /healthz and the dashboard read its age."""

    name = models.CharField(max_length=100, unique=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} @ {self.beat_at:%H:%M:%S}"


class Reconciliation(models.Model):
    """One comparison of a period's booked Rackbeat documents with what Dinero holds.

    Runs as a django-q2 task; ``stage`` and ``processed``/``total`` show its progress while it
    reads, ``result`` keeps the report (differences and sums on both sides) once it is done.
    """

    class State(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    class Trigger(models.TextChoices):
        PERSON = "person", _("Started by a person")
        SCHEDULE = "schedule", _("Month-end schedule")
        COMMAND = "command", _("Command line")

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="reconciliations", verbose_name=_("connection"))
    period_start = models.DateField(_("from"))
    period_end = models.DateField(_("to"))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.RUNNING)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.PERSON, verbose_name=_("trigger"))
    requested_by = models.CharField(max_length=150, blank=True, verbose_name=_("requested by"))
    started_at = models.DateTimeField(default=timezone.now, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    heartbeat_at = models.DateTimeField(null=True, blank=True, verbose_name=_("heartbeat at"))
    stage = models.CharField(max_length=200, blank=True, verbose_name=_("stage"))
    stage_meaning = models.JSONField(null=True, blank=True, editable=False)
    shown_stage = Shown("stage")
    total = models.PositiveIntegerField(default=0, verbose_name=_("total"))
    processed = models.PositiveIntegerField(default=0, verbose_name=_("processed"))
    differences = models.PositiveIntegerField(_("differences"), default=0)
    result = models.JSONField(default=dict, blank=True, verbose_name=_("result"))
    error = models.TextField(blank=True, verbose_name=_("error"))
    error_meaning = models.JSONField(null=True, blank=True, editable=False)
    shown_error = Shown("error")
    emailed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("emailed at"))

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("reconciliation")
        verbose_name_plural = _("reconciliations")
        indexes = [models.Index(fields=["connection", "-started_at"], name="recon_conn_recent_idx")]

    def __str__(self) -> str:
        return f"{self.connection} {self.period_start:%Y-%m-%d}–{self.period_end:%Y-%m-%d}"

    @property
    def progress_percent(self) -> int:
        if self.state != self.State.RUNNING:
            return 100
        if not self.total:
            return 0
        return min(99, round(100 * self.processed / self.total))

    @property
    def seconds_taken(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class ReportSlot(models.Model):
    """One of the few places where a long report (a reconciliation, a start sync slice) may run.

    There are ``REPORT_SLOTS`` of them for the whole installation, and a connection holds at most
    one (the partial unique constraint): reports queue behind each other instead of taking every
    worker from the transfers. See :mod:`integration.core.report_slots`.
    """

    number = models.PositiveSmallIntegerField(unique=True)
    connection = models.ForeignKey(Connection, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    holder = models.CharField(max_length=100, blank=True)
    held_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection"], condition=models.Q(connection__isnull=False),
                                               name="one_report_slot_per_connection")]

    def __str__(self) -> str:
        return f"report slot {self.number}: {self.holder or '-'}"


# What was learnt about each connection's Rackbeat (event answers, refused filters, shape checks).
from integration.core.rackbeat_facts import (  # noqa: E402,F401
    RackbeatDeliveryShape,
    RackbeatEventAnswer,
    RackbeatShapeCheck,
    RefusedListFilter,
)
