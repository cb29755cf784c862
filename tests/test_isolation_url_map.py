"""Tenant isolation over the whole URL map: tenant A's people can neither read nor change tenant B.

Every URL pattern is read from Django's resolver (tests/url_map.py) and filled with tenant B's ids:
the admin's pages by the model each belongs to (B's rows, and each history version of them), the
per-connection pages with B's connection. Tenant A's accountant and support consultant request
each one with GET and with every POST form a superuser sees on that page (the real revert,
change, add, action and page forms, values altered), and the test asserts:

* B's object and connection pages answer 404 or 403 (a redirect counts only if it ends there);
* lists, add forms and A's own pages answer without a 5xx and without B's marker anywhere;
* the admin of a model that is not tenant data refuses both roles (operators only);
* nothing of B changed: every row of every model that belongs to B is compared before and after.

A pattern this file cannot classify fails the test, naming the pattern, so a new page is either
covered automatically or consciously listed as public in tests/url_map.py.

The same map drives the hostile-value test: every parameter a page of A reads (recorded from the
view's own reads of request.GET/POST, plus each list's filters) and every bulk action, sent
Unicode digits, "None", "1.5", negative, huge, NUL and "abc" as each role, must never answer 5xx.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from unittest import mock
from urllib.parse import urlencode

import pytest
import responses
from django.apps import apps
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.core import serializers
from django.db import models
from django.http import QueryDict
from django.test import Client, RequestFactory

from accounts.models import Connection
from accounts.tenancy import TenantScopedAdminMixin, connection_path
from tests.isolation_world import MARKER_B, Tenant, build_world
from tests.url_map import Endpoint, endpoints

pytestmark = pytest.mark.django_db

# Values for route parameters of per-connection pages other than connection_id.
PAGE_PARAMETERS: dict[str, list[str]] = {"matrix": ["supplier", "revenue"]}
# Query strings tried on every list, with {b} replaced by B's connection id.
LIST_QUERIES = ["", "?connection={b}", "?connection__id__exact={b}", "?q=Bravo&_facets=True&_popup=1&_to_field=id"]

HIDDEN, REFUSED, LISTING = "hidden", "refused", "listing"


@dataclass
class Probe:
    endpoint: Endpoint
    url: str
    expect: str                       # HIDDEN, REFUSED or LISTING
    posts: list[dict[str, Any]] = field(default_factory=list)
    harvest_from: str | None = None   # a URL whose POST forms (as the superuser sees them) are replayed
    retarget_connection: bool = False  # point "connection" selects at B before posting


# --- reading forms --------------------------------------------------------------------------------

class _FormReader(HTMLParser):
    """The POST forms of a page as the browser would submit them (first submit button ignored)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []
        self._form: dict[str, Any] | None = None
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = {} if a.get("method", "get").lower() == "post" else None
        if self._form is None:
            return
        name = a.get("name", "")
        if tag == "input" and name and name != "csrfmiddlewaretoken":
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind in ("submit", "button", "file", "image", "reset"):
                return
            value = a.get("value", "")
            if kind in ("text", "email", "url", "search") and value:
                value += "X"
            elif kind == "number" and value.lstrip("-").isdigit():
                value = str(int(value) + 1)
            self._form.setdefault(name, []).append(value)
        elif tag == "select" and name:
            self._select, self._options = name, []
        elif tag == "option" and self._select is not None:
            self._options.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._form is None:
            return
        if tag == "select" and self._select is not None:
            chosen = [v for v, selected in self._options if selected] or [v for v, _ in self._options[:1]]
            self._form[self._select] = chosen
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            text = "".join(self._text).strip()
            self._form[self._textarea] = [text + "\nX" if text else text]
            self._textarea = None
        elif tag == "form":
            self.forms.append(self._form)
            self._form = None


def post_forms(html: str) -> list[dict[str, Any]]:
    reader = _FormReader()
    reader.feed(html)
    return [f for f in reader.forms if f]


# --- the rows of tenant B -------------------------------------------------------------------------

def rows_of(model: type[models.Model], path: str, connection: Connection) -> models.QuerySet:
    return model._default_manager.filter(**{path or "pk": connection.pk}).order_by("pk")


