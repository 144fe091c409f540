"""What each separation option buys and costs: precision and test-time augmentation, scored.

    python benchmarks/separation_options.py [CHECKPOINT] [--root LMMS_FOLDER] [--json FILE]

For a checkpoint (default ``pretrained``), each setting separates the same music and is scored as
evaluation scores it: cSDR (BSSEval v4, median over 1 s frames then tracks) and the global SDR
(whole tracks, mean over tracks; the MDX/SDX challenges' figure) and SI-SDR (whole tracks, mean
over tracks), each averaged over the stems the set has, beside the CPU time the separation took (its own process time, so other jobs on a shared
machine disturb it little) relative to the first row's. The settings:

* ``float32`` and ``bf16``: the U-Net's arithmetic (``precision``; ``auto`` is bfloat16 on CPUs
  with AVX-512 BF16 or AMX, float32 elsewhere);
* ``shifts N``: Demucs' shift trick, N separations delayed by up to 0.5 s, averaged;
* ``flip channels``, ``flip sign``: channel-swap and polarity-flip test-time augmentation.

The music: stempeg's real MUSDB18 excerpt (6 s), the demo's synthetic test songs (v2, 4 of 12 s)
and, with ``--root`` or ``$STEMUNET_REAL_VALIDATION``, the frozen LMMS validation set (no vocals:
drums, bass and other scored; checked against its sha256 list first).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from stemunet.checkpoints import CheckpointRef
from stemunet.config import STEM_NAMES, DataConfig, PostFilterChoice
from stemunet.data.real_validation import ManifestError, stempeg_excerpt_root, verify_copy
from stemunet.data.tracks import list_tracks, read_track, resolve_root
from stemunet.evaluation.metrics import whole_track_scores
from stemunet.evaluation.scoring import is_silent, score_track, track_medians
from stemunet.separation.loading import load_separator

MANIFEST = Path(__file__).resolve().parent / "real_validation_sha256.txt"
SETTINGS: dict[str, PostFilterChoice] = {
    "float32": PostFilterChoice(precision="float32"),
    "bf16": PostFilterChoice(precision="bf16"),
    "float32, shifts 2": PostFilterChoice(precision="float32", shifts=2),
    "float32, shifts 4": PostFilterChoice(precision="float32", shifts=4),
    "float32, flip channels": PostFilterChoice(precision="float32", flip_channels=1),
    "float32, flip sign": PostFilterChoice(precision="float32", flip_sign=1),
    "bf16, shifts 2": PostFilterChoice(precision="bf16", shifts=2),
}
SYNTHETIC_TEST = DataConfig(synthetic_train_tracks=16, synthetic_test_tracks=4, synthetic_seconds=12.0)


def read_sets(sets: dict[str, list]) -> dict[str, list[tuple[str, np.ndarray, np.ndarray, int]]]:
    """Each set's tracks read once: ``(name, mixture (c, n), stems (4, c, n), rate)``."""
    return {name: [(track.name, *read_track(track)) for track in tracks] for name, tracks in sets.items()}


def score(checkpoint: CheckpointRef, choice: PostFilterChoice, sets: dict[str, list]) -> dict:
    """Every set's cSDR (median over frames, then tracks) and global SDR (mean over tracks), each
    averaged over the stems it scores, and the CPU seconds the separations alone took."""
    separator = load_separator(checkpoint, "cpu", choice)
    figures, cpu = {}, 0.0
    for name, tracks in sets.items():
        medians, whole = [], []
        for track, mixture, stems, rate in tracks:
            began = time.process_time()
            estimate = separator.separate(mixture, rate).numpy()
            cpu += time.process_time() - began
            audible = [not is_silent(stem.T) for stem in stems]
            by_stem = track_medians(score_track(stems, {"model": estimate}, rate, track)["model"])
            medians.append([by_stem.get(stem, {}).get("SDR", np.nan) for stem in STEM_NAMES])
            scores = whole_track_scores(stems, {"model": estimate}, STEM_NAMES, audible)["model"]
            whole.append([[scores.get(stem, {}).get(metric, np.nan) for stem in STEM_NAMES] for metric in ("global_SDR", "SI_SDR")])
        csdr = np.nanmedian(np.array(medians), axis=0)
        global_sdr, si_sdr = np.nanmean(np.array(whole), axis=0)  # (4,) each: mean over tracks
        figures[name] = {"cSDR": float(np.nanmean(csdr)), "global SDR": float(np.nanmean(global_sdr)), "SI-SDR": float(np.nanmean(si_sdr)),
                         **{f"{label} per stem": [None if np.isnan(v) else round(float(v), 4) for v in values]
                            for label, values in (("cSDR", csdr), ("global SDR", global_sdr), ("SI-SDR", si_sdr))}}
    return {"sets": figures, "cpu_seconds": cpu}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", nargs="?", default="pretrained")
    parser.add_argument("--root", default=os.environ.get("STEMUNET_REAL_VALIDATION", ""), help="the frozen LMMS validation set")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)
    checkpoint = CheckpointRef.resolve(args.checkpoint)
    with tempfile.TemporaryDirectory() as scratch:
        sets = {"MUSDB18 excerpt": list_tracks(stempeg_excerpt_root(Path(scratch)), "test"),
                "synthetic v2": list_tracks(resolve_root(SYNTHETIC_TEST), "test")}
        if args.root:
            try:
                verify_copy(Path(args.root), MANIFEST)
            except ManifestError as error:
                print(f"error: {error}", file=sys.stderr)
                return 2
            sets["LMMS"] = list_tracks(Path(args.root), "test")
        sets = read_sets(sets)
        results = {}
        for label in args.settings:
            results[label] = score(checkpoint, SETTINGS[label], sets)
            print(f"{label}: done in {results[label]['cpu_seconds']:.1f} CPU s", flush=True)
    first = results[args.settings[0]]
    print(f"\ncheckpoint: {checkpoint.file}; SDR dB (mean over the stems each set scores); CPU time relative to {args.settings[0]}")
    header = "".join(f"{name + ' cSDR':>24}{'global':>8}{'SI-SDR':>8}" for name in sets)
    print(f"{'setting':<26}{header}{'CPU s':>9}{'x CPU':>7}")
    for label, result in results.items():
        cells = "".join(f"{result['sets'][name]['cSDR']:24.2f}{result['sets'][name]['global SDR']:8.2f}{result['sets'][name]['SI-SDR']:8.2f}"
                        for name in sets)
        print(f"{label:<26}{cells}{result['cpu_seconds']:9.1f}{result['cpu_seconds'] / first['cpu_seconds']:7.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"checkpoint": str(checkpoint.file), "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
