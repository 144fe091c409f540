"""Scoring one track's estimates with BSSEval v4, kept in museval's JSON format; worker jobs.

This module imports neither torch nor the model: the worker processes that score tracks in
parallel import only it (and numpy, scipy, museval), so they start fast and run no torch threads.

Conventions: signals here are shaped like the rest of stemunet, ``(n_stems, n_channels,
n_samples)`` float at the track's own sample rate; museval wants ``(n_stems, n_samples,
n_channels)`` and gets it transposed. Scores are dB, one value per 1-second frame (museval's
default window and hop, as in SiSEC 2018), in a :class:`museval.TrackStore`, whose ``json`` is
the file format museval and its aggregation tools read.

Two scorers compute the same numbers: ``fast`` (:mod:`stemunet.evaluation.bsseval`, the default: one
factorisation per track shared by every method) and ``museval`` (``museval.evaluate`` once per
method, the reference implementation).
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from stemunet.config import STEM_NAMES
from stemunet.evaluation.metrics import whole_track_scores

WINDOW_SECONDS = 1.0
"""museval's default evaluation window (SiSEC 2018): one score per second of audio."""
HOP_SECONDS = 1.0
"""museval's default hop: frames do not overlap."""
METRICS: tuple[str, ...] = ("SDR", "SIR", "SAR", "ISR")
"""BSSEval v4 image metrics, dB: distortion, interference, artefacts, spatial image."""

SILENT_ESTIMATE_DITHER = 1e-10
"""Amplitude of the noise that stands in for an all-zero estimate (see :func:`score_track`)."""


def is_silent(signal: np.ndarray) -> bool:
    """museval's test for a source it cannot score: ``(n_samples, n_channels)``, every sample's
    channel sum exactly zero."""
    return bool(np.all(np.sum(signal, axis=-1) == 0))


Scorer = Literal["fast", "museval"]
SCORERS: tuple[str, ...] = ("fast", "museval")


def score_track(
    references: np.ndarray,
    estimates: Mapping[str, np.ndarray],
    sample_rate: int,
    track_name: str,
    stem_names: Sequence[str] = STEM_NAMES,
    *,
    time_offset: float = 0.0,
    scorer: Scorer = "fast",
) -> dict[str, Any]:
    """BSSEval v4 (1 s windows and hops, as ``museval.evaluate``) of every method's estimates of one track.

    Args:
        references: true stems ``(n_stems, n_channels, n_samples)`` at ``sample_rate`` Hz.
        estimates: ``{method: (n_stems, n_channels, n_samples)}`` (a shorter estimate is
            zero-padded, a longer one cut, as museval does).
        track_name: recorded in the stores.
        time_offset: seconds added to every frame's ``time`` (where an excerpt starts in its
            track), so frame times in the JSON are the track's own.
        scorer: ``fast`` (:func:`stemunet.evaluation.bsseval.evaluate_methods`) or ``museval``.

    Returns:
        ``{method: museval.TrackStore}``, each holding one target per audible reference stem with
        one SDR/SIR/SAR/ISR entry per frame (NaN where a stem is silent in the frame).

    museval refuses a reference that is digitally silent over the whole excerpt (its scores are
    undefined): such a stem is left out of the store, and the others are scored among themselves
    (a silent reference spans nothing, so the interference projection is unchanged). It also
    refuses an all-zero *estimate*; one is replaced by noise at :data:`SILENT_ESTIMATE_DITHER`
    (-200 dBFS), which scores what silence deserves (SDR about 0 dB) instead of stopping the run.
    """
    import museval

    if scorer not in SCORERS:
        raise ValueError(f"scorer must be one of {list(SCORERS)}, got {scorer!r}")
    references = np.asarray(references)
    if references.ndim != 3 or references.shape[0] != len(stem_names):
        raise ValueError(f"{track_name}: expected ({len(stem_names)}, n_channels, n_samples) references, got {references.shape}")
    reference_frames = np.ascontiguousarray(references.transpose(0, 2, 1))
    audible = [i for i, reference in enumerate(reference_frames) if not is_silent(reference)]
    prepared = {}
    for method, values in estimates.items():
        values = np.asarray(values)
        if values.shape[:2] != references.shape[:2]:
            raise ValueError(f"{track_name}: {method} estimates {values.shape} and references {references.shape} disagree")
        for name, estimate in zip(stem_names, values):
            if not np.isfinite(estimate).all():
                raise ValueError(f"{track_name}: the {method} {name} estimate contains NaN or infinite samples")
        frames = np.array(values.transpose(0, 2, 1), dtype=np.float64)
        for i in audible:
            if is_silent(frames[i][: reference_frames.shape[1]]):
                frames[i] = SILENT_ESTIMATE_DITHER * np.random.default_rng(i).standard_normal(frames[i].shape)
        prepared[method] = frames[audible]

    win = int(WINDOW_SECONDS * sample_rate)
    hop = int(HOP_SECONDS * sample_rate)
    if not audible:
        scores = {}
    elif scorer == "fast":
        from stemunet.evaluation.bsseval import evaluate_methods

        scores = evaluate_methods(reference_frames[audible], prepared, win=win, hop=hop, backend="numpy")
    else:
        scores = {method: museval.evaluate(reference_frames[audible], frames, win=win, hop=hop, mode="v4") for method, frames in prepared.items()}

    stores = {}
    for method in estimates:
        store = museval.TrackStore(win=WINDOW_SECONDS, hop=HOP_SECONDS, track_name=track_name)
        if method in scores:
            sdr, isr, sir, sar = scores[method]
            for row, i in enumerate(audible):
                store.add_target(
                    target_name=stem_names[i],
                    values={"SDR": sdr[row].tolist(), "SIR": sir[row].tolist(), "ISR": isr[row].tolist(), "SAR": sar[row].tolist()},
                )
        if time_offset:
            for target in store.scores["targets"]:
                for frame in target["frames"]:
                    frame["time"] = round(frame["time"] + time_offset, 6)
        stores[method] = store
    return stores


