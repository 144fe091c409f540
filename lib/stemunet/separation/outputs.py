"""Where a separation job writes, and what it refuses to write over: output paths, the
``source.json`` record of which input and model made a track's stems, scratch files of an
interrupted job, and the checks on the output folder and summary file made before any work."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stemunet.config import STEM_NAMES, ConfigError
from stemunet.files import file_sha256, process_alive, scratch_owner
from stemunet.separation.config import SeparateConfig
from stemunet.separation.inputs import SOURCE_RECORD, InputFile, is_audio_file

if TYPE_CHECKING:  # pandas, torch and the model stack load where they are used: --help and usage errors stay instant

    from stemunet.separation.separator import Separator


def resolve_output_dir(config: SeparateConfig, run_dir: str | Path | None = None) -> Path:
    """``config.output_dir``, or ``<run_dir>/stems`` when it is empty."""
    if config.output_dir:
        return Path(config.output_dir).expanduser()
    if run_dir is None:
        raise ValueError("no output folder: set output_dir (-o OUTDIR)")
    return Path(run_dir) / "stems"


def output_paths(output_dir: str | Path, track: str, config: SeparateConfig, model_stems: Sequence[str] = STEM_NAMES) -> dict[str, Path]:
    """``{stem: OUTDIR/<track>/<stem>.<ext>}`` for the stems ``config`` writes with a model of ``model_stems``."""
    folder = Path(output_dir) / track
    return {name: folder / f"{name}.{config.format}" for name in config.output_names(model_stems)}



SCRATCH_SUFFIXES = (".part", ".float.part")


class OutputError(OSError):
    """An output cannot be written; the message names the output (not the input) and why."""



def input_identity(path: Path) -> dict[str, Any]:
    """What identifies an input file: absolute path, size, modification time and SHA-256."""
    stat = path.stat()
    return {"input": str(path.resolve()), "size": stat.st_size, "mtime": stat.st_mtime, "sha256": file_sha256(path)}


def model_identity(separator: Separator) -> dict[str, str | None]:
    """Which model a separator is: its checkpoint file and that file's SHA-256 (``None`` for one not
    loaded from a file, see :func:`stemunet.separation.loading.load_separator`)."""
    file = getattr(separator, "checkpoint_file", None)
    if file is None or not Path(file).is_file():
        return {"checkpoint": None, "checkpoint_sha256": None}
    return {"checkpoint": str(file), "checkpoint_sha256": file_sha256(Path(file))}


def _stem_records(record: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{stem file name: what wrote it}`` from a :data:`SOURCE_RECORD` (older ones list only ``outputs``)."""
    stems = record.get("stems")
    if isinstance(stems, dict):
        return {name: dict(entry) for name, entry in stems.items() if isinstance(entry, dict)}
    return {Path(old).name: {"file": old, "input": record.get("input"), "sha256": record.get("sha256"), "checkpoint": None,
                             "checkpoint_sha256": None} for old in record.get("outputs", [])}  # fmt: skip


def _kept_stems_note(kept: Mapping[str, Mapping[str, Any]], written: Mapping[str, Any]) -> str:
    """What the summary says of stems an earlier run wrote beside this one's: those of another
    input, or of another (or an unrecorded) model. Empty when they match this run's."""
    other_input = [name for name, entry in kept.items() if entry.get("sha256") != written["sha256"]]
    other_model = [
        name for name, entry in kept.items()
        if name not in other_input and (not entry.get("checkpoint_sha256") or entry.get("checkpoint_sha256") != written["checkpoint_sha256"])
    ]  # fmt: skip
    notes = []
    if other_input:
        inputs = sorted({str(kept[name].get("input")) for name in other_input})
        notes.append(f"kept beside them: {', '.join(other_input)} of another input ({', '.join(inputs)})")
    if other_model:
        models = sorted({str(kept[name].get("checkpoint") or "not recorded") for name in other_model})
        notes.append(f"kept beside them: {', '.join(other_model)} from another model ({', '.join(models)})")
    return "; ".join(notes)


