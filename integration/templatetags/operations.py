"""Template tags for the operations views: the health of every connection on the admin index."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def connection_health(context: dict[str, Any]) -> list[dict[str, Any]]:
    from integration.dashboard import connection_health as rows

    request = context.get("request")
    return rows(request.user) if request is not None else []
