"""The one way numbers and dates are written for people: pages, e-mails, CSV and PDF reports.

Everything here writes in the *active* language (``django.utils.translation``), using Django's
locale formats (``config/formats`` overrides the dates, Django's own locale files give the
separators):

============  ==================  ==================  ==================
              da                  sv                  en
============  ==================  ==================  ==================
money         3.885,00 EUR        3 885,00 EUR        3,885.00 EUR
quantity      2,5 / 3             2,5 / 3             2.5 / 3
percent       25 %                25 %                25%
duration      1,1 s · 2 min 5 s   1,1 s · 2 min 5 s   1.1 s · 2 min 5 s
date          07.12.2026          2026-12-07          2026-12-07
datetime      07.12.2026 14:05    2026-12-07 14:05    2026-12-07 14:05
ago           for 10 minutter     för 10 minuter      10 minutes ago
              siden               sedan
============  ==================  ==================  ==================

(The Swedish thousands separator is a no-break space, so an amount never breaks over two lines.)

Amounts are rounded half-up to the øre before they are written, never truncated. Nothing here
raises on missing values: ``None`` and ``""`` are written as an empty string, so a page shows a
blank cell rather than "None". Values that are not numbers or dates are written as they are.

CSV cells need numbers a spreadsheet reads as numbers: :func:`plain_number` writes the locale's
decimal mark without thousands separators or currency (see ``integration.core.csv_export``).
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.utils import formats, timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext, ngettext, pgettext

__all__ = [
    "ago",
    "date",
    "datetime",
    "duration",
    "money",
    "number",
    "percent",
    "plain_number",
    "quantity",
    "to_decimal",
]

BLANK = ("", None)


def to_decimal(value: Any) -> Decimal | None:
    """``value`` as a Decimal (floats through their shortest text, so 0.1 stays 0.1), or None."""
    if value in BLANK or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    try:
        number_value = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number_value if number_value.is_finite() else None


def _rounded(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _without_trailing_zeros(value: Decimal) -> Decimal:
    # normalize() alone writes 100 as 1E+2; an integral value is quantized to units instead.
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _grouped(value: Decimal, places: int) -> str:
    text = formats.number_format(value, decimal_pos=places, use_l10n=True, force_grouping=True)
    # -0,00 after rounding a tiny negative amount is written as 0,00.
    return text[1:] if value.is_zero() and text.startswith("-") else text


def number(value: Any, places: int | None = None) -> str:
    """A number with the locale's decimal mark and thousands separator.

    ``places`` rounds half-up to that many decimals and always writes them; without it the value
    keeps the decimals it has (``Decimal("2.50")`` → "2,50" in da).
    """
    decimal_value = to_decimal(value)
    if decimal_value is None:
        return "" if value in BLANK else str(value)
    if places is not None:
        decimal_value = _rounded(decimal_value, places)
    return _grouped(decimal_value, _places(decimal_value))


def plain_number(value: Any, places: int | None = None) -> str:
    """A number for a spreadsheet cell: the locale's decimal mark, no thousands separator."""
    decimal_value = to_decimal(value)
    if decimal_value is None:
        return "" if value in BLANK else str(value)
    decimal_value = _rounded(decimal_value, places) if places is not None else _without_trailing_zeros(decimal_value)
    if decimal_value.is_zero():
        decimal_value = abs(decimal_value)
    return formats.number_format(decimal_value, decimal_pos=_places(decimal_value), use_l10n=True, force_grouping=False)


def money(amount: Any, currency: str | None = None) -> str:
    """An amount to the øre, with its currency code when given: "3.885,00 EUR" in da."""
    decimal_value = to_decimal(amount)
    if decimal_value is None:
        return "" if amount in BLANK else str(amount)
    text = number(decimal_value, 2)
    return f"{text} {currency}" if currency else text


