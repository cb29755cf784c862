"""The one parser for ids and numbers from people (accounts/ids.py), and where it answers."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import BadRequest
from django.http import Http404

from accounts.ids import MAX_ID, bounded_number, id_or_404, parse_id, primary_keys_or_400
from accounts.models import Connection


@pytest.mark.parametrize("value", ["²", "①", "٣", "None", "1.5", "-1", "+1", " 1", "1 ", "0", "", "0x10", "abc",
                                   "\x00", str(MAX_ID + 1), "9" * 40, None, 7])
def test_only_ascii_digits_of_a_positive_64_bit_integer_are_an_id(value):
    assert parse_id(value) is None
    with pytest.raises(Http404):
        id_or_404(value)


def test_an_id_is_read_as_its_number():
    assert parse_id("42") == 42
    assert parse_id("007") == 7
    assert parse_id(str(MAX_ID)) == MAX_ID


def test_a_count_is_clamped_and_a_malformed_one_is_a_bad_request():
    assert bounded_number(None, default=5, low=1, high=50) == 5
    assert bounded_number("500", default=5, low=1, high=50) == 50
    assert bounded_number("9" * 40, default=5, low=1, high=50) == 50
    assert bounded_number("0", default=5, low=1, high=50) == 1
    for bad in ("²", "-3", "1.5", "None"):
        with pytest.raises(BadRequest):
            bounded_number(bad, default=5, low=1, high=50)


def test_a_selection_is_checked_against_the_models_primary_key():
    assert primary_keys_or_400(Connection, ["1", "22"]) == [1, 22]
    for bad in (["abc"], ["1", "None"], ["1.5"], ["²"], ["٣"]):
        with pytest.raises(BadRequest):
            primary_keys_or_400(Connection, bad)


@pytest.mark.django_db
def test_a_bulk_action_on_a_third_party_admin_with_a_bad_id_is_a_400_not_a_500(client):
    # Django's own user admin, reached through this site's admin_view like every other admin.
    client.force_login(User.objects.create_superuser("root", "root@example.com", None))
    client.raise_request_exception = False
    for bad in ("abc", "None", "1.5", "²"):
        response = client.post("/admin/auth/user/", {"action": "delete_selected", "_selected_action": [bad]})
        assert response.status_code == 400
        assert b"plain whole number" in response.content  # the page says what to do


@pytest.mark.django_db
def test_the_reported_unicode_digits_in_custom_pages_answer_404(client):
    connection = Connection.objects.create(name="A")
    client.force_login(User.objects.create_superuser("root", "root@example.com", None))
    for value in ("%C2%B2", "%E2%91%A0", "%D9%A3"):
        response = client.get(f"/admin/accounts/connection/{connection.pk}/rackbeat-check/?check={value}")
        assert response.status_code == 404
        assert client.get(f"/admin/integration/syncoperation/?connection={value}").status_code == 400
