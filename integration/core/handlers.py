"""The contract between the engine and the transfer modules.

A transfer handler is a function ``handler(op, ctx) -> Result`` registered for one
(kind, direction). The engine claims the operation row, builds the context, calls the handler and
records the outcome; handlers never change ``op.state`` themselves. What a handler must persist
between its steps (our chosen Dinero Guid, the Dinero id the moment it comes back, the step
reached) it stores with :meth:`TransferContext.save_intent`, which commits immediately — so a
crash between "POST draft" and "book" resumes at "book" instead of creating a second draft.

Handlers signal outcomes by returning a :class:`Result` or raising:

* :class:`NeedsMapping` — a mapping is missing (product group × VAT zone, unit, layout, setting);
  the message names exactly what, ``fix_url`` links to where to fix it. → needs attention.
* :class:`SkipTransfer` — nothing to do, with the reason shown in the log (e.g. the customer
  integration is off, the invoice is not booked yet). → skipped.
* :class:`TotalsMismatch` — Dinero's total differs from Rackbeat's. → needs attention, both figures.
* :class:`VatMismatch` — Dinero's VAT differs from Rackbeat's (even with equal totals). → needs attention,
  both figures.
* ``integration.core.clients.errors.ApiError`` subclasses — classified by the engine (permanent →
  needs attention, transient → retry with backoff, uncertain → retry, and the handler looks up
  before it creates again).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext_noop

from integration.core import product_facts
from integration.core.clients.errors import ApiError
from integration.core.clients.rackbeat_documents import RelatedRecords
from integration.core.messages import Message, Money, Sentences, Text, stored
from integration.core.models import Binding, IntegrationSettings, OperationEvent, SyncOperation
from integration.core.row_writes import insert_values, update_row

if TYPE_CHECKING:  # pragma: no cover
    from accounts.models import Connection
    from integration.core.clients.dinero import DineroClient
    from integration.core.clients.rackbeat import RackbeatClient


@dataclass
class Result:
    """What a successful handler reports. ``outcome`` is one readable sentence for the log
    (a :class:`~integration.core.messages.Message`, rendered in the reader's language)."""

    outcome: Text
    target_id: str = ""
    target_number: str = ""
    document_number: str = ""
    document_name: str = ""
    skipped: bool = False
    # Further operations to queue once this one is done, as (kind, direction, source_key).
    follow_ups: list[tuple[str, str, str]] = field(default_factory=list)
    # The source document the follow-ups need as well, exactly as this transfer read it: stored on
    # each new follow-up row (``SyncOperation.handed_over``), so it is not read from the source again.
    handover: dict[str, Any] | None = None


class TransferProblem(Exception):
    """Base for outcomes that need a person. ``hint`` says what to do; ``fix_url`` where.

    ``message`` and ``hint`` are texts for people (:mod:`integration.core.messages`): stored as
    meaning and shown in the reader's language; ``str(problem)`` renders the message.
    """

    def __init__(self, message: Text, *, hint: Text = "", fix_url: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.fix_url = fix_url

    def __str__(self) -> str:
        return str(self.message)


class NeedsMapping(TransferProblem):
    pass


class TotalsMismatch(TransferProblem):
    def __init__(self, rackbeat_total: Decimal, dinero_total: Decimal, currency: str, **kwargs: Any) -> None:
        message = Message(gettext_noop(
            "Dinero's total %(dinero)s differs from Rackbeat's total %(rackbeat)s (difference %(difference)s). "
            "The invoice was left as a draft in Dinero."),
            dinero=Money(dinero_total, currency), rackbeat=Money(rackbeat_total, currency),
            difference=Money(dinero_total - rackbeat_total, currency))
        kwargs.setdefault("hint", Message(gettext_noop(
            "Compare the lines in both systems (rounding, discounts, VAT rates), correct the cause, then press "
            "Retry.")))
        super().__init__(message, **kwargs)
        self.rackbeat_total = rackbeat_total
        self.dinero_total = dinero_total


class VatMismatch(TransferProblem):
    """Dinero's VAT of a document differs from Rackbeat's while the totals may agree (VAT is what is reported)."""

    def __init__(self, rackbeat_vat: Decimal, dinero_vat: Decimal, currency: str, where: Text = "", **kwargs: Any
                 ) -> None:
        message = Message(gettext_noop(
            "Dinero's VAT %(dinero)s differs from Rackbeat's VAT %(rackbeat)s (difference %(difference)s)."),
            dinero=Money(dinero_vat, currency), rackbeat=Money(rackbeat_vat, currency),
            difference=Money(dinero_vat - rackbeat_vat, currency))
        kwargs.setdefault("hint", Message(gettext_noop(
            "Compare the VAT rates of the lines in Rackbeat with the VAT codes of the matrix accounts in Dinero, "
            "correct the cause, then press Retry.")))
        super().__init__(Sentences(message, where) if where else message, **kwargs)
        self.rackbeat_vat = rackbeat_vat
        self.dinero_vat = dinero_vat


class SkipTransfer(Exception):
    """Nothing to transfer; the reason is recorded on the operation."""


@dataclass
class TransferContext:
    """Everything a handler needs, built by the engine per attempt."""

    connection: Connection
    settings: IntegrationSettings
    rackbeat: RackbeatClient
    dinero: DineroClient
    operation: SyncOperation
    _related: Any = field(default=None, init=False, repr=False)
    # (kind, Rackbeat number) → Dinero id of the bindings this attempt found.
    _bound: dict[tuple[str, str], str] = field(default_factory=dict, init=False, repr=False)
    # Intent staged since the last save: the engine writes it with the attempt's outcome.
    intent_staged: bool = field(default=False, init=False, repr=False)

    @property
    def related(self) -> Any:
        """The records the document refers to (items, customer, supplier), each fetched from
        Rackbeat at most once per attempt (:class:`~integration.core.clients.rackbeat_documents.RelatedRecords`)."""
        if self._related is None:
            # A bound, unchanged product is answered from its binding instead of read again.
            self._related = RelatedRecords(
                self.rackbeat,
                known=lambda refs: product_facts.known_items(
                    self.connection, self.settings, refs, bound=self._remember_binding),
                learned=lambda item_type, number, item: product_facts.remember_item(
                    self.connection, item_type, number, item))
        return self._related

    def bound_dinero_id(self, kind: str, number: str) -> str | None:
        """The Dinero id ``number`` is bound to (None: not bound), looked up once per attempt once found.

        A binding not found is looked up again when asked again: the transfer may create it meanwhile.
        """
        key = (str(kind), str(number))
        if key not in self._bound:
            found = Binding.objects.filter(connection=self.connection, kind=kind, rackbeat_key=number) \
                .values_list("dinero_id", flat=True).first()
            if found is None:
                return None
            self._bound[key] = found
        return self._bound[key]

    def _remember_binding(self, kind: str, number: str, dinero_id: str) -> None:
        self._bound[(str(kind), str(number))] = dinero_id

    def save_intent(self, **values: Any) -> None:
        """Merge ``values`` into ``operation.intent`` and commit it at once (with what was staged)."""
        self.stage_intent(**values)
        update_row(SyncOperation, self.operation.pk, intent=self.operation.intent)
        self.intent_staged = False

    def stage_intent(self, **values: Any) -> None:
        """Merge ``values`` into ``operation.intent``, committed by the next :meth:`save_intent`
        (a :meth:`writing` block ends with one) or, at the latest, with the attempt's outcome.

        Only for what an attempt that never saw it works out again by itself: a Guid no request
        has carried yet, a document's newest timestamp, the step reached inside a write whose end
        is saved anyway, what was booked (a later attempt reads the document, DESIGN rule 13),
        the snapshot of what was sent (compared only once the document is done)."""
        self.operation.intent = {**(self.operation.intent or {}), **values}
        self.intent_staged = True

    @contextmanager
    def writing(self, what: str) -> Iterator[None]:
        """Wrap the request that creates the money document itself on the other side.

        DESIGN.md rules 9 and 10: the intent says ``in_flight`` before the request leaves, so a
        crash or a lost answer leaves a trace. A definite refusal (any 4xx, 429 included, or a
        connection that was never made) wrote nothing and clears it; an answer that may have
        been written (timeout, dropped connection, 5xx after sending, or anything unforeseen)
        leaves it, and the document counts as touched until it is found again or a person
        decides. A success marks the document ``touched`` for good.
        """
        self.save_intent(in_flight=what)
        try:
            yield
        except ApiError as exc:
            if not exc.uncertain:
                self.save_intent(in_flight="")
            raise
        self.save_intent(in_flight="", touched=True)

    def note(self, message: Text) -> None:
        """Add a line to the operation's timeline."""
        insert_values(OperationEvent, operation_id=self.operation.pk, attempt=self.operation.attempts,
                      state=self.operation.state, **stored(message=message))


Handler = Callable[[SyncOperation, TransferContext], Result]
# What a document linked by a person would have queued had it been transferred (its item
# consumption, for a sales invoice): (kind, direction, source_key) tuples.
LinkFollowUps = Callable[[SyncOperation], list[tuple[str, str, str]]]

_REGISTRY: dict[tuple[str, str], Handler] = {}
_LINK_FOLLOW_UPS: dict[tuple[str, str], LinkFollowUps] = {}


def register(kind: str, direction: str) -> Callable[[Handler], Handler]:
    """Register the handler of one (kind, direction); the transfer modules use it as a decorator.

    ``integration.transfers`` imports every handler module when the app registry is ready, so the
    engine finds each handler without importing the layer above it.
    """

    def decorator(func: Handler) -> Handler:
        _REGISTRY[(str(kind), str(direction))] = func
        return func

    return decorator


def handler_for(kind: str, direction: str) -> Handler | None:
    return _REGISTRY.get((str(kind), str(direction)))


def register_link_follow_ups(kind: str, direction: str) -> Callable[[LinkFollowUps], LinkFollowUps]:
    """Register what a (kind, direction) queues after a person linked its document."""

    def decorator(func: LinkFollowUps) -> LinkFollowUps:
        _LINK_FOLLOW_UPS[(str(kind), str(direction))] = func
        return func

    return decorator


def follow_ups_after_link(op: SyncOperation) -> list[tuple[str, str, str]]:
    func = _LINK_FOLLOW_UPS.get((str(op.kind), str(op.direction)))
    return func(op) if func is not None else []


@dataclass
class FoundDocument:
    """A document a person named for "It is there: link it", as the other side holds it."""

    guid: str
    number: str
    total: str
    currency: str
    date: str
    status: str
    # The intent keys that name the document for its transfer (our Guid of it, its timestamp).
    intent: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> Message:
        return Message(gettext_noop("%(number)s dated %(date)s, %(total)s, status %(status)s (Guid %(guid)s)"),
                       number=self.number or Message(gettext_noop("without a number")), date=_day(self.date),
                       total=_money(self.total, self.currency), status=self.status or "?", guid=self.guid)


def _day(value: str) -> Any:
    """A document's date as a date (shown in the reader's format), else as it was given."""
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return value or "?"


def _money(total: str, currency: str) -> Any:
    try:
        return Money(Decimal(str(total)), currency)
    except (ArithmeticError, ValueError):
        return f"{total or '?'} {currency}".strip()


class LinkRefused(TransferProblem):
    """The document a person named cannot be linked; the message says why."""


# Looks up the document a person named (a number or a Guid) on the other side; raises LinkRefused.
LinkLookup = Callable[[SyncOperation, TransferContext, str], FoundDocument]
_LINK_LOOKUPS: dict[tuple[str, str], LinkLookup] = {}


def register_link_lookup(kind: str, direction: str) -> Callable[[LinkLookup], LinkLookup]:
    """Register how a (kind, direction) finds the document a person links."""

    def decorator(func: LinkLookup) -> LinkLookup:
        _LINK_LOOKUPS[(str(kind), str(direction))] = func
        return func

    return decorator


def link_lookup_for(op: SyncOperation) -> LinkLookup | None:
    return _LINK_LOOKUPS.get((str(op.kind), str(op.direction)))
