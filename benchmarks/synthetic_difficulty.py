"""How hard is the synthetic data set? BSSEval v4 scores of two reference "separators".

* ``mixture``: the mixture itself as every stem's estimate (the floor: what doing nothing scores);
* ``IRM1``: oracle magnitude-ratio masks, mask_s = |S_s| / sum_k |S_k|, applied to the mixture's
  STFT (n_fft 4096, hop 1024, Hann window at 44.1 kHz; scaled with the sample rate), inverted
  with the mixture's phase (the ceiling for a magnitude-masking model such as ours).

Scores follow SiSEC 2018 / museval: SDR per 1 s frame, the median over a track's frames, then the
mean over tracks (per stem, and the mean over stems). Frames in which any reference stem is
digitally silent are skipped by museval (e.g. the vocals' instrumental intros).

For reference, on MUSDB18 the IRM1 oracle scores about 7.2 dB SDR on average (vocals 8.5,
drums 7.3, bass 6.2, other 6.9). Usage::

    python benchmarks/synthetic_difficulty.py --tracks 4 --seconds 12 --seed 0 [--jobs 2] [--root DIR]

The set is generated (test subset only, plus one train track) into ``--root`` or a temporary
folder that is deleted afterwards. museval costs about 2 s of CPU per second of 4-stem stereo
audio and method, so the default (4 tracks x 12 s, two methods) takes a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from stemunet.config import STEM_NAMES
from stemunet.synthetic import SyntheticSpec, generate_synthetic_dataset, read_synthetic_manifest


def irm1_estimates(stems: np.ndarray, sample_rate: int) -> np.ndarray:
    """Oracle IRM1 estimates. ``stems``: (n_stems, n_samples, 2) float; returns the same shape."""
    n_fft = int(round(4096 * sample_rate / 44100))
    hop = n_fft // 4
    window = torch.hann_window(n_fft, dtype=torch.float64)
    signals = torch.from_numpy(np.ascontiguousarray(stems.transpose(0, 2, 1), dtype=np.float64))  # (S, 2, n)
    n_stems, n_channels, n_samples = signals.shape
    spec = torch.stft(signals.reshape(-1, n_samples), n_fft, hop, window=window, return_complex=True)
    spec = spec.reshape(n_stems, n_channels, *spec.shape[-2:])
    magnitude = spec.abs()
    mask = magnitude / magnitude.sum(dim=0, keepdim=True).clamp_min(1e-12)
    mixture_spec = spec.sum(dim=0, keepdim=True)
    estimate = torch.istft((mask * mixture_spec).reshape(-1, *spec.shape[-2:]), n_fft, hop, window=window,
                           length=n_samples)
    return estimate.reshape(n_stems, n_channels, n_samples).numpy().transpose(0, 2, 1)


def _evaluate_track(folder: str) -> dict[str, dict[str, float]]:
    import museval  # imported in the worker

    torch.set_num_threads(1)
    stems, rate = [], None
    for name in STEM_NAMES:
        audio, rate = sf.read(Path(folder) / f"{name}.wav", dtype="float64", always_2d=True)
        stems.append(audio)
    references = np.stack(stems)
    mixture, _ = sf.read(Path(folder) / "mixture.wav", dtype="float64", always_2d=True)
    estimates = {"mixture": np.repeat(mixture[None], len(STEM_NAMES), axis=0),
                 "IRM1": irm1_estimates(references, rate)}
    scores: dict[str, dict[str, float]] = {}
    for method, estimate in estimates.items():
        sdr, _, _, _ = museval.evaluate(references, estimate, win=rate, hop=rate)
        scores[method] = {name: float(np.nanmedian(sdr[i])) for i, name in enumerate(STEM_NAMES)}
    # Energy share of each stem (whole track), to read the mixture scores against.
    energy = np.array([np.sum(s ** 2) for s in references])
    scores["energy_db"] = {name: float(10 * np.log10(energy[i] / energy.sum())) for i, name in enumerate(STEM_NAMES)}
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", type=int, default=4, help="number of test tracks to score")
    parser.add_argument("--seconds", type=float, default=12.0, help="length of each track (s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="tracks scored in parallel")
    parser.add_argument("--root", type=Path, default=None, help="where to write the set (default: a temp folder)")
    args = parser.parse_args(argv)

    spec = SyntheticSpec(n_train_tracks=1, n_test_tracks=args.tracks, track_seconds=args.seconds, seed=args.seed)
    with tempfile.TemporaryDirectory() as scratch:
        root = args.root if args.root is not None else Path(scratch) / "set"
        began = time.perf_counter()
        generate_synthetic_dataset(root, spec, progress=False)
        print(f"generated {spec} in {time.perf_counter() - began:.1f} s", file=sys.stderr)
        manifest = read_synthetic_manifest(root)
        folders = [str(root / "test" / name) for name in manifest["tracks"]["test"]]
        began = time.perf_counter()
        with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = list(pool.map(_evaluate_track, folders))
        print(f"scored {len(folders)} tracks in {time.perf_counter() - began:.1f} s", file=sys.stderr)

    names = [Path(f).name for f in folders]
    print(f"\nper track SDR (dB, median over 1 s frames); spec: {spec}")
    for name, result in zip(names, results):
        info = manifest["track_info"][name]
        row = "  ".join(f"{stem[:3]} mix {result['mixture'][stem]:6.2f} irm {result['IRM1'][stem]:6.2f} "
                        f"E {result['energy_db'][stem]:5.1f}" for stem in STEM_NAMES)
        print(f"{name}  {info['bpm']:5.1f} bpm  {row}")
    print(f"\n{'method':<10}" + "".join(f"{stem:>9}" for stem in STEM_NAMES) + f"{'mean':>9}")
    for method in ("mixture", "IRM1", "energy_db"):
        per_stem = [float(np.mean([r[method][stem] for r in results])) for stem in STEM_NAMES]
        label = "energy" if method == "energy_db" else method
        print(f"{label:<10}" + "".join(f"{v:9.2f}" for v in per_stem) + f"{np.mean(per_stem):9.2f}")
    print("(energy: each stem's share of the summed stem energy, dB; mixture SDR ~ share vs the rest)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