def _source_record(track_folder: Path, item_path: Path, outputs: Mapping[str, Path], model: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """The new :data:`SOURCE_RECORD` of a track folder once ``outputs`` are written, and the note on
    the stems an earlier run left there (never deleted: this run was not asked to write them)."""
    identity = input_identity(item_path)
    written = {path.name: {"file": str(path.resolve()), "input": identity["input"], "sha256": identity["sha256"], **model}
               for path in outputs.values()}  # fmt: skip
    kept = {name: entry for name, entry in _stem_records(_read_source_record(track_folder)).items()
            if name not in written and (track_folder / name).is_file()}  # fmt: skip
    note = _kept_stems_note(kept, {"sha256": identity["sha256"], **model})
    stems = {name: {**entry, "file": str((track_folder / name).resolve())} for name, entry in kept.items()}
    stems.update(written)
    record = {**identity, "outputs": [entry["file"] for entry in stems.values()], "stems": stems}
    return record, note


def _read_source_record(track_folder: Path) -> dict[str, Any]:
    try:
        record = json.loads((track_folder / SOURCE_RECORD).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _output_problem(item: InputFile, outputs: Mapping[str, Path], output_dir: Path, config: SeparateConfig, input_paths: set[Path]) -> tuple[str, str] | None:
    """``(status, message)`` when ``item`` must not be separated into ``outputs``, else ``None``."""
    root = output_dir.resolve()
    for target in outputs.values():
        resolved = target.resolve()
        if root not in resolved.parents:
            link = next((p for p in (target.parent, target) if p.is_symlink()), None)
            if link is not None:
                return "failed", (f"{item.path}: {link} in the output folder is a symbolic link to {link.resolve()}, outside "
                                  f"{output_dir}; outputs are never written through it (remove the link, or choose another -o)")
            return "failed", f"{item.path}: its outputs would land outside {output_dir} ({target}); rename the input"
        if resolved in input_paths:
            return "failed", f"{item.path}: its output {target} is one of the inputs; it is never written over (choose another -o)"
    existing = [p for p in outputs.values() if p.exists()]
    if not existing or config.overwrite:
        return None
    folder = existing[0].parent
    record = _read_source_record(folder)
    if record.get("sha256") and not _same_input(item.path, record):
        return "failed", (
            f"{item.path}: {folder} holds stems of another input ({record['input']}); "
            "overwrite (--overwrite) replaces them, or choose another -o"
        )
    if len(existing) == len(outputs):
        return "skipped", f"outputs exist in {folder}; overwrite (--overwrite) replaces them"
    return "failed", f"some outputs exist ({', '.join(p.name for p in existing)} in {folder}); overwrite (--overwrite) replaces them"


def _same_input(path: Path, record: Mapping[str, Any]) -> bool:
    """Whether ``path`` is the input a :data:`SOURCE_RECORD` describes: same file unchanged, or same content."""
    stat = path.stat()
    if str(path.resolve()) == record.get("input") and stat.st_size == record.get("size") and stat.st_mtime == record.get("mtime"):
        return True
    return input_identity(path)["sha256"] == record.get("sha256")


def remove_stale_scratch(track_folder: Path, outputs) -> list[Path]:
    """Delete scratch files an earlier, killed run left beside these outputs (``.<name>.<pid>.*.part``).

    Those of a process still running on this machine are its work in progress (another command
    writing the same track) and stay; names without a process id come from older versions.
    """
    removed = []
    if not track_folder.is_dir():
        return removed
    for target in outputs:
        for scratch in track_folder.glob(f".{target.name}.*"):
            if not scratch.name.endswith(SCRATCH_SUFFIXES):
                continue
            owner = scratch_owner(scratch, target)
            if owner is not None and (owner == os.getpid() or process_alive(owner)):
                continue
            scratch.unlink(missing_ok=True)
            removed.append(scratch)
    return removed


def check_writable_file(path: str | Path) -> Path:
    """:class:`ConfigError` unless ``path`` can be written as a file (checked before the batch runs).

    Permission bits do not tell (root passes them; ``/proc`` and read-only mounts refuse anyway):
    a nameless temporary file is created in its folder and dropped.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise ConfigError(f"--summary {path}: is a folder; name a CSV file")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ConfigError(f"--summary {path}: the folder {folder} does not exist")
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(f"--summary {path}: not writable (permission denied)")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise ConfigError(f"--summary {path}: cannot be written in {folder} ({error.strerror or error})") from None
    return path


def check_summary_path(path: str | Path, inputs: Sequence[InputFile], output_dir: str | Path) -> Path:
    """:class:`ConfigError` when writing the summary CSV at ``path`` could replace something that
    is not ours to replace: an input, an audio file, any existing file but a CSV (a checkpoint, a
    record), the output folder or a track folder of it, or anything inside one (where this job
    writes stems and their records). Checked before the batch runs."""
    path = Path(path).expanduser()
    resolved = path.resolve()
    if any(item.path is not None and item.path.resolve() == resolved for item in inputs):
        raise ConfigError(f"--summary {path}: is one of the inputs; it is never written over (name a new CSV file)")
    if is_audio_file(path):
        raise ConfigError(f"--summary {path}: an audio file name; the summary is a CSV file (name one ending in .csv)")
    if resolved.exists() and (not resolved.is_file() or resolved.suffix.lower() != ".csv"):
        raise ConfigError(f"--summary {path}: exists and is not a CSV file; the summary never replaces it (name a new .csv file)")
    root = Path(output_dir).expanduser().resolve()
    tracks = {root / item.track for item in inputs if item.path is not None}
    if resolved == root or resolved in tracks or (root in resolved.parents and resolved.parent != root):
        raise ConfigError(f"--summary {path}: the output folder {output_dir}, one of its track folders or a file in one, "
                          "where the stems and their records go; name a file outside it, or directly in it")
    return path


def prepare_output_dir(output_dir: str | Path) -> list[Path]:
    """Create the output folder if missing and check that files can be written in it.

    Returns the folders it created, deepest first (the caller removes them if the job stops before
    any work). Raises :class:`ConfigError` naming the folder: a file, under ``/proc``, read-only.
    """
    path = Path(output_dir).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"-o {path}: is a file, not a folder")
    missing = [folder for folder in [path, *path.parents] if not folder.exists()]
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        for folder in missing:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise ConfigError(f"-o {path}: cannot write stems there ({error.strerror or error})") from None
    return missing
