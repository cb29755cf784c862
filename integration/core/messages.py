"""Texts for people, stored as meaning and rendered when read.

What the engine, the transfers, the reconciliation and the checks record for a person (an error,
a hint, an outcome, a line of the timeline, a reason) is a :class:`Message`: the English text
marked with ``gettext_noop`` (the catalogue's msgid, so it is translated like any other string)
and its parameters, each of a type that knows how to show itself:

* :class:`Money` — an amount as ``Decimal`` with its currency;
* :class:`Quantity` — a quantity of items; :class:`Percent` — a percentage;
* ``Decimal`` — a plain number; ``int`` — a count or a number shown as it is;
* ``date`` and ``datetime`` — dates as dates (shown in the reader's time zone and format);
* :class:`Key` — an internal key (a VAT zone, a document kind, a state), shown by its label;
* ``str`` — text as given (names, document numbers, answers of the other system);
* another :class:`Message` or :class:`Sentences` — a text inside a text.

A message serialises to JSON with its types kept (:func:`encode` / :func:`decode`) and renders in
the active language (:func:`render`), so a page shows it in the reader's language and an e-mail
in its recipients'. The stored text columns keep the English rendering beside the meaning, for
search and for readers that know only text; rows written before messages were stored as meaning
have only that text, and show it as it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import translation
from django.utils.translation import gettext

from integration.core import formatting
from integration.core.countries import vat_zone_label
from integration.core.kinds import Direction, Kind, Trigger

# Label look-ups per group of keys (a group's key → the text a person reads, in the active
# language). The module that owns a group of keys registers them where it defines them (the core
# below; the matrices in mappings.lookup; the reconciliation in books.reconciliation_keys). A key
# of a group nobody registered reads as the key itself.
_LABELS: dict[str, Callable[[str], str]] = {}


def register_labels(group: str, labels: Callable[[str], str] | Mapping[str, Any]) -> None:
    """Make the keys of ``group`` readable: a function of the key, or a mapping to (lazy) labels."""
    if callable(labels):
        _LABELS[group] = labels
    else:
        _LABELS[group] = lambda key, table=labels: str(table.get(key, key))


register_labels("kind", dict(Kind.choices))
register_labels("kind_in_sentence", lambda kind: str(dict(Kind.choices).get(kind, kind)).lower())
register_labels("direction", dict(Direction.choices))
register_labels("trigger", dict(Trigger.choices))
register_labels("vat_zone", vat_zone_label)


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str

    def __str__(self) -> str:
        return _show(self)


@dataclass(frozen=True)
class Quantity:
    value: Decimal

    def __str__(self) -> str:
        return _show(self)


@dataclass(frozen=True)
class Percent:
    """A percentage in percent points (25 reads "25 %" in Danish)."""

    value: Decimal

    def __str__(self) -> str:
        return _show(self)


@dataclass(frozen=True)
class Key:
    """An internal key shown by its label: ``Key("vat_zone", "eu")`` reads “EU”."""

    group: str
    value: str

    def __str__(self) -> str:
        return _show(self)


class Message:
    """A text for people: the English msgid (marked with ``gettext_noop``) and its parameters."""

    def __init__(self, text: str, **params: Any) -> None:
        self.text = text
        self.params = params

    def render(self) -> str:
        """The text in the active language, its parameters shown in that language's formats."""
        shown = {name: _show(value) for name, value in self.params.items()}
        for text in (gettext(self.text), self.text):
            try:
                return text % shown if shown or "%%" in text else text
            except (KeyError, TypeError, ValueError):
                continue  # a catalogue entry whose placeholders do not fit falls back to the English text
        return " ".join([self.text, *shown.values()])

    def english(self) -> str:
        with translation.override("en"):
            return self.render()

    def __mod__(self, params: Mapping[str, Any]) -> Message:
        """The message with (more) parameters: ``Message(gettext_noop("… %(n)s …")) % {"n": 3}``."""
        return Message(self.text, **{**self.params, **params})

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"Message({self.text!r}, **{self.params!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and (self.text, self.params) == (other.text, other.params)

    def __hash__(self) -> int:
        return hash(self.text)

    def __bool__(self) -> bool:
        return bool(self.text)

    def __contains__(self, text: str) -> bool:
        """Whether the text as read (in the active language) contains ``text``."""
        return text in self.render()

    def __add__(self, other: Any) -> Sentences:
        return Sentences(self, other)

    def __radd__(self, other: Any) -> Sentences:
        return Sentences(other, self)


class Sentences:
    """Texts read one after the other (a message, then what the other system answered, …)."""

    def __init__(self, *parts: Any, separator: str = " ") -> None:
        # Plain spaces between texts are the separator's work: ``" " + message`` reads as the message.
        self.parts = [p for p in parts if p is not None and not (isinstance(p, str) and not p.strip())]
        self.separator = separator

    def render(self) -> str:
        return self.separator.join(_show(p) for p in self.parts)

    def english(self) -> str:
        with translation.override("en"):
            return self.render()

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"Sentences(*{self.parts!r}, separator={self.separator!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sentences) and (self.parts, self.separator) == (other.parts, other.separator)

    def __hash__(self) -> int:
        return hash(tuple(map(str, self.parts)))

    def __bool__(self) -> bool:
        return bool(self.parts)

    def __contains__(self, text: str) -> bool:
        return text in self.render()

    def __add__(self, other: Any) -> Sentences:
        return Sentences(*self.parts, other, separator=self.separator)

    def __radd__(self, other: Any) -> Sentences:
        return Sentences(other, *self.parts, separator=self.separator)


