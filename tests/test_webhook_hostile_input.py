"""Hostile and broken deliveries against the running service (gunicorn, two workers, real HTTP).

The proof asked for by the security review: a corpus of bad deliveries — wrong, missing and other
tenants' tokens, wrong accounts, malformed and hostile JSON, oversized and deeply nested bodies, NUL
and surrogates, wrong types, unknown events — gets 0 answers 5xx and causes 0 operations; a valid
delivery replayed, and one sent many times at once, each cause exactly one operation and one task.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from django.db import connection as db

from accounts.models import Connection
from integration.core.models import RackbeatWebhook
from tests.gunicorn_server import gunicorn, shared_database

pytestmark = [pytest.mark.e2e]

TOKENS = {"customer.created": "A" * 32, "customer.updated": "B" * 32, "product.updated": "C" * 32,
          "made.up": "D" * 32}
OTHER_TENANT_TOKEN = "E" * 32


@dataclass
class World:
    url: str
    a: Connection
    b: Connection
    paused: Connection
    count: Callable[[str], int]  # table → rows, read from the database the server writes


def _connection(name: str, account: str, state: str) -> Connection:
    connection = Connection(name=name, rackbeat_account_id=account, dinero_organization_id=account)
    connection.set_state(state)
    connection.save()
    return connection


@pytest.fixture
def world(transactional_db) -> Iterator[World]:
    a = _connection("Nordlys Lager ApS", "1001", Connection.State.ACTIVE)
    b = _connection("Fjord Handel A/S", "2002", Connection.State.ACTIVE)
    paused = _connection("Pause ApS", "3003", Connection.State.PAUSED)
    for event, token in TOKENS.items():
        RackbeatWebhook.objects.create(connection=a, event=event, rackbeat_id=event, url="x", token=token)
    RackbeatWebhook.objects.create(connection=b, event="customer.created", rackbeat_id="b", url="x",
                                   token=OTHER_TENANT_TOKEN)
    RackbeatWebhook.objects.create(connection=paused, event="customer.created", rackbeat_id="p", url="x",
                                   token=TOKENS["customer.created"])
    with shared_database() as (url, path), gunicorn(url) as served:
        count = _orm_count if path is None else (lambda table: _file_count(path, table))
        yield World(served, a, b, paused, count=count)


def _orm_count(table: str) -> int:
    with db.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {db.ops.quote_name(table)}")
        return cursor.fetchone()[0]


def _file_count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]


OPERATIONS, DELIVERIES, TASKS = "integration_syncoperation", "integration_webhookdelivery", "django_q_ormq"
SHAPES = "integration_rackbeatdeliveryshape"


def send(world: World, body: bytes | str | None, *, event: str | None = "customer.created",
         token: str | None = None, account: str | None = None, address: str | None = None,
         method: str = "POST") -> requests.Response:
    headers = {"Content-Type": "application/json", "User-Agent": "Rackbeat Webhook"}
    if event is not None:
        headers["Rackbeat-Webhook-Event"] = event
    token = TOKENS.get(event or "customer.created", "") if token is None else token
    if token:
        headers["Rackbeat-Webhook-Token"] = token
    headers["Rackbeat-Account-Id"] = world.a.rackbeat_account_id if account is None else account
    target = address or f"{world.url}/webhooks/rackbeat/{world.a.public_id}/"
    data = body.encode("utf-8", errors="surrogatepass") if isinstance(body, str) else body
    return requests.request(method, target, data=data, headers=headers, timeout=60)


def thin(key: object, key_name: object = "number") -> str:
    return json.dumps({"key_name": key_name, "key": key})


DEEP = "[" * 100_000 + "]" * 100_000
DEEP_WITHIN_LIMIT = "[" * 30_000 + "]" * 30_000

# (name, request arguments, expected status) — none of them may cause work.
CORPUS: list[tuple[str, dict, int]] = [
    # who is sending
    ("missing token", {"body": thin("77"), "token": ""}, 401),
    ("wrong token", {"body": thin("77"), "token": "Z" * 32}, 401),
    ("token of another tenant", {"body": thin("77"), "token": OTHER_TENANT_TOKEN}, 401),
    ("token of another event", {"body": thin("77"), "token": TOKENS["product.updated"]}, 401),
    ("event with no registered webhook and no valid token", {"body": thin("77"), "event": "order.created",
                                                              "token": OTHER_TENANT_TOKEN}, 401),
    ("token in the wrong case", {"body": thin("77"), "token": "a" * 32}, 401),
    ("wrong account and wrong token", {"body": thin("77"), "account": "9999", "token": "Z" * 32}, 401),
    ("another tenant's account id and token", {"body": thin("77"), "account": "2002",
                                               "token": OTHER_TENANT_TOKEN}, 401),
    ("deep nesting with a wrong token", {"body": DEEP, "token": "Z" * 32}, 413),
    ("deep nesting with no token", {"body": DEEP, "token": ""}, 413),
    # the body
    ("100,000-deep nested body", {"body": DEEP}, 413),
    ("30,000-deep nested body", {"body": DEEP_WITHIN_LIMIT}, 400),
    ("1 MB body", {"body": json.dumps({"key_name": "number", "key": "77", "pad": "x" * 1_000_000})}, 413),
    ("empty body", {"body": b""}, 400),
    ("not JSON", {"body": "{not json"}, 400),
    ("truncated JSON", {"body": '{"key_name": "number", "key": "7'}, 400),
    ("a JSON list", {"body": "[1, 2]"}, 400),
    ("JSON null", {"body": "null"}, 400),
    ("a JSON string", {"body": '"77"'}, 400),
    ("invalid UTF-8", {"body": b"\xff\xfe{}"}, 400),
    ("UTF-8-encoded lone surrogate", {"body": b'{"key_name": "number", "key": "\xed\xa0\x80"}'}, 400),
    ("raw NUL byte", {"body": b'{"key_name": "number", "key": "7\x007"}'}, 400),
    ("byte order mark", {"body": "\ufeff" + thin("77")}, 400),
    # the key
    ("key NaN", {"body": '{"key_name": "number", "key": NaN}'}, 400),
    ("key Infinity", {"body": '{"key_name": "number", "key": -Infinity}'}, 400),
    ("key 10^30", {"body": thin(10**30)}, 400),
    ("key of 5,000 digits", {"body": '{"key_name": "number", "key": ' + "9" * 5000 + "}"}, 400),
    ("key a list", {"body": thin([1, 2])}, 400),
    ("key an object", {"body": thin({"number": 77})}, 400),
    ("key null", {"body": thin(None)}, 400),
    ("key true", {"body": thin(True)}, 400),
    ("key a fraction", {"body": thin(1.5)}, 400),
    ("key negative", {"body": thin(-1)}, 400),
    ("key empty", {"body": thin("")}, 400),
    ("key of 10,000 characters", {"body": thin("7" * 10_000)}, 400),
    ("key with NUL", {"body": thin("77\u0000")}, 400),
    ("key with a lone surrogate", {"body": '{"key_name": "number", "key": "7\\ud800"}'}, 400),
    ("key with an escape sequence", {"body": thin("\u001b[31m77")}, 400),
    ("key with a line break", {"body": thin("77\n78")}, 400),
    ("key with a right-to-left override", {"body": thin("77\u202e")}, 400),
    ("key with spaces around it", {"body": thin(" 77 ")}, 400),
    ("customer key that is not a number", {"body": thin("abc")}, 400),
    ("customer key 'nan'", {"body": thin("nan")}, 400),
    ("customer key in exponent form", {"body": thin("1e5")}, 400),
    ("no key at all", {"body": '{"key_name": "number"}'}, 400),
    ("duplicate key member, last one a list", {"body": '{"key_name": "number", "key": "7", "key": [7]}'}, 400),
    # the key name and the event
    ("key_name a list", {"body": thin("77", ["number"])}, 400),
    ("key_name an object", {"body": thin("77", {"a": 1})}, 400),
    ("key_name unknown", {"body": thin("77", "guid")}, 400),
    ("key_name id for a customer", {"body": thin("77", "id")}, 400),
    ("body event contradicting the header",
     {"body": json.dumps({"key_name": "number", "key": "77", "event": "product.updated"})}, 400),
    ("body event not a string",
     {"body": json.dumps({"key_name": "number", "key": "77", "event": ["customer.created"]})}, 400),
]


def test_hostile_and_broken_deliveries_never_cause_a_5xx_or_any_work(world):
    answers: dict[str, int] = {}
    for name, kwargs, _expected in CORPUS:
        answers[name] = send(world, **kwargs).status_code
    answers["unknown address"] = send(world, thin("77"),
                                      address=f"{world.url}/webhooks/rackbeat/{uuid.uuid4()}/").status_code
    answers["address that is not a uuid"] = send(world, thin("77"),
                                                 address=f"{world.url}/webhooks/rackbeat/abc/").status_code
    answers["paused connection"] = send(world, thin("77"), account="3003",
                                        address=f"{world.url}/webhooks/rackbeat/{world.paused.public_id}/").status_code
    answers["GET"] = send(world, None, method="GET").status_code
    answers["PUT"] = send(world, thin("77"), method="PUT").status_code
    expected = {name: status for name, _, status in CORPUS} | {
        "unknown address": 404, "address that is not a uuid": 404, "paused connection": 409, "GET": 405, "PUT": 405}

    assert len(answers) >= 40
    assert [name for name, status in answers.items() if status >= 500] == []
    assert answers == expected
    assert world.count(OPERATIONS) == 0 and world.count(TASKS) == 0 and world.count(DELIVERIES) == 0

    # A valid token for an event that maps to no document: recorded as ignored, no work.
    assert send(world, thin("77"), event="made.up").json() == {"status": "ignored"}
    assert world.count(OPERATIONS) == 0 and world.count(DELIVERIES) == 1


def test_a_valid_token_with_another_or_no_account_id_is_accepted_and_recorded(world):
    # The token is the secret; the account id only a cross-check, recorded for a person to confirm.
    answers = [send(world, thin(str(1100 + n)), account=account).status_code
               for n, account in enumerate(("9999", "", "2002"))]
    assert answers == [202, 202, 202]
    assert world.count(OPERATIONS) == 3 and world.count(DELIVERIES) == 3
    assert world.count(SHAPES) == 3
    # An event name nobody registered, with a registered webhook's token: recorded, stored as ignored.
    assert send(world, thin("77"), event="order.created", token=TOKENS["customer.created"]).json() == {
        "status": "ignored"}
    assert world.count(OPERATIONS) == 3 and world.count(SHAPES) == 4


def test_a_replayed_valid_delivery_makes_exactly_one_operation(world):
    first = send(world, thin("1021"))
    replays = [send(world, thin("1021")) for _ in range(5)]
    assert first.status_code == 202 and first.json()["status"] == "accepted"
    assert [r.status_code for r in replays] == [200] * 5
    assert {r.json()["status"] for r in replays} == {"duplicate"}
    assert world.count(OPERATIONS) == 1 and world.count(TASKS) == 1 and world.count(DELIVERIES) == 6


def test_concurrent_duplicates_make_exactly_one_operation(world):
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: send(world, thin("2042")), range(24)))
    assert all(a.status_code < 500 for a in answers), [a.text for a in answers if a.status_code >= 500]
    assert sorted({a.json()["status"] for a in answers}) == ["accepted", "duplicate"]
    assert sum(a.json()["status"] == "accepted" for a in answers) == 1
    assert world.count(OPERATIONS) == 1 and world.count(TASKS) == 1 and world.count(DELIVERIES) == 24


def test_older_body_without_event_header_is_read_by_its_token(world):
    body = json.dumps({"key": 77, "key_name": "number", "event": "customer.created", "data": {"number": 77}})
    assert send(world, body, event=None).status_code == 202
    assert send(world, json.dumps({"key": 78, "key_name": "number", "event": "customer.updated"}),
                event=None).status_code == 400  # the token is customer.created's
    assert world.count(OPERATIONS) == 1
