"""Template tags for the operations views: the health of every connection on the admin index."""

from __future__ import annotations

from typing import Any

from django import template

from integration.console.dashboard import connection_health as rows
from integration.core.models import SyncOperation

register = template.Library()


@register.simple_tag(takes_context=True)
def connection_health(context: dict[str, Any]) -> list[dict[str, Any]]:
    request = context.get("request")
    return rows(request.user) if request is not None else []


@register.filter
def state_label(value: str) -> str:
    """An operation state as people read it ("Needs attention"), never the stored value."""

    try:
        return str(SyncOperation.State(value).label)
    except ValueError:
        return value
