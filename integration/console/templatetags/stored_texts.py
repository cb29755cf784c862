"""Texts stored as meaning (integration.core.messages), shown in the reader's language.

``{% load stored_texts %}`` then ``{{ connection|shown:"state_reason" }}``: the text's meaning
rendered in the active language, else the text as it was stored.
"""

from __future__ import annotations

from typing import Any

from django import template

from integration.core.messages import render

register = template.Library()


@register.filter
def shown(obj: Any, field: str) -> str:
    return render(getattr(obj, f"{field}_meaning", None), getattr(obj, field, "") or "")
