"""The text a PDF made by ReportLab shows, for tests that read reports like a person."""

from __future__ import annotations

import base64
import re
import zlib

STREAM = re.compile(rb"stream\r?\n(.*?)\r?\n?endstream", re.S)
SHOWN = re.compile(rb"\(((?:[^()\\]|\\.)*)\)\s*Tj", re.S)


def _content(raw: bytes) -> bytes:
    """A page stream as ReportLab writes it (ASCII85 over Flate), or as it is."""
    try:
        return zlib.decompress(base64.a85decode(raw.strip().removesuffix(b"~>")))
    except ValueError:
        pass
    try:
        return zlib.decompress(raw)
    except zlib.error:
        return raw


def pdf_streams(pdf: bytes) -> list[bytes]:
    """The drawing instructions of every stream, decoded."""
    return [_content(raw) for raw in STREAM.findall(pdf)]


def pdf_lines(pdf: bytes) -> list[str]:
    """Every piece of text drawn on the pages, in drawing order (one line of a table cell each)."""
    lines: list[str] = []
    for content in pdf_streams(pdf):
        for shown in SHOWN.findall(content):
            text = re.sub(rb"\\(\d{3})", lambda m: bytes([int(m.group(1), 8)]), shown)
            text = re.sub(rb"\\(.)", rb"\1", text)
            lines.append(text.decode("cp1252", errors="replace"))
    return lines


def pdf_pages(pdf: bytes) -> int:
    return pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ")
