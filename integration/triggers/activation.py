"""Activate, pause and resume a connection; keep its Rackbeat webhooks registered.

Activation checks both sides before anything is switched on — the Rackbeat token (``/self``,
which also tells us the Rackbeat account id the webhooks will carry), the Dinero login, the
company id and Dinero Pro — then registers one webhook per event and stores each token
(encrypted; Rackbeat shows it only once). Every problem comes back as one sentence saying what to
do; an empty list means the connection is active.

Which events Rackbeat offers is learnt, not assumed: only a handful of event names are seen in
public code (docs/rackbeat-documents.md, "Sources"). Each registration's answer is recorded
per connection (``RackbeatEventAnswer``); an event Rackbeat refuses (400/422) does not stop the
activation — the connection page shows it with Rackbeat's answer, and the poll covers its documents.
Every activation asks again, so an event Rackbeat starts offering later is picked up.

Pausing removes the webhooks (Rackbeat stops sending) and keeps queued work pending; resuming is
an activation (credentials may have changed meanwhile). Deleting a connection removes its
webhooks as well, best effort: a Rackbeat that cannot be reached never blocks the delete.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db.models.signals import pre_delete
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts.languages import country_code
from accounts.models import Connection
from integration.core import engine
from integration.core.clients import errors
from integration.core.clients.factory import dinero_client, rackbeat_client
from integration.core.clients.rackbeat import RackbeatClient
from integration.core.messages import Message, stored
from integration.core.models import IntegrationSettings, RackbeatEventAnswer, RackbeatWebhook
from integration.triggers.webhooks import webhook_events

logger = logging.getLogger(__name__)


def webhook_url(connection: Connection) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("rackbeat-webhook", args=[connection.public_id])


def _describe(exc: Exception) -> str:
    return exc.describe() if isinstance(exc, errors.ApiError) else f"{type(exc).__name__}: {exc}"


def check_rackbeat(connection: Connection) -> list[str]:
    if not connection.rackbeat_api_token:
        return [_("Enter the Rackbeat API token on the credentials step (Rackbeat: Settings › API).")]
    try:
        info = rackbeat_client(connection).self_info()
    except errors.AuthenticationFailed:
        return [_("Rackbeat rejected the API token. Create a new token in Rackbeat under Settings › API "
                  "and enter it on the credentials step.")]
    except errors.ApiError as exc:
        return [_("Rackbeat could not be checked (%(error)s). Try again in a few minutes.") % {"error": _describe(exc)}]
    account = (info or {}).get("user_account") or {}
    account_id = str(account.get("id") or "")
    if not account_id:
        return [_("Rackbeat did not say which account the API token belongs to. Create a new token in Rackbeat "
                  "and try again.")]
    country = country_code(account.get("address_country"))
    if (connection.rackbeat_account_id, connection.company_country) != (account_id, country):
        connection.rackbeat_account_id = account_id
        connection.company_country = country
        connection.save(update_fields=["rackbeat_account_id", "company_country", "updated_at"])
    return []


def check_dinero(connection: Connection) -> list[str]:
    if not connection.dinero_organization_id:
        return [_("Enter the Dinero company id (shown in the lower-left corner in Dinero, e.g. 400555).")]
    if connection.dinero_auth_method == Connection.DineroAuth.API_KEY and not connection.dinero_api_key:
        return [_("Enter the Dinero API key (created in Dinero under Integrations › API keys, description "
                  "“Rackbeat”).")]
    if connection.dinero_auth_method == Connection.DineroAuth.VISMA_CONNECT and not (
            connection.visma_refresh_token or connection.visma_access_token):
        return [_("Log in with Visma Connect on the credentials step first.")]
    try:
        dinero_client(connection).check_access()
    except errors.NoProSubscription:
        return [_("The Dinero company %(id)s has no Dinero Pro subscription, which the integration requires. "
                  "Upgrade to Dinero Pro, then activate again.") % {"id": connection.dinero_organization_id}]
    except errors.AuthenticationFailed:
        if connection.dinero_auth_method == Connection.DineroAuth.VISMA_CONNECT:
            return [_("Dinero rejected the Visma Connect login. Log in with Visma Connect again on the credentials "
                      "step.")]
        return [_("Dinero rejected the API key. Create a new API key in Dinero under Integrations › API keys and "
                  "enter it on the credentials step.")]
    except (errors.NotFound, errors.AccessDenied):
        return [_("The Dinero login has no access to the company id %(id)s. Check the company id (lower-left "
                  "corner in Dinero) and that the API key belongs to that company.")
                % {"id": connection.dinero_organization_id}]
    except errors.ApiError as exc:
        return [_("Dinero could not be checked (%(error)s). Try again in a few minutes.") % {"error": _describe(exc)}]
    return []


def register_webhooks(connection: Connection) -> list[str]:
    """One webhook per configured event at this connection's URL; stale registrations removed."""

    wanted = set(webhook_events(connection))
    url = webhook_url(connection)
    client = rackbeat_client(connection)
    problems: list[str] = []
    for hook in RackbeatWebhook.objects.filter(connection=connection):
        if hook.event not in wanted or hook.url != url or not hook.token:
            problems += _remove(client, hook)
    existing = set(RackbeatWebhook.objects.filter(connection=connection).values_list("event", flat=True))
    RackbeatEventAnswer.objects.filter(connection=connection).exclude(event__in=wanted).delete()
    for event in existing:
        _record_answer(connection, event, accepted=True)
    for event in sorted(wanted - existing):
        try:
            answer = client.create_webhook(event, url)
            if not answer.get("token"):
                # Re-registering the same event and URL may not show the token again: start afresh.
                client.delete_webhook(answer.get("id"))
                answer = client.create_webhook(event, url)
        except errors.ValidationFailed as exc:
            # Rackbeat does not offer this event (to this account): learnt, and the poll covers it.
            _record_answer(connection, event, accepted=False, answer=exc.message)
            continue
        except errors.ApiError as exc:
            problems.append(_("Rackbeat refused the webhook for the event “%(event)s” (%(error)s). Check the event "
                              "names in the integration settings.") % {"event": event, "error": _describe(exc)})
            continue
        if not answer.get("token"):
            problems.append(_("Rackbeat registered the webhook for “%(event)s” without a token. Activate again.")
                            % {"event": event})
            continue
        RackbeatWebhook.objects.create(connection=connection, event=event, rackbeat_id=str(answer.get("id", "")),
                                       url=url, token=str(answer["token"]))
        _record_answer(connection, event, accepted=True)
    return problems


