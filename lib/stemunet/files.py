"""Atomic file writes: a file is written under a temporary name beside it and renamed.

A crash or Ctrl-C mid-write leaves the previous file (or none), never a half-written one.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def scratch_prefix(target: Path) -> str:
    """``.<name>.<pid>.``: temporary files beside ``target`` carry the id of the process writing them,
    so a clean-up can tell a crashed run's leftovers from another live process's work in progress."""
    return f".{target.name}.{os.getpid()}."


def scratch_owner(scratch: Path, target: Path) -> int | None:
    """The process id in the name of a temporary file beside ``target`` (``None``: not recorded)."""
    rest = scratch.name.removeprefix(f".{target.name}.")
    owner = rest.split(".", 1)[0]
    return int(owner) if owner.isdigit() and rest != scratch.name else None


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def cache_root() -> Path:
    """Where stemunet caches what it can make again (synthetic sets, summed mixtures):
    ``$STEMUNET_CACHE`` if that variable is set, else ``~/.cache/stemunet``."""
    base = os.environ.get("STEMUNET_CACHE")
    return Path(base).expanduser() if base else Path.home() / ".cache" / "stemunet"


@contextlib.contextmanager
def atomic_path(path: str | Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    With ``overwrite=False`` an existing ``path`` raises :class:`FileExistsError` before anything
    is written.
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise FileExistsError(f"{path} exists; refusing to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=scratch_prefix(path), suffix=".part")
    os.close(handle)
    # mkstemp creates the file readable by its owner alone; give it the mode open() would.
    os.chmod(temporary, 0o666 & ~_current_umask())
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def read_mapping(path: str | Path) -> dict[str, Any]:
    """The mapping in a JSON or YAML file we wrote (``metrics.json``, ``parameters.yaml``); ``{}`` when
    the file is missing, unreadable or holds something else (a run interrupted while writing)."""
    import yaml  # YAML 1.1 reads JSON too

    try:
        values = yaml.safe_load(Path(path).read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return values if isinstance(values, dict) else {}


def write_text_atomic(path: str | Path, text: str) -> Path:
    with atomic_path(path) as temporary:
        temporary.write_text(text)
    return Path(path)


def write_json_atomic(path: str | Path, data: Any) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


FULL_DISK_BYTES = 1 << 20
"""Free space below which a failed write is reported as a full disk (the write used up the rest)."""


def torch_save_atomic(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to ``path`` atomically (a temporary file beside it, renamed when complete).

    Raises:
        OSError: ``errno.ENOSPC`` naming ``path`` when the disk filled up (torch's zip writer reports
            that as ``RuntimeError: ... unexpected pos N vs M``, which names neither), else the error.
    """
    import torch  # here: the modules that only write text stay free of torch

    path = Path(path)
    try:
        with atomic_path(path) as temporary:
            torch.save(obj, temporary)
    except (RuntimeError, OSError) as error:
        if shutil.disk_usage(path.parent).free < FULL_DISK_BYTES or getattr(error, "errno", None) == errno.ENOSPC:
            raise OSError(errno.ENOSPC, f"{path}: not written: no space left on device (free some space in {path.parent})") from None
        raise
    return path


@contextlib.contextmanager
def scratch_file(beside: Path) -> Iterator[Path]:
    """A temporary file beside ``beside`` (same disk as the outputs), always deleted afterwards."""
    beside.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=beside.parent, prefix=scratch_prefix(beside), suffix=".float.part")
    os.close(handle)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, hex, read in 1 MB blocks (any size in fixed memory)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cached_file_sha256(path: str | Path) -> str:
    """:func:`file_sha256`, computed once per process for each version of a file (keyed on its
    resolved path, size and modification time, so an edited file is hashed again): for large files
    that every data-set lookup names, such as SoundFonts and the singer's voice."""
    path = Path(path).resolve()
    stat = path.stat()
    return _sha256_of_version(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _sha256_of_version(path: str, size: int, mtime_ns: int) -> str:
    return file_sha256(path)
