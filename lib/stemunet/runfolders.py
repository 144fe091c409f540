"""Run folders: where they live, which exist, how a new one is named and made, and how an
unstarted one is discarded.

:mod:`stemunet.checkpoints` finds ``latest`` with them, the training command makes its folder
with them, and :mod:`stemunet.lab.runs` (the notebooks' run records) builds on them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
from pathlib import Path

from stemunet.config import ConfigError


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


RUN_TIME_FORMAT = "%Y-%m-%dT%H-%M-%S"




def notebooks_root() -> Path:
    root = project_root()
    if root is None:
        raise FileNotFoundError("no notebooks/ folder at or above the working directory; run from the project")
    return root / "notebooks"


def new_run_dir(notebook: str, root: Path | None = None, now: dt.datetime | None = None) -> Path:
    """Create and return ``<root>/<time>_<notebook>``; a second run in the same second gets ``-2``."""
    root = runs_root() if root is None else Path(root)
    where = f"runs folder {root}" + (" ($STEMUNET_RUNS)" if os.environ.get("STEMUNET_RUNS") else "")
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{where}: is a file, not a folder; point STEMUNET_RUNS at a folder")
    if root.is_symlink() and not root.exists():
        raise ConfigError(f"{where}: a link to a missing folder ({os.readlink(root)}); create it or point STEMUNET_RUNS elsewhere")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # read-only, permission denied, a file above it, /proc
        raise ConfigError(f"{where}: cannot create run folders there ({error.strerror or error})") from None
    stamp = (now or dt.datetime.now()).strftime(RUN_TIME_FORMAT)
    for attempt in range(1, 1000):
        suffix = "" if attempt == 1 else f"-{attempt}"
        path = root / f"{stamp}_{notebook}{suffix}"
        try:
            path.mkdir()  # atomic: of two racing runs exactly one creates a given name
            return path
        except FileExistsError:
            continue
        except OSError as error:
            raise ConfigError(f"{where}: cannot create run folders there ({error.strerror or error})") from None
    raise RuntimeError(f"could not create a run folder for {notebook} in {root}")


RUN_FILES = ("parameters.yaml", "metrics.json", "history.csv", "checkpoints")
"""What a run folder holds once a run has started in it: such a folder is never written over."""


def check_new_run_dir(path: str | Path) -> Path:
    """``path`` as a folder a new run may write into: missing or holding no run.

    Raises :class:`ConfigError` for a file, and for a folder that holds a run (finished or not:
    continuing one is ``resume_from``, which writes a new run folder).
    """
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"run folder {path}: is a file, not a folder")
    held = [name for name in RUN_FILES if (path / name).exists()]
    if held:
        raise ConfigError(
            f"run folder {path}: holds a run already ({', '.join(held)}); a run is never written over "
            f"(continue it with -p resume_from {path}, or name a new folder)"
        )
    return path


def discard_unstarted_run(path: str | Path, *, created: bool) -> None:
    """Remove what :func:`start_run` wrote into ``path`` for a run that stopped before its first
    checkpoint (bad data, a resume that cannot be), so no empty run folder stays behind: the
    folder itself when this process ``created`` it, else only our files."""
    import shutil

    path = Path(path)
    if (path / "checkpoints" / "last.pt").exists() or (path / "checkpoints" / "best.pt").exists():
        return
    if created:
        shutil.rmtree(path, ignore_errors=True)
        return
    (path / "parameters.yaml").unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        (path / "checkpoints").rmdir()
