"""The posting preview spends the vendor budget only on a person's POST, and sparingly."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from integration.books import posting_preview
from integration.books.posting_preview import Preview
from mappings.models import AccountMatrixCell


@pytest.fixture
def previews(monkeypatch, settings):
    """Counts the previews that would call the vendors (each made once, then cached)."""
    made: list[tuple[int, int]] = []

    def fake(connection, count=posting_preview.DEFAULT_COUNT):
        made.append((connection.pk, count))
        return Preview()

    monkeypatch.setattr(posting_preview, "preview", fake)
    from django.core.cache import caches

    caches["shared"].clear()
    return made


def _url(connection) -> str:
    return reverse("admin:connection-posting-preview", args=[connection.pk])


def test_a_link_never_spends_the_vendor_budget(accountant_client, connection, previews):
    response = accountant_client.get(_url(connection) + "?show=1&n=50")
    assert response.status_code == 200
    assert response.context["result"] is None
    assert previews == []
    assert 'method="post"' in response.content.decode()


def test_the_preview_is_a_csrf_protected_post(accountant, connection, previews):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(accountant)
    assert browser.post(_url(connection), {"n": "5"}).status_code == 403
    assert previews == []


def test_the_same_preview_with_the_same_matrices_is_made_once(accountant_client, connection, previews, settings):
    settings.POSTING_PREVIEW_INTERVAL_SECONDS = 0
    for _ in range(3):
        response = accountant_client.post(_url(connection), {"n": "5"})
        assert response.status_code == 200 and response.context["result"] is not None
    assert previews == [(connection.pk, 5)]
    AccountMatrixCell.objects.create(connection=connection, matrix="revenue", product_group_number=1,
                                     vat_zone="domestic", account_number=1000)
    accountant_client.post(_url(connection), {"n": "5"})
    assert previews == [(connection.pk, 5), (connection.pk, 5)]  # a new matrix version is previewed afresh


def test_fresh_previews_of_one_connection_are_spaced_out(accountant_client, connection, other_connection,
                                                         previews, settings, superuser):
    settings.POSTING_PREVIEW_INTERVAL_SECONDS = 60
    assert accountant_client.post(_url(connection), {"n": "5"}).context["result"] is not None
    refused = accountant_client.post(_url(connection), {"n": "6"})
    assert refused.status_code == 200 and refused.context["result"] is None
    assert "to spare its request budget" in refused.content.decode()
    operator = Client()
    operator.force_login(superuser)
    assert operator.post(_url(other_connection), {"n": "6"}).context["result"] is not None  # another connection
    assert previews == [(connection.pk, 5), (other_connection.pk, 6)]


@pytest.mark.parametrize(("language", "seen"), [
    ("da", ["Salgsfaktura 10006 · 07.12.2026 · Kunde A/S · EU", "1.295,00", "3.885,00", "3.885,00 EUR", "Vare med navn",
            "Kundeintegrationen er slået fra"]),
    ("sv", ["2026-12-07", "1\xa0295,00", "3\xa0885,00 EUR", "Vare med navn", "Kundintegrationen är avstängd"]),
])
def test_the_preview_reads_in_the_readers_language(accountant_client, connection, monkeypatch, language, seen):
    """No "· eu", no "1295.00", "3.0" or "0.0": labels and the language's numbers."""
    from decimal import Decimal

    from django.core.cache import caches
    from django.utils.translation import gettext_noop

    from integration.books.posting_preview import PreviewDocument, PreviewLine
    from integration.core.messages import Message

    doc = PreviewDocument(kind="sales_invoice", number="10006", date="2026-12-07", party="Kunde A/S", zone="eu",
                          currency="EUR", rackbeat_total=Decimal("3885.00"), dinero_total=Decimal("3885.00"),
                          dinero_excl_vat=Decimal("3885.00"), dinero_vat=Decimal("0.00"))
    doc.lines.append(PreviewLine(description="Vare med navn", account=1100, account_name="Salg EU", vat_code="U00",
                                 quantity="3.0", unit_price="1295.00", discount="0.0", amount="3885.00",
                                 amount_incl_vat="3885.00"))
    doc.notes.append(Message(gettext_noop(
        "The customer integration is off: this invoice is not transferred until it is on.")))
    monkeypatch.setattr(posting_preview, "preview", lambda connection, count=10: Preview(documents=[doc]))
    caches["shared"].clear()
    # Made for an English reader first: the cached preview is read in each reader's language.
    english = accountant_client.post(_url(connection), {"n": "1"}, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "The customer integration is off" in english
    html = accountant_client.post(_url(connection), {"n": "1"}, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    for text in seen:
        assert text in html
    for wrong in ("1295.00", "3885.00<", ">3.0<", ">0.0<", "· eu"):
        assert wrong not in html
