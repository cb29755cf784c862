"""What happens in Rackbeat during a chaos run: invoices booked through Rackbeat's REST API.

Every document is created as a draft and booked over HTTP against the emulated Rackbeat served by
gunicorn, so the emulator sends its webhooks exactly as it would for a person. The plan per
connection mixes:

* plain booked sales invoices for existing customers (1–4 lines, some discounted, one non-stock
  service line now and then);
* an invoice followed within the second by its credit note (the original and its credit note
  race through the workers);
* a customer created in the same minute, with an invoice and a credit note booked at the same
  moment in two threads (both need the new Dinero contact);
* booked supplier invoices from a domestic, an EU and an abroad supplier (each has a PDF).

Only writes are sent; Rackbeat faults on the suite's own writes are not injected (the account's
read faults hit the service, not the pusher), and a 429/500 answered before the write is retried.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import requests

from chaos.world import ITEMS, Company

RETRIED_STATUSES = {429, 500, 502, 503}
# Set when the run is interrupted: queued jobs and retries stop at once.
STOP = threading.Event()


class Stopped(Exception):
    pass
CREDIT_SHARE = 0.10          # of sales documents: credit notes for an existing customer's invoice
NEW_CUSTOMER_SHARE = 0.10    # of sales documents: invoice + credit note for a customer made this minute


@dataclass
class Pushed:
    """What the suite put into Rackbeat, per connection (Rackbeat numbers)."""

    sales: dict[int, list[int]] = field(default_factory=dict)
    credit_notes: dict[int, list[int]] = field(default_factory=dict)
    supplier: dict[int, list[int]] = field(default_factory=dict)
    new_customers: dict[int, list[int]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, bucket: dict[int, list[int]], company: Company, number: int) -> None:
        with self.lock:
            bucket.setdefault(company.index, []).append(number)

    def count(self, bucket: dict[int, list[int]]) -> int:
        return sum(len(v) for v in bucket.values())


class Rackbeat:
    """A tiny REST client for the suite's writes (the service's own client is not used on purpose)."""

    def __init__(self, base_url: str, company: Company) -> None:
        self.api = f"{base_url}/sandbox/rackbeat/api/"
        self.headers = {"Authorization": f"Bearer {company.rackbeat_token}", "Accept": "application/json"}
        self.local = threading.local()

    def _session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session

    def post(self, path: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        last = ""
        for attempt in range(12):
            if STOP.is_set():
                raise Stopped("the run was interrupted")
            try:
                response = self._session().post(self.api + path, json=body, headers=self.headers, timeout=30)
            except requests.RequestException as exc:  # only writes the emulator never received are retried
                if isinstance(exc, requests.ConnectionError):
                    last = f"{type(exc).__name__}: {exc}"
                    time.sleep(0.5 * (attempt + 1))
                    continue
                raise
            if response.status_code in RETRIED_STATUSES:
                last = f"HTTP {response.status_code}: {response.text[:200]}"
                time.sleep(0.5 * (attempt + 1))
                continue
            if response.status_code >= 400:
                raise RuntimeError(f"POST {path} answered {response.status_code}: {response.text[:500]}")
            return response.json()[key]
        raise RuntimeError(f"POST {path} kept failing: {last}")


def _lines(rng: random.Random, *, count: int | None = None) -> list[dict[str, Any]]:
    chosen = rng.sample(ITEMS, count or rng.randint(1, 4))
    lines = []
    for number, _name, _group, price, _cost, _stock in chosen:
        line: dict[str, Any] = {"item_id": number, "quantity": rng.choice([1, 1, 2, 3, 5, 12]), "line_price": price}
        if rng.random() < 0.2:
            line["discount_percentage"] = rng.choice(["5", "10", "12.5"])
        lines.append(line)
    return lines


class Plan:
    """The jobs for one connection; each job is a function run in the pusher's thread pool."""

    def __init__(self, company: Company, rackbeat: Rackbeat, pushed: Pushed, *, sales: int, supplier: int,
                 seed: int, pool: ThreadPoolExecutor) -> None:
        self.company, self.rackbeat, self.pushed, self.pool = company, rackbeat, pushed, pool
        self.rng = random.Random(seed)
        self.jobs: list[Callable[[], None]] = []
        self.next_customer = max(company.customers) + 1
        new_pairs = round(sales * NEW_CUSTOMER_SHARE / 2)
        credit_pairs = round(sales * CREDIT_SHARE / 2)
        plain = max(0, sales - 2 * new_pairs - 2 * credit_pairs)
        self.jobs += [self._plain] * plain
        self.jobs += [self._with_credit_note] * credit_pairs
        self.jobs += [self._new_customer_pair] * new_pairs
        self.jobs += [self._supplier_invoice] * supplier
        self.rng.shuffle(self.jobs)

    def _invoice(self, customer: int, lines: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        draft = self.rackbeat.post("customer-invoices", {"customer_id": customer, "lines": lines, **extra},
                                   "customer_invoice")
        return self.rackbeat.post(f"customer-invoices/{draft['number']}/book", {}, "customer_invoice")

    def _plain(self) -> None:
        customer = self.rng.choice(self.company.customers)
        lines = _lines(self.rng)
        booked = self._invoice(customer, lines)
        self.pushed.add(self.pushed.sales, self.company, int(booked["number"]))

    def _credit(self, customer: int, original: dict[str, Any], lines: list[dict[str, Any]]) -> None:
        credited = lines[: max(1, len(lines) - 1)]
        note = self._invoice(customer, credited, is_credit_note=True, credited_invoice_number=original["number"])
        self.pushed.add(self.pushed.credit_notes, self.company, int(note["number"]))

    def _with_credit_note(self) -> None:
        customer = self.rng.choice(self.company.customers)
        lines = _lines(self.rng)
        original = self._invoice(customer, lines)
        self.pushed.add(self.pushed.sales, self.company, int(original["number"]))
        self._credit(customer, original, lines)

    def _new_customer_pair(self) -> None:
        with self.pushed.lock:
            number = self.next_customer
            self.next_customer += 1
        self.rackbeat.post("customers", {"number": number, "name": f"Ny kunde {number} ApS",
                                         "contact_email": f"ny{number}@example.com", "layout_id": 1,
                                         "payment_terms_id": 1}, "customer")
        self.pushed.add(self.pushed.new_customers, self.company, number)
        lines = _lines(self.rng)
        draft = self.rackbeat.post("customer-invoices", {"customer_id": number, "lines": lines}, "customer_invoice")
        credited = lines[: max(1, len(lines) - 1)]
        note = self.rackbeat.post("customer-invoices", {"customer_id": number, "lines": credited,
                                                        "is_credit_note": True,
                                                        "credited_invoice_number": draft["number"]},
                                  "customer_invoice")
        # Both booked at the same moment: two webhooks, two workers, one new customer.
        barrier = threading.Barrier(2)

        def book(doc: dict[str, Any]) -> dict[str, Any]:
            barrier.wait(timeout=30)
            return self.rackbeat.post(f"customer-invoices/{doc['number']}/book", {}, "customer_invoice")

        with ThreadPoolExecutor(max_workers=2) as pair:
            booked = list(pair.map(book, [draft, note]))
        self.pushed.add(self.pushed.sales, self.company, int(booked[0]["number"]))
        self.pushed.add(self.pushed.credit_notes, self.company, int(booked[1]["number"]))

    def _supplier_invoice(self) -> None:
        supplier = self.rng.choice(self.company.suppliers)
        lines = _lines(self.rng, count=self.rng.randint(1, 3))
        for line in lines:
            line["line_price"] = f"{float(line['line_price']) * 0.45:.2f}"
        draft = self.rackbeat.post("supplier-invoices", {
            "supplier_id": supplier, "lines": lines,
            "supplier_invoice_number": f"F-{self.company.index}-{self.rng.randint(10000, 99999)}",
        }, "supplier_invoice")
        booked = self.rackbeat.post(f"supplier-invoices/{draft['number']}/book", {}, "supplier_invoice")
        self.pushed.add(self.pushed.supplier, self.company, int(booked["number"]))


def push(base_url: str, companies: list[Company], *, sales: int, supplier: int, seed: int, threads: int = 6,
         progress: Callable[[int, int], None] | None = None) -> Pushed:
    """Book ``sales`` sales documents and ``supplier`` supplier invoices, spread over the companies."""
    pushed = Pushed()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        jobs: list[Callable[[], None]] = []
        for company in companies:
            share_sales = sales // len(companies) + (1 if company.index < sales % len(companies) else 0)
            share_supplier = supplier // len(companies) + (1 if company.index < supplier % len(companies) else 0)
            plan = Plan(company, Rackbeat(base_url, company), pushed, sales=share_sales, supplier=share_supplier,
                        seed=seed + company.index, pool=pool)
            jobs += plan.jobs
        random.Random(seed).shuffle(jobs)
        futures = [pool.submit(job) for job in jobs]
        for done, future in enumerate(as_completed(futures), start=1):
            try:
                future.result()
            except Exception as exc:  # recorded: a document the suite failed to create is not the service's loss
                pushed.errors.append(f"{type(exc).__name__}: {exc}")
            if progress is not None:
                progress(done, len(futures))
    return pushed
