"""Per-connection admin pages (setup wizard, matrices, dashboard, troubleshooting, …).

Each feature registers its pages here; the Connection admin mounts them under
``/admin/accounts/connection/<id>/<slug>/`` with ``admin_site.admin_view`` (login, staff),
the tenant check (a connection the user may not see is a 404) and the page's permission
(403 without it), and lists them on the connection's page.

A view has the signature ``view(request, connection, **kwargs) -> HttpResponse``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse

View = Callable[..., HttpResponse]


@dataclass(frozen=True)
class ConnectionPage:
    slug: str            # URL segment and part of the URL name: admin:connection-<slug>
    title: str
    view: View
    permission: str = "accounts.view_connection"
    route: str = ""      # extra path after the slug, e.g. "<str:matrix>/"
    order: int = 100
    in_menu: bool = True
    group: str = "Setup"

    @property
    def url_name(self) -> str:
        return f"connection-{self.slug}"


_PAGES: dict[str, ConnectionPage] = {}


def register_page(page: ConnectionPage) -> ConnectionPage:
    _PAGES[page.slug] = page
    return page


def connection_page(slug: str, title: str, **options) -> Callable[[View], View]:
    """Decorator form of :func:`register_page`."""

    def decorator(view: View) -> View:
        register_page(ConnectionPage(slug=slug, title=title, view=view, **options))
        return view

    return decorator


def pages() -> list[ConnectionPage]:
    return sorted(_PAGES.values(), key=lambda p: (p.order, p.title))


def menu_for(request: HttpRequest) -> list[ConnectionPage]:
    return [p for p in pages() if p.in_menu and request.user.has_perm(p.permission)]
