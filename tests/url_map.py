"""Every URL pattern of the site, read from Django's resolver, with what it belongs to.

The isolation and bad-id tests walk this map instead of a hand-written list, so a page added
tomorrow is requested by them without anyone writing a line. A pattern is classified by what its
view is (a ModelAdmin view, a per-connection page, …) and by the names of its parameters; a
pattern that cannot be classified makes the tests fail with a message saying what to add.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern

# Views that are public or carry no tenant data, each with the reason and where it is tested.
# Keep this list short: everything else must answer 404/403 with another tenant's ids.
PUBLIC_VIEWS: dict[str, str] = {
    "healthz": "load balancer probe; counts only for signed-in staff (tests/test_healthz.py)",
    "set_language": "switches the language of the session",
    "admin:login": "the login form (throttled: tests/test_login_throttling.py)",
    "admin:logout": "ends the session",
    "admin:password_change": "the user's own password",
    "admin:password_change_done": "the user's own password",
    "admin:jsi18n": "the admin's JavaScript translations",
    "visma-connect-callback": "OAuth answer; checked against the state kept in the session "
                              "(tests/test_visma_connect.py)",
    "rackbeat-webhook": "token-authenticated receiver (tests/test_webhooks.py)",
}
PUBLIC_PREFIXES: dict[str, str] = {
    "sandbox/": "the emulators of Rackbeat and Dinero; refused when DEBUG is off",
}
# Unnamed patterns that only redirect or 404.
PUBLIC_ROUTES: dict[str, str] = {
    "": "redirects to /admin/",
    "favicon.ico": "redirects to the static icon",
    "admin/(?P<url>.*)$": "the admin's catch-all: 404 or a redirect adding the slash",
}


@dataclass(frozen=True)
class Endpoint:
    route: str                     # the full pattern, for messages
    name: str                      # "admin:accounts_connection_change", "" when unnamed
    callback: Callable[..., Any]
    chain: tuple[Any, ...]         # the pattern objects from the root down
    params: tuple[str, ...]        # named parameters, and "pos0", "pos1", … for unnamed groups

    @property
    def model_admin(self) -> admin.ModelAdmin | None:
        """The ModelAdmin whose view this is (Django's own views and get_urls() extras alike)."""
        view: Any = self.callback
        for _ in range(10):
            owner = getattr(view, "model_admin", None) or getattr(view, "__self__", None)
            if isinstance(owner, admin.ModelAdmin):
                return owner
            view = getattr(view, "__wrapped__", None)
            if view is None:
                return None
        return None

    def public_reason(self) -> str | None:
        if self.name in PUBLIC_VIEWS:
            return PUBLIC_VIEWS[self.name]
        for prefix, reason in PUBLIC_PREFIXES.items():
            if self.route.startswith(prefix):
                return reason
        if not self.name and self.route in PUBLIC_ROUTES:
            return PUBLIC_ROUTES[self.route]
        return None

    def url(self, values: dict[str, Any]) -> str:
        """The path with ``values`` filled in (by parameter name; ``pos0``… for unnamed groups)."""
        parts = []
        positional = iter(values[p] for p in self.params if p.startswith("pos"))
        for pattern in self.chain:
            if isinstance(pattern, RoutePattern):
                parts.append(re.sub(r"<(?:[^>:]+:)?([^>]+)>", lambda m: str(values[m.group(1)]), str(pattern)))
            elif isinstance(pattern, RegexPattern):
                parts.append(_fill_regex(str(pattern), values, positional))
            else:  # LocalePrefixPattern and the like: not used by this project
                raise ValueError(f"cannot build a URL through {pattern!r}")
        return "/" + "".join(parts)


def _fill_regex(regex: str, values: dict[str, Any], positional: Iterator[Any]) -> str:
    """Replace each group of a simple regex route with a value; strip anchors."""
    regex = regex.removeprefix("^").removesuffix("$").removesuffix(r"\Z")
    out, i = [], 0
    while i < len(regex):
        char = regex[i]
        if char == "\\" and i + 1 < len(regex):
            out.append(regex[i + 1])
            i += 2
            continue
        if char == "(":
            depth, j = 0, i
            while j < len(regex):
                if regex[j] == "\\":
                    j += 2
                    continue
                depth += {"(": 1, ")": -1}.get(regex[j], 0)
                if depth == 0:
                    break
                j += 1
            group = regex[i:j + 1]
            named = re.match(r"\(\?P<(\w+)>", group)
            out.append(str(values[named.group(1)]) if named else str(next(positional)))
            i = j + 1
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _params(pattern: Any, offset: int) -> list[str]:
    if isinstance(pattern, RoutePattern):
        return list(pattern.converters)
    if isinstance(pattern, RegexPattern):
        named = sorted(pattern.regex.groupindex, key=pattern.regex.groupindex.get)
        unnamed = pattern.regex.groups - len(named)
        return named + [f"pos{offset + n}" for n in range(unnamed)]
    return []


def endpoints() -> list[Endpoint]:
    """Every leaf pattern of the root URLconf, depth first, in resolution order."""
    found: list[Endpoint] = []

    def walk(patterns: list[Any], chain: tuple[Any, ...], namespaces: tuple[str, ...]) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, (*chain, pattern.pattern),
                     (*namespaces, pattern.namespace) if pattern.namespace else namespaces)
            elif isinstance(pattern, URLPattern):
                full = (*chain, pattern.pattern)
                params: list[str] = []
                for part in full:
                    params += _params(part, sum(p.startswith("pos") for p in params))
                name = ":".join((*namespaces, pattern.name)) if pattern.name else ""
                found.append(Endpoint(route="".join(str(p) for p in full),
                                      name=name, callback=pattern.callback, chain=full, params=tuple(params)))

    walk(get_resolver().url_patterns, (), ())
    return found
