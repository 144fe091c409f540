"""Batch separation of audio files into stems, behind both ``separate.ipynb`` and the command line.

``python -m stemunet.separate INPUT... -o OUTDIR [--checkpoint RUN_OR_FILE] [options]``

Inputs are files, folders (searched recursively) or globs: wav, flac, ogg, mp3, m4a, ... and the
mixture of a ``.stem.mp4``, at any sample rate, mono or stereo (more channels with ``--downmix``).
Each input becomes ``OUTDIR/<track name>/<stem>.<ext>`` with the input's sample rate, channel count
and length. The track name is the file name without its extension (without ``.stem.mp4`` for
MUSDB18); for a MUSDB18-HQ track folder, ``<track>/mixture.wav``, it is the folder's name.

Files are streamed: they are decoded, resampled, separated by overlap-add and written block by
block, so memory does not grow with a file's length. Every output is written under a temporary
name and renamed once the whole track is done; an interrupted job leaves no half files. Existing
outputs are never replaced without ``--overwrite``. A file that fails is reported and the rest go
on; the job ends with a summary table and exits 1 if any input failed (2 for a bad command line
or checkpoint).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import glob
import itertools
import json
import math
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import soundfile as sf

from stemunet.progress import progress_bar

from stemunet.audio import (
    WAV_SUBTYPES,
    AudioError,
    ClippingPolicy,
    Encoding,
    apply_clipping_policy,
    check_channels,
    load_audio,
    open_audio_stream,
    rescale_gain,
)
from stemunet.config import STEM_NAMES, ChunkingConfig, Config, ConfigError, DataConfig, PostFilterChoice, check_device
from stemunet.files import atomic_path, file_sha256, process_alive, scratch_file, scratch_owner, write_json_atomic

if TYPE_CHECKING:  # pandas, torch and the model stack load where they are used: --help and usage errors stay instant
    import pandas as pd
    import torch

    from stemunet.separator import Separator

TWO_STEM_NAMES: tuple[str, ...] = ("vocals", "accompaniment")
"""Outputs of the two-stem mode: vocals, and the sum of drums, bass and other."""

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".m4a", ".aac", ".aif", ".aiff", ".opus")
"""File types a folder or glob is searched for (besides ``.stem.mp4``); a file named on its own
is tried whatever its type."""

# Files beside a MUSDB18-HQ ``mixture.wav``: the track's stems, not more songs to separate.
_MUSDB_SIBLINGS = {*STEM_NAMES, "accompaniment", "linear_mixture"}

FileFormat = Literal["wav", "flac"]

SUMMARY_COLUMNS = [
    "input", "track", "status", "error", "seconds", "seconds_taken", "x_realtime",
    "sample_rate", "channels", "gain", "outputs", "note",
]  # fmt: skip
"""``note``: what a successful row should still tell (a truncated input, stems of another model kept beside)."""


@dataclasses.dataclass(frozen=True)
class SeparateConfig(Config):
    """What to separate, with which checkpoint, and how to write the stems."""

    data: DataConfig = DataConfig()  # where the default inputs come from (its test tracks)
    chunking: ChunkingConfig = ChunkingConfig()
    postfilter: PostFilterChoice = PostFilterChoice()
    inputs: tuple[str, ...] = ()  # files, folders (recursive) or globs; empty = the data set's test mixtures
    checkpoint: str = ""  # training run folder, checkpoint file, pretrained or latest; "" = pretrained if bundled, else latest
    output_dir: str = ""  # stems go to <output_dir>/<track>/<stem>.<ext>; "" = <run folder>/stems
    encoding: Encoding = "pcm16"  # pcm16, pcm24 or float32 (wav only)
    format: FileFormat = "wav"  # wav or flac
    stems: tuple[str, ...] = ()  # stems to write (drums, bass, other, vocals; accompaniment in two-stem mode); empty = all
    two_stems: bool = False  # write vocals and accompaniment (drums + bass + other) instead of four stems
    clipping: ClippingPolicy = "rescale"  # integer encodings: rescale all stems of a track alike, clamp, or none
    downmix: bool = False  # average inputs of more than two channels to mono instead of failing them
    overwrite: bool = False  # replace existing outputs (otherwise a track whose outputs exist is skipped)
    device: str = "auto"  # auto (cuda when available, else cpu), cpu, cuda, cuda:1, mps

    def __post_init__(self) -> None:
        check_device(self.device)
        if self.format == "flac" and self.encoding == "float32":
            raise ConfigError("flac stores integers: use encoding pcm16 or pcm24, or format wav")
        valid = TWO_STEM_NAMES if self.two_stems else STEM_NAMES
        unknown = [name for name in self.stems if name not in valid]
        if unknown:
            mode = "two-stem mode" if self.two_stems else "four-stem mode"
            raise ConfigError(f"stems {unknown} do not exist in {mode}; choose from {list(valid)}")
        if len(set(self.stems)) != len(self.stems):
            raise ConfigError(f"stems lists a stem twice: {list(self.stems)}")

    @property
    def output_names(self) -> tuple[str, ...]:
        """The stems written for each track, in file order."""
        names = TWO_STEM_NAMES if self.two_stems else STEM_NAMES
        return tuple(name for name in names if not self.stems or name in self.stems)


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class InputFile:
    """One audio file to separate, or an input that resolved to none (``error`` says why)."""

    spec: str  # the input as the user gave it (file, folder or glob)
    path: Path | None
    track: str  # output folder name
    error: str = ""


def is_audio_file(path: str | Path) -> bool:
    """Whether a folder or glob search picks up ``path`` (by its name)."""
    name = Path(path).name.lower()
    return not name.startswith(".") and (name.endswith(".stem.mp4") or Path(name).suffix in AUDIO_SUFFIXES)


def track_name(path: str | Path) -> str:
    """``song.flac`` -> ``song``; ``Artist - Title.stem.mp4`` -> ``Artist - Title``;
    ``Artist - Title/mixture.wav`` (MUSDB18-HQ) -> ``Artist - Title``.

    The name becomes a folder inside the output folder, so it is made safe for that: ``.`` and
    ``..`` (a file named ``...wav``), leading dots and path separators are replaced, and an
    empty name becomes ``track``.
    """
    path = Path(path)
    if path.name.lower().endswith(".stem.mp4"):
        name = path.name[: -len(".stem.mp4")]
    elif path.stem.lower() == "mixture" and path.parent.name:
        name = path.parent.name
    else:
        name = path.stem
    name = re.sub(r"[/\\\x00]", "_", name).strip()
    name = re.sub(r"^\.+", lambda dots: "_" * len(dots.group()), name)  # no hidden, "." or ".." folders
    return name or "track"


def _written_by_us(folder: Path, output_dir: Path | None) -> bool:
    """Whether ``folder`` is a track folder a separation wrote: directly inside the output folder,
    with a :data:`SOURCE_RECORD`. Only those are kept out of a search; the user's own folders inside
    the output folder (``-o lib`` for ``lib/artist/cd1``) are searched like any other."""
    return output_dir is not None and folder.resolve().parent == output_dir and (folder / SOURCE_RECORD).is_file()


def _folder_audio_files(folder: Path, exclude: Path | None) -> list[Path]:
    """Audio files under ``folder``, sorted; of a MUSDB18-HQ track folder only the mixture; the
    track folders written into ``exclude`` (the output folder) left out."""
    found = []
    for directory, subdirectories, names in os.walk(folder):
        here = Path(directory)
        subdirectories[:] = sorted(d for d in subdirectories if not d.startswith(".") and not _written_by_us(here / d, exclude))
        audio = sorted(name for name in names if is_audio_file(name))
        if any(Path(name).stem.lower() == "mixture" for name in audio):
            audio = [name for name in audio if Path(name).stem.lower() not in _MUSDB_SIBLINGS]
        found.extend(here / name for name in audio)
    return found


def discover_inputs(specs: Sequence[str], *, exclude: str | Path | None = None) -> list[InputFile]:
    """Resolve files, folders (recursively) and globs to the audio files to separate.

    Args:
        specs: what the user named; a folder or glob picks up the types in :data:`AUDIO_SUFFIXES`
            and ``.stem.mp4``; a file named on its own is taken whatever its type.
        exclude: the output folder: the track folders written there are not searched, so earlier
            outputs are not re-separated (its other folders are).

    Returns:
        One :class:`InputFile` per file, in the order given (folders and globs sorted), each file
        once. An input that names nothing, or a file whose track name another input already has
        (both would write to the same folder), comes back with ``error`` set.
    """
    exclude_path = Path(exclude).expanduser().resolve() if exclude else None
    items: list[InputFile] = []
    seen: set[Path] = set()
    for spec in specs:
        path = Path(spec).expanduser()
        if path.is_dir():
            found = _folder_audio_files(path, exclude_path)
            if not found:
                items.append(InputFile(spec, None, "", f"{spec}: folder holds no audio files ({', '.join(AUDIO_SUFFIXES)}, .stem.mp4)"))
        elif path.exists():
            found = [path]
        elif glob.has_magic(spec):
            found = []
            for match in sorted(glob.glob(os.path.expanduser(spec), recursive=True)):
                match_path = Path(match)
                if match_path.is_dir():
                    found.extend(_folder_audio_files(match_path, exclude_path))
                elif is_audio_file(match_path) and not _written_by_us(match_path.parent, exclude_path):
                    found.append(match_path)
            if not found:
                items.append(InputFile(spec, None, "", f"{spec}: the glob matches no audio files"))
        else:
            items.append(InputFile(spec, None, "", f"{spec}: no such file or folder"))
            found = []
        for file in found:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                items.append(InputFile(spec, file, track_name(file)))
    owners: dict[str, Path] = {}
    for item in items:
        if item.error or item.path is None:
            continue
        if item.track in owners:
            item.error = (
                f"{item.path}: track name {item.track!r} is that of {owners[item.track]} too; both would "
                "write to the same output folder (rename one, or separate it on its own)"
            )
        else:
            owners[item.track] = item.path
    return items


def default_inputs(data: DataConfig) -> list[str]:
    """The test tracks' mixtures of ``data`` (the synthetic set, generated on first use)."""
    from stemunet.datasets import resolve_root

    root = resolve_root(data)
    test = root / "test"
    if not test.is_dir():
        raise FileNotFoundError(f"{root}: no test/ folder to take default inputs from")
    return [str(test)]


