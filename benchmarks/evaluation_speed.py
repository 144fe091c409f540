"""How fast is museval scoring? Seconds per minute of 4-stem stereo audio, for 1 and N workers.

Scores ``--tracks`` tracks of ``--seconds`` of 4-stem stereo audio at 44.1 kHz (noise shaped
like music: most energy low, each stem in its own band with overlap; estimates are the stems plus
leakage and noise) through the evaluation's own path (:func:`stemunet.evaluation.score_executor`
and :func:`stemunet.bsseval.run_score_job`): first in this process (``n_workers`` 1), then in a
pool of ``--workers`` processes. Prints, for each, wall-clock and CPU seconds per minute of audio
and one method (a full evaluation scores four methods: model, mixture, IRM1, IRM2). Usage::

    python benchmarks/evaluation_speed.py [--tracks 4] [--seconds 10] [--workers N]

museval's cost is a fixed part per call (least-squares distortion filters of 512 taps for each
stem, about 5 s of CPU) plus about 0.55 s per second of audio (projections per 1 s frame), so short
excerpts cost more per second of audio than whole songs.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from concurrent.futures import as_completed

import numpy as np

from stemunet.bsseval import ScoreJob, run_score_job
from stemunet.evaluation import score_executor


def example_track(seconds: float, seed: int, sample_rate: int = 44100) -> tuple[np.ndarray, np.ndarray]:
    """``(references, estimates)``, each ``(4, 2, n_samples)`` float32."""
    rng = np.random.default_rng(seed)
    n_samples = int(seconds * sample_rate)
    spectrum_bins = np.fft.rfftfreq(n_samples, 1 / sample_rate)
    references = []
    for centre in (80.0, 150.0, 800.0, 1500.0):  # drums, bass, other, vocals: overlapping bands
        shape = 1.0 / (1.0 + ((spectrum_bins - centre) / centre) ** 2)
        noise = rng.standard_normal((2, spectrum_bins.size)) + 1j * rng.standard_normal((2, spectrum_bins.size))
        stem = np.fft.irfft(noise * shape, n=n_samples)
        references.append(0.1 * stem / np.std(stem))
    references = np.stack(references).astype(np.float32)
    leakage = 0.2 * references.sum(axis=0, keepdims=True)
    estimates = references + leakage + 0.01 * rng.standard_normal(references.shape).astype(np.float32)
    return references, estimates.astype(np.float32)


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(jobs: list[ScoreJob], n_workers: int) -> tuple[float, float]:
    """Wall and CPU seconds to score ``jobs`` with ``n_workers`` (pool start-up included)."""
    cpu_before, wall_before = cpu_seconds(), time.perf_counter()
    executor = score_executor(n_workers)
    try:
        futures = [executor.submit(run_score_job, job) for job in jobs]
        for future in as_completed(futures):
            result = future.result()
            if result.error:
                raise RuntimeError(result.error)
    finally:
        executor.shutdown(wait=True)
    return time.perf_counter() - wall_before, cpu_seconds() - cpu_before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=4, help="tracks to score (default 4)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each track (default 10)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="pool size (default: CPU cores)")
    args = parser.parse_args()

    jobs = []
    for index in range(args.tracks):
        references, estimates = example_track(args.seconds, index)
        jobs.append(ScoreJob("model", f"track_{index}", references, estimates, 44100))
    minutes = args.tracks * args.seconds / 60
    print(f"{args.tracks} tracks x {args.seconds:g} s of 4-stem stereo audio at 44.1 kHz, one method; "
          f"{os.cpu_count()} CPU cores")
    print(f"{'workers':>8} {'wall s':>8} {'CPU s':>8} {'wall s per min':>15} {'CPU s per min':>14} {'speed-up':>9}")
    baseline = None
    for n_workers in dict.fromkeys([1, args.workers]):
        wall, cpu = measure(jobs, n_workers)
        baseline = baseline or wall
        print(f"{n_workers:>8} {wall:>8.1f} {cpu:>8.1f} {wall / minutes:>15.1f} {cpu / minutes:>14.1f} {baseline / wall:>8.2f}x")
    print("(per min: seconds per minute of audio for one method; a full evaluation scores 4 methods)")


if __name__ == "__main__":
    main()