def snapshot(connection: Connection) -> dict[str, list[dict]]:
    """Every row of every model that belongs to ``connection``, serialised."""
    state = {}
    for model in apps.get_models():
        path = connection_path(model)
        if path is not None:
            state[model._meta.label] = serializers.serialize("python", rows_of(model, path, connection))
    return state


def b_objects(model_admin: admin.ModelAdmin, b: Tenant) -> list[models.Model]:
    return list(rows_of(model_admin.model, model_admin.connection_lookup, b.connection))


# --- classifying the URL map ----------------------------------------------------------------------

def plan(endpoint: Endpoint, a: Tenant, b: Tenant) -> list[Probe] | str:
    """The probes for one pattern, or why it cannot be classified."""
    if endpoint.public_reason():
        return []
    params = set(endpoint.params)
    model_admin = endpoint.model_admin
    if model_admin is not None:
        return _admin_probes(endpoint, model_admin, params, a, b)
    if endpoint.name == "admin:index":
        return [Probe(endpoint, endpoint.url({}), LISTING)]
    if endpoint.name == "admin:app_list":
        labels = {m._meta.app_label for m in admin.site._registry}
        return [Probe(endpoint, endpoint.url({"app_label": label}), LISTING) for label in sorted(labels)]
    if endpoint.name == "admin:autocomplete":
        return _autocomplete_probes(endpoint, b)
    if endpoint.name == "admin:view_on_site":
        probes = []
        for model, model_admin in admin.site._registry.items():
            if isinstance(model_admin, TenantScopedAdminMixin):
                ct = ContentType.objects.get_for_model(model, for_concrete_model=False)
                for obj in b_objects(model_admin, b):
                    probes.append(Probe(endpoint, endpoint.url({"content_type_id": ct.pk, "object_id": obj.pk}),
                                        HIDDEN))
        return probes
    if "connection_id" in params:
        extra = params - {"connection_id"}
        unknown = extra - set(PAGE_PARAMETERS)
        if unknown:
            return f"parameters {sorted(unknown)} have no test values: add them to PAGE_PARAMETERS"
        probes = []
        for values in _combinations(extra):
            probes.append(Probe(endpoint, endpoint.url({**values, "connection_id": b.connection.pk}), HIDDEN,
                                posts=[{}], harvest_from=endpoint.url({**values, "connection_id": b.connection.pk})))
            probes.append(Probe(endpoint, endpoint.url({**values, "connection_id": a.connection.pk}), LISTING))
        return probes
    return "neither a ModelAdmin view, a per-connection page nor a listed public view"


def _combinations(names: set[str]) -> list[dict[str, str]]:
    combos: list[dict[str, str]] = [{}]
    for name in sorted(names):
        combos = [{**c, name: v} for c in combos for v in PAGE_PARAMETERS[name]]
    return combos


