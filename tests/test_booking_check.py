"""The figures compared before booking: what Dinero holds against what Rackbeat's document gives."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

from integration.transfers.booking_check import (
    manual_expected,
    manual_found,
    purchase_expected,
    purchase_found,
)


def _purchase_payload(amount: float, total: str) -> SimpleNamespace:
    return SimpleNamespace(body={"Lines": [{"AccountNumber": 2000, "VatCode": "I25", "Amount": amount}]},
                           rackbeat_total=Decimal(total), currency="DKK")


def _voucher(incl: float, excl: float, vat: float, account: int = 2000, code: str = "I25") -> dict:
    return {"CurrencyKey": "DKK", "Lines": [{"AccountNumber": account, "VatCode": code, "AmountInclVatValue": incl,
                                            "AmountExclVatValue": excl, "VatAmountValue": vat}]}


def test_purchase_voucher_equal_to_rackbeats_invoice_matches():
    invoice = {"total_subtotal": "100.00", "total_vat": "25.00", "total_total": "125.00"}
    expected = purchase_expected(_purchase_payload(125.0, "125.00"), invoice)
    assert expected.matches(purchase_found(_voucher(125.0, 100.0, 25.0)))


def test_purchase_voucher_with_another_total_account_or_vat_differs():
    expected = purchase_expected(_purchase_payload(375.0, "375.00"),
                                 {"total_subtotal": "300", "total_vat": "75", "total_total": "375"})
    assert not expected.matches(purchase_found(_voucher(125.0, 100.0, 25.0)))
    assert not expected.matches(purchase_found(_voucher(375.0, 300.0, 75.0, account=2010)))
    assert not expected.matches(purchase_found(_voucher(375.0, 300.01, 74.99)))
    assert "375.00 DKK" in expected.describe() and "account 2000 (I25): 375.00" in expected.describe()


def test_purchase_vat_is_compared_only_where_rackbeat_states_it():
    expected = purchase_expected(_purchase_payload(125.0, "125.00"), {"total_total": "125.00"})
    assert expected.vat is None
    assert expected.matches(purchase_found(_voucher(125.0, 100.01, 24.99)))


def test_consumption_voucher_compares_accounts_and_amount():
    payload = SimpleNamespace(body={"Lines": [{"AccountNumber": 1600, "BalancingAccountNumber": 58100,
                                               "Amount": 240.0}]}, amount=Decimal("240.00"))
    held = {"Lines": [{"AccountNumber": 1600, "BalancingAccountNumber": 58100, "AmountInclVatValue": 80.0,
                       "AmountExclVatValue": 80.0, "VatAmountValue": 0.0}]}
    assert not manual_expected(payload).matches(manual_found(held))
    held["Lines"][0].update(AmountInclVatValue=240.0, AmountExclVatValue=240.0)
    assert manual_expected(payload).matches(manual_found(held))
