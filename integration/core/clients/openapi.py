"""Dinero's official OpenAPI document as a contract: find operations, validate request bodies.

Used in two places, so the client and the emulator can never disagree about the contract:
the contract tests (every request the Dinero client builds must validate) and the Dinero
emulator in the sandbox (which answers 400 in Dinero's error shape on a violation).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).with_name("dinero-openapi.json")
SPEC_URI = "urn:dinero-openapi"


@dataclass(frozen=True)
class Operation:
    method: str
    template: str  # e.g. /v1/{organizationId}/invoices/{guid}
    path_params: dict[str, str]
    spec: dict[str, Any]

    @property
    def body_schema_ref(self) -> str | None:
        content = (self.spec.get("requestBody") or {}).get("content") or {}
        for media in ("application/json", "text/json", "application/*+json"):
            if media in content:
                return content[media].get("schema", {}).get("$ref")
        return None

    @property
    def body_required(self) -> bool:
        return bool((self.spec.get("requestBody") or {}).get("required"))

    @property
    def deprecated(self) -> bool:
        return bool(self.spec.get("deprecated"))


@lru_cache(maxsize=1)
def spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text())


@lru_cache(maxsize=1)
def _routes() -> list[tuple[re.Pattern[str], str, list[str]]]:
    routes = []
    for template, item in spec()["paths"].items():
        if not item:  # undocumented internal routes are not part of the public contract
            continue
        names = re.findall(r"{([^}]+)}", template)
        pattern = "^" + re.sub(r"\\{[^}]+\\}", "([^/]+)", re.escape(template)) + "/?$"
        routes.append((re.compile(pattern, re.IGNORECASE), template, names))
    # Literal segments beat placeholders: /invoices/fetch must not match /invoices/{guid}.
    routes.sort(key=lambda r: (r[1].count("{"), -len(r[1])))
    return routes


def find_operation(method: str, path: str) -> Operation | None:
    """The documented operation for ``method`` and a concrete ``path`` (no host, no query)."""
    method = method.lower()
    for pattern, template, names in _routes():
        match = pattern.match(path)
        if match and method in spec()["paths"][template]:
            return Operation(method.upper(), template, dict(zip(names, match.groups(), strict=True)),
                             spec()["paths"][template][method])
    return None


@lru_cache(maxsize=1)
def _registry() -> Registry:
    return Registry().with_resource(SPEC_URI, Resource.from_contents(spec(), default_specification=DRAFT202012))


@lru_cache(maxsize=256)
def _validator(ref: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": SPEC_URI + ref}, registry=_registry(), format_checker=FormatChecker())


def schema_errors(ref: str, body: Any) -> list[str]:
    """Human-readable violations of the schema at ``ref`` (e.g. ``#/components/schemas/X``)."""
    errors = []
    for error in sorted(_validator(ref).iter_errors(body), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(p) for p in error.absolute_path) or "(body)"
        errors.append(f"{where}: {error.message}")
    return errors


def validate_request(method: str, path: str, body: Any = None) -> list[str]:
    """All contract violations of one request; an empty list means it conforms.

    Checks that the (method, path) is a documented operation in that exact version, that it is
    not deprecated, and that the JSON body matches the request schema.
    """
    operation = find_operation(method, path)
    if operation is None:
        return [f"{method.upper()} {path} is not an operation in Dinero's OpenAPI document"]
    problems = []
    if operation.deprecated:
        problems.append(f"{method.upper()} {operation.template} is deprecated")
    ref = operation.body_schema_ref
    if ref is None:
        return problems
    if body is None:
        if operation.body_required:
            problems.append("(body): a request body is required")
        return problems
    return problems + schema_errors(ref, body)
