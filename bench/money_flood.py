"""A sales invoice booked while its connection drains a flood of product updates, with real workers.

``.venv/bin/python bench/money_flood.py --products 2500 [--without-priority]`` builds a fresh
PostgreSQL database, serves the service and both emulators with gunicorn on a free loopback port
and starts a ``qcluster`` (the ORM broker, ``--workers`` worker processes), as
``bench/vendor_bound.py`` does. The emulated Dinero counts a sliding minute at the real budget of
100 requests per organization, and the service's limiter keeps the same budget.

One connection (the chaos suite's company, products transferred) gets ``--products`` Rackbeat
products that already exist in Dinero: each product operation is a real product transfer — the
Rackbeat item read, the Dinero product looked up by its external reference and updated (two Dinero
requests). First a warm-up invoice is booked and transferred (its customer and item are then bound,
as on a connection in use); then the product operations are queued at once (as a flood of
``product.updated`` webhooks or a poll would queue them), and ``--book-after`` seconds later one
sales invoice is booked in the emulated Rackbeat, whose webhook starts its transfer. The run stops
as soon as that invoice is done, or after ``--timeout`` seconds.

``--without-priority`` makes the database give every operation the same priority (a trigger on the
operations table sets master data's on every insert and update), so the engine schedules the invoice
exactly as it did before booked documents went first.

Figures are printed as JSON (stdout), progress on stderr; logs go to
``test-artifacts/vendor-bound-money-flood-logs/``. Timings are never asserted; note the load average.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.vendor_bound import Bench, machine, per_org_sliding_max, say  # noqa: E402


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=2500)
    parser.add_argument("--budget", type=int, default=100, help="Dinero requests per minute")
    parser.add_argument("--workers", type=int, default=4, help="Q_WORKERS of the qcluster")
    parser.add_argument("--clusters", type=int, default=1, help="qcluster processes")
    parser.add_argument("--book-after", type=float, default=120,
                        help="seconds between queueing the products and booking the invoice")
    parser.add_argument("--without-priority", action="store_true")
    parser.add_argument("--timeout", type=float, default=1800,
                        help="seconds to wait for the invoice after it was booked")
    parser.add_argument("--database", default="rd_money_flood")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    args = parser.parse_args(argv)
    # What bench.vendor_bound.Bench reads.
    args.scenario, args.organizations, args.report_slots = "money-flood", 1, 0
    return args


def same_priority_for_every_operation() -> None:
    """Every operation row is written with master data's priority, whatever its kind."""
    from django.db import connection

    from integration.core.models import Priority, SyncOperation

    table = SyncOperation._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"""
            CREATE OR REPLACE FUNCTION bench_one_priority() RETURNS trigger AS $$
            BEGIN NEW.priority := {int(Priority.MASTER_DATA)}; RETURN NEW; END $$ LANGUAGE plpgsql""")
        cursor.execute(f"""
            CREATE TRIGGER bench_one_priority BEFORE INSERT OR UPDATE ON "{table}"
            FOR EACH ROW EXECUTE FUNCTION bench_one_priority()""")


def seed_products(company: Any, count: int) -> list[str]:
    """``count`` products in the company's Rackbeat, each already in Dinero (so a transfer updates it)."""
    from accounts.models import Connection
    from integration.core.models import IntegrationSettings
    from integration.transfers.products import external_reference
    from sandbox.dinero.models import Organization, Product
    from sandbox.rackbeat import models as rb

    account = rb.Account.objects.get(account_id=company.rackbeat_account_id)
    group = rb.ProductGroup.objects.get(account=account, number=10)
    unit = rb.Unit.objects.get(account=account, number=1)
    numbers = [f"P{n:05d}" for n in range(count)]
    for number in numbers:
        rb.Item.objects.create(account=account, number=number, name=f"Vare {number}", group=group, unit=unit,
                               sales_price=Decimal("100.00"), cost_price=Decimal("40.00"))
    organization = Organization.objects.get(organization_id=company.dinero_organization_id)
    Product.objects.bulk_create([
        Product(organization=organization, external_reference=external_reference("product", number),
                data={"ProductNumber": number, "Name": f"Vare {number} (gammel)", "BaseAmountValue": "90.00",
                      "Quantity": "1", "AccountNumber": 1000, "Unit": "parts",
                      "ExternalReference": external_reference("product", number)})
        for number in numbers
    ], batch_size=500)
    settings = IntegrationSettings.objects.get(connection=Connection.objects.get(pk=company.connection_id))
    settings.product_integration_enabled = True
    settings.save()
    return numbers


def book_invoice(bench: Bench, company: Any) -> int:
    """One booked sales invoice (an existing customer, one stock item); its webhook starts the work."""
    from chaos.traffic import Rackbeat

    client = Rackbeat(bench.fleet.base_url, company)
    lines = [{"item_id": "FV-100", "quantity": 2, "line_price": "499.00"}]
    draft = client.post("customer-invoices", {"customer_id": company.customers[0], "lines": lines},
                        "customer_invoice")
    booked = client.post(f"customer-invoices/{draft['number']}/book", {}, "customer_invoice")
    return int(booked["number"])


