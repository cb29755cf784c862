"""Property tests of the sales mapper: whatever the quantities, prices, discounts, currencies and
line counts, the Dinero lines computed Dinero's way add up to Rackbeat's total to the øre — or the
mapper stops the invoice with a clear needs-attention naming both figures."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integration.core import formatting
from integration.transfers.invoice_mapping import (
    SalesMappings,
    TotalsNotReproducible,
    line_total,
    map_sales_invoice,
    ore,
)
from tests.invoice_fixtures import customer, line, sales_invoice

MAPPINGS = SalesMappings(
    revenue_account=lambda group, zone: 1000 + int(group),
    dinero_unit=lambda unit: "parts",
    dinero_language=lambda layout: "da-DK",
    product_guid=lambda kind, number: None,
)

quantities = st.one_of(
    st.integers(min_value=1, max_value=10_000).map(Decimal),
    st.decimals(min_value=Decimal("0.001"), max_value=Decimal("5000"), places=3),
)
prices = st.decimals(min_value=Decimal("0"), max_value=Decimal("250000"), places=4)
discounts = st.one_of(st.just(Decimal("0")), st.decimals(min_value=Decimal("0"), max_value=Decimal("100"), places=2))
vat_rates = st.sampled_from([Decimal("25"), Decimal("0"), Decimal("12.5")])
currencies = st.sampled_from(["DKK", "EUR", "SEK", "USD", "NOK"])

rackbeat_lines = st.lists(
    st.tuples(quantities, prices, discounts, vat_rates, st.integers(min_value=1, max_value=5)),
    min_size=1, max_size=25,
)


def _document(lines, currency):
    built = [line(f"P-{i}", str(group), str(q), str(p), discount=str(d), vat=str(v))
             for i, (q, p, d, v, group) in enumerate(lines)]
    return sales_invoice(4711, built, cust=customer(), currency=currency)


def _dinero_total(body) -> tuple[Decimal, Decimal]:
    """Dinero's way: each line total rounded to øre, VAT per line rounded to øre."""
    subtotal = vat = Decimal("0")
    for product_line, rate in body:
        total = line_total(Decimal(str(product_line["Quantity"])), Decimal(str(product_line["BaseAmountValue"])),
                           Decimal(str(product_line["Discount"])))
        subtotal += total
        vat += ore(total * rate / 100)
    return subtotal, subtotal + vat


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rackbeat_lines, currencies)
def test_mapped_lines_reproduce_rackbeats_total_to_the_ore(lines, currency):
    invoice = _document(lines, currency)
    payload = map_sales_invoice(invoice, MAPPINGS, contact_guid=None, dinero_guid=None)
    sent = list(zip(payload.body["ProductLines"], [v for _, _, _, v, _ in lines], strict=True))
    subtotal, total = _dinero_total(sent)
    assert subtotal == Decimal(invoice["total_subtotal"])
    assert total == Decimal(invoice["total_total"]) == payload.rackbeat_total == payload.expected_total
    assert payload.body["Currency"] == currency
    assert [pl["AccountNumber"] for pl in payload.body["ProductLines"]] == [1000 + g for *_, g in lines]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rackbeat_lines, currencies, st.integers(min_value=-500, max_value=500).filter(lambda n: n != 0))
def test_a_total_off_by_any_amount_needs_attention_with_both_figures(lines, currency, ore_difference):
    invoice = _document(lines, currency)
    wrong = Decimal(invoice["total_total"]) + Decimal(ore_difference) / 100
    invoice["total_total"] = str(wrong)
    try:
        map_sales_invoice(invoice, MAPPINGS, contact_guid=None, dinero_guid=None)
    except TotalsNotReproducible as problem:
        assert formatting.money(wrong, currency) in problem.message  # Rackbeat's figure, as a person reads it
        assert problem.hint
    else:
        # Only acceptable when Rackbeat's figure matches VAT rounded once per rate instead of per line.
        per_rate: dict[Decimal, Decimal] = {}
        for q, p, d, v, _ in lines:
            per_rate[v] = per_rate.get(v, Decimal("0")) + line_total(q, p, d)
        alternative = Decimal(invoice["total_subtotal"]) + sum(ore(n * r / 100) for r, n in per_rate.items())
        assert wrong == alternative


@settings(max_examples=100, deadline=None)
@given(rackbeat_lines)
def test_amounts_are_sent_as_exact_json_numbers(lines):
    payload = map_sales_invoice(_document(lines, "DKK"), MAPPINGS, contact_guid=None, dinero_guid=None)
    for product_line, (q, p, d, _, _) in zip(payload.body["ProductLines"], lines, strict=True):
        assert Decimal(str(product_line["Quantity"])) == q
        assert Decimal(str(product_line["BaseAmountValue"])) == p
        assert Decimal(str(product_line["Discount"])) == d
