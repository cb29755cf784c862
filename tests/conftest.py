"""The small fixture world every test shares: two connections, to prove isolation."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from accounts.models import Connection, Membership
from accounts.roles import ACCOUNTANT, SUPPORT_CONSULTANT, ensure_roles


@pytest.fixture
def roles(db):
    ensure_roles()
    return Group.objects.get(name=ACCOUNTANT), Group.objects.get(name=SUPPORT_CONSULTANT)


def _connection(name: str, org: str, account: str) -> Connection:
    connection = Connection(name=name, dinero_organization_id=org, rackbeat_account_id=account)
    connection.set_secret("rackbeat_api_token", f"rb-token-{account}-secret")
    connection.set_secret("dinero_api_key", f"dinero-key-{org}-secret")
    connection.save()
    return connection


@pytest.fixture
def connection(db) -> Connection:
    return _connection("Nordlys Lager ApS", "400555", "1001")


@pytest.fixture
def other_connection(db) -> Connection:
    return _connection("Fjord Handel A/S", "400777", "2002")


def _staff(username: str, group: Group, *connections: Connection) -> User:
    user = User.objects.create_user(username, f"{username}@example.com", "pw-For-tests-123", is_staff=True)
    user.groups.add(group)
    for c in connections:
        Membership.objects.create(user=user, connection=c)
    return user


@pytest.fixture
def accountant(roles, connection) -> User:
    return _staff("accountant", roles[0], connection)


@pytest.fixture
def consultant(roles, connection, other_connection) -> User:
    return _staff("consultant", roles[1], connection, other_connection)


@pytest.fixture
def superuser(db) -> User:
    return User.objects.create_superuser("root", "root@example.com", "pw-For-tests-123")


@pytest.fixture
def accountant_client(client, accountant):
    client.force_login(accountant)
    return client


@pytest.fixture
def consultant_client(client, consultant):
    client.force_login(consultant)
    return client
