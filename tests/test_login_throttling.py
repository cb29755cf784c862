"""Login throttling (django-axes): a few wrong passwords lock that username on that address.

The attack that was reported: 50 wrong passwords in a row, then the right one worked at once.
"""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import Client, override_settings

from accounts.client_ip import client_ip

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "The-right-one-42"


@pytest.fixture
def accountant_user(db):
    return User.objects.create_user("anna", "anna@example.com", PASSWORD, is_staff=True)


def attempt(client: Client, password: str, username: str = "anna"):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"})


def test_the_right_password_after_too_many_wrong_ones_is_refused(client, accountant_user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(client, "wrong").status_code == 200  # the form again, "please enter the correct…"
    assert attempt(client, "wrong").status_code == 429  # the last one allowed locks

    locked = attempt(client, PASSWORD)

    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    assert "15 minutes" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_fewer_failures_than_the_limit_do_not_lock(client, accountant_user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, "wrong")

    assert attempt(client, PASSWORD).status_code == 302
    assert client.session["_auth_user_id"] == str(accountant_user.pk)
    # Success clears the count: the next typo starts again from one.
    assert not AccessAttempt.objects.filter(username="anna").exists()


def test_the_lockout_is_per_username_and_address(accountant_user, settings):
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(attacker, "wrong")
    assert attempt(attacker, PASSWORD).status_code == 429

    # The same person from the office is not locked out by someone else's guessing …
    office = Client(REMOTE_ADDR="198.51.100.20")
    assert attempt(office, PASSWORD).status_code == 302
    # … and the attacker's address is locked for this username only.
    User.objects.create_user("bo", "bo@example.com", PASSWORD, is_staff=True)
    assert attempt(attacker, PASSWORD, username="bo").status_code == 302


def test_an_operator_sees_and_lifts_the_lockout_in_the_admin(client, accountant_user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "wrong")
    operator = Client()
    operator.force_login(User.objects.create_superuser("root", "root@example.com", None))

    listing = operator.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and "anna" in listing.content.decode()
    record = AccessAttempt.objects.get(username="anna")
    operator.post(f"/admin/axes/accessattempt/{record.pk}/delete/", {"post": "yes"})

    assert attempt(client, PASSWORD).status_code == 302


def test_support_consultants_cannot_see_or_lift_lockouts(consultant_client):
    assert consultant_client.get("/admin/axes/accessattempt/").status_code == 403


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_behind_one_proxy_the_address_it_saw_counts_not_what_the_client_claims(rf):
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9")
    assert client_ip(request) == "203.0.113.9"
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="not-an-address")
    assert client_ip(request) == "10.0.0.2"


def test_without_a_trusted_proxy_the_header_is_ignored(rf):
    request = rf.get("/", REMOTE_ADDR="198.51.100.20", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert client_ip(request) == "198.51.100.20"