def resolve_inputs(config: SeparateConfig, output_dir: str | Path | None = None) -> list[InputFile]:
    """The files ``config`` asks for: its ``inputs``, or the data set's test mixtures when empty."""
    specs = list(config.inputs) if config.inputs else default_inputs(config.data)
    return discover_inputs(specs, exclude=output_dir)


def inputs_table(inputs: Sequence[InputFile]) -> pd.DataFrame:
    """One row per input: path, track name, and sample rate, channels and seconds where soundfile knows them."""
    import pandas as pd

    rows = []
    for item in inputs:
        row = {"input": str(item.path or item.spec), "track": item.track, "sample_rate": None, "channels": None, "seconds": None, "problem": item.error}
        if item.path is not None and not item.error and item.path.is_file():  # sf.info would wait forever on a pipe
            try:
                info = sf.info(str(item.path))
                row.update(sample_rate=info.samplerate, channels=info.channels, seconds=round(info.frames / info.samplerate, 2))
            except (sf.LibsndfileError, RuntimeError):
                pass  # ffmpeg formats: known once decoded
        rows.append(row)
    return pd.DataFrame(rows)


def resolve_output_dir(config: SeparateConfig, run_dir: str | Path | None = None) -> Path:
    """``config.output_dir``, or ``<run_dir>/stems`` when it is empty."""
    if config.output_dir:
        return Path(config.output_dir).expanduser()
    if run_dir is None:
        raise ValueError("no output folder: set output_dir (-o OUTDIR)")
    return Path(run_dir) / "stems"


