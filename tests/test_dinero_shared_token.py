"""One Dinero token per organization for every worker process: kept in the shared (database)
cache, encrypted, renewed by one process at a time."""

from __future__ import annotations

import pytest
import responses
from django.conf import settings

from accounts.crypto import decrypt
from integration.core.clients.dinero_auth import ApiKeyTokens, forget_recent_tokens, token_cache
from integration.core.clients.transport import Transport
from tests.dinero_fixtures import *  # noqa: F403 (the fixtures)
from tests.dinero_fixtures import TOKEN_URL, token_answer, url

pytestmark = pytest.mark.django_db


def tokens_for(connection, sleeps: list[float] | None = None, on_sleep=None) -> ApiKeyTokens:
    def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)
        if on_sleep is not None:
            on_sleep()

    return ApiKeyTokens(connection, Transport("dinero", timeout=5), sleep=sleep)


def test_the_shared_cache_is_the_database_by_default():
    assert settings.CACHES["shared"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache"


@responses.activate
def test_the_token_is_stored_encrypted_in_the_shared_cache(dinero_settings, connection):
    responses.post(TOKEN_URL, json=token_answer("access-token-1"))
    provider = tokens_for(connection)
    assert provider.token() == "access-token-1"
    stored = token_cache().get(provider.cache_key)
    assert stored and "access-token-1" not in stored
    assert decrypt(stored) == "access-token-1"


@responses.activate
def test_a_client_built_elsewhere_uses_the_stored_token_without_asking(dinero_settings, make_client, connection):
    token = responses.post(TOKEN_URL, json=token_answer("access-token-1"))
    responses.get(url("/v1/{org}/vatTypes"), json=[])
    make_client(connection).vat_types()
    # Another process: nothing of the first client's memory, only the shared cache.
    make_client(type(connection).objects.get(pk=connection.pk)).vat_types()
    assert token.call_count == 1


@responses.activate
def test_a_client_reads_the_shared_token_once_for_all_its_requests(dinero_settings, make_client, connection):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    responses.post(TOKEN_URL, json=token_answer("access-token-1"))
    responses.get(url("/v1/{org}/vatTypes"), json=[])
    make_client(connection).vat_types()  # the token is in the shared cache now
    forget_recent_tokens()  # as another process would start: nothing in its memory
    client = make_client(type(connection).objects.get(pk=connection.pk))
    with CaptureQueriesContext(db) as queries:
        for _ in range(4):
            client.vat_types()
    assert sum("shared_cache" in q["sql"] for q in queries.captured_queries) == 1
    # The process's next transfers use the token it read without reading it again.
    with CaptureQueriesContext(db) as queries:
        make_client(type(connection).objects.get(pk=connection.pk)).vat_types()
    assert sum("shared_cache" in q["sql"] for q in queries.captured_queries) == 0
    assert len([c for c in responses.calls if c.request.url == TOKEN_URL]) == 1


@responses.activate
def test_a_refused_token_is_not_used_again_by_the_same_client(dinero_settings, make_client, connection):
    responses.post(TOKEN_URL, json=token_answer("first"))
    responses.get(url("/v1/{org}/vatTypes"), json=[])
    client = make_client(connection)
    assert client.tokens.token() == "first"
    responses.replace(responses.POST, TOKEN_URL, json=token_answer("second"))
    assert client.tokens.renew(stale="first") == "second"
    client.vat_types()
    assert responses.calls[-1].request.headers["Authorization"] == "Bearer second"


@responses.activate
def test_after_a_401_a_token_renewed_by_another_process_is_used(dinero_settings, connection):
    responses.post(TOKEN_URL, json=token_answer("renewed-elsewhere"))
    provider = tokens_for(connection)
    # Both processes were refused "old-token"; the other one renews first.
    assert tokens_for(connection).renew(stale="old-token") == "renewed-elsewhere"
    assert provider.renew(stale="old-token") == "renewed-elsewhere"
    assert len(responses.calls) == 1


@responses.activate
def test_a_401_on_the_shared_token_fetches_a_new_one(dinero_settings, connection):
    responses.post(TOKEN_URL, json=token_answer("first"))
    provider = tokens_for(connection)
    assert provider.token() == "first"
    responses.replace(responses.POST, TOKEN_URL, json=token_answer("second"))
    assert provider.renew(stale="first") == "second"
    assert tokens_for(connection).token() == "second"


@responses.activate
def test_while_another_process_asks_for_the_token_this_one_waits_for_its_answer(dinero_settings, connection):
    token = responses.post(TOKEN_URL, json=token_answer("mine"))
    delivering = tokens_for(connection)
    token_cache().add(f"{delivering.cache_key}:renewing", "1", timeout=30)

    def other_process_delivers() -> None:
        from accounts.crypto import encrypt

        token_cache().set(delivering.cache_key, encrypt("theirs"), timeout=600)

    sleeps: list[float] = []
    waiting = tokens_for(connection, sleeps, on_sleep=other_process_delivers)
    assert waiting.token() == "theirs"
    assert token.call_count == 0 and len(sleeps) == 1


@responses.activate
def test_a_renewal_that_never_arrives_is_done_by_the_waiting_process(dinero_settings, connection):
    token = responses.post(TOKEN_URL, json=token_answer("mine"))
    provider = tokens_for(connection, sleeps := [])
    token_cache().add(f"{provider.cache_key}:renewing", "1", timeout=30)
    assert provider.token() == "mine"
    assert token.call_count == 1 and len(sleeps) == 100
