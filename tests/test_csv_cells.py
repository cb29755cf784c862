"""CSV cells that a spreadsheet would run are written as text and read back unchanged."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integration.core.csv_cells import FORMULA_STARTS, PLAIN_NUMBER, read_cell, safe_cell


@pytest.mark.parametrize("text", ["=1+1", "+45", "-x", "@SUM(A1)", "\tcmd", "\rcmd", "'=x", "''+y"])
def test_formula_like_cells_get_an_apostrophe(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["-125.00", "0", "42", "Kasse", "", "a=b", "'quoted"])
def test_plain_cells_are_left_alone(text):
    assert safe_cell(text) == text


@given(st.text())
def test_every_cell_reads_back_as_written(text):
    written = safe_cell(text)
    assert read_cell(written) == text
    assert not written.startswith(FORMULA_STARTS) or PLAIN_NUMBER.match(written)
