"""The one parser for ids and numbers that come from people: URLs, query strings, forms, bulk actions.

``str.isdigit()`` accepts "²", "①" and "٣"; ``int()`` refuses the first two and accepts the third.
A page that checks with one and converts with the other answers a 500 to a crafted link, and one
that converts with ``int()`` alone hands "٣" or a 20-digit number to the database, which refuses
it (SQLite: "Python int too large to convert"). Here a value is an id only when it is ASCII digits
naming a positive 64-bit integer — what every primary key of this service is — and anything else
is answered before a query is built: 404 where the value names the thing a page shows, 400 where it
is a filter, an option or a selection (``templates/400.html`` tells the person what to do; the
messages here go only to the log, as Django shows no exception text on a 400 page).

Every view, list filter and admin action that reads an id or a number from a request goes through
this module; ``tests/test_isolation_url_map.py`` sends hostile values to every parameter each page
reads and every bulk action, as each role, and fails on any 5xx.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import BadRequest, ValidationError
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse

# PostgreSQL's bigint and SQLite's INTEGER: the largest id either stores.
MAX_ID = 2**63 - 1
MAX_ID_DIGITS = len(str(MAX_ID))
# Longest text accepted as the key of a model whose primary key is not a number (django-q2's task ids).
MAX_TEXT_KEY = 64


def parse_id(value: Any) -> int | None:
    """The id ``value`` names, or None: ASCII digits only, from 1 up to :data:`MAX_ID`."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_DIGITS:
        return None
    if not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None


def id_or_404(value: Any) -> int:
    """An id that names what the page shows: anything malformed simply does not exist."""
    number = parse_id(value)
    if number is None:
        raise Http404("No such object.")
    return number


def id_or_400(value: Any, what: str = "id") -> int:
    """An id given as a filter or an option: a malformed one is a bad request (400)."""
    number = parse_id(value)
    if number is None:
        raise BadRequest(f"The {what} must be a whole number.")
    return number


def optional_id(value: Any, what: str = "id") -> int | None:
    """An id that may be left out (None or ""), else as :func:`id_or_400`."""
    if value is None or value == "":
        return None
    return id_or_400(value, what)


def bounded_number(value: Any, *, default: int, low: int, high: int, what: str = "number") -> int:
    """A count or a page number: left out → ``default``; ASCII digits → clamped to [low, high]; else 400."""
    if value is None or value == "":
        return default
    if not isinstance(value, str) or not (value.isascii() and value.isdigit()):
        raise BadRequest(f"The {what} must be a whole number.")
    return max(low, min(int(value[:MAX_ID_DIGITS + 1]), high))


def primary_keys_or_400(model: type[models.Model], values: Iterable[Any]) -> list[Any]:
    """The primary keys of a selection (an admin action's ticked rows), each checked for ``model``."""
    field = model._meta.pk
    keys = []
    for value in values:
        if isinstance(field, models.IntegerField):  # AutoField and BigAutoField too
            key: Any = parse_id(value)
        else:
            try:
                key = field.to_python(value) if isinstance(value, str) and len(value) <= MAX_TEXT_KEY else None
            except ValidationError:
                key = None
        if key is None:
            raise BadRequest("The selection names a row that cannot exist.")
        keys.append(key)
    return keys


def checked_selection(model: type[models.Model], view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wraps an admin list view: a bulk action's selection is checked before Django queries it."""

    @wraps(view)
    def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST" and ACTION_CHECKBOX_NAME in request.POST:
            primary_keys_or_400(model, request.POST.getlist(ACTION_CHECKBOX_NAME))
        return view(request, *args, **kwargs)

    return inner
