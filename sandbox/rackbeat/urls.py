"""Emulated Rackbeat: the REST API under ``api/`` and a small web app under ``app/``."""

from django.urls import path

from sandbox.rackbeat import api, app_views

app_name = "sandbox_rackbeat"

_api = [
    path("api/self", api.self_view, name="api-self"),
    path("api/webhooks", api.webhooks_collection, name="api-webhooks"),
    path("api/webhooks/<int:key>", api.webhook_detail, name="api-webhook"),
]
for _invoices in ("customer-invoices", "supplier-invoices"):
    _api += [
        path(f"api/{_invoices}/drafts", api.drafts, {"resource": _invoices}),
        path(f"api/{_invoices}/<int:number>.pdf", api.pdf, {"resource": _invoices}),
        path(f"api/{_invoices}/<int:number>/book", api.book, {"resource": _invoices}),
    ]
_api.append(path("api/products/<path:key>/units", api.product_units))
for _resource in api.RESOURCES:
    _api += [
        path(f"api/{_resource}", api.collection, {"resource": _resource}, name=f"api-{_resource}"),
        path(f"api/{_resource}/<path:key>", api.detail, {"resource": _resource}),
    ]

urlpatterns = [
    *_api,
    path("app/", app_views.home, name="home"),
    path("app/account/<int:account_id>/", app_views.choose_account, name="choose-account"),
    path("app/customers/", app_views.customers, name="customers"),
    path("app/customers/new/", app_views.customer_edit, name="customer-new"),
    path("app/customers/<int:number>/", app_views.customer_detail, name="customer"),
    path("app/customers/<int:number>/edit/", app_views.customer_edit, name="customer-edit"),
    path("app/suppliers/", app_views.suppliers, name="suppliers"),
    path("app/suppliers/<int:number>/", app_views.supplier_detail, name="supplier"),
    path("app/products/", app_views.products, name="products"),
    path("app/products/<path:key>/edit/", app_views.product_edit, name="product-edit"),
    path("app/products/<path:key>/", app_views.product_detail, name="product"),
    path("app/lots/<path:key>/", app_views.product_detail, name="lot"),
    path("app/customer-invoices/", app_views.customer_invoices, name="customer-invoices"),
    path("app/customer-invoices/new/", app_views.customer_invoice_new, name="customer-invoice-new"),
    path("app/customer-invoices/<int:number>/", app_views.customer_invoice_detail, name="customer-invoice"),
    path("app/customer-invoices/<int:number>/book/", app_views.customer_invoice_book, name="customer-invoice-book"),
    path("app/supplier-invoices/", app_views.supplier_invoices, name="supplier-invoices"),
    path("app/supplier-invoices/new/", app_views.supplier_invoice_new, name="supplier-invoice-new"),
    path("app/supplier-invoices/<int:number>/", app_views.supplier_invoice_detail, name="supplier-invoice"),
    path("app/supplier-invoices/<int:number>/book/", app_views.supplier_invoice_book, name="supplier-invoice-book"),
    path("app/webhooks/", app_views.deliveries, name="deliveries"),
    *[path(f"app/{kind}/<int:number>/", app_views.group_detail, {"kind": kind}, name=kind[:-1])
      for kind in app_views.GROUP_MODELS],
]
