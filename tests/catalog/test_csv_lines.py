"""The licensing CSV reader's own line splitter and text cleaner behave exactly like the stdlib ways."""

from __future__ import annotations

import io
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from seatflow.catalog.microsoft_csv import _clean, _lines

LINE_TEXT = st.text(alphabet=st.sampled_from(list('ab,"é \r\n\t\u00a0\u200b日')), max_size=200)


@given(LINE_TEXT)
def test_lines_are_those_stringio_yields(text: str) -> None:
    assert list(_lines(text)) == list(io.StringIO(text, newline=""))


@given(st.text(max_size=80))
def test_clean_matches_the_unicode_rule(text: str) -> None:
    invisible = "\u200b\u200c\u200d\u2060\ufeff"
    expected = " ".join(
        "".join(" " if unicodedata.category(c) == "Zs" else c for c in text if c not in invisible).split()
    )
    cleaned, changed = _clean(text)
    assert cleaned == expected
    assert changed == (expected != text.strip())