Text = str | Message | Sentences


def english(value: Any) -> str:
    """The English rendering of a text (what the text columns hold, for search)."""
    if isinstance(value, Message | Sentences):
        return value.english()
    return "" if value is None else str(value)


# --- showing one parameter -------------------------------------------------------------------------

def _show(value: Any) -> str:
    """One parameter in the active language, through the one formatting path (``core.formatting``)."""
    if isinstance(value, Message | Sentences):
        return value.render()
    if isinstance(value, Money):
        return formatting.money(value.amount, value.currency)
    if isinstance(value, Quantity):
        return formatting.quantity(value.value)
    if isinstance(value, Percent):
        return formatting.percent(value.value)
    if isinstance(value, Key):
        labels = _LABELS.get(value.group)
        return labels(value.value) if labels else value.value
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, Decimal | float):
        return formatting.number(value)
    if isinstance(value, dt.datetime):
        return formatting.datetime(value)
    if isinstance(value, dt.date):
        return formatting.date(value)
    return "" if value is None else str(value)


# --- JSON -------------------------------------------------------------------------------------------

def encode(value: Any) -> Any:
    """A text as JSON, its parameters' types kept; ``None`` for an empty text."""
    if value is None or value == "":
        return None
    return _encode(value)


def _encode(value: Any) -> Any:
    if isinstance(value, Message):
        return {"message": value.text, "params": {k: _encode(v) for k, v in value.params.items()}}
    if isinstance(value, Sentences):
        return {"sentences": [_encode(p) for p in value.parts], "separator": value.separator}
    if isinstance(value, Money):
        return {"money": str(value.amount), "currency": value.currency}
    if isinstance(value, Quantity):
        return {"quantity": str(value.value)}
    if isinstance(value, Percent):
        return {"percent": str(value.value)}
    if isinstance(value, Key):
        return {"key": value.value, "group": value.group}
    if isinstance(value, Decimal | float):
        return {"decimal": str(value)}
    if isinstance(value, dt.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    if isinstance(value, bool | int):
        return value
    return str(value)


def decode(data: Any) -> Any:
    """The text that :func:`encode` stored. Anything unreadable comes back as text, never an error."""
    if not isinstance(data, dict):
        return data
    try:
        if "message" in data:
            return Message(str(data["message"]), **{k: decode(v) for k, v in (data.get("params") or {}).items()})
        if "sentences" in data:
            return Sentences(*(decode(p) for p in data["sentences"]), separator=str(data.get("separator", " ")))
        if "money" in data:
            return Money(Decimal(data["money"]), str(data.get("currency") or ""))
        if "quantity" in data:
            return Quantity(Decimal(data["quantity"]))
        if "percent" in data:
            return Percent(Decimal(data["percent"]))
        if "key" in data:
            return Key(str(data.get("group") or ""), str(data["key"]))
        if "decimal" in data:
            return Decimal(data["decimal"])
        if "datetime" in data:
            return dt.datetime.fromisoformat(data["datetime"])
        if "date" in data:
            return dt.date.fromisoformat(data["date"])
    except (InvalidOperation, TypeError, ValueError):
        pass
    return str(data)


def render(data: Any, text: str = "") -> str:
    """What a person reads: the stored meaning in the active language, else the stored ``text``."""
    if data in (None, "", {}):
        return text or ""
    value = decode(data)
    return _show(value)


# --- model fields ----------------------------------------------------------------------------------

def meaning_field(name: str) -> str:
    """The JSON column beside text column ``name`` that holds its meaning."""
    return f"{name}_meaning"


def stored(**texts: Any) -> dict[str, Any]:
    """Column values for texts: each text column gets the English rendering, its meaning column the JSON.

    ``SyncOperation.objects.filter(…).update(**stored(last_error=message, hint=""))``.
    """
    values: dict[str, Any] = {}
    for name, value in texts.items():
        values[name] = english(value)
        values[meaning_field(name)] = encode(value) if isinstance(value, Message | Sentences) else None
    return values


def set_texts(obj: Any, **texts: Any) -> list[str]:
    """Set texts on a model instance (see :func:`stored`), each text cut to its column's length;
    returns the field names, for ``update_fields``."""
    values = stored(**texts)
    for name, value in values.items():
        limit = getattr(obj._meta.get_field(name), "max_length", None) if isinstance(value, str) else None
        setattr(obj, name, value[:limit] if limit else value)
    return list(values)


def with_texts(updates: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """``updates`` with the texts among ``names`` split into text and meaning columns."""
    texts = {name: updates[name] for name in names if name in updates}
    return {**{k: v for k, v in updates.items() if k not in texts}, **stored(**texts)}


class Shown:
    """A model attribute reading one text column in the active language: ``shown_hint = Shown("hint")``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return render(getattr(obj, meaning_field(self.name), None), getattr(obj, self.name, ""))


def meaning(obj: Any, name: str) -> Any:
    """A stored text as a value to put inside another message (its meaning, else its text)."""
    data = getattr(obj, meaning_field(name), None)
    return decode(data) if data else getattr(obj, name, "")
