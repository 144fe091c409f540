"""Where run folders live and which exist: the facts about runs that lower modules need.

:mod:`stemunet.checkpoints` finds ``latest`` with them, and :mod:`stemunet.runs` (the runner and
the run records, which uses checkpoints) builds on them: so every import points down.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def project_root() -> Path | None:
    """The nearest folder at or above the working directory holding ``notebooks/``, if any."""
    for folder in [Path.cwd(), *Path.cwd().parents]:
        if (folder / "notebooks").is_dir() and (folder / "lib" / "stemunet").is_dir():
            return folder
    return None


def runs_root() -> Path:
    """Where run folders go: ``$STEMUNET_RUNS``, else ``runs/`` of the project, else ``./runs``."""
    if os.environ.get("STEMUNET_RUNS"):
        return Path(os.environ["STEMUNET_RUNS"]).expanduser()
    root = project_root()
    return (root if root is not None else Path.cwd()) / "runs"


def list_runs(notebook: str | None = None, root: Path | None = None) -> list[Path]:
    """Run folders (of one notebook, if given), oldest first."""
    root = runs_root() if root is None else Path(root)
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if p.is_dir() and "_" in p.name]
    if notebook is not None:
        runs = [p for p in runs if p.name.split("_", 1)[1].split("-")[0] == notebook]
    return sorted(runs, key=lambda p: p.name)


def git_commit() -> str | None:
    """The library's git commit (``-dirty`` when changed), or ``None`` outside a checkout."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")