def wait_for_invoice(number: int, deadline: float) -> Any:
    from integration.core.models import Kind, SyncOperation

    while time.monotonic() < deadline:
        op = SyncOperation.objects.filter(kind=Kind.SALES_INVOICE, source_key=str(number)).first()
        if op is not None and op.state not in ("pending", "running"):
            return op
        time.sleep(0.25)
    return SyncOperation.objects.filter(kind=Kind.SALES_INVOICE, source_key=str(number)).first()


def product_counts(connection_id: int) -> dict[str, int]:
    from django.db.models import Count

    from integration.core.models import Kind, SyncOperation

    rows = (SyncOperation.objects.filter(connection_id=connection_id, kind=Kind.PRODUCT)
            .values("state").annotate(n=Count("id")))
    return {row["state"]: row["n"] for row in rows}


def invoice_story(op: Any) -> dict[str, Any]:
    """What the invoice's own record says: its Dinero requests and its waits for the budget."""
    from integration.core.models import HttpExchange, OperationEvent

    exchanges = HttpExchange.objects.filter(operation=op, service="dinero")
    waits = OperationEvent.objects.filter(operation=op, message__icontains="request budget")
    return {
        "dinero_requests": exchanges.exclude(url__contains="oauth").count(),
        "dinero_429": exchanges.filter(status=429).count(),
        "budget_waits_recorded": waits.count(),
        "timeline": [f"{e.at:%H:%M:%S} {e.message}" for e in OperationEvent.objects.filter(operation=op).order_by("pk")],
    }


def main(argv: list[str]) -> int:
    args = parse(argv)
    say(f"{args.products} products, budget {args.budget}/min, {args.clusters} qcluster × {args.workers} workers, "
        f"{'without priority' if args.without_priority else 'priority'}")
    bench = Bench(args)
    try:
        from integration.core import engine
        from integration.core.models import Direction, HttpExchange, Kind, SyncOperation, Trigger

        company = bench.companies[0]
        if args.without_priority:
            same_priority_for_every_operation()
        numbers = seed_products(company, args.products)
        # The connection has been in use: the invoice's customer and item are bound in Dinero.
        warm = book_invoice(bench, company)
        warm_op = wait_for_invoice(warm, time.monotonic() + 300)
        settle_by = time.monotonic() + 300
        while SyncOperation.objects.filter(state__in=("pending", "running")).exists() \
                and time.monotonic() < settle_by:
            time.sleep(0.5)
        say(f"warm-up invoice {warm}: {warm_op.state if warm_op else 'not seen'}")
        # Start of the flood with a budget fresh for the whole minute, as after a quiet spell.
        time.sleep(62)
        load_before = machine()["load_average"]
        flood_at = time.monotonic()
        flood_wall = datetime.now(UTC)
        from accounts.models import Connection

        connection = Connection.objects.get(pk=company.connection_id)
        for number in numbers:
            engine.enqueue(connection, Kind.PRODUCT, Direction.TO_DINERO, number, trigger=Trigger.WEBHOOK)
        queued_s = time.monotonic() - flood_at
        say(f"{len(numbers)} product operations queued in {queued_s:.1f} s")
        time.sleep(max(0.0, flood_at + args.book_after - time.monotonic()))
        at_booking = product_counts(company.connection_id)
        booked_wall = datetime.now(UTC)
        booked_at = time.monotonic()
        number = book_invoice(bench, company)
        say(f"invoice {number} booked in Rackbeat; products {at_booking}")
        op = wait_for_invoice(number, booked_at + args.timeout)
        at_end = product_counts(company.connection_id)
        result: dict[str, Any] = {
            "priority": not args.without_priority, "products": args.products, "budget_per_minute": args.budget,
            "workers": args.clusters * args.workers, "book_after_s": args.book_after,
            "flood_queued_at": flood_wall.isoformat(timespec="seconds"), "flood_queueing_s": round(queued_s, 1),
            "invoice_booked_at": booked_wall.isoformat(timespec="seconds"),
            "products_at_booking": at_booking, "products_when_invoice_finished": at_end,
            "invoice_state": op.state if op else None,
            "webhook_to_finished_s": round((op.finished_at.timestamp() if op and op.finished_at else time.time())
                                           - booked_wall.timestamp(), 1),
            "queued_to_finished_s": round(((op.finished_at or datetime.now(UTC)) - op.created_at).total_seconds(), 1)
            if op else None,
            "products_done_while_invoice_waited": at_end.get("done", 0) - at_booking.get("done", 0),
            "dinero_requests_while_invoice_waited": HttpExchange.objects.filter(
                service="dinero", at__gte=booked_wall).exclude(url__contains="oauth").count(),
            "most_dinero_requests_in_any_60s": per_org_sliding_max(),
            "dinero_429_total": HttpExchange.objects.filter(service="dinero", status=429).count(),
            "load_before": load_before, "machine_after": machine(),
        }
        if op is not None:
            result["invoice"] = invoice_story(op)
    finally:
        bench.stop()
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
