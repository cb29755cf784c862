"""Reading a Rackbeat webhook body — only after its token was checked — into an event and a plausible key.

Real deliveries are just ``{"key_name": "number", "key": "1021"}`` (the event is in the
``Rackbeat-Webhook-Event`` header); the older documented shape adds ``event``, ``data``,
``old_key``/``new_key`` and ``changed``, and is still understood. Anything else is refused with a
reason the sender can read (the receiver answers it with 400): the service never queues work for a
delivery it does not understand, and never fails on one.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from typing import Any

from integration.core.models import Kind

MAX_BODY_BYTES = 64 * 1024
MAX_KEY_LENGTH = 64
# Rackbeat names the key of most records `number`; a few resources (webhooks, shipments, notes)
# are keyed by `id`. Anything else is not a Rackbeat delivery.
KEY_NAMES = frozenset({"number", "id"})
# Customer, supplier and invoice numbers are integers in Rackbeat; products and BOMs have free
# text numbers ("can be a string or an integer, may contain dashes", at most 25 characters in the UI).
NUMERIC_KINDS = frozenset({
    Kind.CUSTOMER.value, Kind.SUPPLIER.value, Kind.SALES_INVOICE.value, Kind.CREDIT_NOTE.value,
    Kind.SUPPLIER_INVOICE.value,
})
MAX_NUMERIC_DIGITS = 18
# Control, format (zero-width, direction overrides), surrogate, private-use and unassigned code
# points, and line/paragraph separators, have no place in a record number.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


class UnreadableDelivery(ValueError):
    """A body the receiver cannot act on; the message is the reason given to the sender."""


@dataclass(frozen=True)
class DeliveryBody:
    text: str
    key_name: str
    key: str
    body_event: str  # the `event` field of the older shape, "" in real (thin) deliveries


def _refuse_constant(name: str) -> Any:
    raise UnreadableDelivery(f"The body contains {name}, which is not a JSON number.")


def parse(raw: bytes) -> DeliveryBody:
    """The body's key and key name, or :class:`UnreadableDelivery` saying why not."""
    if not raw.strip():
        raise UnreadableDelivery("The body is empty; a JSON object with key_name and key is expected.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UnreadableDelivery("The body is not UTF-8 text.") from None
    try:
        body = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise UnreadableDelivery("The body is nested too deeply to be a Rackbeat webhook.") from None
    except UnreadableDelivery:
        raise
    except ValueError:
        raise UnreadableDelivery("The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise UnreadableDelivery("The body is not a JSON object.")
    body_event = body.get("event", "")
    if not isinstance(body_event, str) or not _plain(body_event, 100):
        raise UnreadableDelivery("The body's event is not an event name.")
    key_name = body.get("key_name", "number")
    if not isinstance(key_name, str) or key_name not in KEY_NAMES:
        raise UnreadableDelivery("key_name must be one of: " + ", ".join(sorted(KEY_NAMES)) + ".")
    return DeliveryBody(text=text, key_name=key_name, key=_key(body, key_name), body_event=body_event)


def _key(body: dict[str, Any], key_name: str) -> str:
    key = body.get("key")
    if key is None:
        # The older shape: updates name the (possibly renamed) record in `new_key`, and `data`
        # repeats the record's key under its key name.
        key = body.get("new_key")
        data = body.get("data")
        if key is None and isinstance(data, dict):
            key = data.get(key_name)
    if key is None:
        raise UnreadableDelivery("The body has no key.")
    if isinstance(key, bool) or not isinstance(key, int | str):
        raise UnreadableDelivery("The key must be a string or a whole number.")
    if isinstance(key, int):
        if key < 0 or key >= 10**MAX_NUMERIC_DIGITS:
            raise UnreadableDelivery("The key is not a Rackbeat record number.")
        return str(key)
    if not key or len(key) > MAX_KEY_LENGTH:
        raise UnreadableDelivery(f"The key must have 1 to {MAX_KEY_LENGTH} characters.")
    if key != key.strip() or not _plain(key, MAX_KEY_LENGTH):
        raise UnreadableDelivery("The key contains characters a Rackbeat record number cannot have.")
    return key


def _plain(text: str, max_length: int) -> bool:
    """Printable text only: no control, format, surrogate, private-use or unassigned characters."""
    return len(text) <= max_length and not any(unicodedata.category(ch) in _FORBIDDEN_CATEGORIES for ch in text)


def check_key_for_kind(kind: str, key_name: str, key: str) -> None:
    """Refuse a key that cannot name a record of ``kind`` (the receiver queues nothing for it)."""
    if key_name != "number":
        raise UnreadableDelivery(f"A {kind.replace('_', ' ')} webhook must be keyed by number, not by {key_name}.")
    if kind in NUMERIC_KINDS and not (key.isascii() and key.isdigit() and len(key) <= MAX_NUMERIC_DIGITS):
        raise UnreadableDelivery(f"A {kind.replace('_', ' ')} number is a whole number; this key is not.")
