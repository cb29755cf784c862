"""The specification of an item-consumption voucher: a one-page PDF attached to the voucher in Dinero.

The bookkeeping law expects documentation for every voucher. A consumption voucher has no
document of its own in Rackbeat, so the service writes one: the invoice (or credit note) it
belongs to, each stock item with its quantity and cost price, the sum booked and the two accounts.
The page is uncompressed text, so what it says can be searched in Dinero's file archive.
"""

from __future__ import annotations

from decimal import Decimal
from io import BytesIO

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from integration.transfers.invoice_mapping import ConsumptionPayload

MARGIN = 50
TOP_FONT = 9
# Below this size a long invoice continues on another page rather than shrinking further.
SMALLEST_FONT = 6
COLUMNS = (("Varenr.", 0, "left"), ("Tekst", 90, "left"), ("Antal", 350, "right"), ("Kostpris", 420, "right"),
           ("Beløb", 495, "right"))


def file_name(number: str) -> str:
    return f"rackbeat-consumption-{number}.pdf"


def _figure(value: Decimal) -> str:
    return f"{value:.2f}"


def _quantity(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _price(value: Decimal) -> str:
    """A cost price as Rackbeat holds it: at least two decimals, more when it has them (41.335)."""
    return _figure(value) if value == value.quantize(Decimal("0.01")) else _quantity(value)


def specification(payload: ConsumptionPayload, *, credit_note: bool, consumption_account: int,
                  stock_account: int) -> bytes:
    """The PDF of the consumption voucher ``payload`` (see module docstring)."""
    buffer = BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=0)
    kind = "kreditnota" if credit_note else "faktura"
    canvas.setTitle(f"Vareforbrug {kind} {payload.number}")
    width, height = A4
    y = height - MARGIN
    canvas.setFont("Helvetica-Bold", 14)
    canvas.drawString(MARGIN, y, f"Vareforbrug – specifikation til {kind} {payload.number}")
    y -= 20
    canvas.setFont("Helvetica", 10)
    canvas.drawString(MARGIN, y, f"Bilagsdato {payload.voucher_date} · reference {payload.external_reference}")
    y -= 14
    debit, credit = (consumption_account, stock_account) if payload.amount >= 0 else (stock_account,
                                                                                     consumption_account)
    canvas.drawString(MARGIN, y, f"Konto {debit} debiteres, konto {credit} krediteres, uden moms.")
    y -= 24

    rows = len(payload.lines) + 2
    size = max(SMALLEST_FONT, min(TOP_FONT, int((y - MARGIN) / (rows * 1.4))))
    step = size * 1.4

    def header(y: float) -> float:
        canvas.setFont("Helvetica-Bold", size)
        for title, x, align in COLUMNS:
            _draw(canvas, MARGIN + x, y, title, align)
        canvas.setFont("Helvetica", size)
        return y - step

    y = header(y)
    for line in payload.lines:
        if y < MARGIN + step:
            canvas.showPage()
            y = header(height - MARGIN)
        cells = (line.item, line.name[:60], _quantity(line.quantity), _price(line.cost_price), _figure(line.amount))
        for (_title, x, align), text in zip(COLUMNS, cells, strict=True):
            _draw(canvas, MARGIN + x, y, text, align)
        y -= step
    canvas.line(MARGIN, y + step * 0.6, width - MARGIN, y + step * 0.6)
    canvas.setFont("Helvetica-Bold", size)
    _draw(canvas, MARGIN + COLUMNS[3][1], y, "Sum", "right")
    _draw(canvas, MARGIN + COLUMNS[4][1], y, _figure(abs(payload.amount)), "right")
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _draw(canvas: Canvas, x: float, y: float, text: str, align: str) -> None:
    if align == "right":
        canvas.drawRightString(x, y, text)
    else:
        canvas.drawString(x, y, text)