def output_paths(output_dir: str | Path, track: str, config: SeparateConfig) -> dict[str, Path]:
    """``{stem: OUTDIR/<track>/<stem>.<ext>}`` for the stems ``config`` writes."""
    folder = Path(output_dir) / track
    return {name: folder / f"{name}.{config.format}" for name in config.output_names}


# --------------------------------------------------------------------------------------------
# Streaming audio files in and stems out
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class SeparatedFile:
    """What :func:`separate_file` did with one input."""

    sample_rate: int
    channels: int  # of the input (the outputs have as many, or 1 after a downmix)
    seconds: float
    gain: float  # the rescale policy's factor (1.0: nothing rescaled)
    outputs: dict[str, Path]
    note: str = ""  # a caveat about the input (a wav shorter than its header says)


def _output_blocks(stems: torch.Tensor, names: Sequence[str]) -> dict[str, np.ndarray]:
    """``(n_stems, n_channels, k)`` -> ``{name: (n_channels, k)}`` for the requested outputs."""
    arrays = {}
    for name in names:
        if name == "accompaniment":
            arrays[name] = stems[[STEM_NAMES.index(s) for s in STEM_NAMES if s != "vocals"]].sum(dim=0).numpy()
        else:
            arrays[name] = stems[STEM_NAMES.index(name)].numpy()
    return arrays


