"""An invoice booked while its connection drains a backlog of product updates: queued → done.

``.venv/bin/python bench/money_first.py --products 2500`` queues the product operations of one
connection (one Dinero request each, against the shared budget at its real size, 100 a minute),
lets a worker drain them until the budget is exhausted and the products wait in its line, then
queues one sales invoice (three Dinero requests) and measures how long it takes to be done. The
worker is this process taking tasks from the ORM broker as production does (a task is handed out
at its due time); the vendors answer instantly, so what is measured is the engine's scheduling
against the budget, not a vendor. ``--without-priority`` gives every operation the same priority
(the engine before booked documents went first), for comparison.

Timings are printed as JSON, never asserted; note the load average beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fleet import DEFAULT_DATABASE, _setup_django, load, make_connections  # noqa: E402
from bench.webhook_intake import prepare_database  # noqa: E402


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=2500)
    parser.add_argument("--budget", type=int, default=100, help="Dinero requests per minute")
    parser.add_argument("--without-priority", action="store_true")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE)
    return parser.parse_args(argv)


def dinero_requests(count: int):  # type: ignore[no-untyped-def]
    """A transfer making ``count`` Dinero requests, each counted in the organization's budget."""
    from django.conf import settings

    from integration.core.clients.dinero import limiter_key
    from integration.core.clients.ratelimit import SharedRateLimiter
    from integration.core.handlers import Result

    def transfer(op, ctx):  # type: ignore[no-untyped-def]
        limiter = SharedRateLimiter(settings.DINERO_RATE_LIMIT_PER_MINUTE)
        key = limiter_key(str(op.connection.dinero_organization_id))
        for _n in range(count - len(op.intent.get("sent", []))):
            limiter.finish(key, limiter.start(key))
            op.intent = {**op.intent, "sent": [*op.intent.get("sent", []), 1]}
            type(op).objects.filter(pk=op.pk).update(intent=op.intent)
        return Result(outcome=f"{count} requests")

    return transfer


def work_once(broker: Any) -> int:
    """Run the tasks the broker hands out now, as a qcluster worker would; how many ran."""
    from django_q.signing import SignedPackage

    from integration.core import engine

    ran = 0
    for task_id, payload in broker.dequeue() or []:
        task = SignedPackage.loads(payload)
        if task["func"] == engine.TASK:
            engine.run_operation(*task["args"])
        broker.acknowledge(task_id)
        ran += 1
    return ran


def main(argv: list[str]) -> None:
    args = parse(argv)
    prepare_database(args.database_url)
    _setup_django(args.database_url)
    from django.conf import settings

    settings.DINERO_RATE_LIMIT_PER_MINUTE = args.budget
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "bulk": 20}
    from django_q.brokers import get_broker

    import integration.transfers  # noqa: F401  (the real handlers first)
    from accounts.models import Connection
    from integration.core import engine, handlers, models
    from integration.core.models import Direction, Kind, Priority, SyncOperation, Trigger

    if args.without_priority:
        models.priority_of = lambda kind: Priority.MASTER_DATA  # type: ignore[assignment]
    handlers._REGISTRY[(str(Kind.PRODUCT), str(Direction.TO_DINERO))] = dinero_requests(1)
    handlers._REGISTRY[(str(Kind.SALES_INVOICE), str(Direction.TO_DINERO))] = dinero_requests(3)
    (pk,) = make_connections(1)
    connection = Connection.objects.get(pk=pk)
    broker = get_broker()
    load_before, started = load(), time.time()
    for n in range(args.products):
        engine.enqueue(connection, Kind.PRODUCT, Direction.TO_DINERO, f"P{n}", trigger=Trigger.POLL)
    # Drain until the budget is used up and every product left waits in its line.
    products = SyncOperation.objects.filter(connection=connection, kind=Kind.PRODUCT)
    while products.filter(state=SyncOperation.State.PENDING, budget_key="").exists():
        work_once(broker)
    done_before = products.filter(state=SyncOperation.State.DONE).count()
    booked_at = time.time()
    invoice = engine.enqueue(connection, Kind.SALES_INVOICE, Direction.TO_DINERO, "1001", trigger=Trigger.WEBHOOK)
    while time.time() - booked_at < args.timeout:
        if not work_once(broker):
            time.sleep(0.05)
        invoice.refresh_from_db()
        if invoice.state == SyncOperation.State.DONE:
            break
    waited = time.time() - booked_at
    result = {
        "products": args.products, "budget_per_minute": args.budget, "priority": not args.without_priority,
        "products_done_before_the_invoice": done_before,
        "products_still_waiting_when_booked": args.products - done_before,
        "invoice_state": invoice.state, "invoice_queued_to_done_s": round(waited, 1),
        "products_done_meanwhile": products.filter(state=SyncOperation.State.DONE).count() - done_before,
        "drain_s_before_booking": round(booked_at - started, 1),
        "load_before": load_before, "load_after": load(), "pid": os.getpid(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
