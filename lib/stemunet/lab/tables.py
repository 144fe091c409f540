"""How the notebooks show tables: narrow enough for a notebook cell beside JupyterLab's file browser
(about 670 px wide in a 1100 px window), so no table needs sideways scrolling and no cell is
squeezed to a word a line.

:func:`compact_tables` (called once in a notebook's setup cell) makes every pandas table render
through :func:`compact_html`: pandas' own HTML (its number formatting and truncation unchanged),
with short values kept on one line ("4.95 ± 1.21" never wraps), headers that wrap between words
and after underscores, and less padding. Tables stay ``DataFrame`` objects: only their picture in
the notebook changes.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

COMPACT_STYLE = """
#{id} table {{ font-size: 12px; }}
#{id} th, #{id} td {{ padding: 0.3em 0.35em; }}
#{id} thead th {{ white-space: normal; overflow-wrap: normal; }}
#{id} tbody th {{ white-space: normal; overflow-wrap: normal; }}
"""
"""Scoped to one table (its own id): other outputs on the page keep JupyterLab's look."""


SHORT_VALUE = 14
"""Values up to this many characters never wrap (numbers, "-10.95 ± 11.21", "synthetic (4)"); longer
text wraps between words, so that one long note does not widen the whole table."""

DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:T\d{2}-\d{2}(?:-\d{2})?)?")
"""Dates and run time stamps, never broken at their hyphens."""


def _cell(match: re.Match, header: bool = False) -> str:
    """One ``<th>`` or ``<td>`` of pandas' HTML, made compact: a short value on one line, a date
    whole, a column ``header`` breakable after its underscores."""
    tag, attributes, text = match.groups()
    if tag == "td" and len(text) <= SHORT_VALUE and not attributes:
        attributes = " style='white-space: nowrap'"
    parts = []
    for index, part in enumerate(re.split(f"({DATE.pattern})", text)):
        if index % 2:
            parts.append(f"<span style='white-space: nowrap'>{part}</span>")
        else:
            parts.append(re.sub(r"_(?=[^_\s])", "_<wbr>", part) if header else part)
    return f"<{tag}{attributes}>{''.join(parts)}</{tag}>"


def compact_html(table: Any) -> str | None:
    """The HTML a notebook shows for a pandas ``table``: pandas' own, in a ``<div>`` whose style
    keeps short values on one line (:data:`SHORT_VALUE`), lets headers wrap between words and
    after ``_`` (``seconds_taken``), and pads less. None where pandas gives no HTML (IPython then
    shows the text)."""
    own = table._repr_html_()
    if own is None:
        return None
    head, body = own.split("<tbody>", 1) if "<tbody>" in own else (own, "")
    head = re.sub(r"<(th)([^>]*)>([^<]*)</th>", lambda match: _cell(match, header=True), head)
    body = re.sub(r"<(t[hd])([^>]*)>([^<]*)</t[hd]>", _cell, body)
    own = head + ("<tbody>" + body if body else "")
    identity = f"stemunet-table-{uuid.uuid4().hex[:12]}"
    return f"<div id='{identity}'><style>{COMPACT_STYLE.format(id=identity)}</style>{own}</div>"


def compact_tables() -> None:
    """Show every pandas table of this notebook through :func:`compact_html` (nothing outside IPython)."""
    import pandas as pd

    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["text/html"].for_type(pd.DataFrame, compact_html)
