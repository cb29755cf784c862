"""“Connect with Visma”: the Visma Connect login that gives a connection access to Dinero.

Dinero's public integrations log in through Visma Connect's authorization-code flow:

1. :func:`start` (a support consultant on the connection's page) remembers a random ``state`` and
   a PKCE verifier in the session and sends the browser to Visma's authorize URL, asking for
   ``dineropublicapi:read dineropublicapi:write offline_access`` (the last gives a refresh token,
   so the customer logs in once instead of every hour).
2. Visma POSTs the answer (``response_mode=form_post``) to :func:`callback`, which checks the
   state, exchanges the code for tokens and stores them encrypted on the connection.

Visma's POST comes from another site, and browsers do not send a ``SameSite=Lax`` session cookie
with it. When the cookie is missing the callback answers a tiny page that re-posts the same fields
to itself from this site — that request carries the cookie, so the state can be checked against
the session that started the login.

Every failure (a refusal at Visma, an expired or foreign state, a rejected code) ends on the
connection's page as an error message, never as a server error.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from accounts.models import Connection
from accounts.tenancy import get_connection_for
from integration.core.clients import dinero_auth
from integration.core.clients.errors import ApiError
from integration.core.clients.transport import Transport

PERMISSION = "accounts.change_credentials"
SESSION_KEY = "visma_connect_pending"
# A login not finished within this time must be started again.
PENDING_SECONDS = 15 * 60
MAX_PENDING = 5
ANSWER_FIELDS = ("code", "state", "error", "error_description", "scope", "session_state")


def redirect_uri() -> str:
    """The callback URL registered with Visma for this installation."""
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("visma-connect-callback")


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_url(state: str, verifier: str) -> str:
    query = {
        "client_id": settings.VISMA_CONNECT_CLIENT_ID,
        "response_type": "code",
        "response_mode": "form_post",
        "scope": dinero_auth.VISMA_SCOPES,
        "redirect_uri": redirect_uri(),
        "state": state,
        "code_challenge": pkce_challenge(verifier),
        "code_challenge_method": "S256",
    }
    return f"{settings.VISMA_CONNECT_AUTHORIZE_URL}?{urlencode(query)}"


def change_page(connection: Connection) -> str:
    return reverse("admin:accounts_connection_change", args=[connection.pk])


def _require_credentials_permission(request: HttpRequest) -> None:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied(_("You may not change the credentials of a connection."))


def _pending(request: HttpRequest) -> dict[str, dict[str, Any]]:
    now = time.time()
    pending = request.session.get(SESSION_KEY) or {}
    return {s: e for s, e in pending.items() if now - float(e.get("started", 0)) < PENDING_SECONDS}


@never_cache
@require_GET
@staff_member_required
def start(request: HttpRequest, connection_id: int) -> HttpResponse:
    """Sends the browser to Visma Connect to log in for the connection's Dinero organization."""
    connection = get_connection_for(request.user, connection_id)
    _require_credentials_permission(request)
    if not settings.VISMA_CONNECT_CLIENT_ID or not settings.VISMA_CONNECT_CLIENT_SECRET:
        messages.error(request, _("Visma Connect is not configured on this installation "
                                  "(VISMA_CONNECT_CLIENT_ID / VISMA_CONNECT_CLIENT_SECRET)."))
        return HttpResponseRedirect(change_page(connection))
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    next_url = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        next_url = ""
    pending = _pending(request)
    # Keep only the newest few unfinished logins per session.
    for old in sorted(pending, key=lambda s: pending[s]["started"])[: max(0, len(pending) - MAX_PENDING + 1)]:
        pending.pop(old)
    pending[state] = {"connection": connection.pk, "verifier": verifier, "started": time.time(), "next": next_url}
    request.session[SESSION_KEY] = pending
    return HttpResponseRedirect(authorize_url(state, verifier))


@never_cache
@csrf_exempt  # Visma Connect posts the answer from its own site (form_post).
@require_http_methods(["GET", "POST"])
def callback(request: HttpRequest) -> HttpResponse:
    """Receives Visma's answer, exchanges the code and stores the tokens on the connection."""
    answer = {k: (request.POST if request.method == "POST" else request.GET).get(k, "") for k in ANSWER_FIELDS}
    relayed = (request.POST if request.method == "POST" else request.GET).get("relayed") == "1"
    if request.method == "POST" and settings.SESSION_COOKIE_NAME not in request.COOKIES and not relayed:
        return render(request, "accounts/visma_connect_relay.html",
                      {"fields": {k: v for k, v in answer.items() if v}, "action": request.path})
    if not request.user.is_authenticated or not request.user.is_staff:
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))

    pending = _pending(request)
    entry = pending.pop(answer["state"], None) if answer["state"] else None
    request.session[SESSION_KEY] = pending
    if entry is None:
        messages.error(request, _("The answer from Visma Connect does not belong to a login started in this "
                                  "browser, or the login took too long. Press “Connect with Visma” again."))
        return HttpResponseRedirect(reverse("admin:index"))

    connection = get_connection_for(request.user, entry["connection"])
    _require_credentials_permission(request)
    back = entry.get("next") or change_page(connection)

    if answer["error"] == "access_denied":
        explained = _("The Visma Connect login was cancelled, or access to Dinero was not allowed, so nothing was "
                      "changed. To connect, press “Connect with Visma” again, log in and choose “Allow” for the "
                      "Dinero company.")
        if answer["error_description"]:
            explained += " " + _("Visma Connect said: %(reason)s") % {"reason": answer["error_description"]}
        messages.error(request, explained)
        return HttpResponseRedirect(back)
    if answer["error"]:
        messages.error(request, _("Visma Connect refused the login: %(reason)s")
                       % {"reason": answer["error_description"] or answer["error"]})
        return HttpResponseRedirect(back)
    if not answer["code"]:
        messages.error(request, _("Visma Connect answered without an authorization code. Try again."))
        return HttpResponseRedirect(back)

    transport = Transport("dinero", timeout=settings.HTTP_TIMEOUT_SECONDS,
                          secrets=[settings.VISMA_CONNECT_CLIENT_SECRET, answer["code"]])
    try:
        tokens = dinero_auth.exchange_code(
            transport, code=answer["code"], redirect_uri=redirect_uri(), code_verifier=entry["verifier"]
        )
    except ApiError as exc:
        messages.error(request, _("The Visma Connect login could not be completed: %(error)s")
                       % {"error": exc.message})
        return HttpResponseRedirect(back)
    if not tokens.refresh_token:
        messages.error(request, _("Visma Connect gave no refresh token (offline access). Check that the "
                                  "application may request offline_access, then try again."))
        return HttpResponseRedirect(back)

    connection.dinero_auth_method = Connection.DineroAuth.VISMA_CONNECT
    connection.save(update_fields=["dinero_auth_method", "updated_at"])
    dinero_auth.store_visma_tokens(connection, tokens)
    messages.success(request, _("Dinero is now connected through Visma Connect."))
    return HttpResponseRedirect(back)
