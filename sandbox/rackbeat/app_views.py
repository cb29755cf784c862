"""A small web app standing in for Rackbeat's own UI, so a person can watch documents flow.

Staff only. Every change made here goes through the same writes as the API and therefore sends
the same webhooks (creating, editing and booking are never silent here). The detail pages sit
at the paths the integration links to (``customers/<n>/``, ``products/<urlfriendly>/``,
``customer-invoices/<n>/``, ``supplier-invoices/<n>/``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import quote, unquote

from django import forms
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from sandbox.rackbeat import invoicing, writes
from sandbox.rackbeat import models as m
from sandbox.rackbeat.writes import ValidationFailed

SESSION_KEY = "sandbox_rackbeat_account"
PAGE_SIZE = 50


def _account(request: HttpRequest) -> m.Account:
    wanted = request.GET.get("account") or request.session.get(SESSION_KEY)
    account = m.Account.objects.filter(account_id=wanted).first() if str(wanted or "").isdigit() else None
    account = account or m.Account.objects.order_by("account_id").first()
    if account is None:
        raise Http404(_("There is no sandbox Rackbeat account yet. Run “manage.py sandbox_seed”."))
    request.session[SESSION_KEY] = account.account_id
    return account


def _page(request: HttpRequest, template: str, account: m.Account, **context: Any) -> HttpResponse:
    context.update({"account": account, "accounts": m.Account.objects.all()})
    return render(request, f"sandbox_rackbeat/{template}", context)


def _link(url_name: str, *args: Any, text: Any) -> str:
    return format_html('<a href="{}">{}</a>', reverse(f"sandbox_rackbeat:{url_name}", args=args), text)


def _listing(request: HttpRequest, account: m.Account, *, title: str, columns: list[str], queryset,
             row, search: tuple[str, ...], actions: list[tuple[str, str]] = ()) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    if query:
        condition = Q()
        for name in search:
            condition |= Q(**{f"{name}__icontains": query})
        queryset = queryset.filter(condition)
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    return _page(request, "list.html", account, title=title, columns=columns, rows=[row(o) for o in page],
                 page=page, query=query, actions=actions)


def _yes_no(value: bool) -> str:
    return _("yes") if value else _("no")


# --- home and account choice ------------------------------------------------------------------------

@staff_member_required
def home(request: HttpRequest) -> HttpResponse:
    account = _account(request)
    counts = [
        (_("Customers"), m.Customer.objects.filter(account=account).count(), "customers"),
        (_("Suppliers"), m.Supplier.objects.filter(account=account).count(), "suppliers"),
        (_("Products and BOMs"), m.Item.objects.filter(account=account).count(), "products"),
        (_("Sales invoices"), m.CustomerInvoice.objects.filter(account=account).count(), "customer-invoices"),
        (_("Supplier invoices"), m.SupplierInvoice.objects.filter(account=account).count(), "supplier-invoices"),
        (_("Webhook deliveries"), m.WebhookDelivery.objects.filter(account=account).count(), "deliveries"),
    ]
    counts = [(label, count, reverse(f"sandbox_rackbeat:{url_name}")) for label, count, url_name in counts]
    hooks = m.Webhook.objects.filter(account=account)
    return _page(request, "home.html", account, counts=counts, hooks=hooks)


@staff_member_required
def choose_account(request: HttpRequest, account_id: int) -> HttpResponse:
    account = get_object_or_404(m.Account, account_id=account_id)
    request.session[SESSION_KEY] = account.account_id
    return redirect("sandbox_rackbeat:home")


# --- customers ----------------------------------------------------------------------------------------

@staff_member_required
def customers(request: HttpRequest) -> HttpResponse:
    account = _account(request)
    return _listing(
        request, account, title=_("Customers"),
        columns=[_("Number"), _("Name"), _("E-mail"), _("VAT zone"), _("Country"), _("Updated")],
        queryset=m.Customer.objects.filter(account=account),
        row=lambda c: [_link("customer", c.number, text=c.number), c.name, c.contact_email,
                       c.get_vat_zone_display(), c.address_country, timezone.localtime(c.updated_at)],
        search=("name", "contact_email"),
        actions=[(reverse("sandbox_rackbeat:customer-new"), _("New customer"))],
    )


@staff_member_required
def customer_detail(request: HttpRequest, number: int) -> HttpResponse:
    account = _account(request)
    customer = get_object_or_404(m.Customer, account=account, number=number)
    fields = [
        (_("Number"), customer.number), (_("Name"), customer.name), (_("E-mail"), customer.contact_email),
        (_("Phone"), customer.contact_phone), (_("VAT number"), customer.company_vat),
        (_("Address"), f"{customer.address_street}, {customer.address_zipcode} {customer.address_city}"),
        (_("Country"), customer.address_country), (_("VAT zone"), customer.get_vat_zone_display()),
        (_("Currency"), customer.currency), (_("Person"), _yes_no(customer.is_person)),
        (_("Layout"), customer.layout or "–"), (_("Payment terms"), customer.payment_terms or "–"),
        (_("Updated"), timezone.localtime(customer.updated_at)),
    ]
    invoices = [[_link("customer-invoice", i.number, text=i.number), i.invoice_date, i.total_total,
                 _yes_no(i.is_booked)] for i in customer.invoices.order_by("-number")[:20]]
    return _page(request, "detail.html", account, title=_("Customer %(number)s") % {"number": number},
                 fields=fields, related_title=_("Invoices"),
                 related_columns=[_("Number"), _("Date"), _("Total"), _("Booked")], related=invoices,
                 actions=[(reverse("sandbox_rackbeat:customer-edit", args=[number]), _("Edit"))])


class CustomerForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    contact_email = forms.EmailField(label=gettext_lazy("E-mail"), required=False)
    address_country = forms.CharField(label=gettext_lazy("Country (ISO code)"), max_length=2, initial="DK")
    vat_zone = forms.ChoiceField(label=gettext_lazy("VAT zone"), choices=m.VAT_ZONE_CHOICES)
    is_person = forms.BooleanField(label=gettext_lazy("Private person"), required=False)


@staff_member_required
def customer_edit(request: HttpRequest, number: int | None = None) -> HttpResponse:
    account = _account(request)
    customer = get_object_or_404(m.Customer, account=account, number=number) if number else None
    initial = {}
    if customer:
        initial = {"name": customer.name, "contact_email": customer.contact_email,
                   "address_country": customer.address_country, "vat_zone": customer.vat_zone,
                   "is_person": customer.is_person}
    form = CustomerForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        body = dict(form.cleaned_data)
        if customer is None:
            body.setdefault("currency", "DKK" if body["vat_zone"] == "domestic" else "EUR")
            body["payment_terms_id"] = getattr(m.PaymentTerm.objects.filter(account=account).first(), "number", None)
            body["layout_id"] = getattr(m.Layout.objects.filter(account=account).first(), "number", None)
        try:
            saved, _changed = writes.save_customer(account, body, customer)
        except ValidationFailed as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Customer %(number)s saved; webhooks sent.") % {"number": saved.number})
            return redirect("sandbox_rackbeat:customer", saved.number)
    title = _("Edit customer %(number)s") % {"number": number} if customer else _("New customer")
    return _page(request, "form.html", account, title=title, form=form)


def _form_errors(form: forms.Form, exc: ValidationFailed) -> None:
    for path, problems in exc.errors.items():
        form.add_error(None, f"{path}: {' '.join(problems)}")


# --- suppliers ------------------------------------------------------------------------------------------

@staff_member_required
def suppliers(request: HttpRequest) -> HttpResponse:
    account = _account(request)
    return _listing(
        request, account, title=_("Suppliers"),
        columns=[_("Number"), _("Name"), _("E-mail"), _("VAT zone"), _("Group")],
        queryset=m.Supplier.objects.filter(account=account).select_related("group"),
        row=lambda s: [_link("supplier", s.number, text=s.number), s.name, s.contact_email,
                       s.get_vat_zone_display(), s.group or "–"],
        search=("name", "contact_email"),
    )


@staff_member_required
def supplier_detail(request: HttpRequest, number: int) -> HttpResponse:
    account = _account(request)
    supplier = get_object_or_404(m.Supplier, account=account, number=number)
    fields = [
        (_("Number"), supplier.number), (_("Name"), supplier.name), (_("E-mail"), supplier.contact_email),
        (_("VAT number"), supplier.company_vat), (_("Country"), supplier.address_country),
        (_("VAT zone"), supplier.get_vat_zone_display()), (_("Group"), supplier.group or "–"),
        (_("Currency"), supplier.currency),
    ]
    invoices = [[_link("supplier-invoice", i.number, text=i.number), i.invoice_date, i.total_total,
                 _yes_no(i.is_booked)] for i in supplier.invoices.order_by("-number")[:20]]
    return _page(request, "detail.html", account, title=_("Supplier %(number)s") % {"number": number},
                 fields=fields, related_title=_("Supplier invoices"),
                 related_columns=[_("Number"), _("Date"), _("Total"), _("Booked")], related=invoices)


# --- products --------------------------------------------------------------------------------------------

def _item(account: m.Account, key: str) -> m.Item:
    qs = m.Item.objects.filter(account=account).select_related("group", "unit")
    item = (qs.filter(number=unquote(key)).first() or qs.filter(number=key).first()
            or qs.filter(urlfriendly_number__in=[key, quote(key, safe="")]).first())
    if item is None:
        raise Http404(_("No product or BOM with the number %(key)s.") % {"key": key})
    return item


@staff_member_required
def products(request: HttpRequest) -> HttpResponse:
    account = _account(request)
    return _listing(
        request, account, title=_("Products and BOMs"),
        columns=[_("Number"), _("Name"), _("Type"), _("Group"), _("Unit"), _("Sales price"), _("Cost price")],
        queryset=m.Item.objects.filter(account=account).select_related("group", "unit"),
        row=lambda i: [format_html('<a href="{}">{}</a>', reverse("sandbox_rackbeat:product", args=[i.urlfriendly_number]),
                                   i.number),
                       i.name, i.get_type_display(), i.group, i.unit or "–", i.sales_price, i.cost_price],
        search=("number", "name"),
    )


@staff_member_required
def product_detail(request: HttpRequest, key: str) -> HttpResponse:
    account = _account(request)
    item = _item(account, key)
    fields = [
        (_("Number"), item.number), (_("Name"), item.name), (_("Type"), item.get_type_display()),
        (_("Group"), item.group), (_("Unit"), item.unit or "–"), (_("Sales price"), item.sales_price),
        (_("Cost price"), item.cost_price), (_("Stock-tracked"), _yes_no(item.inventory_enabled)),
        (_("Barred"), _yes_no(item.is_barred)), (_("Updated"), timezone.localtime(item.updated_at)),
    ]
    lines = [[line.product.number, line.product.name, line.quantity] for line in item.lot_lines.select_related("product")]
    return _page(request, "detail.html", account, title=item.name, fields=fields,
                 related_title=_("BOM lines") if lines else "", related_columns=[_("Product"), _("Name"), _("Quantity")],
                 related=lines,
                 actions=[(reverse("sandbox_rackbeat:product-edit", args=[item.urlfriendly_number]), _("Edit"))])


class ProductForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    sales_price = forms.DecimalField(label=gettext_lazy("Sales price (excl. VAT)"), decimal_places=2, min_value=0)


@staff_member_required
def product_edit(request: HttpRequest, key: str) -> HttpResponse:
    account = _account(request)
    item = _item(account, key)
    form = ProductForm(request.POST or None, initial={"name": item.name, "sales_price": item.sales_price})
    if request.method == "POST" and form.is_valid():
        try:
            writes.save_item(account, {"name": form.cleaned_data["name"],
                                       "sales_price": str(form.cleaned_data["sales_price"])},
                             item, item_type=item.type)
        except ValidationFailed as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("%(number)s saved; webhooks sent.") % {"number": item.number})
            return redirect("sandbox_rackbeat:product", item.urlfriendly_number)
    return _page(request, "form.html", account, title=_("Edit %(number)s") % {"number": item.number}, form=form)


# --- invoices ---------------------------------------------------------------------------------------------

def _invoice_fields(invoice: m.CustomerInvoice | m.SupplierInvoice, partner_link: str) -> list[tuple[str, Any]]:
    return [
        (_("Number"), invoice.number), (_("Partner"), partner_link), (_("Invoice date"), invoice.invoice_date),
        (_("Due date"), invoice.due_date), (_("VAT zone"), invoice.get_vat_zone_display()),
        (_("Currency"), invoice.currency), (_("Subtotal"), invoice.total_subtotal), (_("VAT"), invoice.total_vat),
        (_("Total"), invoice.total_total), (_("Booked"), _yes_no(invoice.is_booked)),
        (_("Booked at"), timezone.localtime(invoice.booked_at) if invoice.booked_at else "–"),
    ]


def _invoice_lines(invoice) -> list[list[Any]]:
    return [[line.item.number if line.item else "", line.name, line.quantity, line.line_price,
             line.discount_percentage, line.vat_percentage, line.line_total]
            for line in invoice.lines.select_related("item")]


LINE_COLUMNS = [gettext_lazy("Item"), gettext_lazy("Text"), gettext_lazy("Quantity"), gettext_lazy("Unit price"),
                gettext_lazy("Discount %"), gettext_lazy("VAT %"), gettext_lazy("Line total")]


@staff_member_required
def customer_invoices(request: HttpRequest) -> HttpResponse:
    account = _account(request)
    return _listing(
        request, account, title=_("Sales invoices"),
        columns=[_("Number"), _("Customer"), _("Date"), _("Total"), _("Currency"), _("Booked")],
        queryset=m.CustomerInvoice.objects.filter(account=account).select_related("customer").order_by("-number"),
        row=lambda i: [_link("customer-invoice", i.number, text=i.number), i.customer.name, i.invoice_date,
                       i.total_total, i.currency, _yes_no(i.is_booked)],
        search=("customer__name", "heading"),
        actions=[(reverse("sandbox_rackbeat:customer-invoice-new"), _("New sales invoice"))],
    )


@staff_member_required
def customer_invoice_detail(request: HttpRequest, number: int) -> HttpResponse:
    account = _account(request)
    invoice = get_object_or_404(m.CustomerInvoice.objects.select_related("customer"), account=account, number=number)
    partner = _link("customer", invoice.customer.number, text=invoice.customer.name)
    book_url = "" if invoice.is_booked else reverse("sandbox_rackbeat:customer-invoice-book", args=[number])
    title = (_("Credit note %(number)s") if invoice.is_credit_note else _("Sales invoice %(number)s")) % {"number": number}
    return _page(request, "detail.html", account, title=title, fields=_invoice_fields(invoice, partner),
                 related_title=_("Lines"), related_columns=LINE_COLUMNS, related=_invoice_lines(invoice),
                 book_url=book_url)


@staff_member_required
def supplier_invoices(request: HttpRequest) -> HttpResponse:
    account = _account(request)
    return _listing(
        request, account, title=_("Supplier invoices"),
        columns=[_("Number"), _("Supplier"), _("Supplier's number"), _("Date"), _("Total"), _("Booked")],
        queryset=m.SupplierInvoice.objects.filter(account=account).select_related("supplier").order_by("-number"),
        row=lambda i: [_link("supplier-invoice", i.number, text=i.number), i.supplier.name,
                       i.supplier_invoice_number, i.invoice_date, i.total_total, _yes_no(i.is_booked)],
        search=("supplier__name", "supplier_invoice_number"),
        actions=[(reverse("sandbox_rackbeat:supplier-invoice-new"), _("New supplier invoice"))],
    )


@staff_member_required
def supplier_invoice_detail(request: HttpRequest, number: int) -> HttpResponse:
    account = _account(request)
    invoice = get_object_or_404(m.SupplierInvoice.objects.select_related("supplier"), account=account, number=number)
    partner = _link("supplier", invoice.supplier.number, text=invoice.supplier.name)
    book_url = "" if invoice.is_booked else reverse("sandbox_rackbeat:supplier-invoice-book", args=[number])
    return _page(request, "detail.html", account, title=_("Supplier invoice %(number)s") % {"number": number},
                 fields=_invoice_fields(invoice, partner), related_title=_("Lines"), related_columns=LINE_COLUMNS,
                 related=_invoice_lines(invoice), book_url=book_url)


def _book(request: HttpRequest, model, number: int, url_name: str) -> HttpResponse:
    account = _account(request)
    invoice = get_object_or_404(model, account=account, number=number)
    try:
        invoicing.book_invoice(invoice)
    except ValidationFailed as exc:
        messages.error(request, " ".join(" ".join(v) for v in exc.errors.values()))
    else:
        messages.success(request, _("Invoice %(number)s booked; webhooks sent.") % {"number": number})
    return redirect(f"sandbox_rackbeat:{url_name}", number)


@staff_member_required
@require_POST
def customer_invoice_book(request: HttpRequest, number: int) -> HttpResponse:
    return _book(request, m.CustomerInvoice, number, "customer-invoice")


@staff_member_required
@require_POST
def supplier_invoice_book(request: HttpRequest, number: int) -> HttpResponse:
    return _book(request, m.SupplierInvoice, number, "supplier-invoice")


class InvoiceForm(forms.Form):
    partner = forms.TypedChoiceField(coerce=int)
    invoice_date = forms.DateField(label=gettext_lazy("Invoice date"), widget=forms.DateInput(attrs={"type": "date"}))
    supplier_invoice_number = forms.CharField(label=gettext_lazy("Supplier's invoice number"), max_length=60,
                                              required=False)
    book = forms.BooleanField(label=gettext_lazy("Book the invoice now"), required=False, initial=True)

    def __init__(self, *args: Any, account: m.Account, purchase: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        model = m.Supplier if purchase else m.Customer
        self.fields["partner"].label = _("Supplier") if purchase else _("Customer")
        self.fields["partner"].choices = [(p.number, f"{p.number} {p.name}")
                                          for p in model.objects.filter(account=account, is_barred=False)]
        if not purchase:
            del self.fields["supplier_invoice_number"]


class LineForm(forms.Form):
    item = forms.ChoiceField(label=gettext_lazy("Product"), required=False)
    quantity = forms.DecimalField(label=gettext_lazy("Quantity"), required=False, decimal_places=4)
    price = forms.DecimalField(label=gettext_lazy("Unit price (empty: the product's price)"), required=False,
                               decimal_places=4, min_value=0)
    discount = forms.DecimalField(label=gettext_lazy("Discount %"), required=False, min_value=0, max_value=100)

    def __init__(self, *args: Any, items: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["item"].choices = [("", "–"), *items]


LineFormSet = forms.formset_factory(LineForm, extra=5)


def _invoice_new(request: HttpRequest, *, purchase: bool) -> HttpResponse:
    account = _account(request)
    items = [(i.number, f"{i.number} {i.name}")
             for i in m.Item.objects.filter(account=account, is_barred=False).order_by("number")]
    form = InvoiceForm(request.POST or None, account=account, purchase=purchase,
                       initial={"invoice_date": timezone.localdate()})
    lines = LineFormSet(request.POST or None, form_kwargs={"items": items}, prefix="lines")
    if request.method == "POST" and form.is_valid() and lines.is_valid():
        body_lines = []
        for line in lines.cleaned_data:
            if not line.get("item"):
                continue
            entry: dict[str, Any] = {"item_id": line["item"], "quantity": str(line.get("quantity") or Decimal(1)),
                                     "discount_percentage": str(line.get("discount") or Decimal(0))}
            if line.get("price") is not None:
                entry["line_price"] = str(line["price"])
            body_lines.append(entry)
        body: dict[str, Any] = {"supplier_id" if purchase else "customer_id": form.cleaned_data["partner"],
                                "invoice_date": form.cleaned_data["invoice_date"].isoformat(), "lines": body_lines}
        if purchase:
            body["supplier_invoice_number"] = form.cleaned_data["supplier_invoice_number"]
        try:
            invoice = invoicing.save_invoice(account, body, purchase=purchase)
            if form.cleaned_data["book"]:
                invoicing.book_invoice(invoice)
        except ValidationFailed as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Invoice %(number)s saved; webhooks sent.") % {"number": invoice.number})
            return redirect("sandbox_rackbeat:supplier-invoice" if purchase else "sandbox_rackbeat:customer-invoice",
                            invoice.number)
    title = _("New supplier invoice") if purchase else _("New sales invoice")
    return _page(request, "form.html", account, title=title, form=form, formset=lines)


@staff_member_required
def customer_invoice_new(request: HttpRequest) -> HttpResponse:
    return _invoice_new(request, purchase=False)


@staff_member_required
def supplier_invoice_new(request: HttpRequest) -> HttpResponse:
    return _invoice_new(request, purchase=True)


# --- webhook deliveries -------------------------------------------------------------------------------

@staff_member_required
def deliveries(request: HttpRequest) -> HttpResponse:
    account = _account(request)
    return _listing(
        request, account, title=_("Webhook deliveries"),
        columns=[_("Sent"), _("Event"), _("Key"), _("URL"), _("State"), _("HTTP status"), _("Attempts")],
        queryset=m.WebhookDelivery.objects.filter(account=account),
        row=lambda d: [timezone.localtime(d.created_at), d.event, d.payload.get("key"), d.url, d.get_state_display(),
                       d.status_code or "–", d.attempts],
        search=("event", "url"),
    )


# --- groups (linked from the integration's log) -----------------------------------------------------------

GROUP_MODELS = {
    "product-groups": (m.ProductGroup, gettext_lazy("Product group %(number)s")),
    "customer-groups": (m.CustomerGroup, gettext_lazy("Customer group %(number)s")),
    "supplier-groups": (m.SupplierGroup, gettext_lazy("Supplier group %(number)s")),
}


@staff_member_required
def group_detail(request: HttpRequest, kind: str, number: int) -> HttpResponse:
    account = _account(request)
    model, title = GROUP_MODELS[kind]
    group = get_object_or_404(model, account=account, number=number)
    fields = [(_("Number"), group.number), (_("Name"), group.name)]
    if isinstance(group, m.ProductGroup):
        fields += [(_("VAT domestic %"), group.vat_domestic), (_("VAT EU %"), group.vat_eu),
                   (_("VAT abroad %"), group.vat_abroad), (_("VAT domestic exempt %"), group.vat_domestic_exempt)]
    return _page(request, "detail.html", account, title=title % {"number": number}, fields=fields)
