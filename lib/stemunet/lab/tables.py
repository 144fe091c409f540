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
#{id} th, #{id} td {{ padding: 0.3em 0.35em; }}
#{id} thead th {{ white-space: normal; overflow-wrap: normal; min-width: 2.5em; max-width: 9em; }}
#{id} tbody th {{ white-space: normal; overflow-wrap: normal; max-width: 16em; }}
"""
"""Scoped to one table (its own id): other outputs on the page keep JupyterLab's look."""


SHORT_VALUE = 16
"""Values up to this many characters never wrap (numbers, "4.95 ± 1.21", "synthetic (4)"); longer
text wraps between words, so that one long note does not widen the whole table."""


def _keep_short_values_whole(match: re.Match) -> str:
    text = match.group(1)
    return f"<td style='white-space: nowrap'>{text}</td>" if len(text) <= SHORT_VALUE else match.group(0)


def _break_after_underscores(match: re.Match) -> str:
    opening, text, closing = match.groups()
    return opening + re.sub(r"_(?=[^_\s])", "_<wbr>", text) + closing


def compact_html(table: Any) -> str | None:
    """The HTML a notebook shows for a pandas ``table``: pandas' own, in a ``<div>`` whose style
    keeps short values on one line (:data:`SHORT_VALUE`), lets headers wrap between words and
    after ``_`` (``seconds_taken``), and pads less. None where pandas gives no HTML (IPython then
    shows the text)."""
    own = table._repr_html_()
    if own is None:
        return None
    own = re.sub(r"(<th[^>]*>)([^<]*)(</th>)", _break_after_underscores, own)
    own = re.sub(r"<td>([^<]*)</td>", _keep_short_values_whole, own)
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
