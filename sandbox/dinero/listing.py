"""Dinero's list conventions: ``fields`` selection, ``queryFilter``, ``changesSince`` and 0-based paging."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sandbox.dinero.documents import BusinessError

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
CONDITION = re.compile(r"^\s*(\w+)\s+(eq|contains)\s+'(.*)'\s*$", re.IGNORECASE)


def select_fields(item: dict[str, Any], fields: str) -> dict[str, Any]:
    """Only the requested properties, named with the caller's casing (as Dinero echoes them)."""
    by_lower = {key.lower(): key for key in item}
    selected = {}
    for name in (f.strip() for f in fields.split(",")):
        if name and name.lower() in by_lower:
            selected[name] = item[by_lower[name.lower()]]
    return selected


def query_filter(raw: str | None, allowed: Iterable[str]) -> list[tuple[str, str, str]]:
    """Parsed ``Field eq 'value'; Field contains 'value'`` conditions (joined by AND)."""
    if not raw:
        return []
    allowed_by_lower = {name.lower(): name for name in allowed}
    conditions = []
    for part in raw.split(";"):
        if not part.strip():
            continue
        match = CONDITION.match(part)
        if not match:
            raise BusinessError(
                f"The query filter '{part.strip()}' is not valid. Use: Field eq 'value' or Field contains 'value'.",
                field="queryFilter")
        field = allowed_by_lower.get(match.group(1).lower())
        if field is None:
            raise BusinessError(f"Filtering on '{match.group(1)}' is not supported. Filterable fields: "
                                + ", ".join(allowed), field="queryFilter")
        conditions.append((field, match.group(2).lower(), match.group(3)))
    return conditions


def matches(item: dict[str, Any], conditions: list[tuple[str, str, str]]) -> bool:
    for field, operator, value in conditions:
        actual = item.get(field)
        text = ("true" if actual else "false") if isinstance(actual, bool) else ("" if actual is None else str(actual))
        if operator == "eq" and text.lower() != value.lower():
            return False
        if operator == "contains" and value.lower() not in text.lower():
            return False
    return True


def parse_moment(raw: str | None, name: str) -> datetime | None:
    """``YYYY-MM-DDTHH:mm:ssZ`` (UTC; a value without zone is read as UTC)."""
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise BusinessError(f"{name} '{raw}' is not a UTC time like 2015-08-18T06:36:22Z.", field=name) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def flag(raw: str | None, name: str) -> bool | None:
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise BusinessError(f"{name} must be true or false.", field=name)


def page_of(query: dict[str, str], items: list[dict[str, Any]], fields: str) -> dict[str, Any]:
    """The ``Collection`` + ``Pagination`` envelope of one 0-based page."""
    try:
        page = int(query.get("page") or 0)
        size = int(query.get("pageSize") or DEFAULT_PAGE_SIZE)
    except ValueError as exc:
        raise BusinessError("page and pageSize must be whole numbers.", field="page") from exc
    if page < 0 or size < 1:
        raise BusinessError("page must be 0 or more and pageSize at least 1.", field="page")
    if size > MAX_PAGE_SIZE:
        raise BusinessError(f"pageSize cannot be larger than {MAX_PAGE_SIZE}.", code=43, field="pageSize")
    chunk = items[page * size:(page + 1) * size]
    return {
        "Collection": [select_fields(item, fields) for item in chunk],
        "Pagination": {"MaxPageSizeAllowed": MAX_PAGE_SIZE, "PageSize": size, "Result": len(chunk),
                       "ResultWithoutFilter": len(items), "Page": page},
    }
