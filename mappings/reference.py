"""Refreshing the cached reference data of a connection from Rackbeat and Dinero.

The matrices and mappings are chosen from these caches, so the editors stay fast and work while
an API is down. Rows that an API no longer returns are flagged ``missing_upstream`` and kept:
a mapping that points at a vanished product group or account must show up as such in the editor
instead of disappearing silently.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from accounts.models import Connection
from integration.core.clients.factory import dinero_client, rackbeat_client
from mappings.models import (
    DineroAccount,
    DineroVatType,
    ProductGroup,
    RackbeatLayout,
    RackbeatUnit,
    ReferenceRefresh,
)

logger = logging.getLogger(__name__)

GROUP_VAT_FIELDS = ("vat_domestic", "vat_eu", "vat_abroad", "vat_domestic_exempt")


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _upsert(
    model: type[Model],
    connection: Connection,
    key_field: str,
    rows: dict[Any, dict[str, Any]],
    now,
) -> dict[str, int]:
    """Create or update ``rows`` (key → field values); flag every other cached row as missing."""
    existing = {getattr(obj, key_field): obj for obj in model.objects.filter(connection=connection)}
    created = updated = 0
    for key, values in rows.items():
        obj = existing.get(key)
        if obj is None:
            model.objects.create(
                connection=connection, refreshed_at=now, missing_upstream=False, **{key_field: key}, **values
            )
            created += 1
            continue
        changed = obj.missing_upstream or any(getattr(obj, f) != v for f, v in values.items())
        for field, value in values.items():
            setattr(obj, field, value)
        obj.missing_upstream = False
        obj.refreshed_at = now
        obj.save()
        updated += int(changed)
    gone = [key for key in existing if key not in rows]
    missing = model.objects.filter(connection=connection, **{f"{key_field}__in": gone}, missing_upstream=False)
    newly_missing = missing.update(missing_upstream=True)
    return {"total": len(rows), "created": created, "updated": updated, "missing": newly_missing}


def _product_groups(groups: Iterable[dict]) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for group in groups:
        number = _text(group.get("number"))
        if not number:
            continue
        rates = {f: group.get(f) for f in GROUP_VAT_FIELDS if group.get(f) not in (None, "")}
        rows[number] = {"name": _text(group.get("name")), "vat_rates": rates}
    return rows


def _named_rows(items: Iterable[dict], *, with_locale: bool = False) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for item in items:
        number = _text(item.get("number"))
        if not number:
            continue
        values: dict[str, Any] = {"name": _text(item.get("name")) or number}
        if with_locale:
            values["language"] = _text(item.get("locale") or item.get("language"))[:10]
        rows[number] = values
    return rows


def _account_number(raw: dict) -> int | None:
    try:
        return int(raw.get("AccountNumber"))
    except (TypeError, ValueError):
        return None


def _accounts(entry: list[dict], purchase: list[dict], deposit: list[dict]) -> dict[int, dict[str, Any]]:
    purchase_numbers = {n for n in map(_account_number, purchase) if n is not None}
    deposit_numbers = {n for n in map(_account_number, deposit) if n is not None}
    rows: dict[int, dict[str, Any]] = {}
    # Deposit and purchase lists may hold accounts the entry list lacks; entry wins on details.
    for raw in [*deposit, *purchase, *entry]:
        number = _account_number(raw)
        if number is None:
            continue
        rows[number] = {
            "name": _text(raw.get("Name")) or str(number),
            "vat_code": _text(raw.get("VatCode"))[:20],
            # Dinero's category key ("Turnover"), which mappings.account_kinds judges by.
            "category": _text(raw.get("Category") or raw.get("CategoryName"))[:100],
            "is_hidden": bool(raw.get("IsHidden", False)),
            "is_purchase": number in purchase_numbers,
            "is_deposit": number in deposit_numbers,
        }
    return rows


def _vat_types(types: Iterable[dict]) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for raw in types:
        code = _text(raw.get("VatCode"))
        if not code:
            continue
        try:
            rate = Decimal(str(raw.get("VatRate") or 0))
        except InvalidOperation:
            rate = Decimal(0)
        rows[code[:20]] = {"name": _text(raw.get("Name")), "rate": rate}
    return rows


def refresh_reference_data(connection: Connection, *, rackbeat: Any = None, dinero: Any = None) -> dict:
    """Fetch product groups, units, layouts, accounts and VAT types; return counts per kind.

    ``rackbeat`` and ``dinero`` are API clients; by default the logged clients of the connection.
    Everything is fetched before anything is written, so a failing API leaves the cache as it was;
    the error is recorded on the connection's ``ReferenceRefresh`` row and raised again.
    """
    if rackbeat is None or dinero is None:
        rackbeat = rackbeat if rackbeat is not None else rackbeat_client(connection)
        dinero = dinero if dinero is not None else dinero_client(connection)

    state, _ = ReferenceRefresh.objects.get_or_create(connection=connection)
    state.attempted_at = timezone.now()
    try:
        groups = _product_groups(rackbeat.iter_product_groups())
        units = _named_rows(rackbeat.iter_units())
        layouts = _named_rows(rackbeat.iter_layouts(), with_locale=True)
        accounts = _accounts(
            list(dinero.entry_accounts()), list(dinero.purchase_accounts()), list(dinero.deposit_accounts())
        )
        vat_types = _vat_types(dinero.vat_types())
    except Exception as exc:
        state.error = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
        state.save(update_fields=["attempted_at", "error"])
        raise

    now = timezone.now()
    with transaction.atomic():
        counts = {
            "product_groups": _upsert(ProductGroup, connection, "number", groups, now),
            "units": _upsert(RackbeatUnit, connection, "number", units, now),
            "layouts": _upsert(RackbeatLayout, connection, "number", layouts, now),
            "accounts": _upsert(DineroAccount, connection, "number", accounts, now),
            "vat_types": _upsert(DineroVatType, connection, "code", vat_types, now),
        }
        state.refreshed_at = now
        state.counts = counts
        state.error = ""
        state.save()
    return counts


def refresh_all() -> dict[int, dict]:
    """Refresh every active connection; one failing connection does not stop the others."""
    results: dict[int, dict] = {}
    for connection in Connection.objects.filter(state=Connection.State.ACTIVE):
        try:
            results[connection.pk] = refresh_reference_data(connection)
        except Exception as exc:
            logger.warning("Reference data refresh failed for connection %s: %s", connection.pk, exc)
            results[connection.pk] = {"error": str(exc)}
    return results

