"""Real-music validation: a checkpoint on the LMMS songs and stempeg's MUSDB18 excerpt, next to MIX and IRM1.

    python benchmarks/real_validation.py CHECKPOINT [--root FOLDER] [--per-track] [--json FILE]

``CHECKPOINT``: a training run folder, a checkpoint file, ``latest`` or ``pretrained``.
``--root``: the frozen LMMS validation set (built once by ``scripts/build_real_validation.py``);
default: the ``STEMUNET_REAL_VALIDATION`` environment variable. Before anything is scored, every
file of the copy is checked against ``benchmarks/real_validation_sha256.txt`` (``--manifest``
names another list, e.g. the ``sha256.txt`` of a set you rendered yourself).

Prints one table of SDR (BSSEval v4 through :mod:`stemunet.evaluation.bsseval`, SiSEC's convention: median
over 1 s frames, then over tracks) per stem, their mean and the drums/bass/other mean, for the
model, SiSEC's MIX (mixture / 4 as every estimate: the floor) and IRM1 (oracle magnitude-ratio
masks, 4096-point STFT: the ceiling of masking), and the model's share of the way from MIX to
IRM1, on both sets. The LMMS songs have no vocals (their ``vocals.wav`` is silent, which BSSEval
cannot score): their vocals column is empty and their mean is over drums, bass and other.
Their stems are digital synthesis without a recording's noise floor, so BSSEval's SIR, SAR and ISR
are ill-conditioned on them (IRM1's median SIR falls below 0 dB): the table shows SDR, which is
not affected; ``--json`` keeps every metric. For choosing recipes only: this audio never enters training.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from stemunet.checkpoints import CheckpointError, CheckpointRef
from stemunet.data.real_validation import STEMPEG_EXCERPT, ManifestError, sdr_table, stempeg_excerpt_root, verify_copy
from stemunet.data.tracks import list_tracks
from stemunet.evaluation.evaluate import mean_over_tracks, median_over_tracks, sisec_track_medians
from stemunet.separation.loading import load_separator

ENVIRONMENT_VARIABLE = "STEMUNET_REAL_VALIDATION"
MANIFEST = Path(__file__).resolve().parent / "real_validation_sha256.txt"
METHODS = ("model", "MIX", "IRM1")


def sdr_rows(medians: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``{row: (4,) SDR dB}``: model, MIX, IRM1 and the model's share of the way from MIX to IRM1."""
    sdr = {method: medians[method]["SDR"] for method in METHODS}
    return {**sdr, "share of IRM1": (sdr["model"] - sdr["MIX"]) / (sdr["IRM1"] - sdr["MIX"])}


def as_json(values) -> list[float | None]:
    return [None if np.isnan(v) else round(float(v), 4) for v in values]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="training run folder, checkpoint file, latest or pretrained")
    parser.add_argument("--root", default=os.environ.get(ENVIRONMENT_VARIABLE, ""), help=f"the frozen LMMS validation set (default: ${ENVIRONMENT_VARIABLE})")
    parser.add_argument("--manifest", default=str(MANIFEST), help="sha256sum list the copy must match (default: the repository's)")
    parser.add_argument("--per-track", action="store_true", help="also print each track's SDR (d/b/o mean)")
    parser.add_argument("--json", default="", help="also write every figure to this JSON file")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)

    if not args.root:
        print(f"error: no validation set: pass --root FOLDER or set {ENVIRONMENT_VARIABLE}", file=sys.stderr)
        return 2
    root = Path(args.root).expanduser().resolve()
    try:
        verify_copy(root, Path(args.manifest))
        checkpoint = CheckpointRef.resolve(args.checkpoint)
        separator = load_separator(checkpoint, args.device)
    except (ManifestError, CheckpointError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    per_track = {}
    with tempfile.TemporaryDirectory() as scratch:
        sets = {"LMMS": root, "MUSDB18": stempeg_excerpt_root(Path(scratch))}
        for name, folder in sets.items():
            tracks = sorted(list_tracks(folder, "test"), key=lambda t: t.name)
            if not tracks:
                print(f"error: {folder}/test: no tracks", file=sys.stderr)
                return 2
            per_track[name] = sisec_track_medians(tracks, separator)
    medians = {name: median_over_tracks(tracks) for name, tracks in per_track.items()}

    print(f"checkpoint: {checkpoint.file}")
    print(f"LMMS: {root}, {len(per_track['LMMS'])} songs (no vocals: drums, bass, other scored)")
    print(f"MUSDB18: {STEMPEG_EXCERPT}")
    rows = {f"{name} {row}": values for name in medians for row, values in sdr_rows(medians[name]).items()}
    print("\n".join(sdr_table(rows, label="cSDR dB", width=22)))
    print("(BSSEval v4, median over 1 s frames then tracks; share of IRM1: (model - MIX) / (IRM1 - MIX); d/b/o: mean over drums, bass and other)")
    means = {name: mean_over_tracks(tracks) for name, tracks in per_track.items()}
    for metric, label in (("global_SDR", "global SDR dB"), ("SI_SDR", "SI-SDR dB")):
        print()
        print("\n".join(sdr_table({f"{name} {method}": means[name][method][metric] for name in means for method in METHODS},
                                  label=label, width=22)))
    print("(whole tracks, mean over tracks as the MDX/SDX challenges average the global SDR)")
    if args.per_track:
        print("\nper track, SDR dB, mean over drums, bass and other:")
        print(f"{'track':<44}" + "".join(f"{method:>9}" for method in METHODS))
        for name, tracks in per_track.items():
            for track, methods in tracks.items():
                print(f"{track[:43]:<44}" + "".join(f"{np.mean(methods[m]['SDR'][:3]):9.2f}" for m in METHODS))
    if args.json:
        report = {
            "checkpoint": str(checkpoint.file),
            "sets": {"LMMS": str(root), "MUSDB18": STEMPEG_EXCERPT},
            "convention": "BSSEval v4, SDR/SIR/SAR/ISR dB, median over 1 s frames then over tracks (cSDR); global_SDR and SI_SDR "
                          "of each whole track; stems drums, bass, other, vocals (null: not scored)",
            "medians": {name: {m: {metric: as_json(v) for metric, v in by_metric.items()} for m, by_metric in by_method.items()} for name, by_method in medians.items()},
            "means": {name: {m: {metric: as_json(v) for metric, v in by_metric.items()} for m, by_metric in by_method.items()} for name, by_method in means.items()},
            "per_track": {
                name: {track: {m: {metric: as_json(v) for metric, v in by_metric.items()} for m, by_metric in by_method.items()} for track, by_method in tracks.items()}
                for name, tracks in per_track.items()
            },
        }
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