def _record_answer(connection: Connection, event: str, *, accepted: bool, answer: str = "") -> None:
    RackbeatEventAnswer.objects.update_or_create(connection=connection, event=event,
                                                 defaults={"accepted": accepted, "answer": answer[:2000]})


def refused_events(connection: Connection) -> list[RackbeatEventAnswer]:
    """The events Rackbeat refused at the last activation (their documents come with the poll)."""
    return list(RackbeatEventAnswer.objects.filter(connection=connection, accepted=False))


def _remove(client: Any, hook: RackbeatWebhook) -> list[str]:
    try:
        if hook.rackbeat_id:
            client.delete_webhook(hook.rackbeat_id)
    except errors.ApiError as exc:
        return [_("The webhook for “%(event)s” could not be removed in Rackbeat (%(error)s).")
                % {"event": hook.event, "error": _describe(exc)}]
    hook.delete()
    return []


def remove_webhooks(connection: Connection, *, record_exchanges: bool = True) -> list[str]:
    hooks = list(RackbeatWebhook.objects.filter(connection=connection))
    if not hooks:
        return []
    if record_exchanges:
        client: Any = rackbeat_client(connection)
    else:
        client = RackbeatClient(connection)
    problems: list[str] = []
    for hook in hooks:
        problems += _remove(client, hook)
    return problems


def activate(connection: Connection) -> list[str]:
    """Check both sides, register the webhooks, switch the connection on; problems in plain words."""
    problems = check_rackbeat(connection) + check_dinero(connection)
    if problems:
        return problems
    problems = register_webhooks(connection)
    if problems:
        return problems
    IntegrationSettings.objects.get_or_create(connection=connection)
    connection.refresh_from_db()
    connection.set_state(Connection.State.ACTIVE)
    connection.save(update_fields=["state", "state_reason", "state_reason_meaning", "state_changed_at", "updated_at"])
    # What waited while the connection was paused or its login rejected goes on at once.
    engine.queue_waiting(connection)
    return []


def pause(connection: Connection) -> list[str]:
    """Stop transfers: Rackbeat stops sending webhooks; queued work waits for the resume."""
    problems = remove_webhooks(connection)
    connection.refresh_from_db()
    reason = stored(state_reason=Message(gettext_noop("Paused by a person.")))
    connection.set_state(Connection.State.PAUSED, reason["state_reason"], reason_meaning=reason["state_reason_meaning"])
    connection.save(update_fields=["state", "state_reason", "state_reason_meaning", "state_changed_at", "updated_at"])
    return problems


def resume(connection: Connection) -> list[str]:
    """Activate again; the polling safety net then picks up what changed while paused."""
    return activate(connection)


def remove_webhooks_before_delete(sender: Any, instance: Connection, **kwargs: Any) -> None:
    # No exchange rows: they would point at the connection being deleted.
    try:
        problems = remove_webhooks(instance, record_exchanges=False)
    except Exception:
        logger.warning("Could not remove the Rackbeat webhooks of connection %s", instance.pk, exc_info=True)
        return
    if problems:
        logger.warning("Webhooks of connection %s left in Rackbeat: %s", instance.pk, "; ".join(problems))


def connect_signals() -> None:
    pre_delete.connect(remove_webhooks_before_delete, sender=Connection, dispatch_uid="remove-rackbeat-webhooks")
