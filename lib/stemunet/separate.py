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
or checkpoint)."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import signal
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from stemunet.config import STEM_NAMES, ConfigError
from stemunet.separation.batch import separate_files
from stemunet.separation.config import TWO_STEM_NAMES, SeparateConfig
from stemunet.separation.inputs import discover_inputs, is_audio_file
from stemunet.separation.outputs import check_summary_path, check_writable_file, prepare_output_dir, resolve_output_dir
from stemunet.separation.summary import summary_metrics, summary_text, write_summary_csv

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
            # A model may have any stems: what is a file, or is named like one, was meant as an input.
            taken = [name for name in names if name not in (*STEM_NAMES, *TWO_STEM_NAMES)
                     and (Path(name).exists() or is_audio_file(name) or "/" in name or "*" in name)]
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
        description="Separate audio files into a stemunet checkpoint's stems (the bundled model's: drums, bass, other, vocals).",
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
        from stemunet.separation.loading import load_separator

        checkpoint = CheckpointRef.resolve(config.checkpoint)
        separator = load_separator(checkpoint, config.device, config.postfilter)
        separator.check_segment_seconds(config.chunking.segment_seconds)
        config.output_names(separator.stem_names)  # --stems the model lacks
    except (ConfigError, FileNotFoundError, ValueError) as error:  # CheckpointError is a ValueError
        for folder in created:  # made for this job, still empty: not left behind
            with contextlib.suppress(OSError):
                folder.rmdir()
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"checkpoint: {checkpoint.file}" + (f" (training run {checkpoint.train_run})" if checkpoint.train_run else ""), file=sys.stderr)
    postfilter = separator.config.postfilter
    augmentation = (f"; test-time augmentation: {postfilter.n_variants} passes (shifts {postfilter.shifts}, channel swap "
                    f"{'on' if postfilter.flip_channels else 'off'}, polarity flip {'on' if postfilter.flip_sign else 'off'})"
                    if postfilter.augments else "")
    print(f"device: {separator.device}; post-filter: {postfilter.wiener_iterations} Wiener iteration(s), mask power {postfilter.mask_power:g}"
          f"{augmentation}; output: {output_dir}", file=sys.stderr)
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


if __name__ == "__main__":
    sys.exit(main())
