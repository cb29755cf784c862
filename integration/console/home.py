"""The home page: every connection the user may see, how it is doing, and one click into it.

Each card answers the accountant's first questions — is it running, when did something last
arrive, does anything wait for me, when does it look again — and links to the connection's own
pages (dashboard, setup, matrices, sync log, troubleshooting) as far as the user may open them.
Three queries whatever the number of connections: the connections with their counts, their
newest transfers, and the poll schedule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, OuterRef, Subquery
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _

from accounts.models import Connection
from accounts.tenancy import connections_for
from integration.console import connection_pages
from integration.console.dashboard import next_polls
from integration.console.state_colours import state_colour
from integration.core.models import SyncOperation

State = SyncOperation.State

# The connection pages offered on a card, in this order, as (page slug, route arguments).
CARD_PAGES = [
    ("dashboard", ()),
    ("setup", ()),
    ("matrix", ("revenue",)),
    ("matrix", ("supplier",)),
    ("troubleshooting", ()),
    ("settings", ()),
]


@dataclass
class CardLink:
    label: str
    url: str
    css: str = ""


@dataclass
class ConnectionCard:
    connection: Connection
    colour: str
    attention: int
    attention_url: str
    dashboard_url: str
    last_transfer: SyncOperation | None
    links: list[CardLink] = field(default_factory=list)


def _page_labels() -> dict[tuple[str, tuple[str, ...]], str]:
    return {
        ("dashboard", ()): _("Dashboard"),
        ("setup", ()): _("Setup"),
        ("matrix", ("revenue",)): _("Revenue matrix"),
        ("matrix", ("supplier",)): _("Supplier matrix"),
        ("troubleshooting", ()): _("Troubleshooting"),
        ("settings", ()): _("Settings"),
    }


def _allowed_pages(request: HttpRequest) -> set[str]:
    return {page.slug for page in connection_pages.pages() if request.user.has_perm(page.permission)}


def connection_cards(request: HttpRequest) -> list[ConnectionCard]:
    """One card per connection the user may see, ordered by name."""
    problems = (SyncOperation.objects.filter(connection=OuterRef("pk"), state__in=SyncOperation.PROBLEM_STATES)
                .order_by().values("connection").annotate(n=Count("pk")).values("n"))
    newest_done = (SyncOperation.objects.filter(connection=OuterRef("pk"), state=State.DONE)
                   .order_by("-updated_at").values("pk")[:1])
    connections = list(
        connections_for(request.user).order_by("name")
        .annotate(attention=Subquery(problems), last_done=Subquery(newest_done))
        .only("pk", "name", "state", "state_reason", "state_reason_meaning", "state_changed_at")
    )
    last = SyncOperation.objects.only("pk", "kind", "document_number", "document_name", "updated_at").in_bulk(
        [c.last_done for c in connections if c.last_done])
    allowed = _allowed_pages(request)
    labels = _page_labels()
    log_url = reverse("admin:integration_syncoperation_changelist")
    attention_list = reverse("admin:integration_needsattention_changelist")
    cards = []
    for connection in connections:
        links = []
        for slug, args in CARD_PAGES:
            if slug not in allowed:
                continue
            try:
                url = reverse(f"admin:connection-{slug}", args=[connection.pk, *args])
            except NoReverseMatch:  # a page another part of the service has not installed
                continue
            links.append(CardLink(labels[(slug, args)], url, f"link-{slug}{'-' + args[0] if args else ''}"))
        if request.user.has_perm("integration.view_syncoperation"):
            links.insert(1, CardLink(_("Sync log"), f"{log_url}?connection={connection.pk}", "link-log"))
        cards.append(ConnectionCard(
            connection=connection,
            colour=state_colour(connection),
            attention=connection.attention or 0,
            attention_url=f"{attention_list}?connection={connection.pk}",
            dashboard_url=reverse("admin:connection-dashboard", args=[connection.pk]),
            last_transfer=last.get(connection.last_done),
            links=links,
        ))
    return cards


def next_poll() -> datetime | None:
    """When the service next looks for changes in Rackbeat or Dinero (the earliest poll)."""

    runs = [p["next_run"] for p in next_polls() if p["next_run"]]
    return min(runs) if runs else None


def home_context(request: HttpRequest) -> dict[str, Any]:
    return {"connection_cards": connection_cards(request), "next_poll": next_poll()}
