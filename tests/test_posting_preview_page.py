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
