"""Errors raised at the client boundary, classified for the engine.

* permanent — a person must act (validation, mapping, credentials, no Pro subscription);
  the operation goes to *needs attention* and is not retried automatically.
* transient — retry later with backoff (429, 5xx or timeout on a read).
* uncertain — a write may or may not have taken effect (5xx or timeout on a POST/PUT);
  the engine looks the document up before it creates anything again.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_noop

from integration.core.messages import Message


class ApiError(Exception):
    """Base class. ``hint`` is shown to the user next to the message."""

    permanent = True
    uncertain = False
    default_hint = ""

    def __init__(
        self,
        message: str,
        *,
        service: str = "",
        status: int | None = None,
        code: int | str | None = None,
        details: dict[str, Any] | None = None,
        hint: str = "",
        body: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.service = service
        self.status = status
        self.code = code
        self.details = details or {}
        self.hint = hint or self.default_hint
        self.body = body

    @property
    def transient(self) -> bool:
        return not self.permanent and not self.uncertain

    def describe(self) -> str:
        """One readable paragraph: message plus field-level details."""
        parts = [self.message]
        for field, problems in self.details.items():
            if isinstance(problems, list | tuple):
                problems = "; ".join(str(p) for p in problems)
            parts.append(f"{field}: {problems}")
        return "\n".join(parts)


class ValidationFailed(ApiError):
    """The other side rejected the content (Dinero 400 / Rackbeat 422)."""

    default_hint = Message(gettext_noop("Correct the document or the mapping named in the message, then press Retry."))


class NotFound(ApiError):
    default_hint = Message(gettext_noop("The document no longer exists on the other side."))


class AuthenticationFailed(ApiError):
    default_hint = Message(gettext_noop(
        "The credentials were rejected. A support consultant must enter new credentials on the "
        "connection's page."
    ))


class AccessDenied(ApiError):
    default_hint = Message(gettext_noop("The credentials do not give access to this resource."))


class NoProSubscription(ApiError):
    default_hint = Message(gettext_noop(
        "The Dinero organization has no active Dinero Pro subscription, which the integration "
        "requires. Upgrade in Dinero, then reactivate the connection."
    ))


class StaleTimestamp(ApiError):
    """Dinero code 58: the document changed; re-read it and retry once."""

    permanent = False
    default_hint = Message(gettext_noop("The document changed in Dinero while it was being updated."))


class RateLimited(ApiError):
    permanent = False
    default_hint = Message(gettext_noop("The API's request budget was used up; the transfer continues automatically."))

    def __init__(self, message: str, *, retry_after: float = 60.0, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class TransientError(ApiError):
    permanent = False
    default_hint = Message(gettext_noop("The service did not answer properly; the transfer is retried automatically."))


class UncertainOutcome(ApiError):
    permanent = False
    uncertain = True
    default_hint = Message(gettext_noop(
        "The service failed while saving; the document is looked up before anything is created "
        "again, so no duplicate can appear."
    ))


class DeprecatedEndpoint(ApiError):
    """Dinero 480 'brownout': the endpoint is being removed."""

    permanent = False
    default_hint = Message(gettext_noop("Dinero is removing an endpoint this service uses; contact support."))


class BudgetExhausted(RateLimited):
    """Our own shared request budget has no room now; nothing was sent.

    Not a failure: the engine puts the operation back with ``due_at`` (epoch seconds) as its due
    time, without counting a transient failure, and the worker takes other work meanwhile.
    """

    default_hint = Message(gettext_noop("The request budget is used up for now; the transfer continues automatically when it has room."))

    def __init__(self, *, key: str, retry_after: float, due_at: float, message: str = "", **kwargs: Any) -> None:
        service = key.split(":", 1)[0]
        label = {"dinero": "Dinero", "rackbeat": "Rackbeat"}.get(service, service)
        message = message or (
            f"{label}'s request budget is used up for the next {max(retry_after, 0):.0f} s; "
            "nothing was sent."
        )
        super().__init__(message, retry_after=retry_after, service=service, **kwargs)
        self.key = key
        self.due_at = due_at
