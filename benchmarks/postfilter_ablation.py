"""Which post-filter suits a model? SDR of each Wiener-iteration and mask-power setting, one table.

    python benchmarks/postfilter_ablation.py CHECKPOINT [--data excerpt|synthetic|FOLDER]...
        [--wiener 0 1 2] [--power 0.5 0.75 1 1.5]

``CHECKPOINT``: a training run folder, a checkpoint file, ``latest`` or ``pretrained``.
``--data`` (repeatable): ``excerpt`` (stempeg's real MUSDB18 excerpt, 6 s), ``synthetic`` (the
demo's synthetic test tracks: ``parameters/evaluate_demo.yaml``'s data set, whole 12 s tracks) or
a MUSDB18(-HQ) layout folder (its ``test/`` tracks; the real-music validation set of
``benchmarks/real_validation.py`` is one).

Every setting separates every track (full band, at the track's rate), and all settings of a track
are scored together by :func:`stemunet.evaluation.bsseval.evaluate_methods` (BSSEval v4, museval's numbers,
one factorisation per track), with SiSEC's MIX (mixture / 4) for scale. Per data set: the median
over 1 s frames, then over tracks, per stem; ``mean`` over the four stems, ``d/b/o`` over drums,
bass and other (what a set without vocals scores: its vocals are silent and not scored).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from stemunet.checkpoints import CheckpointRef
from stemunet.config import STEM_NAMES, DataConfig, PostFilterChoice
from stemunet.data.real_validation import stempeg_excerpt_root
from stemunet.data.tracks import list_tracks, read_track
from stemunet.evaluation.bsseval import evaluate_methods
from stemunet.files import read_mapping
from stemunet.separation.loading import load_separator

ROOT = Path(__file__).resolve().parents[1]


def data_tracks(name: str, scratch: Path) -> list:
    """The ``musdb`` test tracks of ``--data NAME``."""
    if name == "excerpt":
        root = stempeg_excerpt_root(scratch / "excerpt")
    elif name == "synthetic":
        values = read_mapping(ROOT / "parameters" / "evaluate_demo.yaml")
        data = DataConfig.from_params({k: v for k, v in values.items() if k in DataConfig.parameter_names()})
        return sorted(list_tracks(data, "test"), key=lambda t: t.name)
    else:
        root = Path(name).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"--data {name}: no such folder")
    return sorted(list_tracks(root, "test"), key=lambda t: t.name)


def score_settings(separator, tracks: list, settings: list[PostFilterChoice]) -> dict[str, np.ndarray]:
    """``{label: (n_stems,) SDR}``: SiSEC's median over frames, then over ``tracks``, per setting and MIX."""
    per_track: dict[str, list[np.ndarray]] = {}
    for track in tracks:
        mixture, stems, rate = read_track(track)
        estimates = {"MIX": np.broadcast_to(mixture / len(stems), stems.shape)}
        for choice in settings:
            estimate = separator.use_postfilter(choice).separate(mixture, rate).numpy()
            estimates[label(choice)] = estimate
        # museval cannot score a digitally silent reference (the LMMS songs' vocals): such a stem
        # is left out of the track's scores (NaN), as SiSEC leaves it out.
        present = [index for index, stem in enumerate(stems) if np.any(stem)]
        references = stems[present].transpose(0, 2, 1)
        scores = evaluate_methods(references, {m: np.asarray(e)[present].transpose(0, 2, 1) for m, e in estimates.items()}, win=rate, hop=rate)
        for method, (sdr, *_rest) in scores.items():
            medians = np.full(len(stems), np.nan)
            medians[present] = np.nanmedian(sdr, axis=1)
            per_track.setdefault(method, []).append(medians)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a stem silent in every track: NaN
        return {method: np.nanmedian(np.stack(values), axis=0) for method, values in per_track.items()}


def label(choice: PostFilterChoice) -> str:
    return f"wiener {choice.wiener_iterations}, power {choice.mask_power:g}"


def table(results: dict[str, np.ndarray]) -> str:
    """Markdown rows: setting, the stems, mean, d/b/o (NaN: a stem silent in every track)."""
    lines = ["| setting | " + " | ".join(STEM_NAMES) + " | mean | d/b/o |", "|" + " --- |" * (len(STEM_NAMES) + 3)]
    for method, sdr in results.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            cells = [f"{v:.2f}" for v in sdr] + [f"{np.nanmean(sdr):.2f}", f"{np.nanmean(sdr[:3]):.2f}"]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="training run folder, checkpoint file, latest or pretrained")
    parser.add_argument("--data", action="append", default=[], help="excerpt, synthetic or a MUSDB18(-HQ) layout folder (repeatable)")
    parser.add_argument("--wiener", type=int, nargs="+", default=[0, 1, 2], help="Wiener EM iterations to try")
    parser.add_argument("--power", type=float, nargs="+", default=[0.5, 0.75, 1.0, 1.5], help="mask powers to try")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)

    checkpoint = CheckpointRef.resolve(args.checkpoint)
    separator = load_separator(checkpoint, args.device)
    own = separator.own_postfilter
    settings = [PostFilterChoice(wiener_iterations=w, mask_power=p) for w, p in itertools.product(args.wiener, args.power)]
    print(f"checkpoint: {checkpoint.file} (its own post-filter: wiener {own.wiener_iterations}, power {own.mask_power:g})")
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.data or ["excerpt"]:
            tracks = data_tracks(name, Path(scratch))
            if not tracks:
                print(f"error: --data {name}: no test tracks", file=sys.stderr)
                return 2
            print(f"\n{name}: {len(tracks)} track(s), SDR dB (BSSEval v4, median over 1 s frames then tracks)")
            print(table(score_settings(separator, tracks, settings)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