def _write(writer: sf.SoundFile, frames: np.ndarray, target: Path) -> None:
    """``writer.write(frames)``; a failure names the output and why (libsndfile says only "System error.")."""
    try:
        writer.write(frames)
    except (sf.LibsndfileError, OSError) as error:
        try:
            full = shutil.disk_usage(target.parent).free < 1 << 20
        except OSError:
            full = False
        reason = "no space left on device" if full else f"{type(error).__name__}: {error}"
        raise OutputError(f"{target}: the output could not be written ({reason})") from None


def separate_file(
    path: str | Path,
    outputs: Mapping[str, Path],
    separator: Separator,
    config: SeparateConfig,
    *,
    progress: bool = False,
) -> SeparatedFile:
    """Separate one file into ``outputs`` (``{stem: file}``), streaming, in fixed memory.

    The input is read, separated and written block by block. Outputs are written under
    temporary names beside their targets and renamed only when every stem of the track is
    complete; on any error no output (and no temporary file) is left. With integer encodings the
    clipping policy applies: ``clamp`` clips samples to [-1, 1]; ``none`` leaves it to the
    encoder (which clips); ``rescale`` divides every stem of the track by the same factor (its
    largest peak over 1), so the stems still sum to the mixture; it needs that peak first, so the
    stems go to float32 temporary files and are converted once the peak is known.

    Raises:
        AudioError: unreadable, empty or non-finite input, more than two channels without
            ``config.downmix``, or stems that come out NaN or infinite (a broken model).
        FileExistsError: an output exists and ``config.overwrite`` is false.
    """
    path = Path(path)
    integer = config.encoding != "float32"
    rescale = integer and config.clipping == "rescale"
    subtype = WAV_SUBTYPES[config.encoding]
    file_format = config.format.upper()
    with open_audio_stream(path) as stream, contextlib.ExitStack() as stack:
        # Checked here, before any output file is opened (the separator checks it again when it starts).
        check_channels(path, stream.n_channels, downmix=config.downmix)
        n_out = 1 if stream.n_channels > 2 else stream.n_channels
        # Entered first, so they exit (rename) last: only after every writer below is closed.
        targets = {name: stack.enter_context(atomic_path(target, overwrite=config.overwrite)) for name, target in outputs.items()}
        if rescale:
            staging = {name: stack.enter_context(scratch_file(target)) for name, target in outputs.items()}
            writers = {name: stack.enter_context(sf.SoundFile(staging[name], "w", stream.sample_rate, n_out, "FLOAT", format="RF64")) for name in outputs}
        else:
            writers = {name: stack.enter_context(sf.SoundFile(targets[name], "w", stream.sample_rate, n_out, subtype, format=file_format)) for name in outputs}
        block_samples = max(1, int(config.chunking.segment_seconds * stream.sample_rate))
        blocks = separator.separate_stream(
            stream.blocks(block_samples),
            stream.n_samples,
            stream.sample_rate,
            stream.n_channels,
            config.chunking,
            downmix=config.downmix,
            progress=progress,
            path=path,
            description=next(iter(outputs.values())).parent.name,  # the track name
        )
        peak = 0.0
        for stems in blocks:
            if not bool(stems.isfinite().all()):
                raise AudioError(path, "the model's stems hold NaN or infinite samples (is the checkpoint broken?); nothing was written for it")
            for name, audio in _output_blocks(stems, list(outputs)).items():
                peak = max(peak, float(np.abs(audio).max(initial=0.0)))
                if integer and config.clipping == "clamp":
                    audio = apply_clipping_policy(audio, "clamp")
                _write(writers[name], audio.T, outputs[name])
        gain = 1.0
        if rescale:
            for writer in writers.values():
                writer.close()
            gain = rescale_gain(peak)
            for name in outputs:
                with sf.SoundFile(staging[name]) as source, sf.SoundFile(targets[name], "w", stream.sample_rate, n_out, subtype, format=file_format) as target:
                    for frames in source.blocks(blocksize=block_samples, dtype="float32", always_2d=True):
                        _write(target, apply_clipping_policy(frames, "rescale", peak=peak), outputs[name])
        note = stream.note
        if gain < 1.0:  # said in the summary, the CLI's lines and the notebook's table, not in the CSV alone
            scaled = (f"stems scaled by {gain:.3g} ({20 * math.log10(gain):+.1f} dB): their peak {peak:.2f} is over the "
                      f"{config.encoding} full scale (--clipping clamp keeps the level and clips)")
            note = "; ".join(text for text in (note, scaled) if text)
        result = SeparatedFile(stream.sample_rate, stream.n_channels, stream.seconds, gain, dict(outputs), note)
    return result


