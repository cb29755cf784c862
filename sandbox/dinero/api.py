"""The emulated Dinero API: one view in front of every ``/v…`` path.

Order of checks, as a client meets them at Dinero: bearer token (401), access to the
organization (403 code 41), the per-organization rate limit (429, plain text), injected faults,
Dinero Pro (403 code 90), the operation in the OpenAPI document (404 code 40, 480 for a
deprecated one), the request body against its schema (400 code 42 with ``validationErrors``),
then the operation itself. Writes run in a transaction; the "500 after the write" fault is
decided only once that transaction has committed.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from integration.core.clients import openapi
from sandbox.dinero import gate
from sandbox.dinero.documents import BusinessError
from sandbox.dinero.endpoints import ROUTES, Call, Missing
from sandbox.dinero.models import Organization

ORG_PATH = re.compile(r"^/v[0-9.]+/(\d+)(/.*)?$")
WRITE_METHODS = {"POST", "PUT", "DELETE", "PATCH"}


def error(status: int, code: int, message: str, validation_errors: dict[str, str] | None = None) -> JsonResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if validation_errors is not None:
        body["validationErrors"] = validation_errors
    body["languageSpecificMessages"] = []
    return JsonResponse(body, status=status)


def unauthorized() -> JsonResponse:
    return JsonResponse({"message": "Authorization has been denied for this request."}, status=401)


def too_many_requests(org: Organization, retry_after: int) -> HttpResponse:
    response = HttpResponse(gate.quota_message(org), status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(retry_after)
    return response


def server_error() -> JsonResponse:
    return JsonResponse({"code": 50, "message": "An error has occurred."}, status=500)


def validation_errors(problems: list[str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for problem in problems:
        where, _, message = problem.partition(": ")
        errors[where] = f"{errors[where]}; {message}" if where in errors else message
    return errors


def _read_body(request: HttpRequest) -> Any:
    if request.content_type.startswith("multipart/") or not request.body:
        return None
    return json.loads(request.body)


@csrf_exempt
def dispatch(request: HttpRequest, path: str) -> HttpResponse:
    path = "/" + path.rstrip("/")
    method = request.method or "GET"
    token = gate.bearer(request)
    if token is None:
        return unauthorized()

    org = None
    match = ORG_PATH.match(path)
    if match:
        org = Organization.objects.filter(organization_id=int(match.group(1))).first()
        if org is None or not token.allows(org):
            return error(403, 41, f"You do not have access to organization {match.group(1)}.")
        within, retry_after = gate.count_request(org)
        if not within:
            return too_many_requests(org, retry_after)
        gate.add_latency(org)
        faults = gate.decide_faults(org)
        if faults.timeout:
            gate.stall()
        if faults.too_many:
            return too_many_requests(org, org.fault_retry_after_seconds)
        if faults.server_error:
            return server_error()
        if not org.is_pro:
            return error(403, 90, "The organization does not have an active Dinero Pro subscription, which the "
                                  "API requires.")

    operation = openapi.find_operation(method, path)
    if operation is None:
        return error(404, 40, f"{method} {path} was not found.")
    if operation.deprecated:
        return error(480, 480, f"{method} {operation.template} is deprecated and is being removed.")
    handler = ROUTES.get((operation.method, operation.template))
    if handler is None:
        return error(404, 40, f"The sandbox does not emulate {method} {operation.template}.")

    try:
        body = _read_body(request)
    except ValueError:
        return error(400, 42, "Validation error", {"(body)": "The request body is not valid JSON."})
    problems = [p for p in openapi.validate_request(method, path, body) if "is deprecated" not in p]
    if problems:
        return error(400, 42, "Validation error", validation_errors(problems))

    call = Call(request=request, token=token, org=org, params=operation.path_params,
                body=body if body is not None else {}, query={k: request.GET.get(k) for k in request.GET})
    try:
        with transaction.atomic():
            answer = handler(call)
    except BusinessError as exc:
        return error(400, exc.code, exc.message, {exc.field: exc.message} if exc.field else {})
    except Missing as exc:
        return error(404, 40, str(exc))

    # The ``…/fetch`` dry runs compute without saving: there is no write whose answer could be lost.
    writes = method in WRITE_METHODS and not operation.template.endswith("/fetch")
    if org is not None and writes and gate.fails_after_write(org):
        return server_error()
    if org is not None and writes and gate.times_out_after_write(org):
        # Committed above; the client gives up before this answer is sent.
        gate.stall()
    if isinstance(answer, HttpResponse):
        return answer
    status, payload = answer
    if payload is None:
        return HttpResponse(status=status)
    return JsonResponse(payload, status=status, safe=False)
