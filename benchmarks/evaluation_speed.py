"""How fast is BSSEval v4 scoring? museval and stemunet's engine side by side, on the same input.

Scores one track of ``--seconds`` (default 60) of 4-stem stereo audio at 44.1 kHz with
``--methods`` sets of estimates (default 4: a full evaluation scores the model, MIX, IRM1 and
IRM2), first with ``museval.evaluate`` once per method (what museval users run), then with
:func:`stemunet.evaluation.bsseval.evaluate_methods` (one factorisation of the references for every method),
on the numpy backend and, where there is a GPU, on CUDA. Prints wall and CPU seconds, the
speed-up, the largest difference between the two (dB, every frame of every metric), and the
projected CPU-hours to score the MUSDB18 test set (50 songs, about 3.5 h of audio) with each.
The signals are noise shaped like music (most energy low, each stem in its own band with
overlap); estimates are the stems plus leakage and noise, each method with its own mix. Usage::

    python benchmarks/evaluation_speed.py [--seconds 60] [--methods 4] [--skip-museval]
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np

MUSDB18_TEST_SECONDS = 3.5 * 3600
"""Audio in the MUSDB18 test set (50 songs), for the projection."""


def example_track(seconds: float, n_methods: int, seed: int = 0, sample_rate: int = 44100) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(references, {method: estimates})`` in museval's layout ``(4, n_samples, 2)``, float64."""
    rng = np.random.default_rng(seed)
    n_samples = int(seconds * sample_rate)
    spectrum_bins = np.fft.rfftfreq(n_samples, 1 / sample_rate)
    references = []
    for centre in (80.0, 150.0, 800.0, 1500.0):  # drums, bass, other, vocals: overlapping bands
        shape = 1.0 / (1.0 + ((spectrum_bins - centre) / centre) ** 2)
        noise = rng.standard_normal((2, spectrum_bins.size)) + 1j * rng.standard_normal((2, spectrum_bins.size))
        stem = np.fft.irfft(noise * shape, n=n_samples)
        references.append((0.1 * stem / np.std(stem)).T)
    references = np.stack(references)
    estimates = {}
    for method in range(n_methods):
        leakage = (0.1 + 0.1 * method) * references.sum(axis=0, keepdims=True)
        estimates[f"method_{method}"] = references + leakage + 0.01 * rng.standard_normal(references.shape)
    return references, estimates


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def timed(function):
    cpu, wall = cpu_seconds(), time.perf_counter()
    result = function()
    return result, time.perf_counter() - wall, cpu_seconds() - cpu


def largest_difference(ours: dict, theirs: dict) -> float:
    worst = 0.0
    for method, scores in theirs.items():
        for a, b in zip(ours[method], scores):
            finite = np.isfinite(a) & np.isfinite(b)
            worst = max(worst, float(np.abs(a[finite] - b[finite]).max(initial=0.0)))
    return worst


def main() -> None:
    import museval

    from stemunet.evaluation import bsseval

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="track length (default 60)")
    parser.add_argument("--methods", type=int, default=4, help="sets of estimates scored (default 4)")
    parser.add_argument("--skip-museval", action="store_true", help="time the engine only (museval takes minutes)")
    args = parser.parse_args()

    references, estimates = example_track(args.seconds, args.methods)
    rate = 44100
    print(f"one track of {args.seconds:g} s, 4 stems, stereo, 44.1 kHz; {args.methods} methods; {os.cpu_count()} CPU cores")
    rows = []
    museval_scores = None
    if not args.skip_museval:
        museval_scores, wall, cpu = timed(lambda: {m: museval.evaluate(references, e, win=rate, hop=rate) for m, e in estimates.items()})
        rows.append(("museval.evaluate", wall, cpu, 0.0))
    backends = ["numpy"]
    try:
        import torch

        if torch.cuda.is_available():
            backends.append("cuda")
    except ImportError:
        pass
    for backend in backends:
        if backend == "cuda":  # warm up CUDA (context, cuFFT plans) outside the timing
            bsseval.evaluate_methods(references[:, : 2 * rate], {"w": references[:, : 2 * rate]}, backend="cuda")
        scores, wall, cpu = timed(lambda: bsseval.evaluate_methods(references, estimates, win=rate, hop=rate, backend=backend))
        difference = largest_difference(scores, museval_scores) if museval_scores else float("nan")
        rows.append((f"stemunet.evaluation.bsseval ({backend})", wall, cpu, difference))

    audio_seconds = args.seconds * args.methods
    baseline = rows[0][1]
    print(f"{'scorer':<28} {'wall s':>8} {'CPU s':>8} {'speed-up':>9} {'max diff dB':>12} {'MUSDB18 test CPU-h':>19}")
    for name, wall, cpu, difference in rows:
        hours = cpu / audio_seconds * MUSDB18_TEST_SECONDS * 4 / 3600  # 4 methods per song
        print(f"{name:<28} {wall:>8.1f} {cpu:>8.1f} {baseline / wall:>8.1f}x {difference:>12.2e} {hours:>19.2f}")
    print("(MUSDB18 test CPU-h: CPU time to score 50 songs, about 3.5 h of audio, with 4 methods each, at this rate)")


if __name__ == "__main__":
    main()
