"""Colours of a connection's state, shared by the admin pages that show a state badge.

Kept apart from ``integration.console.connection_admin`` so pages in other apps (the dashboard, the home page) can
show the badge without importing the admin module, which would close an import circle.
"""

from __future__ import annotations

from django.utils.html import format_html

from accounts.models import Connection
from integration.core.messages import render

STATE_COLOURS = {
    Connection.State.ACTIVE: "#2e7d32",
    Connection.State.DRAFT: "#757575",
    Connection.State.PAUSED: "#ef6c00",
    Connection.State.BROKEN: "#c62828",
}


def state_colour(connection: Connection) -> str:
    return STATE_COLOURS.get(connection.state, "#757575")


def state_badge(connection: Connection) -> str:
    return format_html('<span class="state-badge state-{}" style="background:{}" title="{}">{}</span>',
                       connection.state, state_colour(connection), render(connection.state_reason_meaning, connection.state_reason),
                       connection.get_state_display())
