"""A malformed, unknown or absurd id in any URL answers 404 — never a 500, never a redirect that guesses.

(403 or 405 where the page refuses the method or the user before it looks at the id.)

Every pattern of the URL map with an id in it (tests/url_map.py) is requested by a superuser, who
passes every permission check, with each bad id in turn.
"""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth.models import User

from accounts.tenancy import TenantScopedAdminMixin
from tests.url_map import endpoints

pytestmark = pytest.mark.django_db

BAD_IDS = ["abc", "-1", "1.5", "0x10", "99999999999999999999", "1 OR 1=1", "%00", "%C3%A6", "%ED%A0%80", "0"]
ID_PARAMETERS = {"object_id", "pos0", "pos1", "connection_id", "content_type_id", "id"}


def _probes() -> list[tuple[str, str, bool]]:
    """(url, route, must_be_404) for every bad id in every id-bearing, non-public pattern."""
    probes = []
    for endpoint in endpoints():
        ids = set(endpoint.params) & ID_PARAMETERS
        if endpoint.public_reason() or not ids:
            continue
        model_admin = endpoint.model_admin
        # Django's own admins (users, the task queue, the emulators) answer a missing object with
        # a redirect to the index; ours answer 404.
        strict = model_admin is None or isinstance(model_admin, TenantScopedAdminMixin)
        others = {p: "supplier" for p in set(endpoint.params) - ids}
        for bad in BAD_IDS if strict else BAD_IDS[:1] + BAD_IDS[4:5] + BAD_IDS[6:7]:
            probes.append((endpoint.url({**others, **dict.fromkeys(ids, bad)}), endpoint.route, strict))
    return probes


def test_bad_ids_answer_404_everywhere(client, db):
    root = User.objects.create_superuser("root", "root@example.com", None)
    client.force_login(root)
    client.raise_request_exception = False
    failures = []
    previous = logging.getLogger("django.request").level
    logging.getLogger("django.request").setLevel(logging.CRITICAL)  # 404s by the hundred
    try:
        probes = _probes()
        for url, route, strict in probes:
            for method in ("get", "post"):
                first = getattr(client, method)(url)
                # Django's "<path:object_id>/" pattern redirects "abc/setup/" to "abc/setup/change/":
                # what counts is where that ends.
                final = client.get(first["Location"]) if first.status_code == 301 or (
                    first.status_code == 302 and "/change/" in first["Location"]) else first
                status = final.status_code
                # 403/405: a page nobody may use this way (deleting evidence) refuses before the lookup.
                if status >= 500 or (strict and status not in (403, 404, 405)) or (
                        not strict and status not in (302, 404, 405)):
                    failures.append(f"{method.upper()} {url} [{route}] → {first.status_code}→{status}")
    finally:
        logging.getLogger("django.request").setLevel(previous)
    assert len(probes) > 300
    assert not failures, f"{len(failures)} bad ids not answered with 404:\n" + "\n".join(failures[:50])


@pytest.mark.parametrize("path", [
    "/admin/integration/syncoperation/abc/change/",
    "/admin/integration/syncoperation/abc/retry/",
    "/admin/integration/syncoperation/abc/handle/",
    "/admin/integration/httpexchange/abc/change/",
    "/admin/accounts/connection/abc/history/",
    "/admin/accounts/connection/1/history/abc/",
    "/admin/mappings/unitmapping/abc/history/1/",
])
def test_the_reported_bad_ids_answer_404(client, db, path):
    client.force_login(User.objects.create_superuser("root", "root@example.com", None))
    assert client.get(path).status_code in (404, 405)
    assert client.post(path).status_code == 404


@pytest.mark.parametrize("query", ["?q=%00", "?connection=%00", "?state__exact=a%00b", "?%00=1"])
def test_a_nul_in_a_search_or_filter_is_refused_not_a_500(client, db, query):
    # PostgreSQL raises on text with NUL; the guard answers before any query is built.
    client.force_login(User.objects.create_superuser("root", "root@example.com", None))
    assert client.get("/admin/integration/syncoperation/" + query).status_code == 400
