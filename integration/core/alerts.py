"""E-mails to the people behind a connection: the daily digest and the breakage alert.

Both go to ``Connection.recipients`` through Django's e-mail backend (the console unless
``EMAIL_BACKEND`` says otherwise), as plain text with an HTML alternative, every link absolute
(``PUBLIC_BASE_URL``).

*Daily digest* — one e-mail per connection listing the documents that failed or need attention,
sent only when there is something to report.

*Breakage alert* — sent the moment a connection becomes broken (credentials rejected, Dinero Pro
lost, webhooks failing), at most once per breakage. A breakage is identified by the connection
and the time it entered the broken state (``state_changed_at``); the alert claims that identity
with an atomic ``cache.add`` while holding the connection's row lock, so a second call for the same
breakage — from a retry, another handler, or the engine noticing it again — sends nothing. A new
breakage after a repair has a new ``state_changed_at`` and alerts again. With several worker
processes, ``CACHE_URL`` must point at a shared cache (database, Redis or Memcached); the default
local-memory cache is per process.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import Connection
from integration.core.messages import render
from integration.core.models import SyncOperation

logger = logging.getLogger(__name__)

# The digest lists at most this many documents; the rest are a link to the full list away.
DIGEST_MAX_ROWS = 100
# Long enough to outlive any breakage a person would not have noticed by then.
BROKEN_ALERT_MEMORY = timedelta(days=60)


def absolute(path: str) -> str:
    """An absolute URL for links in e-mails; absolute URLs pass through unchanged."""
    if not path or path.startswith(("http://", "https://")):
        return path
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/{path.lstrip('/')}"


def in_recipients_language(send: Callable[..., bool]) -> Callable[..., bool]:
    """Write the whole e-mail — subject, text, HTML and attached reports — in the language of the
    connection (its first argument), whatever language the request or worker runs in."""

    @functools.wraps(send)
    def written(connection: Connection, *args: Any, **kwargs: Any) -> bool:
        with translation.override(connection.mail_language):
            return send(connection, *args, **kwargs)

    return written


@in_recipients_language
def _send(connection: Connection, subject: str, template: str, context: dict[str, Any],
          attachments: list[tuple[str, bytes, str]] = ()) -> bool:
    """Send one e-mail to the connection's recipients; ``attachments`` as (file name, content, type)."""
    recipients = connection.recipients
    if not recipients:
        logger.info("No alert recipients for connection %s; %s not sent.", connection.pk, template)
        return False
    context = {**context, "connection": connection, "public_base_url": settings.PUBLIC_BASE_URL}
    text = render_to_string(f"email/{template}.txt", context)
    html = render_to_string(f"email/{template}.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, to=recipients)
    message.attach_alternative(html, "text/html")
    for name, content, mimetype in attachments:
        message.attach(name, content, mimetype)
    message.send()
    return True


# --- Daily digest ---------------------------------------------------------------------------------

def digest_rows(connection: Connection) -> tuple[list[dict[str, Any]], int]:
    """The documents to report (newest first, at most DIGEST_MAX_ROWS) and how many there are."""
    problems = SyncOperation.objects.filter(connection=connection, state__in=SyncOperation.PROBLEM_STATES)
    total = problems.count()
    since = timezone.now() - timedelta(days=1)
    rows = []
    for op in problems.order_by("-updated_at")[:DIGEST_MAX_ROWS]:
        rows.append({
            "operation": op,
            "is_new": op.updated_at >= since,
            "url": absolute(reverse("admin:integration_syncoperation_change", args=[op.pk])),
            "fix_url": absolute(op.fix_url),
        })
    return rows, total


@in_recipients_language
def send_digest(connection: Connection) -> bool:
    """Send one connection's digest; False when there is nothing to report or nobody to tell."""
    rows, total = digest_rows(connection)
    if not rows:
        return False
    failed = sum(1 for r in rows if r["operation"].state == SyncOperation.State.FAILED)
    context = {
        "rows": rows,
        "total": total,
        "more": total - len(rows),
        "failed": failed,
        "attention": len(rows) - failed,
        "list_url": absolute(reverse("admin:integration_needsattention_changelist")
                             + f"?connection={connection.pk}"),
        "dashboard_url": absolute(reverse("admin:connection-dashboard", args=[connection.pk])),
    }
    subject = ngettext("%(connection)s: %(count)d document needs attention",
                       "%(connection)s: %(count)d documents need attention", total) % {
        "connection": connection.name, "count": total}
    return _send(connection, subject, "digest", context)


def send_daily_digests() -> int:
    """The schedule's entry point: a digest for every connection with problems. Returns the count sent."""
    sent = 0
    with_problems = (SyncOperation.objects.filter(state__in=SyncOperation.PROBLEM_STATES)
                     .order_by().values("connection_id").distinct())
    for connection in Connection.objects.filter(pk__in=with_problems).exclude(alert_recipients=""):
        try:
            sent += send_digest(connection)
        except Exception:  # one connection's mail problem must not stop the others' digests
            logger.exception("Could not send the daily digest of connection %s", connection.pk)
    return sent


# --- Breakage -------------------------------------------------------------------------------------

def _breakage_key(connection: Connection) -> str:
    stamp = connection.state_changed_at.isoformat() if connection.state_changed_at else "unknown"
    return f"alerts:broken:{connection.pk}:{stamp}"


def notify_connection_broken(connection: Connection) -> bool:
    """E-mail the recipients that ``connection`` broke and why; once per breakage. True when sent."""
    with transaction.atomic():
        current = Connection.objects.select_for_update().filter(pk=connection.pk).first()
        if current is None or current.state != Connection.State.BROKEN:
            return False
        if not current.recipients:
            logger.warning("Connection %s is broken and has no alert recipients.", current.pk)
            return False
        key = _breakage_key(current)
        if not cache.add(key, timezone.now().isoformat(), timeout=int(BROKEN_ALERT_MEMORY.total_seconds())):
            return False
    context = {
        "since": current.state_changed_at,
        "connection_url": absolute(reverse("admin:accounts_connection_change", args=[current.pk])),
        "dashboard_url": absolute(reverse("admin:connection-dashboard", args=[current.pk])),
    }
    try:
        with translation.override(current.mail_language):
            context["reason"] = (render(current.state_reason_meaning, current.state_reason)
                                 or _("No reason was recorded."))
            subject = _("%(connection)s: the integration has stopped") % {"connection": current.name}
            return _send(current, subject, "connection_broken", context)
    except Exception:
        # Not sent after all: forget the claim so the next report of this breakage tries again.
        cache.delete(key)
        raise


# --- What the first deliveries taught -------------------------------------------------------------

@in_recipients_language
def notify_delivery_account(connection: Connection, account_text: str, event: str) -> bool:
    """Tell the recipients that genuine deliveries carry another (or no) Rackbeat account id.

    Called once per newly seen delivery shape; the deliveries are processed all the same, so this
    only asks a person to confirm that the webhook address and the Rackbeat account belong together.
    """
    context = {
        "account_text": account_text,
        "event": event,
        "connection_url": absolute(reverse("admin:accounts_connection_change", args=[connection.pk])),
    }
    subject = _("%(connection)s: Rackbeat deliveries carry another account id") % {"connection": connection.name}
    return _send(connection, subject, "delivery_account", context)
