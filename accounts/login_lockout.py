"""The page a locked-out login gets (django-axes' ``AXES_LOCKOUT_CALLABLE``)."""

from __future__ import annotations

from typing import Any

from axes.helpers import get_cool_off, get_failure_limit
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def lockout_page(request: HttpRequest, original_response: Any = None, credentials: dict | None = None) -> HttpResponse:
    """429 with a page saying how long the lockout lasts and who can lift it."""
    cool_off = get_cool_off(request)
    minutes = max(1, round(cool_off.total_seconds() / 60)) if cool_off else 0
    return render(request, "admin/login_locked_out.html", {
        "cooloff_minutes": minutes,
        "failure_limit": get_failure_limit(request, credentials),
        "title": "",
    }, status=429)
