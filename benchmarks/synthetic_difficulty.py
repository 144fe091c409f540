"""How hard is the synthetic data set, next to MUSDB18? SiSEC's baselines scored on it.

* ``MIX``: SiSEC 2018's floor (sigsep-mus-oracle ``MIX.py``): the mixture divided by 4 as every
  stem's estimate;
* ``IRM1``: oracle magnitude-ratio masks |S_j| / sum_k |S_k| on the mixture's STFT (n_fft 4096,
  hop 1024, Hann, 44.1 kHz; :func:`stemunet.evaluation.evaluate.sisec_medians`), inverted with the
  mixture's phase: the ceiling for a magnitude-masking model such as ours.

BSSEval v4 (:mod:`stemunet.evaluation.bsseval`, museval's numbers), SiSEC's convention: median over a track's
1 s frames, then median over tracks. Published on MUSDB18 test: MIX 1.33 / 0.67 / 1.16 / 1.12
(drums / bass / other / vocals, mean 1.07 dB); IRM1 7.3 / 6.2 / 6.9 / 8.5 (mean 7.2 dB).

It also checks that the BSSEval decomposition is well-conditioned, as on real music: IRM1's SIR
should sit at or above its SDR for every stem, and move by less than 3 dB when the scored excerpt
starts half a second later (a near-singular reference Gram matrix makes SIR jump). Usage::

    python benchmarks/synthetic_difficulty.py [--tracks 4] [--seconds 12] [--seed 0] [--version 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from stemunet.config import STEM_NAMES
from stemunet.data.synthetic import DESIGN_VERSIONS, SyntheticSpec, generate_synthetic_dataset
from stemunet.data.tracks import list_tracks
from stemunet.evaluation.evaluate import sisec_medians

PUBLISHED = {"MIX": (1.33, 0.67, 1.16, 1.12), "IRM1": (7.3, 6.2, 6.9, 8.5)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", type=int, default=4, help="number of test tracks to score")
    parser.add_argument("--seconds", type=float, default=12.0, help="length of each track (s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--version", type=int, default=2, choices=DESIGN_VERSIONS, help="the synthetic set's design")
    args = parser.parse_args(argv)

    spec = SyntheticSpec(n_train_tracks=2, n_test_tracks=args.tracks, track_seconds=args.seconds, seed=args.seed,
                         version=args.version)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "set"
        began = time.perf_counter()
        generate_synthetic_dataset(root, spec, progress=False)
        print(f"generated {spec} in {time.perf_counter() - began:.1f} s", file=sys.stderr)
        began = time.perf_counter()
        tracks = list_tracks(root, "test")
        medians = sisec_medians(tracks)
        shifted = sisec_medians(tracks, shift_seconds=0.5)
        print(f"scored in {time.perf_counter() - began:.1f} s", file=sys.stderr)

    print(f"\nsynthetic test set v{args.version} ({args.tracks} tracks x {args.seconds:g} s, seed {args.seed}); dB, median over frames then tracks")
    print(f"{'':<22}" + "".join(f"{stem:>8}" for stem in STEM_NAMES) + f"{'mean':>8}")
    for method in ("MIX", "IRM1"):
        for metric in ("SDR", "SIR", "SAR", "ISR"):
            values = medians[method][metric]
            print(f"{method + ' ' + metric:<22}" + "".join(f"{v:8.2f}" for v in values) + f"{np.mean(values):8.2f}")
        print(f"{method + ' SDR, MUSDB18':<22}" + "".join(f"{v:8.2f}" for v in PUBLISHED[method]) + f"{np.mean(PUBLISHED[method]):8.2f}")
    sir_minus_sdr = medians["IRM1"]["SIR"] - medians["IRM1"]["SDR"]
    sir_shift = np.abs(shifted["IRM1"]["SIR"] - medians["IRM1"]["SIR"])
    print(f"{'IRM1 SIR - SDR':<22}" + "".join(f"{v:8.2f}" for v in sir_minus_sdr) + "   (>= 0: well-conditioned)")
    print(f"{'IRM1 SIR, 0.5 s later':<22}" + "".join(f"{v:8.2f}" for v in sir_shift) + "   (|change| < 3 dB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
