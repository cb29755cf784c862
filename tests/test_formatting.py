"""Numbers and dates are written one way per language: da, sv and en, on every page and export."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.utils import timezone, translation

from integration.core import formatting

NBSP = "\xa0"


@pytest.fixture(params=["da", "sv", "en"])
def language(request):
    with translation.override(request.param):
        yield request.param


def expect(language: str, da: str, sv: str, en: str) -> str:
    return {"da": da, "sv": sv, "en": en}[language]


def test_money_has_thousands_separator_decimal_mark_and_currency(language):
    assert formatting.money(Decimal("3885"), "EUR") == expect(
        language, "3.885,00 EUR", f"3{NBSP}885,00 EUR", "3,885.00 EUR")


def test_negative_money_keeps_its_sign_and_grouping(language):
    assert formatting.money(Decimal("-1234567.5"), "DKK") == expect(
        language, "-1.234.567,50 DKK", f"-1{NBSP}234{NBSP}567,50 DKK", "-1,234,567.50 DKK")


@pytest.mark.parametrize(("amount", "rounded"), [
    (Decimal("0.005"), "0.01"), (Decimal("0.004"), "0.00"), (Decimal("-0.005"), "-0.01"),
    (Decimal("2.675"), "2.68"), (2.675, "2.68"), ("10.125", "10.13"), (Decimal("-0.001"), "0.00"),
])
def test_money_rounds_half_up_to_the_ore(amount, rounded):
    with translation.override("en"):
        assert formatting.money(amount) == rounded


def test_money_without_currency_is_the_amount_alone(language):
    assert formatting.money(Decimal("4910.53")) == expect(language, "4.910,53", f"4{NBSP}910,53", "4,910.53")


@pytest.mark.parametrize("function", [
    formatting.money, formatting.number, formatting.quantity, formatting.percent, formatting.duration,
    formatting.date, formatting.datetime, formatting.plain_number, formatting.ago,
])
@pytest.mark.parametrize("blank", [None, ""])
def test_blank_values_are_written_as_nothing(function, blank, language):
    assert function(blank) == ""


def test_text_that_is_no_number_is_written_as_it_is(language):
    assert formatting.money("n/a", "DKK") == "n/a"
    assert formatting.quantity("many") == "many"
    assert formatting.date("someday") == "someday"


def test_quantity_has_no_trailing_zeros(language):
    assert formatting.quantity(Decimal("3.000")) == "3"
    assert formatting.quantity(3.0) == "3"
    assert formatting.quantity(Decimal("0.0")) == "0"
    assert formatting.quantity(Decimal("100")) == "100"
    assert formatting.quantity(Decimal("2.50")) == expect(language, "2,5", "2,5", "2.5")
    assert formatting.quantity(Decimal("1250.125")) == expect(language, "1.250,125", f"1{NBSP}250,125", "1,250.125")
    assert formatting.quantity(Decimal("-4")) == "-4"


def test_number_keeps_or_rounds_its_decimals(language):
    assert formatting.number(Decimal("2.50")) == expect(language, "2,50", "2,50", "2.50")
    assert formatting.number(Decimal("1234.5678"), 2) == expect(language, "1.234,57", f"1{NBSP}234,57", "1,234.57")
    assert formatting.number(7, 1) == expect(language, "7,0", "7,0", "7.0")


def test_plain_number_for_spreadsheets_has_no_thousands_separator(language):
    assert formatting.plain_number(Decimal("4910.53"), 2) == expect(language, "4910,53", "4910,53", "4910.53")
    assert formatting.plain_number(Decimal("-1234567.5"), 2) == expect(
        language, "-1234567,50", "-1234567,50", "-1234567.50")
    assert formatting.plain_number(Decimal("3.000")) == "3"


def test_percent_follows_the_language(language):
    assert formatting.percent(25) == expect(language, "25 %", "25 %", "25%")
    assert formatting.percent(Decimal("12.50")) == expect(language, "12,5 %", "12,5 %", "12.5%")


def test_duration_under_a_minute_in_tenths_of_seconds(language):
    assert formatting.duration(1.1) == expect(language, "1,1 s", "1,1 s", "1.1 s")
    assert formatting.duration(Decimal("0.04")) == expect(language, "0,0 s", "0,0 s", "0.0 s")


def test_longer_durations_in_minutes_and_hours(language):
    assert formatting.duration(125) == "2 min 5 s"
    assert formatting.duration(3725) == expect(language, "1 t 2 min", "1 h 2 min", "1 h 2 min")


def test_one_date_format_per_language(language):
    day = dt.date(2026, 12, 7)
    assert formatting.date(day) == expect(language, "07.12.2026", "2026-12-07", "2026-12-07")
    assert formatting.date("2026-12-07") == formatting.date(day)


def test_datetime_is_local_time_to_the_minute(language, settings):
    settings.TIME_ZONE = "Europe/Copenhagen"
    moment = dt.datetime(2026, 12, 7, 13, 5, 30, tzinfo=dt.UTC)
    assert formatting.datetime(moment) == expect(language, "07.12.2026 14:05", "2026-12-07 14:05", "2026-12-07 14:05")
    # Late in the evening in UTC is the next day in Copenhagen: the date follows local time.
    assert formatting.date(dt.datetime(2026, 12, 7, 23, 30, tzinfo=dt.UTC)) == expect(
        language, "08.12.2026", "2026-12-08", "2026-12-08")


def spaced(text: str) -> str:
    """Django joins a number and its unit with a no-break space; the words are what is checked."""
    return text.replace(NBSP, " ")


def test_ago_is_one_grammatical_phrase(language):
    now = timezone.now()
    assert spaced(formatting.ago(now - dt.timedelta(minutes=10), now)) == expect(
        language, "for 10 minutter siden", "för 10 minuter sedan", "10 minutes ago")
    assert formatting.ago(1) == expect(language, "for 1 sekund siden", "för 1 sekund sedan", "1 second ago")
    assert formatting.ago(5) == expect(language, "for 5 sekunder siden", "för 5 sekunder sedan", "5 seconds ago")
    assert spaced(formatting.ago(now - dt.timedelta(days=1, hours=3), now)) == expect(
        language, "for 1 dag siden", "för 1 dag sedan", "1 day ago")


def test_a_moment_in_the_future_is_now(language):
    now = timezone.now()
    assert formatting.ago(now + dt.timedelta(minutes=3), now) == expect(
        language, "for 0 sekunder siden", "för 0 sekunder sedan", "0 seconds ago")


def test_template_filters_write_the_same_way(language):
    template = Template(
        "{% load formatting %}{{ total|money:'DKK' }}|{{ qty|quantity }}|{{ rate|percent }}|"
        "{{ took|duration }}|{{ day|local_date }}"
    )
    text = template.render(Context({
        "total": Decimal("4910.53"), "qty": Decimal("3.0"), "rate": 25, "took": 1.1, "day": dt.date(2026, 12, 7),
    }))
    assert text == "|".join([
        formatting.money(Decimal("4910.53"), "DKK"), "3", formatting.percent(25), formatting.duration(1.1),
        formatting.date(dt.date(2026, 12, 7)),
    ])
    assert text == expect(
        language, "4.910,53 DKK|3|25 %|1,1 s|07.12.2026", f"4{NBSP}910,53 DKK|3|25 %|1,1 s|2026-12-07",
        "4,910.53 DKK|3|25%|1.1 s|2026-12-07")
