"""The emulated Rackbeat REST API under ``/sandbox/rackbeat/api/``.

Quirks kept on purpose, because the client must cope with them: lists answer 206 with the rows
under a plural key plus ``total``/``pages``/``limit``/``page``; single objects are wrapped in a
singular key; creates answer 201; validation errors answer 422 with dotted field paths; product
and BOM numbers arrive double URL-encoded (or as ``urlfriendly_number``) in paths.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time
from functools import wraps
from typing import Any
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo

from django.db import models, transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from sandbox.rackbeat import access, documents, invoicing, writes
from sandbox.rackbeat import models as m
from sandbox.rackbeat.pdf import invoice_pdf
from sandbox.rackbeat.writes import ValidationFailed

COPENHAGEN = ZoneInfo("Europe/Copenhagen")
DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
TRUE_VALUES = ("1", "true", "yes", "on")
EVENT_NAME = re.compile(r"^[a-z_]+\.[a-z_]+$")


class NotFound(Exception):
    pass


class BadRequest(Exception):
    pass


@dataclass
class Call:
    request: HttpRequest
    account: m.Account
    body: dict[str, Any]

    @property
    def notify(self) -> bool:
        """False when the caller asked for ``suppress_webhooks`` (query string or body)."""
        if self.request.GET.get("suppress_webhooks", "").lower() in TRUE_VALUES:
            return False
        flag = self.body.get("suppress_webhooks")
        return not (flag is True or str(flag).lower() in TRUE_VALUES)


def error(status: int, message: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"message": message, "code": status, **extra}, status=status)


def wrapped(key: str, obj: dict[str, Any], status: int = 200) -> JsonResponse:
    return JsonResponse({key: obj}, status=status, json_dumps_params={"ensure_ascii": False})


def endpoint(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Authentication, rate limit, fault injection and Rackbeat's error shapes for one API view."""

    @csrf_exempt
    @wraps(view)
    def handle(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        account = access.account_for(request)
        if account is None:
            return error(401, "Unauthenticated.")
        budget = access.count_request(account)
        if budget.exceeded:
            response = error(429, "Too Many Attempts.")
            response["Retry-After"] = str(budget.retry_after)
            response["X-RateLimit-Limit"] = str(budget.limit)
            response["X-RateLimit-Remaining"] = "0"
            return response
        injected = access.injected_status(account, read=request.method == "GET")
        if injected == 429:
            return error(429, "Too Many Attempts.")
        if injected == 500:
            return error(500, "Server Error")
        try:
            body = _body(request)
            response = view(Call(request, account, body), *args, **kwargs)
        except BadRequest as exc:
            response = error(400, str(exc))
        except NotFound as exc:
            response = error(404, str(exc) or "Not found.")
        except ValidationFailed as exc:
            response = JsonResponse({"message": "The given data was invalid.", "errors": exc.errors}, status=422)
        is_write = request.method in ("POST", "PUT", "PATCH", "DELETE")
        if is_write and response.status_code < 300 and access.fails_after_write(account):
            return error(500, "Server Error")
        response["X-RateLimit-Limit"] = str(budget.limit)
        response["X-RateLimit-Remaining"] = str(budget.remaining)
        return response

    return handle


def _body(request: HttpRequest) -> dict[str, Any]:
    if request.method not in ("POST", "PUT", "PATCH") or not request.body.strip():
        return {}
    if "json" not in request.content_type:
        # Laravel reads form-encoded bodies just as well (e.g. a bare POST …/book).
        return request.POST.dict() if request.method == "POST" else {}
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("The request body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    return body


# --- resources ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Resource:
    path: str
    singular: str
    model: type[models.Model]
    render: Callable[[Any], dict[str, Any]]
    save: Callable[..., Any] | None = None
    search: tuple[str, ...] = ("name",)
    item_type: str = ""
    invoice: bool = False

    @property
    def plural(self) -> str:
        return self.path.replace("-", "_")

    def queryset(self, account: m.Account) -> QuerySet:
        qs = self.model.objects.filter(account=account)
        if self.item_type:
            qs = qs.filter(type=self.item_type)
        if self.model is m.Item:
            qs = qs.select_related("group", "unit").prefetch_related("lot_lines__product")
        elif self.model in (m.Customer, m.Supplier):
            qs = qs.select_related("group", "payment_terms", *(["layout"] if self.model is m.Customer else []))
        elif self.invoice:
            partner = "supplier" if self.model is m.SupplierInvoice else "customer"
            qs = qs.select_related("account", partner, f"{partner}__group", f"{partner}__payment_terms",
                                   "payment_terms")
        return qs

    def find(self, account: m.Account, key: str) -> Any:
        qs = self.queryset(account)
        if self.model is m.Item:
            # Django has decoded the path once: a double-encoded number now reads single-encoded.
            obj = (qs.filter(number=unquote(key)).first() or qs.filter(number=key).first()
                   or qs.filter(urlfriendly_number__in=[key, quote(key, safe="")]).first())
        elif self.model is m.Webhook:
            obj = qs.filter(pk=key).first() if key.isdigit() else None
        else:
            obj = qs.filter(number=int(key)).first() if key.isdigit() else None
        if obj is None:
            raise NotFound(f"No {self.singular.replace('_', ' ')} with the key {key!r} was found.")
        return obj


def _simple(model: type[models.Model]) -> Callable[..., Any]:
    return lambda account, body, instance=None, notify=True: writes.save_simple(model, account, body, instance)


def _items(item_type: str) -> Callable[..., Any]:
    return lambda account, body, instance=None, notify=True: writes.save_item(
        account, body, instance, item_type=item_type, notify=notify)


def _invoices(purchase: bool) -> Callable[..., Any]:
    return lambda account, body, instance=None, notify=True: (
        invoicing.save_invoice(account, body, instance, purchase=purchase, notify=notify), [])


RESOURCES: dict[str, Resource] = {r.path: r for r in (
    Resource("customers", "customer", m.Customer, documents.customer, writes.save_customer,
             search=("name", "contact_email", "company_vat")),
    Resource("suppliers", "supplier", m.Supplier, documents.supplier, writes.save_supplier,
             search=("name", "contact_email", "company_vat")),
    Resource("customer-groups", "customer_group", m.CustomerGroup,
             lambda g: documents.simple_group(g, "customer-groups"), _simple(m.CustomerGroup)),
    Resource("supplier-groups", "supplier_group", m.SupplierGroup,
             lambda g: documents.simple_group(g, "supplier-groups"), _simple(m.SupplierGroup)),
    Resource("product-groups", "product_group", m.ProductGroup, documents.product_group, _simple(m.ProductGroup)),
    Resource("units", "unit", m.Unit, documents.unit, _simple(m.Unit)),
    Resource("layouts", "layout", m.Layout, documents.layout, _simple(m.Layout)),
    Resource("payment-terms", "payment_term", m.PaymentTerm, documents.payment_term, _simple(m.PaymentTerm)),
    Resource("products", "product", m.Item, documents.item, _items(m.Item.Type.PRODUCT),
             search=("number", "name", "barcode"), item_type=m.Item.Type.PRODUCT),
    Resource("lots", "lot", m.Item, documents.item, _items(m.Item.Type.LOT),
             search=("number", "name", "barcode"), item_type=m.Item.Type.LOT),
    Resource("items", "item", m.Item, documents.item, search=("number", "name", "barcode")),
    Resource("customer-invoices", "customer_invoice", m.CustomerInvoice, documents.customer_invoice,
             _invoices(purchase=False), search=("heading", "customer__name"), invoice=True),
    Resource("supplier-invoices", "supplier_invoice", m.SupplierInvoice, documents.supplier_invoice,
             _invoices(purchase=True), search=("supplier_invoice_number", "supplier__name"), invoice=True),
)}


# --- filters and paging --------------------------------------------------------------------------------

def _moment(name: str, value: str) -> datetime:
    """Rackbeat's filters take local (Copenhagen) ``YYYY-MM-DD HH:MM:SS``; ISO with offset is accepted too."""
    text = value.strip().replace("T", " ")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationFailed({name: [f"The {name.replace('_', ' ')} does not match the format Y-m-d H:i:s."]}) from None
    if moment.tzinfo is None:
        if len(text) <= 10:
            moment = datetime.combine(moment.date(), time.min)
        moment = moment.replace(tzinfo=COPENHAGEN)
    return moment


def _filtered(resource: Resource, call: Call) -> QuerySet:
    params = call.request.GET
    qs = resource.queryset(call.account)
    if value := params.get("updated_at_from"):
        qs = qs.filter(updated_at__gte=_moment("updated_at_from", value))
    if value := params.get("updated_at_to"):
        qs = qs.filter(updated_at__lte=_moment("updated_at_to", value))
    if "is_booked" in params and call.account.refuse_is_booked_filter:
        # As live Rackbeat answered a filter it does not offer (seen on /orders in 2026).
        raise ValidationFailed({"is_booked": ["Property 'is_booked' is not filterable"]})
    flags = {"is_booked": "is_booked", "is_barred": "is_barred", "is_credit_note": "is_credit_note",
             "is_creditnote": "is_credit_note", "is_active": "is_active"}
    for param, flag in flags.items():
        if param in params and any(f.name == flag for f in resource.model._meta.get_fields()):
            qs = qs.filter(**{flag: params[param].lower() in TRUE_VALUES})
    if (value := params.get("search", "").strip()) and resource.search:
        condition = Q()
        for name in resource.search:
            condition |= Q(**{f"{name}__icontains": value})
        if value.isdigit() and resource.model is not m.Item:
            condition |= Q(number=int(value))
        qs = qs.filter(condition)
    if resource.invoice:
        # Rackbeat's temporal filters (OFFICIAL P3); only the calendar date of the invoice counts.
        if value := params.get("invoice_date_from"):
            qs = qs.filter(invoice_date__gte=_moment("invoice_date_from", value).date())
        if value := params.get("invoice_date_to"):
            qs = qs.filter(invoice_date__lte=_moment("invoice_date_to", value).date())
        partner = "supplier" if resource.model is m.SupplierInvoice else "customer"
        if (value := params.get(f"{partner}_number", params.get(f"{partner}_id", ""))).isdigit():
            qs = qs.filter(**{f"{partner}__number": int(value)})
    if (value := params.get("event")) and resource.model is m.Webhook:
        qs = qs.filter(event=value)
    order = params.get("order_by", "number" if resource.model is not m.Webhook else "id")
    if order not in ("number", "id", "updated_at", "created_at", "name"):
        order = "id"
    if params.get("order_direction", "ASC").upper() == "DESC":
        order = f"-{order}"
    return qs.order_by(order, "pk")


def _page(call: Call, qs: QuerySet, key: str, render: Callable[[Any], dict[str, Any]]) -> JsonResponse:
    params = call.request.GET
    try:
        limit = min(MAX_LIMIT, max(1, int(params.get("limit", DEFAULT_LIMIT))))
        page = max(1, int(params.get("page", 1)))
    except ValueError:
        raise ValidationFailed({"limit": ["The limit and page must be integers."]}) from None
    total = qs.count()
    rows = list(qs[(page - 1) * limit: page * limit])
    return JsonResponse(
        {key: [render(row) for row in rows], "total": total, "pages": max(1, math.ceil(total / limit)),
         "limit": limit, "page": page},
        status=206, json_dumps_params={"ensure_ascii": False},
    )


# --- views ---------------------------------------------------------------------------------------------

@endpoint
def self_view(call: Call) -> HttpResponse:
    if call.request.method != "GET":
        return error(405, "Method not allowed.")
    return JsonResponse(documents.self_info(call.account), json_dumps_params={"ensure_ascii": False})


@endpoint
def collection(call: Call, resource: str) -> HttpResponse:
    res = RESOURCES[resource]
    if call.request.method == "GET":
        return _page(call, _filtered(res, call), res.plural, res.render)
    if call.request.method == "POST" and res.save is not None:
        return _create(call, res)
    return error(405, "Method not allowed.")


def _create(call: Call, res: Resource) -> HttpResponse:
    with transaction.atomic():
        obj, _ = res.save(call.account, call.body, None, notify=call.notify)
    obj = res.queryset(call.account).get(pk=obj.pk)
    return wrapped(res.singular, res.render(obj), status=201)


@endpoint
def drafts(call: Call, resource: str) -> HttpResponse:
    if call.request.method != "POST":
        return error(405, "Method not allowed.")
    return _create(call, RESOURCES[resource])


@endpoint
def detail(call: Call, resource: str, key: str) -> HttpResponse:
    res = RESOURCES[resource]
    obj = res.find(call.account, key)
    if call.request.method == "GET":
        return wrapped(res.singular, res.render(obj))
    if call.request.method == "PUT" and res.save is not None:
        with transaction.atomic():
            obj, _ = res.save(call.account, call.body, obj, notify=call.notify)
        return wrapped(res.singular, res.render(res.queryset(call.account).get(pk=obj.pk)))
    return error(405, "Method not allowed.")


@endpoint
def product_units(call: Call, key: str) -> HttpResponse:
    if call.request.method != "GET":
        return error(405, "Method not allowed.")
    item = RESOURCES["products"].find(call.account, key)
    return JsonResponse(documents.product_units(item), status=206, json_dumps_params={"ensure_ascii": False})


@endpoint
def book(call: Call, resource: str, number: int) -> HttpResponse:
    if call.request.method != "POST":
        return error(405, "Method not allowed.")
    res = RESOURCES[resource]
    invoice = res.find(call.account, str(number))
    with transaction.atomic():
        invoicing.book_invoice(invoice, notify=call.notify)
    return wrapped(res.singular, res.render(res.queryset(call.account).get(pk=invoice.pk)))


@endpoint
def pdf(call: Call, resource: str, number: int) -> HttpResponse:
    invoice = RESOURCES[resource].find(call.account, str(number))
    response = HttpResponse(invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{number}.pdf"'
    return response


# --- webhooks -----------------------------------------------------------------------------------------

def _webhook_values(call: Call, instance: m.Webhook | None) -> dict[str, Any]:
    reader = writes.Reader(call.body)
    values: dict[str, Any] = {}
    event = reader.text("event", required=instance is None, max_length=100)
    if event:
        if not EVENT_NAME.match(event):
            reader.fail("event", "The selected event is invalid.")
        values["event"] = event
    url = reader.text("url", required=instance is None, max_length=500)
    if url:
        if not re.match(r"^https?://[^\s/]+", url):
            reader.fail("url", "The url format is invalid.")
        values["url"] = url
    active = reader.boolean("is_active")
    if active is not None:
        values["is_active"] = active
    reader.check()
    return values


@endpoint
def webhooks_collection(call: Call) -> HttpResponse:
    if call.request.method == "GET":
        res = Resource("webhooks", "webhook", m.Webhook, documents.webhook)
        return _page(call, _filtered(res, call), "webhooks", documents.webhook)
    if call.request.method != "POST":
        return error(405, "Method not allowed.")
    values = _webhook_values(call, None)
    if call.account.refuses_event(values["event"]):
        raise ValidationFailed({"event": ["The selected event is invalid."]})
    # The same event and URL again updates the existing registration instead of adding a second one.
    hook, _ = m.Webhook.objects.update_or_create(
        account=call.account, event=values["event"], url=values["url"],
        defaults={"is_active": values.get("is_active", True)},
    )
    return wrapped("webhook", documents.webhook(hook, with_token=True), status=201)


@endpoint
def webhook_detail(call: Call, key: int) -> HttpResponse:
    hook = m.Webhook.objects.filter(account=call.account, pk=key).first()
    if hook is None:
        raise NotFound(f"No webhook with the id {key} was found.")
    if call.request.method == "GET":
        return wrapped("webhook", documents.webhook(hook))
    if call.request.method == "PUT":
        for name, value in _webhook_values(call, hook).items():
            setattr(hook, name, value)
        hook.save()
        return wrapped("webhook", documents.webhook(hook))
    if call.request.method == "DELETE":
        data = documents.webhook(hook)
        hook.delete()
        return wrapped("webhook", data)
    return error(405, "Method not allowed.")
