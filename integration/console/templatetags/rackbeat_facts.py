"""The connection page's "Rackbeat" box: events Rackbeat accepted or refused, what genuine deliveries
carried, and the latest shape check."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse

from integration.core.models import (
    RackbeatDeliveryShape,
    RackbeatEventAnswer,
    RackbeatShapeCheck,
    RefusedListFilter,
)

register = template.Library()


@register.inclusion_tag("admin/rackbeat_check/_connection_summary.html", takes_context=True)
def rackbeat_summary(context: dict[str, Any], connection: Any) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if connection is None or getattr(connection, "pk", None) is None or user is None:
        return {"show": False}
    try:
        check_url = reverse("admin:connection-rackbeat-check", args=[connection.pk])
    except NoReverseMatch:
        check_url = ""
    answers = list(RackbeatEventAnswer.objects.filter(connection=connection))
    return {
        "show": True,
        "accepted": [a for a in answers if a.accepted],
        "refused": [a for a in answers if not a.accepted],
        "refused_filters": list(RefusedListFilter.objects.filter(connection=connection)),
        "deliveries_seen": list(RackbeatDeliveryShape.objects.filter(connection=connection)),
        "latest": RackbeatShapeCheck.objects.filter(connection=connection).first()
        if user.has_perm("integration.view_rackbeatshapecheck") else None,
        "check_url": check_url if user.has_perm("integration.view_rackbeatshapecheck") else "",
        "can_run": bool(check_url) and user.has_perm("integration.add_rackbeatshapecheck"),
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("admin/rackbeat_check/_check_form.html", takes_context=True)
def rackbeat_check_form(context: dict[str, Any], connection: Any) -> dict[str, Any]:
    """The (empty) form the "Check Rackbeat" button submits, placed outside the change form."""
    request = context.get("request")
    user = getattr(request, "user", None)
    can_run = bool(user and getattr(connection, "pk", None) and user.has_perm("integration.add_rackbeatshapecheck"))
    return {
        "can_run": can_run,
        "check_url": reverse("admin:connection-rackbeat-check", args=[connection.pk]) if can_run else "",
        "csrf_token": context.get("csrf_token"),
    }