def frame_scores(store) -> dict[str, dict[str, np.ndarray]]:
    """``{stem: {metric: (n_frames,) float dB}}`` of a :class:`museval.TrackStore`, NaN kept."""
    return {
        target["name"]: {
            metric: np.array([float(frame["metrics"][metric]) for frame in target["frames"]], dtype=float)
            for metric in METRICS
        }
        for target in store.scores["targets"]
    }


def track_medians(store) -> dict[str, dict[str, float]]:
    """``{stem: {metric: dB}}``: each stem's median over its scored frames (museval's per-track
    figure; NaN frames skipped, NaN if no frame was scored)."""
    medians: dict[str, dict[str, float]] = {}
    for stem, metrics in frame_scores(store).items():
        medians[stem] = {}
        for metric, values in metrics.items():
            finite = values[~np.isnan(values)]
            medians[stem][metric] = float(np.median(finite)) if finite.size else float("nan")
    return medians


# ----------------------------------------------------------------------------------------------
# Worker processes
# ----------------------------------------------------------------------------------------------


def limit_threads() -> None:
    """Run the numeric libraries single-threaded (a worker process's initializer).

    Several workers each running a multi-threaded BLAS on the same cores would fight over them;
    one thread per worker and one worker per core is fastest for museval.
    """
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = "1"
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # an optional speed-up: without it BLAS keeps its default threads
        return
    threadpool_limits(1)


@dataclass
class ScoreJob:
    """Every method's estimates of one track, to be scored together (what goes to a worker)."""

    track: str
    references: np.ndarray  # (n_stems, n_channels, n_samples) at sample_rate
    estimates: dict[str, np.ndarray]  # method -> same shape
    sample_rate: int
    stem_names: tuple[str, ...] = STEM_NAMES
    time_offset: float = 0.0
    scorer: Scorer = "fast"


@dataclass
class ScoreResult:
    """A scored job: a museval store per method, or the error that stopped it."""

    track: str
    stores: dict[str, Any] = field(default_factory=dict)  # method -> museval.TrackStore
    whole_track: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # method -> stem -> metric -> dB
    error: str = ""


def run_score_job(job: ScoreJob) -> ScoreResult:
    """Score one job: BSSEval per frame (:func:`score_track`) and the whole-track global SDR and
    SI-SDR (:func:`stemunet.evaluation.metrics.whole_track_scores`) of the same stems. An error is
    returned, not raised, so one bad track does not stop a batch."""
    try:
        stores = score_track(
            job.references, job.estimates, job.sample_rate, job.track, job.stem_names,
            time_offset=job.time_offset, scorer=job.scorer,
        )
        audible = [not is_silent(np.asarray(reference).T) for reference in job.references]
        whole_track = whole_track_scores(job.references, job.estimates, job.stem_names, audible)
    except Exception as error:  # reported per track by the caller, which carries on
        detail = traceback.format_exception_only(type(error), error)[-1].strip()
        return ScoreResult(job.track, error=detail)
    return ScoreResult(job.track, stores=stores, whole_track=whole_track)
