"""The two ways to log in to the emulated Dinero.

* ``POST /sandbox/dinero/oauth/token`` — Dinero's classic API-key flow (authz.dinero.dk): Basic
  client credentials, ``grant_type=password`` with the organization's API key as user name and
  password; a token for that one organization, no refresh token.
* ``/sandbox/visma/connect/authorize`` and ``/sandbox/visma/connect/token`` — Visma Connect's
  authorization-code flow with PKCE and ``response_mode=form_post``. The "user" allows access to
  one or more sandbox organizations; refresh tokens rotate (a used one is refused).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from sandbox.dinero import gate
from sandbox.dinero.models import (
    Organization,
    VismaAuthorizationCode,
    VismaConsent,
    VismaRefreshToken,
)

CODE_LIFETIME = timedelta(minutes=5)


def oauth_error(error: str, status: int = 400, description: str = "") -> JsonResponse:
    body = {"error": error}
    if description:
        body["error_description"] = description
    return JsonResponse(body, status=status)


def basic_credentials(request: HttpRequest) -> tuple[str, str]:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return "", ""
    try:
        decoded = base64.b64decode(header[6:].strip()).decode()
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    client_id, _, secret = decoded.partition(":")
    return client_id, secret


def _client_ok(client_id: str, secret: str, expected_id: str, expected_secret: str) -> bool:
    if not client_id or not secret:
        return False
    return (not expected_id or client_id == expected_id) and (not expected_secret or secret == expected_secret)


def token_response(access: str, *, refresh: str | None, scope: str = "") -> JsonResponse:
    body: dict[str, Any] = {"access_token": access, "token_type": "Bearer",
                            "expires_in": int(gate.TOKEN_LIFETIME.total_seconds()), "refresh_token": refresh}
    if scope:
        body["scope"] = scope
    response = JsonResponse(body)
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt
def api_key_token(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return oauth_error("invalid_request", 405)
    client_id, secret = basic_credentials(request)
    if not _client_ok(client_id, secret, settings.DINERO_CLIENT_ID, settings.DINERO_CLIENT_SECRET):
        return oauth_error("invalid_client", 401)
    if request.POST.get("grant_type") != "password":
        return oauth_error("unsupported_grant_type")
    username, password = request.POST.get("username", ""), request.POST.get("password", "")
    org = Organization.objects.filter(api_key=username).first() if username and username == password else None
    if org is None:
        return oauth_error("invalid_grant")
    return token_response(gate.issue_access_token(organization=org).token, refresh=None)


# --- Visma Connect ---------------------------------------------------------------------------------------

def _authorize_problem(params: Any) -> str:
    if not params.get("client_id"):
        return _("client_id is missing.")
    if settings.VISMA_CONNECT_CLIENT_ID and params.get("client_id") != settings.VISMA_CONNECT_CLIENT_ID:
        return _("Unknown client_id %(client)s.") % {"client": params.get("client_id")}
    if not params.get("redirect_uri"):
        return _("redirect_uri is missing.")
    if params.get("response_type", "code") != "code":
        return _("Only response_type=code is supported.")
    return ""


def _answer_client(request: HttpRequest, params: Any, values: dict[str, str]) -> HttpResponse:
    """Send the result to the client's redirect_uri the way it asked (form_post or query)."""
    if params.get("state"):
        values["state"] = params["state"]
    redirect_uri = params["redirect_uri"]
    if params.get("response_mode") == "form_post":
        return render(request, "sandbox_dinero/visma_form_post.html", {"action": redirect_uri, "values": values})
    separator = "&" if "?" in redirect_uri else "?"
    return HttpResponseRedirect(f"{redirect_uri}{separator}{urlencode(values)}")


def authorize(request: HttpRequest) -> HttpResponse:
    params = request.GET if request.method == "GET" else request.POST
    problem = _authorize_problem(params)
    organizations = Organization.objects.order_by("organization_id")
    # A request the client got wrong never shows the consent form, only the problem.
    context = {"params": params, "organizations": organizations, "problem": problem, "can_allow": not problem,
               "scopes": (params.get("scope") or "").split()}
    if problem:
        return render(request, "sandbox_dinero/visma_authorize.html", context, status=400)
    if request.method != "POST":
        return render(request, "sandbox_dinero/visma_authorize.html", context)
    if "deny" in request.POST:
        return _answer_client(request, params, {"error": "access_denied"})
    chosen = organizations.filter(pk__in=request.POST.getlist("organization"))
    if not chosen.exists():
        context["problem"] = _("Choose at least one organization.")
        return render(request, "sandbox_dinero/visma_authorize.html", context, status=400)
    with transaction.atomic():
        consent = VismaConsent.objects.create(client_id=params["client_id"], scope=params.get("scope", ""))
        consent.organizations.set(chosen)
        code = VismaAuthorizationCode.objects.create(
            consent=consent, code=secrets.token_urlsafe(32), redirect_uri=params["redirect_uri"],
            code_challenge=params.get("code_challenge", ""),
            code_challenge_method=params.get("code_challenge_method", "plain" if params.get("code_challenge") else ""),
            expires_at=timezone.now() + CODE_LIFETIME)
    return _answer_client(request, params, {"code": code.code, "scope": consent.scope})


def _pkce_ok(code: VismaAuthorizationCode, verifier: str) -> bool:
    if not code.code_challenge:
        return True
    if not verifier:
        return False
    if code.code_challenge_method == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == code.code_challenge
    return secrets.compare_digest(verifier, code.code_challenge)


def _issue(consent: VismaConsent) -> JsonResponse:
    refresh = VismaRefreshToken.objects.create(consent=consent, token=secrets.token_urlsafe(32))
    access = gate.issue_access_token(consent=consent)
    return token_response(access.token, refresh=refresh.token, scope=consent.scope)


@csrf_exempt
def visma_token(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return oauth_error("invalid_request", 405)
    client_id, secret = basic_credentials(request)
    client_id = request.POST.get("client_id") or client_id
    secret = request.POST.get("client_secret") or secret
    if not _client_ok(client_id, secret, settings.VISMA_CONNECT_CLIENT_ID, settings.VISMA_CONNECT_CLIENT_SECRET):
        return oauth_error("invalid_client", 401)
    grant = request.POST.get("grant_type")
    now = timezone.now()
    with transaction.atomic():
        if grant == "authorization_code":
            code = VismaAuthorizationCode.objects.select_for_update().select_related("consent").filter(
                code=request.POST.get("code", "")).first()
            if code is None or code.used_at or code.expires_at <= now or code.consent.client_id != client_id:
                return oauth_error("invalid_grant", description="The code is unknown, used or expired.")
            if request.POST.get("redirect_uri") != code.redirect_uri:
                return oauth_error("invalid_grant", description="redirect_uri does not match the authorization.")
            if not _pkce_ok(code, request.POST.get("code_verifier", "")):
                return oauth_error("invalid_grant", description="The code_verifier does not match the challenge.")
            code.used_at = now
            code.save(update_fields=["used_at"])
            return _issue(code.consent)
        if grant == "refresh_token":
            # Conditional update: of two concurrent refreshes with one token, exactly one wins.
            refresh = VismaRefreshToken.objects.select_related("consent").filter(
                token=request.POST.get("refresh_token", "")).first()
            if refresh is None or refresh.consent.client_id != client_id or VismaRefreshToken.objects.filter(
                    pk=refresh.pk, used_at__isnull=True).update(used_at=now) != 1:
                return oauth_error("invalid_grant", description="The refresh token is unknown or was already used.")
            return _issue(refresh.consent)
    return oauth_error("unsupported_grant_type")