def _admin_probes(endpoint: Endpoint, model_admin: admin.ModelAdmin, params: set[str], a: Tenant,
                  b: Tenant) -> list[Probe] | str:
    tenant = isinstance(model_admin, TenantScopedAdminMixin)
    opts = model_admin.model._meta
    if not tenant:
        # Not tenant data: operators only. Any id will do — the answer must be a refusal.
        values = dict.fromkeys(params, 1)
        return [Probe(endpoint, endpoint.url(values), REFUSED)]
    if not params:
        if endpoint.name.endswith("_changelist"):
            b_ids = [str(o.pk) for o in b_objects(model_admin, b)]
            actions = [name for name in model_admin.actions or []] + ["delete_selected"]
            posts = [{"action": action, "_selected_action": b_ids, "index": "0", "post": "yes",
                      "note": "changed by another tenant", **select} for action in actions
                     for select in ({}, {"select_across": "1"})]
            return [Probe(endpoint, endpoint.url({}) + q.format(b=b.connection.pk), LISTING,
                          posts=posts if not q else []) for q in LIST_QUERIES]
        if endpoint.name.endswith("_add"):
            # Replay B's own change form as an "add": a copy attached to B must not appear.
            b_obj = b_objects(model_admin, b)
            source = (f"/admin/{opts.app_label}/{opts.model_name}/{b_obj[0].pk}/change/" if b_obj else None)
            return [Probe(endpoint, endpoint.url({}), LISTING, harvest_from=source, retarget_connection=True)]
        return f"a {opts.label} admin view without parameters that is neither a list nor an add form"
    known = {"object_id", "pos0", "pos1"}
    if params - known:
        return f"parameters {sorted(params - known)} of a {opts.label} admin view are not understood"
    objects = b_objects(model_admin, b)
    if not objects:
        return f"tests/isolation_world.py creates no {opts.label} row for tenant B"
    probes = []
    history = endpoint.name.endswith("_simple_history")
    for b_obj in objects:
        versions = list(b_obj.history.values_list("history_id", flat=True)) if history else [None]
        for version in versions:
            values = {"object_id": b_obj.pk, "pos0": b_obj.pk, "pos1": version}
            url = endpoint.url(values)
            probes.append(Probe(endpoint, url, HIDDEN, posts=[{}], harvest_from=url))
    # A's own object under the same pattern: renders, shows nothing of B, cannot be moved to B.
    a_obj = next(iter(rows_of(model_admin.model, model_admin.connection_lookup, a.connection)), None)
    if a_obj is not None:
        versions = list(a_obj.history.values_list("history_id", flat=True)[:1]) if history else [None]
        for version in versions:
            url = endpoint.url({"object_id": a_obj.pk, "pos0": a_obj.pk, "pos1": version})
            if not url.endswith("/delete/"):
                probes.append(Probe(endpoint, url, LISTING, harvest_from=url, retarget_connection=True))
    return probes


def _autocomplete_probes(endpoint: Endpoint, b: Tenant) -> list[Probe]:
    probes = []
    for model, model_admin in admin.site._registry.items():
        for field_name in model_admin.autocomplete_fields:
            query = (f"?app_label={model._meta.app_label}&model_name={model._meta.model_name}"
                     f"&field_name={field_name}&term=")
            probes.append(Probe(endpoint, endpoint.url({}) + query, LISTING))
            probes.append(Probe(endpoint, endpoint.url({}) + query + MARKER_B[:4], LISTING))
    return probes


# --- requesting -----------------------------------------------------------------------------------

def shows_b(response: Any) -> bool:
    return MARKER_B.lower() in response.content.decode(errors="replace").lower()


def follow(client: Client, response: Any) -> Any:
    for _ in range(3):
        if response.status_code not in (301, 302, 303, 307, 308):
            break
        response = client.get(response["Location"])
    return response


def judge(probe: Probe, method: str, client: Client, response: Any) -> str | None:
    """What is wrong with one answer, or None."""
    final = follow(client, response)
    if final.status_code >= 500:
        return f"{final.status_code}"
    if shows_b(response) or shows_b(final):
        return f"{response.status_code}: shows tenant B's data"
    # 405: a POST-only button asked with GET answers the same for every id, revealing nothing.
    if probe.expect == HIDDEN and final.status_code not in (403, 404, 405):
        return f"{response.status_code}→{final.status_code}: expected 404 or 403"
    if probe.expect == REFUSED:
        to_index = response.status_code == 302 and response["Location"].rstrip("/").endswith("/admin")
        if not (final.status_code in (403, 404) or to_index):
            return f"{response.status_code}: a model that is not tenant data must be refused to non-operators"
    return None


def payloads(probe: Probe, root: Client, b: Tenant) -> list[dict[str, Any]]:
    found = list(probe.posts)
    if probe.harvest_from:
        page = root.get(probe.harvest_from)
        if page.status_code == 200:
            for form in post_forms(page.content.decode()):
                if probe.retarget_connection and "connection" in form:
                    form["connection"] = [str(b.connection.pk)]
                # B's marker in the replayed values would be echoed back by a form with errors.
                found.append({k: [re.sub(MARKER_B, "Zulu", v, flags=re.IGNORECASE) for v in vs]
                              for k, vs in form.items()})
    return found