SOURCE_RECORD = "source.json"
"""Written beside a track's stems: the last input separated there (absolute path, size, time, hash),
every stem file in the folder (``outputs``, absolute) and, per stem file (``stems``, by file name),
the input and the model (checkpoint file and hash) that wrote it; a run asked for fewer stems leaves the others as
they were."""

SCRATCH_SUFFIXES = (".part", ".float.part")


class OutputError(OSError):
    """An output cannot be written; the message names the output (not the input) and why."""



def input_identity(path: Path) -> dict[str, Any]:
    """What identifies an input file: absolute path, size, modification time and SHA-256."""
    stat = path.stat()
    return {"input": str(path.resolve()), "size": stat.st_size, "mtime": stat.st_mtime, "sha256": file_sha256(path)}


def model_identity(separator: Separator) -> dict[str, str | None]:
    """Which model a separator is: its checkpoint file and that file's SHA-256 (``None`` for one not
    loaded from a file, see :func:`stemunet.checkpoints.load_separator`)."""
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


def separate_files(
    inputs: Sequence[InputFile | str | Path],
    separator: Separator,
    config: SeparateConfig,
    output_dir: str | Path,
    *,
    progress: bool = True,
) -> pd.DataFrame:
    """Separate every input into ``output_dir/<track>/<stem>.<ext>``; report, never stop, on a bad one.

    Args:
        inputs: from :func:`discover_inputs` (or plain paths, resolved by it).
        config: output format, stems, clipping, chunking, overwrite and downmix choices.
        progress: a bar over files and, inside each file, one over its segment batches.

    Returns:
        The summary: one row per input with ``input``, ``track``, ``status`` (``ok``, ``skipped``
        when all its outputs exist and ``overwrite`` is off, ``failed``), ``error``, ``seconds``
        of audio, ``seconds_taken``, ``x_realtime`` (seconds of audio per second taken),
        ``sample_rate``, ``channels``, ``gain`` (the rescale factor), ``outputs`` (the paths written)
        and ``note`` (a truncated input; stems an earlier run wrote beside them, of another input or
        model: they are kept, and :data:`SOURCE_RECORD` says per stem what wrote it).
    """
    import pandas as pd

    output_dir = Path(output_dir)
    model = model_identity(separator)
    items = [item if isinstance(item, InputFile) else InputFile(str(item), Path(item), track_name(item)) for item in inputs]
    input_paths = {item.path.resolve() for item in items if item.path is not None}
    rows = []
    bar = progress_bar(items, desc="files", unit="file", disable=not progress)
    for item in bar:
        row: dict[str, Any] = {column: None for column in SUMMARY_COLUMNS}
        row.update(input=str(item.path or item.spec), track=item.track, status="failed", error=item.error, outputs=[], note="")
        rows.append(row)
        if item.error or item.path is None:
            continue
        bar.set_postfix_str(item.track[:40])
        outputs = output_paths(output_dir, item.track, config)
        problem = _output_problem(item, outputs, output_dir, config, input_paths)
        if problem is not None:
            row.update(status=problem[0], error=problem[1], outputs=[str(p) for p in outputs.values() if p.exists()])
            continue
        track_folder = output_dir / item.track
        folder_existed = track_folder.exists()
        remove_stale_scratch(track_folder, outputs.values())
        started = time.perf_counter()
        try:
            done = separate_file(item.path, outputs, separator, config, progress=progress)
            record, kept_note = _source_record(track_folder, item.path, outputs, model)
            write_json_atomic(track_folder / SOURCE_RECORD, record)
        except Exception as error:  # a bad file is reported and the batch goes on
            row["error"] = str(error) if isinstance(error, (AudioError, OutputError)) else f"{item.path}: {type(error).__name__}: {error}"
            if not folder_existed:
                with contextlib.suppress(OSError):
                    track_folder.rmdir()  # only if empty
            continue
        except BaseException:  # interrupted (Ctrl-C, SIGTERM): no empty folder left behind
            if not folder_existed:
                with contextlib.suppress(OSError):
                    track_folder.rmdir()
            raise
        taken = time.perf_counter() - started
        row.update(
            status="ok",
            error="",
            seconds=round(done.seconds, 3),
            seconds_taken=round(taken, 3),
            x_realtime=round(done.seconds / taken, 2) if taken > 0 else math.inf,
            sample_rate=done.sample_rate,
            channels=done.channels,
            gain=done.gain,
            outputs=[str(p) for p in done.outputs.values()],
            note="; ".join(note for note in (done.note, kept_note) if note),
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


def summary_metrics(summary: pd.DataFrame) -> dict[str, Any]:
    """Counts and totals of a :func:`separate_files` summary."""
    done = summary[summary.status == "ok"]
    seconds = float(done.seconds.sum()) if len(done) else 0.0
    taken = float(done.seconds_taken.sum()) if len(done) else 0.0
    return {
        "n_inputs": int(len(summary)),
        "n_separated": int(len(done)),
        "n_skipped": int((summary.status == "skipped").sum()),
        "n_failed": int((summary.status == "failed").sum()),
        "audio_seconds": round(seconds, 3),
        "seconds_taken": round(taken, 3),
        "x_realtime": round(seconds / taken, 2) if taken > 0 else None,
    }


def write_summary_csv(summary: pd.DataFrame, path: str | Path) -> Path:
    """Write the summary as CSV (each row's output paths joined by ``;``), atomically."""
    table = summary.assign(outputs=summary.outputs.map(lambda paths: ";".join(paths or [])))
    with atomic_path(path) as temporary:
        table.to_csv(temporary, index=False)
    return Path(path)


def write_summary(summary: pd.DataFrame, folder: str | Path, output_dir: str | Path | None = None, separator: Separator | None = None) -> dict[str, Any]:
    """Write ``summary.csv`` and ``metrics.json`` (:func:`summary_metrics`, and the post-filter
    ``separator`` ran with) into ``folder``; return the metrics."""
    folder = Path(folder)
    write_summary_csv(summary, folder / "summary.csv")
    metrics = {**summary_metrics(summary), "output_dir": str(output_dir) if output_dir is not None else None}
    if separator is not None:
        metrics["postfilter"] = separator.config.postfilter.to_params()
    write_json_atomic(folder / "metrics.json", metrics)
    return metrics


def summary_view(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary as a notebook shows it, narrow enough for its cell: one row per track, the
    stems written named by their stem only (they are ``<output_dir>/<track>/<stem>.<ext>``; the
    inputs table above names each input), ``error`` only when some input has one. ``summary.csv``
    keeps every column, full paths included."""
    view = summary.assign(outputs=summary.outputs.map(lambda paths: ", ".join(Path(p).stem for p in paths or []) or "–"))
    view = view.drop(columns=["input"] + (["error"] if not view["error"].fillna("").astype(bool).any() else []))
    return view.set_index("track")


def check_all_separated(summary: pd.DataFrame) -> None:
    """Raise :class:`RuntimeError` listing the failed inputs, if any (skipped ones are fine)."""
    failed = summary[summary.status == "failed"]
    if len(failed):
        # Most errors name the input first already: it is not printed twice.
        lines = "\n".join(f"  {row.error if str(row.error).startswith(str(row.input)) else f'{row.input}: {row.error}'}" for row in failed.itertuples())
        raise RuntimeError(f"{len(failed)} of {len(summary)} input(s) failed:\n{lines}")


def first_separated(summary: pd.DataFrame) -> pd.Series:
    """The summary row of the first input that was separated (or skipped: its outputs exist)."""
    rows = summary[summary.status.isin(["ok", "skipped"])]
    if not len(rows):
        reasons = "; ".join(row.error if str(row.error).startswith(str(row.input)) else f"{row.input}: {row.error}" for row in summary.itertuples())
        raise ValueError(f"no input was separated ({len(summary)} failed): {reasons}" if len(summary) else "no input was given")
    return rows.iloc[0]


def read_outputs(row: pd.Series, *, max_seconds: float | None = 30.0) -> tuple[dict[str, np.ndarray], int]:
    """The input (as ``mixture``) and the stems of one summary row, for listening and plots.

    Returns ``({name: (n_channels, n_samples) float32}, sample_rate)``: at most the first
    ``max_seconds`` of each.
    """
    waveform, sample_rate = load_audio(row["input"])
    limit = None if max_seconds is None else int(max_seconds * sample_rate)
    audio = {"mixture": waveform[:, :limit]}
    for output in row["outputs"]:
        stem, _ = load_audio(output)
        audio[Path(output).stem] = stem[:, :limit]
    return audio, sample_rate


def output_files(row: pd.Series) -> dict[str, Path]:
    """``{"mixture": input, stem: output, ...}`` of a summary row: the files its players link to."""
    return {"mixture": Path(row["input"]), **{Path(output).stem: Path(output) for output in row["outputs"]}}


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


CLI_EXCLUDED = ("musdb_root", "synthetic_train_tracks", "synthetic_test_tracks", "synthetic_seconds", "synthetic_seed",
                "synthetic_version", "synthetic_soundfont")
""":class:`SeparateConfig` parameters the command line leaves out: it separates the files it is given."""

CLI_METAVARS = {"inputs": "INPUT", "output_dir": "OUTDIR", "checkpoint": "RUN_OR_FILE", "stems": "STEM"}


class _Parser(argparse.ArgumentParser):
    """argparse, with a hint when the inputs went missing for a reason argparse cannot see."""

    argv: Sequence[str] = ()

    def error(self, message: str) -> typing.NoReturn:
        if "INPUT" in message:
            message += "".join(f"; {hint}" for hint in _missing_input_hints(self.argv))
        super().error(message)


def _missing_input_hints(argv: Sequence[str]) -> list[str]:
    """Why ``argv`` has no INPUT: a file name that begins with ``-`` (read as an option), or inputs
    that ``--stems`` took as stem names."""
    hints = []
    for position, arg in enumerate(argv):
        if arg == "--":
            break
        if arg.startswith("-") and arg != "-" and (Path(arg).exists() or is_audio_file(arg)):
            hints.append(f"{arg} begins with '-', so it was read as an option: put -- before the inputs (... -- {arg})")
        if arg == "--stems":
            names = list(itertools.takewhile(lambda value: not value.startswith("-"), argv[position + 1 :]))
            taken = [name for name in names if name not in (*STEM_NAMES, *TWO_STEM_NAMES)]
            if taken:
                hints.append(f"--stems took {' '.join(taken)} as stem names: put the inputs before --stems, or end its list with -- "
                             f"(--stems {' '.join(n for n in names if n not in taken) or 'vocals'} -- {' '.join(taken)})")
    return hints


def _parser() -> argparse.ArgumentParser:
    """The command line, derived from :class:`SeparateConfig`'s fields: names, defaults, choices
    and help come from there, so they cannot drift apart. ``inputs`` is positional and
    ``output_dir`` (``-o``) required."""
    parser = _Parser(
        prog="python -m stemunet.separate",
        description="Separate audio files into drums, bass, other and vocals with a stemunet checkpoint.",
        epilog="Writes OUTDIR/<track>/<stem>.<ext>; exits 1 if any input failed, 2 for a bad command line or checkpoint.",
    )
    for name, (annotation, default, comment) in SeparateConfig.parameter_fields().items():
        if name in CLI_EXCLUDED:
            continue
        help_text = comment.replace("%", "%%")
        metavar = CLI_METAVARS.get(name)
        if name == "inputs":
            parser.add_argument("inputs", nargs="+", metavar=metavar, help=help_text.split(";")[0] + " (quote globs)")
        elif name == "output_dir":
            parser.add_argument("-o", "--output-dir", required=True, metavar=metavar, help=help_text.split(";")[0])
        elif annotation is bool:
            parser.add_argument(f"--{name.replace('_', '-')}", action="store_true", default=default, help=help_text)
        else:
            flag = f"--{name.replace('_', '-')}"
            choices = list(typing.get_args(annotation)) if typing.get_origin(annotation) is Literal else None
            if typing.get_origin(annotation) is tuple:
                parser.add_argument(flag, nargs="+", default=list(default), metavar=metavar, help=help_text)
            else:
                kind = annotation if annotation in (int, float, str) else str
                parser.add_argument(flag, type=kind, default=default, choices=choices, metavar=metavar, help=f"{help_text} (default: {default!r})")
    parser.add_argument("--summary", default="", metavar="CSV", help="also write the summary table to this CSV file")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status (0 all done or skipped, 1 an input failed, 2 usage)."""
    parser = _parser()
    parser.argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    created: list[Path] = []
    try:
        config = SeparateConfig.from_params({name: getattr(args, name) for name in SeparateConfig.parameter_names() if name not in CLI_EXCLUDED})
        # Everything the job writes to is checked before the model loads: a bad -o or --summary is
        # one line now, not an error per input (or a crash) after the whole batch.
        if not config.output_dir.strip():
            raise ConfigError("-o is empty: name the folder the stems go to")
        output_dir = resolve_output_dir(config)
        inputs = discover_inputs(config.inputs, exclude=output_dir)
        summary_path = Path(args.summary).expanduser() if args.summary else None  # checked and written as the same path
        created = prepare_output_dir(output_dir)  # first: a summary may go into the output folder it makes
        if summary_path is not None:
            check_writable_file(summary_path)
            check_summary_path(summary_path, inputs, output_dir)
        from stemunet.checkpoints import CheckpointRef  # the model stack, only once the command line is sound

        checkpoint = CheckpointRef.resolve(config.checkpoint)
        separator = checkpoint.load_separator(config.device, config.postfilter)
        separator.check_segment_seconds(config.chunking.segment_seconds)
    except (ConfigError, FileNotFoundError, ValueError) as error:  # CheckpointError is a ValueError
        for folder in created:  # made for this job, still empty: not left behind
            with contextlib.suppress(OSError):
                folder.rmdir()
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"checkpoint: {checkpoint.file}" + (f" (training run {checkpoint.train_run})" if checkpoint.train_run else ""), file=sys.stderr)
    postfilter = separator.config.postfilter
    print(f"device: {separator.device}; post-filter: {postfilter.wiener_iterations} Wiener iteration(s), mask power {postfilter.mask_power:g}; output: {output_dir}", file=sys.stderr)
    try:
        with terminate_as_interrupt():
            summary = separate_files(inputs, separator, config, output_dir, progress=not args.quiet)
    except KeyboardInterrupt as interrupt:
        # Outputs are renamed only when a track is complete and scratch files are removed on the way
        # out, so nothing half-written is left.
        signal_name = "SIGTERM" if isinstance(interrupt, Terminated) else "SIGINT"
        print(f"interrupted ({signal_name}); finished tracks are in {output_dir}, nothing half-written was left", file=sys.stderr)
        return 143 if isinstance(interrupt, Terminated) else 130
    if summary_path is not None:
        write_summary_csv(summary, summary_path)
    print(summary_text(summary))
    metrics = summary_metrics(summary)
    speed = f" at {metrics['x_realtime']:g}x real time ({metrics['audio_seconds']:g} s of audio in {metrics['seconds_taken']:g} s)" if metrics["x_realtime"] else ""
    print(
        f"{metrics['n_separated']} separated{speed}, {metrics['n_skipped']} skipped, {metrics['n_failed']} failed; stems in {output_dir}",
        file=sys.stderr,
    )
    return 1 if metrics["n_failed"] else 0


def summary_text(summary: pd.DataFrame) -> str:
    """The summary as the command line prints it: aligned columns, then each row's error or note
    unpadded (a long message in one row does not pad every other row with spaces)."""
    table = summary[["track", "status", "seconds", "x_realtime"]].to_string(index=False).splitlines()
    messages = [" ".join(str(text) for text in (row.error, row.note) if text) for row in summary.itertuples()]
    return "\n".join([f"{table[0]}  error / note", *(f"{line}  {message}".rstrip() for line, message in zip(table[1:], messages))])


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so the same clean-up runs (a plain kill would skip it)."""


@contextlib.contextmanager
def terminate_as_interrupt():
    """While inside, SIGTERM raises :class:`Terminated` (a :class:`KeyboardInterrupt`) in the main thread."""

    def handler(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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


if __name__ == "__main__":
    sys.exit(main())
