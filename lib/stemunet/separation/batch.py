"""Separating files into stems, one after another: :func:`separate_file` streams one input
through the separator into scratch files and renames them when the track is done;
:func:`separate_files` runs a list of inputs, skipping what was already separated, reporting
each failure and going on, and returns the summary table (:mod:`stemunet.separation.summary`).

Files are streamed: decoded, resampled, separated by overlap-add and written block by block, so
memory does not grow with a file's length. Every output is written under a temporary name and
renamed once the whole track is done; an interrupted job leaves no half files. Existing outputs
are never replaced without ``overwrite``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import soundfile as sf

from stemunet.audio import (WAV_SUBTYPES, AudioError, apply_clipping_policy, check_channels, open_audio_stream,
                            rescale_gain)
from stemunet.files import atomic_path, scratch_file, write_json_atomic
from stemunet.progress import progress_bar
from stemunet.separation.config import SeparateConfig
from stemunet.separation.inputs import SOURCE_RECORD, InputFile, track_name
from stemunet.separation.outputs import (OutputError, _output_problem, _source_record, model_identity, output_paths,
                                         remove_stale_scratch)
from stemunet.separation.summary import SUMMARY_COLUMNS

if TYPE_CHECKING:  # pandas, torch and the model stack load where they are used: --help and usage errors stay instant
    import pandas as pd
    import torch

    from stemunet.separation.separator import Separator


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


def _output_blocks(stems: torch.Tensor, names: Sequence[str], model_stems: Sequence[str]) -> dict[str, np.ndarray]:
    """``(n_stems, n_channels, k)`` in ``model_stems`` order -> ``{name: (n_channels, k)}`` for the
    requested outputs (``accompaniment``: every stem but the vocals, summed)."""
    arrays = {}
    for name in names:
        if name == "accompaniment" and name not in model_stems:
            arrays[name] = stems[[i for i, s in enumerate(model_stems) if s != "vocals"]].sum(dim=0).numpy()
        else:
            arrays[name] = stems[list(model_stems).index(name)].numpy()
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
            for name, audio in _output_blocks(stems, list(outputs), separator.stem_names).items():
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
    config.output_names(separator.stem_names)  # stems the model lacks: one error now, not one per file
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
        outputs = output_paths(output_dir, item.track, config, separator.stem_names)
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
