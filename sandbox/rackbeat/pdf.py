"""A small but real PDF of an invoice (one page, Helvetica), as ``…/{number}.pdf`` returns."""

from __future__ import annotations

from sandbox.rackbeat import models as m


def _escape(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def render_pdf(lines: list[str], *, title: str) -> bytes:
    """One A4 page with ``lines`` of text; a valid PDF 1.4 file with a correct xref table."""
    content = [b"BT", b"/F1 16 Tf", b"50 790 Td", b"(" + _escape(title) + b") Tj", b"/F1 10 Tf", b"0 -28 Td"]
    for line in lines[:60]:
        content += [b"(" + _escape(line) + b") Tj", b"0 -13 Td"]
    content.append(b"ET")
    stream = b"\n".join(content)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for index, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{index} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def invoice_pdf(invoice: m.CustomerInvoice | m.SupplierInvoice) -> bytes:
    purchase = isinstance(invoice, m.SupplierInvoice)
    partner = invoice.supplier if purchase else invoice.customer
    kind = "Leverandørfaktura" if purchase else ("Kreditnota" if invoice.is_credit_note else "Faktura")
    lines = [
        invoice.account.company_name,
        f"{partner.name} ({partner.number})",
        f"{partner.address_street}, {partner.address_zipcode} {partner.address_city}, {partner.address_country}",
        f"Fakturadato {invoice.invoice_date:%d-%m-%Y}   Forfald {invoice.due_date:%d-%m-%Y}",
        "",
    ]
    for line in invoice.lines.select_related("item"):
        number = line.item.number if line.item else ""
        lines.append(f"{number:<14} {line.name[:40]:<40} {line.quantity:>8} x {line.line_price:>10}  "
                     f"{line.line_total:>12}")
    lines += [
        "",
        f"Subtotal {invoice.total_subtotal} {invoice.currency}",
        f"Moms {invoice.total_vat} {invoice.currency}",
        f"I alt {invoice.total_total} {invoice.currency}",
    ]
    return render_pdf(lines, title=f"{kind} {invoice.number}")
