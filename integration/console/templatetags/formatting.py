"""Numbers and dates in templates, written the one way ``integration.core.formatting`` writes them.

``{% load formatting %}`` then ``{{ total|money:currency }}``, ``{{ line.quantity|quantity }}``,
``{{ rate|percent }}``, ``{{ seconds|duration }}``, ``{{ day|local_date }}``,
``{{ moment|local_datetime }}``, ``{{ moment|ago }}``.
"""

from __future__ import annotations

from typing import Any

from django import template

from integration.core import formatting

register = template.Library()


@register.filter
def money(amount: Any, currency: str | None = None) -> str:
    return formatting.money(amount, currency or None)


@register.filter
def number(value: Any, places: int | None = None) -> str:
    return formatting.number(value, None if places in (None, "") else int(places))


@register.filter
def quantity(value: Any) -> str:
    return formatting.quantity(value)


@register.filter
def percent(value: Any) -> str:
    return formatting.percent(value)


@register.filter
def duration(seconds: Any) -> str:
    return formatting.duration(seconds)


@register.filter
def local_date(value: Any) -> str:
    return formatting.date(value)


@register.filter
def local_datetime(value: Any) -> str:
    return formatting.datetime(value)


@register.filter
def ago(value: Any) -> str:
    return formatting.ago(value)


@register.filter
def indent(text: Any, spaces: int = 2) -> str:
    """Every line after the first indented like the first, so a multi-line reason stays one item
    in a plain-text list."""
    lines = str(text or "").replace("\r\n", "\n").split("\n")
    return ("\n" + " " * int(spaces)).join(line.rstrip() for line in lines)
