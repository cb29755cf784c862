"""The admin speaks English, Danish and Swedish; the language switcher posts to Django's set_language."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.mappings_fixtures import seed

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def back_to_english():
    """A request's language stays active in the thread; later tests expect the default again."""
    from django.utils import translation

    yield
    translation.activate("en")


def test_matrix_page_in_danish_from_the_browser_language(accountant_client, connection):
    seed(connection)

    html = accountant_client.get(reverse("admin:connection-matrix", args=[connection.pk, "revenue"]),
                                 headers={"accept-language": "da"}).content.decode()

    assert "Omsætningsmatrix" in html
    assert "Opdater fra Rackbeat og Dinero" in html
    assert "Indland" in html


def test_language_switcher_sets_swedish(accountant_client, connection):
    wizard = reverse("admin:connection-setup", args=[connection.pk])

    html = accountant_client.get(wizard).content.decode()
    assert 'action="/i18n/setlang/"' in html

    accountant_client.post("/i18n/setlang/", {"language": "sv", "next": wizard})
    html = accountant_client.get(wizard + "?step=summary").content.decode()

    assert "Sammanfattning" in html
    assert "Inloggningsuppgifter" in html


def test_lookup_messages_follow_the_active_language(connection):
    from django.utils import translation

    from integration.core.handlers import NeedsMapping
    from mappings.lookup import revenue_account

    seed(connection)
    with pytest.raises(NeedsMapping) as caught:
        revenue_account(connection, "10", "domestic")

    # The problem is stored as meaning: it reads in the language of whoever reads it.
    with translation.override("da"):
        assert str(caught.value.message) == (
            "Ingen omsætningskonto for varegruppe 10 “Færdigvarer” × momszone Indland. Angiv den i "
            "omsætningsmatricen."
        )
