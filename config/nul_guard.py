"""Turns away URLs carrying a NUL character before any view or query sees them.

PostgreSQL cannot store or compare text containing NUL (0x00): a lookup with one raises a
database error (a 500) instead of finding nothing — in our pages and in third-party admins alike
(django-q2's task ids are text). No id, search or filter of this service can contain NUL, so the
path answers 404 and a query string 400, for every URL at once. Form fields are covered by
Django's own ``ProhibitNullCharactersValidator``; request bodies are left to their views (the
webhook receiver reads its raw body itself).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest


class RejectNulCharacters:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path:
            raise Http404("No such page.")
        if any("\x00" in key or any("\x00" in v for v in values) for key, values in request.GET.lists()):
            return HttpResponseBadRequest("A NUL character is not allowed in a query.", content_type="text/plain")
        return self.get_response(request)
