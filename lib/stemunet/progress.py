"""Progress bars that read the same live, in a saved notebook and in a terminal.

tqdm's notebook bars are widgets: a saved notebook shows them only where it is trusted and its
widget state restored, and otherwise as a frozen ``0/20``. Here a bar inside a Jupyter kernel is
plain text on stdout (so JupyterLab does not colour it as an error, and the saved notebook shows
its final state to anyone), updated at most twice a second; nested bars (``leave=False``) are
left out there, since a notebook cannot redraw several lines. In a terminal it is tqdm's usual
bar on stderr.
"""

from __future__ import annotations

import sys
from typing import Any

from tqdm.std import tqdm


def in_kernel() -> bool:
    """Whether this process is a Jupyter kernel (its stdout is ipykernel's stream)."""
    kernel = sys.modules.get("ipykernel.iostream")
    return kernel is not None and isinstance(sys.stdout, kernel.OutStream)


def progress_bar(iterable: Any = None, **options: Any) -> tqdm:
    """``tqdm(iterable, **options)``, shown as the module docstring says."""
    if in_kernel():
        if options.get("leave") is False:
            options["disable"] = True
        options.setdefault("file", sys.stdout)
        options.setdefault("mininterval", 0.5)
        options.setdefault("ncols", 100)
    return tqdm(iterable, **options)