def quantity(value: Any) -> str:
    """A count or quantity without trailing zeros: "3", "2,5", "1.250" in da."""
    decimal_value = to_decimal(value)
    if decimal_value is None:
        return "" if value in BLANK else str(value)
    trimmed = _without_trailing_zeros(decimal_value)
    return _grouped(trimmed, _places(trimmed))


def percent(value: Any) -> str:
    """A percentage given in percent points (25 → "25 %" in da/sv, "25%" in en)."""
    decimal_value = to_decimal(value)
    if decimal_value is None:
        return "" if value in BLANK else str(value)
    # Translators: a percentage; %(number)s is the number. Danish and Swedish put a space before %.
    return pgettext("percentage", "%(number)s%%") % {"number": quantity(decimal_value)}


def duration(seconds: Any) -> str:
    """How long something took: "1,1 s" under a minute, "2 min 5 s", "1 h 2 min" above."""
    decimal_value = to_decimal(seconds)
    if decimal_value is None:
        return "" if seconds in BLANK else str(seconds)
    if abs(decimal_value) < 60:
        return gettext("%(seconds)s s") % {"seconds": number(decimal_value, 1)}
    whole = int(_rounded(abs(decimal_value), 0))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return gettext("%(hours)s h %(minutes)s min") % {"hours": quantity(hours), "minutes": minutes}
    return gettext("%(minutes)s min %(seconds)s s") % {"minutes": minutes, "seconds": secs}


def _as_local(value: dt.datetime) -> dt.datetime:
    return timezone.localtime(value) if timezone.is_aware(value) else value


def _as_date_or_datetime(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            return dt.datetime.fromisoformat(text) if len(text) > 10 else dt.date.fromisoformat(text)
        except ValueError:
            return None
    return None


def date(value: Any) -> str:
    """A calendar date in the language's one date format (an aware datetime in local time).

    An ISO text ("2026-12-07", as Dinero and Rackbeat send dates) is read as that date.
    """
    parsed = _as_date_or_datetime(value)
    if parsed is None:
        return "" if value in BLANK else str(value)
    if isinstance(parsed, dt.datetime):
        parsed = _as_local(parsed).date()
    return formats.date_format(parsed, "SHORT_DATE_FORMAT", use_l10n=True)


def datetime(value: Any) -> str:
    """A moment in local time, to the minute: "07.12.2026 14:05" in da. A date alone is a date."""
    parsed = _as_date_or_datetime(value)
    if parsed is None:
        return "" if value in BLANK else str(value)
    if not isinstance(parsed, dt.datetime):
        return date(parsed)
    return formats.date_format(_as_local(parsed), "SHORT_DATETIME_FORMAT", use_l10n=True)


def ago(value: Any, now: dt.datetime | None = None) -> str:
    """How long ago a moment was, as a whole phrase: "for 10 minutter siden", "1 second ago".

    ``value`` is a datetime, or a number of seconds already elapsed. Under a minute counts
    seconds; above, the largest unit Django's ``timesince`` names (minutes, hours, days, …).
    """
    if value in BLANK:
        return ""
    if isinstance(value, dt.datetime):
        now = now or timezone.now()
        if timezone.is_aware(value) != timezone.is_aware(now):
            value = timezone.make_aware(value) if timezone.is_aware(now) else timezone.make_naive(value)
        elapsed = Decimal(str(max(0.0, (now - value).total_seconds())))
    else:
        elapsed_or_none = to_decimal(value)
        if elapsed_or_none is None:
            return str(value)
        elapsed = max(Decimal(0), elapsed_or_none)
    if elapsed < 60:
        count = int(elapsed)
        return ngettext("%(count)s second ago", "%(count)s seconds ago", count) % {"count": count}
    reference = timezone.now()
    span = timesince(reference - dt.timedelta(seconds=float(elapsed)), reference, depth=1)
    # Translators: %(span)s is a span of time such as "10 minutes"; the whole phrase says it was that long ago.
    return gettext("%(span)s ago") % {"span": span}
