"""CSV cells that a spreadsheet opens as text, never as a formula (OWASP "CSV injection", SPEC §18).

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to Excel, LibreOffice
and Google Sheets: a customer named ``=HYPERLINK("http://x")`` would become a link in the accountant's sheet. Such
a cell gets a leading single quote, which the spreadsheet shows as text, as OWASP recommends. The one exception is
a cell that is entirely a number (``-12.00``, a credit's amount): a number is no formula, and prefixing it would
turn every negative amount into text that no longer adds up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def safe_cell(value: object) -> str:
    """The cell's text, with a leading ``'`` when a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def safe_row(cells: Iterable[object]) -> list[str]:
    """Every cell of a row through ``safe_cell``: what every CSV export writes."""
    return [safe_cell(cell) for cell in cells]
