"""Credentials over time: renewing a login never holds a database lock across the call to the token
service, and a login spent by another worker is picked up instead of being called lost."""

from __future__ import annotations

import pytest
import responses
from django.db import connection as db_connection

from accounts.models import Connection
from integration.core.clients.dinero_auth import VismaConnectTokens, token_cache
from integration.core.clients.errors import AuthenticationFailed, TransientError
from tests.dinero_fixtures import *  # noqa: F403 (the fixtures)
from tests.dinero_fixtures import VISMA_TOKEN_URL, token_answer, url, use_visma_connect


@pytest.fixture
def visma(transactional_db, dinero_settings, connection) -> Connection:
    return use_visma_connect(connection, expires_in=-10)


@responses.activate
def test_visma_refresh_holds_no_database_transaction_while_it_calls_the_token_service(visma, make_client):
    inside: list[bool] = []

    def answer(request):
        inside.append(db_connection.in_atomic_block)
        return 200, {}, '{"access_token": "visma-access-2", "refresh_token": "visma-refresh-2", "expires_in": 3600}'

    responses.add_callback(responses.POST, VISMA_TOKEN_URL, callback=answer)
    responses.get(url("/v1/{org}/vatTypes"), json=[])
    make_client(visma).vat_types()
    assert inside == [False]
    assert Connection.objects.get(pk=visma.pk).visma_refresh_token == "visma-refresh-2"


@responses.activate
def test_a_refresh_in_flight_elsewhere_is_waited_for_and_its_token_used(visma, make_client, sleeps):
    token_cache().add(f"visma-refresh:{visma.pk}", "1", timeout=60)
    refresh = responses.post(VISMA_TOKEN_URL, json=token_answer("never"))
    responses.get(url("/v1/{org}/vatTypes"), json=[])
    client = make_client(visma)
    use_visma_connect(Connection.objects.get(pk=visma.pk), access="visma-access-9", refresh="visma-refresh-9")
    client.vat_types()
    assert refresh.call_count == 0
    assert responses.calls[-1].request.headers["Authorization"] == "Bearer visma-access-9"


@responses.activate
def test_a_refresh_held_elsewhere_too_long_is_a_temporary_failure_not_a_lost_login(visma, make_client, sleeps):
    token_cache().add(f"visma-refresh:{visma.pk}", "1", timeout=60)
    refresh = responses.post(VISMA_TOKEN_URL, json=token_answer("never"))
    with pytest.raises(TransientError):
        make_client(visma).vat_types()
    assert refresh.call_count == 0 and sleeps


@responses.activate
def test_a_refresh_token_spent_by_another_worker_is_not_a_lost_login(visma, dinero_settings):
    from integration.core.clients.transport import Transport

    tokens = VismaConnectTokens(Connection.objects.get(pk=visma.pk), Transport("dinero", timeout=5))

    def answer(request):
        # Another worker's refresh (its lease ran out) rotated the login just before ours arrived.
        use_visma_connect(Connection.objects.get(pk=visma.pk), access="visma-access-7", refresh="visma-refresh-7")
        return 400, {}, '{"error": "invalid_grant"}'

    responses.add_callback(responses.POST, VISMA_TOKEN_URL, callback=answer)
    assert tokens.renew() == "visma-access-7"


@responses.activate
def test_a_revoked_refresh_token_is_a_rejected_login_with_the_hint(visma, make_client):
    responses.post(VISMA_TOKEN_URL, status=400, json={"error": "invalid_grant"})
    with pytest.raises(AuthenticationFailed) as caught:
        make_client(visma).vat_types()
    assert "Connect with Visma" in str(caught.value.hint)