def run_probes(probes: list[Probe], forms: dict[int, list[dict[str, Any]]], client: Client) -> list[str]:
    failures = []
    for probe in probes:
        for method, data in [("GET", None)] + [("POST", d) for d in forms[id(probe)]]:
            try:
                if method == "GET":
                    response = client.get(probe.url)
                else:
                    response = client.post(probe.url, data)
                problem = judge(probe, method, client, response)
            except Exception as exc:  # a 500 in the view: Django's test client re-raises it
                problem = f"raised {exc.__class__.__name__}: {exc}"
            if problem:
                keys = f" {sorted(data)[:6]}" if data else ""
                failures.append(f"{method} {probe.url}{keys} [{probe.endpoint.route}] → {problem}")
    return failures


@pytest.fixture
def world():
    return build_world()


@pytest.fixture
def offline():
    """Any HTTP call a page makes fails at once (no API is reachable from this test)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        yield


def all_probes(a: Tenant, b: Tenant) -> tuple[list[Probe], list[str]]:
    probes, unclassified = [], []
    for endpoint in endpoints():
        planned = plan(endpoint, a, b)
        if isinstance(planned, str):
            unclassified.append(f"{endpoint.route} ({endpoint.name or 'unnamed'}): {planned}")
        else:
            probes += planned
    return probes, unclassified


def test_every_url_pattern_is_classified(world):
    a, b, _root = world
    probes, unclassified = all_probes(a, b)
    assert not unclassified, "URL patterns the isolation test cannot fill:\n" + "\n".join(unclassified)
    # The map really covers the tenant pages: history, revert, the log's buttons, the connection pages.
    routes = {p.endpoint.route for p in probes}
    for expected in ("admin/accounts/connection/^([^/]+)/history/([^/]+)/$",
                     "admin/integration/syncoperation/<path:object_id>/retry/",
                     "admin/accounts/connection/<int:connection_id>/matrix/<str:matrix>/",
                     "admin/mappings/unitmapping/<path:object_id>/history/"):
        assert expected in routes


def test_tenant_a_can_neither_read_nor_change_tenant_b_anywhere(world, offline):
    a, b, root_user = world
    probes, unclassified = all_probes(a, b)
    assert not unclassified
    assert len(probes) > 200
    root = Client()
    root.force_login(root_user)
    forms = {id(p): payloads(p, root, b) for p in probes}  # read as the superuser before anything is posted
    before = snapshot(b.connection)

    for role in ("accountant", "consultant"):
        client = Client()
        client.force_login(a.users[role])
        failures = run_probes(probes, forms, client)

        assert not failures, f"{len(failures)} leaks or errors for A's {role}:\n" + "\n".join(failures[:60])
        after = snapshot(b.connection)
        changed = [label for label in before if before[label] != after[label]]
        assert not changed, f"A's {role} changed tenant B's {changed}"


def test_the_probes_see_a_leak_when_there_is_one(world, offline):
    """Control: B's own consultant, sent the same requests, sees B's marker and can change B."""
    a, b, root_user = world
    probes, _ = all_probes(a, b)
    revert = next(p for p in probes if p.expect == HIDDEN and "connection/^" in p.endpoint.route)
    root = Client()
    root.force_login(root_user)
    own = Client()
    own.force_login(b.users["consultant"])

    response = own.get(revert.url)
    assert response.status_code == 200 and shows_b(response)
    assert judge(revert, "GET", own, response) is not None

    form = next(f for f in payloads(revert, root, b) if "name" in f)
    before = snapshot(b.connection)
    own.post(revert.url, form)
    assert snapshot(b.connection) != before


# --- hostile values in every query parameter and action --------------------------------------------

# Each one once broke a page: Unicode digits pass str.isdigit() and fail int() (or pass both and
# are not ASCII), "None" and "1.5" fail int(), a huge number overflows SQLite's INTEGER, NUL is
# refused by PostgreSQL.
HOSTILE_VALUES = ["²", "①", "٣", "None", "1.5", "-1", "99999999999999999999", "\x00", "abc"]
# For query parameters, one of each kind (the whole list would take minutes over every list). NUL in
# a query string is refused before any view runs (config/nul_guard.py, tests/test_bad_ids.py).
HOSTILE_QUERY_VALUES = ["²", "٣", "-1", "99999999999999999999"]


class _ReadKeys:
    """Records every key a view asks a QueryDict for (``get``, ``[]``, ``getlist``, ``in``)."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self._patches: list[Any] = []

    def __enter__(self) -> set[str]:
        for name in ("get", "__getitem__", "getlist", "__contains__"):
            original = getattr(QueryDict, name)

            def recording(qd: Any, key: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
                if isinstance(key, str):
                    self.keys.add(key)
                return _original(qd, key, *args, **kwargs)

            patch = mock.patch.object(QueryDict, name, recording)
            patch.start()
            self._patches.append(patch)
        return self.keys

    def __exit__(self, *exc: Any) -> None:
        for patch in self._patches:
            patch.stop()


def _list_parameters(url: str, model_admin: admin.ModelAdmin, root_user: Any) -> set[str]:
    """The query parameters of an admin list: its filters' own, the page, the order, the search."""
    request = RequestFactory().get(url)
    request.user = root_user
    changelist = model_admin.get_changelist_instance(request)
    names = {"p", "o", "q", "e", "all"}
    for spec in changelist.filter_specs:
        names.update(spec.expected_parameters())
    return names


def hostile_requests(a: Tenant, b: Tenant, root_user: Any) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(method, url, data): every parameter a page of A reads and every bulk action, each hostile value."""
    probes, _ = all_probes(a, b)
    root = Client()
    root.force_login(root_user)
    requests: list[tuple[str, str, dict[str, Any] | None]] = []
    seen: set[str] = set()
    for probe in probes:
        base = probe.url.split("?", 1)[0]
        if probe.expect != LISTING or base in seen:
            continue
        seen.add(base)
        with _ReadKeys() as keys:
            page = root.get(base)
        model_admin = probe.endpoint.model_admin
        names = set(keys)
        if model_admin is not None and probe.endpoint.name.endswith("_changelist"):
            names |= _list_parameters(base, model_admin, root_user)
            for action in [*(model_admin.actions or []), "delete_selected"]:
                for value in HOSTILE_VALUES:
                    requests.append(("POST", base, {"action": action, "_selected_action": [value, "1"],
                                                    "index": "0", "post": "yes", "note": "x"}))
        elif model_admin is None and page.status_code == 200:
            # A per-connection page: each field of its POST forms, one at a time.
            for form in post_forms(page.content.decode()):
                if "language" in form:
                    continue  # the language switcher, posted to set_language, not to this page
                for name in form:
                    for value in HOSTILE_VALUES:
                        requests.append(("POST", base, {**form, name: [value]}))
        for name in sorted(names - {"csrfmiddlewaretoken"}):
            for value in HOSTILE_QUERY_VALUES:
                requests.append(("GET", f"{base}?{urlencode({name: value})}", None))
    return requests


@pytest.mark.parametrize("role", ["accountant", "consultant", "superuser"])
def test_hostile_values_in_any_parameter_or_action_never_answer_5xx(world, offline, role):
    """Every query parameter a page reads and every bulk action, with each hostile value, as each role."""
    a, b, root_user = world
    planned = hostile_requests(a, b, root_user)
    assert len(planned) > 1000
    assert any("_selected_action" in (data or {}) for _m, _u, data in planned)
    assert any(url.endswith("/syncoperation/?connection=%C2%B2") for _m, url, _d in planned)
    assert any(url.endswith("/rackbeat-check/?check=%C2%B2") for _m, url, _d in planned)
    client = Client(raise_request_exception=False)
    client.force_login(root_user if role == "superuser" else a.users[role])
    failures = []
    previous = logging.getLogger("django.request").level
    logging.getLogger("django.request").setLevel(logging.CRITICAL)  # 400s and 404s by the thousand
    try:
        for method, url, data in planned:
            response = client.get(url) if method == "GET" else client.post(url, data)
            if response.status_code >= 500:
                detail = f" {data.get('action') or sorted(data)[:3]} {data.get('_selected_action', '')}" if data else ""
                failures.append(f"{method} {url}{detail} → {response.status_code}")
    finally:
        logging.getLogger("django.request").setLevel(previous)
    assert not failures, f"{len(failures)} answers 5xx for {role}:\n" + "\n".join(failures[:80])
