"""Evaluation: museval BSSEval v4 per track, baselines and oracle bounds, aggregation, run overview.

For every track of a data set (``subset`` of a MUSDB18(-HQ) folder or of the synthetic set) the
trained separator's estimates are scored with museval's BSSEval v4 (SDR, SIR, SAR, ISR on
1-second frames, museval's default window and hop), together with three references scored on the
same audio by the same code:

* ``MIX``: SiSEC 2018's floor (sigsep-mus-oracle's ``MIX.py``): the mixture divided by the number of
  stems as every stem's estimate. BSSEval v4's SDR is not scale invariant (its error is
  ``estimate - reference``), so the unscaled mixture would score about 6 dB lower;
* ``irm1`` and ``irm2``: oracle ratio masks built from the true stems with the model's own STFT
  (magnitude ratio ``|S_j| / sum_k |S_k|`` and power ratio ``|S_j|^2 / sum_k |S_k|^2``) applied to
  the mixture's STFT, the ceiling of what a mask on the mixture spectrogram can reach.

Scoring runs in worker processes (``n_workers``), one job per track holding every method's
estimates, so the fast scorer (:mod:`stemunet.evaluation.bsseval`) factorises each track's references once for
all methods; ``scorer: museval`` runs museval itself, once per method. An evaluation run folder receives::

    scores/<track>.json            museval's JSON of the model's scores (one entry per 1 s frame)
    scores/<method>/<track>.json   the same for each baseline (MIX, irm1, irm2)
    track_scores.csv               method, track, stem, metric, value (median over frames), dB
    metrics.json                   aggregates, one key per method, then per stem and metric

Aggregates follow both conventions scores get compared in:

* ``median_of_medians``, SiSEC 2018 / museval: median over a track's frames, then median over
  tracks;
* ``mean_of_medians`` and ``std_of_medians``, the model card's: mean and (sample) standard
  deviation over tracks of the per-track medians.

Scores on the synthetic set are not comparable with MUSDB18 scores: the published MUSDB18
numbers (:func:`published_reference`) are kept in a separate, labelled table.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from stemunet.audio import AudioError, resample
from stemunet.config import ChunkingConfig, StemSet, Config, DataConfig, PostFilterChoice, StftConfig, check_device, require
from stemunet.data.tracks import base_stems, check_tracks, dataset_of, list_tracks, read_track, resolve_root
from stemunet.evaluation.metrics import WHOLE_TRACK_METRICS, whole_track_scores
from stemunet.evaluation.results import (CONVENTIONS, METHOD_LABELS, METHODS, TRACK_SCORE_COLUMNS, aggregate,
                                         metrics_dict, sort_track_scores)
from stemunet.evaluation.scoring import (HOP_SECONDS, WINDOW_SECONDS, ScoreJob, Scorer, ScoreResult, is_silent,
                                         limit_threads, run_score_job, score_track, track_medians)
from stemunet.files import write_json_atomic, write_text_atomic
from stemunet.progress import progress_bar
from stemunet.separation.chunking import overlap_add
from stemunet.separation.separator import Separator

AUDIBLE_DB = -60.0
"""A stem counts as audible in a 1 s frame when its RMS is above this (dB re full scale); used to
pick the excerpt of a track when ``max_seconds`` crops it."""


@dataclasses.dataclass(frozen=True)
class EvaluateConfig(Config):
    """Everything an evaluation depends on. Flat parameter names; see ``notebooks/evaluate.ipynb``.

    The defaults are the notebook's: 4 s excerpts of the small synthetic test set, baselines included;
    ``parameters/evaluate.yaml`` spells it out for MUSDB18-HQ, ``parameters/evaluate_demo.yaml``
    is the CPU demo on the synthetic set.
    """

    data: DataConfig = DataConfig()
    chunking: ChunkingConfig = ChunkingConfig()
    postfilter: PostFilterChoice = PostFilterChoice()
    checkpoint: str = ""  # training run folder, checkpoint file, pretrained or latest; "" = pretrained if bundled, else latest
    subset: Literal["train", "test"] = "test"  # which part of the data set to score
    max_tracks: int = 0  # score the first N tracks (by name); 0 = all
    max_seconds: float = 4.0  # score an excerpt this long per track (for speed); 0 = whole tracks
    n_workers: int = 2  # processes scoring tracks in parallel; 0 = one per CPU core, 1 = no pool
    device: str = "auto"  # where the model runs: auto (CUDA if available, else CPU), cpu, cuda, cuda:N
    baselines: bool = True  # also score SiSEC's MIX (mixture / n stems) and the oracle masks IRM1 and IRM2
    scorer: Scorer = "fast"  # BSSEval v4 engine: fast (same numbers, one factorisation per track) or museval
    allow_failures: bool = False  # finish without error when some tracks could not be read or scored

    def __post_init__(self) -> None:
        check_device(self.device)
        require(self.max_tracks >= 0, f"max_tracks must be >= 0, got {self.max_tracks}")
        require(
            self.max_seconds == 0 or self.max_seconds >= WINDOW_SECONDS,
            f"max_seconds must be 0 (whole tracks) or at least one museval window ({WINDOW_SECONDS} s), got {self.max_seconds}",
        )
        require(self.n_workers >= 0, f"n_workers must be >= 0, got {self.n_workers}")

    @property
    def methods(self) -> tuple[str, ...]:
        return METHODS if self.baselines else ("model",)

# --- Tracks and estimates --------------------------------------------------------------------


def _data_label(data: dict[str, Any]) -> str:
    if data.get("dataset") == "folders":
        return f"the folders data set {data.get('data_root', '')}"
    if data.get("musdb_root"):
        return f"the MUSDB18 folder {data['musdb_root']}"
    return (f"the synthetic set v{data['synthetic_version']} (seed {data['synthetic_seed']}: {data['synthetic_train_tracks']} "
            f"train and {data['synthetic_test_tracks']} test tracks of {data['synthetic_seconds']:g} s)")


def describe_data(config: EvaluateConfig, trained_on: dict[str, Any]) -> str:
    """One line saying which data set is scored and whether the checkpoint was trained on it.

    ``trained_on``: the data parameters recorded in the checkpoint
    (:meth:`~stemunet.checkpoints.CheckpointRef.training_data`; empty: unknown).
    """
    scored = config.data.to_params()
    line = f"Scoring the {config.subset} tracks of {_data_label(scored)}"
    if not trained_on:
        return line + "; the checkpoint does not record the data it was trained on."
    if scored["dataset"] == "folders":
        compared: tuple[str, ...] = ("dataset", "data_root", "stem_map")  # the folder and how its files become stems
    elif scored["musdb_root"]:
        compared = ("musdb_root",)  # a MUSDB18 folder is the set, whatever synthetic_* say
    else:
        compared = ("dataset", "musdb_root", *(name for name in scored if name.startswith("synthetic_")))
    if all(trained_on.get(name) == scored[name] for name in compared if name in trained_on):
        return line + ": the set this checkpoint was trained on."
    return line + f"; this checkpoint was trained on another: {_data_label({**scored, **trained_on})}."


def evaluation_tracks(config: EvaluateConfig, *, progress: bool = True, stems: StemSet = StemSet()) -> list:
    """The tracks to score: ``config.subset``, the first ``max_tracks`` by name.

    ``stems``: the model's (``separator.config.model.stem_set``); a synthetic set is generated with
    the instrument families a stem set beyond MUSDB18's four is made of.

    Raises FileNotFoundError (no track in that subset) or, before any scoring, TrackError (a
    folders track failing training's checks: :func:`~stemunet.data.tracks.check_tracks`).
    """
    root = resolve_root(config.data, progress=progress, stems=stems)
    tracks = sorted(list_tracks(config.data, config.subset, stems=stems), key=lambda track: track.name)
    if not tracks:
        raise FileNotFoundError(f"{root}: no tracks in its {config.subset}/ folder")
    tracks = tracks[: config.max_tracks] if config.max_tracks else tracks
    check_tracks(tracks)  # files may have changed since training checked them
    return tracks


def excerpt_bounds(stems: np.ndarray, sample_rate: int, max_seconds: float) -> tuple[int, int]:
    """``(start, stop)`` samples of the ``max_seconds`` excerpt to score (the whole track for 0).

    The excerpt starts on a whole second (so its 1 s museval frames are the track's own) and is
    the one with the most frames in which all stems are audible (RMS above :data:`AUDIBLE_DB`),
    then the most audible stem-frames, then the earliest: a short excerpt is not wasted on an
    intro where museval cannot score the silent vocals. ``stems``: ``(n_stems, n_channels, n_samples)``.
    """
    n_samples = stems.shape[-1]
    length = int(round(max_seconds * sample_rate))
    if max_seconds <= 0 or length >= n_samples:
        return 0, n_samples
    frame = int(WINDOW_SECONDS * sample_rate)
    n_frames = n_samples // frame
    framed = stems[..., : n_frames * frame].reshape(stems.shape[0], stems.shape[1], n_frames, frame)
    rms = np.sqrt(np.mean(np.square(framed, dtype=np.float64), axis=(1, 3)))  # (n_stems, n_frames)
    audible = rms > 10 ** (AUDIBLE_DB / 20)
    frames_in_excerpt = max(1, int(length // frame))
    starts = np.arange((n_samples - length) // frame + 1)
    all_audible = np.array([audible[:, s : s + frames_in_excerpt].all(axis=0).sum() for s in starts])
    stem_frames = np.array([audible[:, s : s + frames_in_excerpt].sum() for s in starts])
    best = int(starts[np.lexsort((starts, -stem_frames, -all_audible))[0]])
    return best * frame, best * frame + length


def oracle_estimates(
    mixture: np.ndarray,
    stems: np.ndarray,
    sample_rate: int,
    stft_config: StftConfig,
    power: float = 1.0,
    chunking: ChunkingConfig = ChunkingConfig(),
) -> np.ndarray:
    """Oracle ratio-mask estimates with a model's STFT, as that model would see the track.

    Masks ``|S_j|^power / sum_k |S_k|^power`` from the true stems, applied to the mixture's
    STFT and inverted with the mixture's phase (``power`` 1: IRM1, 2: IRM2, the SiSEC oracles).
    The audio is resampled to the model's rate and back, and goes through the same weighted
    overlap-add of ``chunking`` segments as the model (memory stays flat on long tracks). Each
    channel gets its own masks, which is what :meth:`Separator.separate` amounts to for mono and
    stereo models alike on mono or stereo tracks.

    Args:
        mixture: ``(n_channels, n_samples)`` at ``sample_rate`` Hz.
        stems: ``(n_stems, n_channels, n_samples)``, same rate.

    Returns:
        ``(n_stems, n_channels, n_samples)`` float32 at ``sample_rate`` Hz.
    """
    from stemunet.stft import Istft, Stft

    stft, istft = Stft(stft_config), Istft(stft_config)
    n_stems, n_channels, n_samples = stems.shape
    model_rate = stft_config.sample_rate
    # Mixture and stems travel as channels of one signal so overlap-add cuts them alike.
    packed = torch.cat([torch.as_tensor(mixture, dtype=torch.float32), torch.as_tensor(stems, dtype=torch.float32).reshape(-1, n_samples)])
    packed = resample(packed, sample_rate, model_rate)

    def process(segments: torch.Tensor) -> torch.Tensor:
        batch, _, length = segments.shape
        parts = segments.reshape(batch, 1 + n_stems, n_channels, length)
        mixture_spec = stft(parts[:, 0])  # (batch, n_channels, n_bins, n_frames)
        weights = stft(parts[:, 1:]).abs().pow(power)  # (batch, n_stems, n_channels, n_bins, n_frames)
        masks = weights / (weights.sum(dim=1, keepdim=True) + 1e-30)
        return istft(masks * mixture_spec.unsqueeze(1), length)

    segment_length = max(1, int(round(chunking.segment_seconds * model_rate)))
    with torch.inference_mode():
        estimates = overlap_add(process, packed, segment_length, chunking.overlap, chunking.batch_segments)
        estimates = resample(estimates, model_rate, sample_rate)
    estimates = estimates[..., :n_samples]
    if estimates.shape[-1] < n_samples:
        estimates = torch.nn.functional.pad(estimates, (0, n_samples - estimates.shape[-1]))
    return estimates.float().numpy()


def track_estimates(
    separator: Separator | None,
    mixture: np.ndarray,
    stems: np.ndarray,
    sample_rate: int,
    chunking: ChunkingConfig = ChunkingConfig(),
    methods: Sequence[str] = METHODS,
    stft_config: StftConfig | None = None,
) -> dict[str, np.ndarray]:
    """Each method's estimates of one track, ``{method: (n_stems, n_channels, n_samples)}``.

    ``model`` separates the mixture with ``separator`` (chunked); ``MIX`` is the mixture divided by
    the number of stems, for every stem (SiSEC's floor); ``irm1``/``irm2`` are :func:`oracle_estimates` with the separator's STFT (or
    ``stft_config``). Inputs as in :func:`oracle_estimates`.
    """
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; known: {list(METHODS)}")
    stft_config = stft_config or (separator.config.stft if separator is not None else None)
    estimates: dict[str, np.ndarray] = {}
    for method in methods:
        if method == "model":
            if separator is None:
                raise ValueError("scoring the model needs a separator")
            estimates[method] = separator.separate(mixture, sample_rate, chunking).numpy()
        elif method == "MIX":
            estimates[method] = np.broadcast_to(mixture / stems.shape[0], stems.shape)
        else:
            if stft_config is None:
                raise ValueError("oracle masks need the model's STFT settings (a separator or stft_config)")
            power = {"irm1": 1.0, "irm2": 2.0}[method]
            estimates[method] = oracle_estimates(mixture, stems, sample_rate, stft_config, power, chunking)
    return estimates


def sisec_track_medians(
    tracks: Sequence,
    separator: Separator | None = None,
    *,
    shift_seconds: float = 0.0,
    stft_config: StftConfig = StftConfig(),
    chunking: ChunkingConfig = ChunkingConfig(),
) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """Per track, SiSEC's MIX, oracle IRM1 (``stft_config``'s STFT) and, given a ``separator``, the
    model: ``{track: {method: {metric: (n_stems,) dB}}}`` (:func:`stems_scored`; methods ``MIX``, ``IRM1``,
    ``model``): BSSEval's per-stem medians over 1 s frames, and whole-track ``global_SDR``, ``SI_SDR``.

    Each track is scored whole (from ``shift_seconds`` on) by :func:`stemunet.evaluation.scoring.score_track`
    (the fast BSSEval v4 engine): a stem whose reference is digitally silent over the whole track
    (the LMMS validation songs' vocals) is left out, as museval cannot score it, and gets NaN.
    """
    per_track = {}
    for track in tracks:
        stem_set = stems_scored(separator, track)
        mixture, stems, rate = read_track(track, stem_set)
        start = int(round(shift_seconds * rate))
        mixture, stems = mixture[:, start:], stems[..., start:]
        methods = ("MIX", "irm1", *(("model",) if separator is not None else ()))
        estimates = track_estimates(separator, mixture, stems, rate, chunking, methods, stft_config)
        medians = {method: track_medians(store) for method, store in score_track(stems, estimates, rate, track.name).items()}
        audible = [not is_silent(stem.T) for stem in stems]
        whole = whole_track_scores(stems, estimates, stem_set.names, audible)
        per_track[track.name] = {
            ("IRM1" if method == "irm1" else method): {
                metric: np.array([{**by_stem.get(stem, {}), **whole[method].get(stem, {})}.get(metric, np.nan) for stem in stem_set.names])
                for metric in ("SDR", "ISR", "SIR", "SAR", *WHOLE_TRACK_METRICS)
            }
            for method, by_stem in medians.items()
        }
    return per_track


def sisec_medians(
    tracks: Sequence,
    separator: Separator | None = None,
    *,
    shift_seconds: float = 0.0,
    stft_config: StftConfig = StftConfig(),
    chunking: ChunkingConfig = ChunkingConfig(),
) -> dict[str, dict[str, np.ndarray]]:
    """:func:`sisec_track_medians` aggregated as SiSEC does (median over tracks of the per-track
    medians over frames): ``{method: {metric: (n_stems,) dB}}``; a stem silent in every track is NaN.

    Used to measure how hard a data set is, whether its BSSEval decomposition is well-conditioned
    (IRM1's SIR at or above its SDR), and how a checkpoint does on real music
    (``benchmarks/real_transfer.py``, ``benchmarks/real_validation.py``).
    """
    return median_over_tracks(sisec_track_medians(tracks, separator, shift_seconds=shift_seconds, stft_config=stft_config, chunking=chunking))


def _over_tracks(per_track: dict[str, dict[str, dict[str, np.ndarray]]], reduce) -> dict[str, dict[str, np.ndarray]]:
    """``{method: {metric: (n_stems,) dB}}``: ``reduce`` (``np.nanmedian``, ``np.nanmean``) over tracks of
    :func:`sisec_track_medians`'s values, NaN (a stem a track lacks) left out; NaN where no track has the stem."""
    first = next(iter(per_track.values()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: a stem no track has
        return {
            method: {metric: reduce([t[method][metric] for t in per_track.values()], axis=0) for metric in first[method]}
            for method in first
        }


def median_over_tracks(per_track: dict[str, dict[str, dict[str, np.ndarray]]]) -> dict[str, dict[str, np.ndarray]]:
    """The median over tracks (SiSEC's aggregation of the per-track medians over frames)."""
    return _over_tracks(per_track, np.nanmedian)


def mean_over_tracks(per_track: dict[str, dict[str, dict[str, np.ndarray]]]) -> dict[str, dict[str, np.ndarray]]:
    """The mean over tracks: how the MDX/SDX challenges aggregate the global SDR."""
    return _over_tracks(per_track, np.nanmean)


# --- Scoring many tracks in worker processes -------------------------------------------------


class _InlineExecutor:
    """Runs each job when it is submitted (``n_workers == 1``): no processes, easy to debug."""

    def submit(self, function, *args) -> Future:
        future: Future = Future()
        future.set_result(function(*args))
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


def resolve_workers(n_workers: int, n_jobs: int | None = None) -> int:
    """Worker processes to use: ``0`` means one per CPU core; never more than there are jobs."""
    count = n_workers or os.cpu_count() or 1
    return max(1, min(count, n_jobs) if n_jobs else count)


def score_executor(n_workers: int):
    """A process pool of ``n_workers`` museval workers (single-threaded each), or an inline runner for 1.

    Workers are started with ``spawn``: a fresh interpreter that needs only
    :mod:`stemunet.evaluation.scoring` (no torch), safe from Jupyter kernels and after CUDA is initialised.
    A script that evaluates with more than one worker needs the usual
    ``if __name__ == "__main__":`` guard (spawned workers import the script's main module).
    """
    if n_workers <= 1:
        return _InlineExecutor()
    return ProcessPoolExecutor(
        max_workers=n_workers, mp_context=multiprocessing.get_context("spawn"), initializer=limit_threads
    )


def stop_workers(executor) -> None:
    """Terminate a pool's worker processes now (running jobs are lost)."""
    terminate = getattr(executor, "terminate_workers", None)  # Python 3.14+
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        process.terminate()


def score_file(out_dir: Path, method: str, track: str) -> Path:
    """Where a method's museval JSON of a track goes: ``scores/<track>.json`` for the model,
    ``scores/<method>/<track>.json`` for a baseline."""
    return out_dir / "scores" / (f"{track}.json" if method == "model" else f"{method}/{track}.json")


@dataclasses.dataclass
class EvaluationResult:
    """What :func:`evaluate` measured (also written to its folder)."""

    out_dir: Path
    track_scores: pd.DataFrame  # method, track, stem, metric, value (median over frames, dB)
    aggregates: pd.DataFrame  # see aggregate()
    tracks: pd.DataFrame  # track, seconds, excerpt_start, excerpt_seconds
    metrics: dict[str, Any]
    failures: list[dict[str, str]] = dataclasses.field(default_factory=list)

    def check(self, allow_failures: bool = False) -> None:
        """Raise :class:`EvaluationFailures` if a track could not be read or scored (unless allowed),
        so a run with missing results ends non-zero instead of looking complete."""
        if self.failures and not allow_failures:
            listing = "; ".join(f"{f['track']}: {f['error']}" for f in self.failures)
            raise EvaluationFailures(
                f"{len(self.failures)} track(s) could not be scored ({listing}); the scores cover the others. "
                "Fix the data, or set allow_failures to accept partial results"
            )


class EvaluationFailures(RuntimeError):
    """Some tracks of an evaluation could not be read or scored."""


def _frame_rows(method: str, track: str, store) -> list[dict[str, Any]]:
    return [
        {"method": method, "track": track, "stem": stem, "metric": metric, "value": value}
        for stem, metrics in track_medians(store).items()
        for metric, value in metrics.items()
    ]


def evaluate(
    separator: Separator | None,
    tracks: Iterable,
    config: EvaluateConfig,
    out_dir: str | Path | Any,
    *,
    progress: bool = True,
) -> EvaluationResult:
    """Separate and score every track; write ``scores/``, ``track_scores.csv`` and ``metrics.json``.

    The model runs in this process (on ``config.device``, where the separator is); each track's
    estimates, all methods together, are scored (``config.scorer``) in one of ``config.n_workers``
    worker processes, at most one job more than there are workers in flight so memory stays
    bounded on long tracks. A track that cannot be read or scored is reported (a warning and the
    ``failures`` entry of ``metrics.json``) and the others go on.

    Args:
        separator: the model, or ``None`` to score only baselines (``config.baselines``).
        tracks: ``musdb`` tracks (:func:`evaluation_tracks`).
        out_dir: the run folder (a path, or a :class:`stemunet.lab.runs.Run`).
    """
    out_dir = Path(getattr(out_dir, "path", out_dir))
    tracks = list(tracks)
    if not tracks:
        raise ValueError("no tracks to evaluate")
    methods = [m for m in config.methods if not (m == "model" and separator is None)]
    n_workers = resolve_workers(config.n_workers, len(tracks))
    began = time.perf_counter()
    scored = _Scored(out_dir, methods)
    _separate_and_score(separator, tracks, config, n_workers, scored, progress)
    if not scored.rows:
        raise RuntimeError(f"no track could be scored: {scored.failures}")
    track_scores = sort_track_scores(pd.DataFrame(scored.rows, columns=TRACK_SCORE_COLUMNS))
    aggregates = aggregate(track_scores)
    tracks_table = pd.DataFrame(
        [*({**info, "problem": ""} for info in scored.track_info),
         *({"track": f["track"], "problem": f["error"]} for f in scored.failures)]
    )
    track_info, failures = scored.track_info, scored.failures
    about = {
        "data": (config.data.data_root if config.data.dataset == "folders" else config.data.musdb_root) or "synthetic",
        "stems": list(stems_scored(separator, tracks[0]).names),
        "data_root": dataset_of(tracks[0])[0],  # which set exactly (as the listen widget names it), for matching scores
        "subset": config.subset,
        "n_tracks": int(track_scores["track"].nunique()),
        "tracks": track_info,
        "scored_seconds": round(float(sum(t["excerpt_seconds"] for t in track_info)), 3),
        "window_seconds": WINDOW_SECONDS,
        "hop_seconds": HOP_SECONDS,
        "methods": {m: METHOD_LABELS[m] for m in methods},
        "conventions": CONVENTIONS,
        "n_workers": n_workers,
        "seconds": round(time.perf_counter() - began, 2),
        "failures": failures,
        "scorer": config.scorer,
        "museval_version": _museval_version(),
        # The model's post-filter as it ran (the run's choice over the checkpoint's own settings).
        "postfilter": separator.config.postfilter.to_params() if separator is not None else None,
    }
    metrics = metrics_dict(aggregates, about)
    write_text_atomic(out_dir / "track_scores.csv", track_scores.to_csv(index=False))
    write_json_atomic(out_dir / "metrics.json", metrics)
    return EvaluationResult(out_dir, track_scores, aggregates, tracks_table, metrics, failures)


@dataclasses.dataclass
class _Scored:
    """What an evaluation gathers as its scores come back: museval's median rows (and each track's
    JSON, written to ``out_dir/scores``), the tracks that were separated, and what failed."""

    out_dir: Path
    methods: list[str]
    rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    track_info: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    failures: list[dict[str, str]] = dataclasses.field(default_factory=list)

    def collect(self, future: Future, bar) -> None:
        """Take in a finished scoring job's result (a failure is warned about, as the caller of evaluate)."""
        result: ScoreResult = future.result()
        if result.error:
            self.failures.append({"track": result.track, "method": "all", "error": result.error})
            warnings.warn(f"{result.track}: not scored: {result.error}", stacklevel=4)
        for method, store in result.stores.items():
            write_text_atomic(score_file(self.out_dir, method, result.track), store.json)
            self.rows.extend(_frame_rows(method, result.track, store))
            self.rows.extend({"method": method, "track": result.track, "stem": stem, "metric": metric, "value": value}
                             for stem, values in result.whole_track.get(method, {}).items() for metric, value in values.items())
        bar.update(len(self.methods))


def _separate_and_score(separator: Separator | None, tracks: list, config: EvaluateConfig, n_workers: int,
                        scored: _Scored, progress: bool) -> None:
    """Separate each track here and score it in the worker pool, keeping at most ``n_workers`` + 1
    jobs in flight; on an interruption the workers are stopped at once."""
    methods = scored.methods
    stft_config = separator.config.stft if separator is not None else StftConfig()
    executor = score_executor(n_workers)
    bar = progress_bar(total=len(tracks) * len(methods), desc=f"BSSEval v4 ({n_workers} worker{'s' * (n_workers > 1)})",
                       unit="score", disable=not progress)
    pending: set[Future] = set()
    try:
        for track in tracks:
            bar.set_postfix_str(f"separating {track.name}")
            try:
                job, info = _score_job(separator, track, config, methods, stft_config)
            except (AudioError, OSError, ValueError, RuntimeError) as error:
                scored.failures.append({"track": track.name, "method": "all", "error": f"{type(error).__name__}: {error}"})
                warnings.warn(f"{track.name}: skipped: {error}", stacklevel=3)
                bar.update(len(methods))
                continue
            scored.track_info.append(info)
            bar.set_postfix_str(f"scoring {track.name}")
            while len(pending) > n_workers:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    scored.collect(future, bar)
            pending.add(executor.submit(run_score_job, job))
            del job
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                scored.collect(future, bar)
    except BaseException:
        # Interrupted (Ctrl-C, a kernel stop) or failed: do not wait minutes for running museval jobs.
        stop_workers(executor)
        raise
    finally:
        for future in pending:
            future.cancel()
        executor.shutdown(wait=True, cancel_futures=True)
        bar.set_postfix_str("")
        bar.close()


def _score_job(separator: Separator | None, track, config: EvaluateConfig, methods: list[str],
               stft_config: StftConfig) -> tuple[ScoreJob, dict[str, Any]]:
    """Read ``track``, cut its excerpt and separate it by every method: the scoring job and the
    track's entry of metrics.json (length, excerpt, rate)."""
    stem_set = stems_scored(separator, track)
    mixture, stems, rate = read_track(track, stem_set)
    seconds = stems.shape[-1] / rate
    start, stop = excerpt_bounds(stems, rate, config.max_seconds)
    mixture, stems = mixture[:, start:stop], stems[..., start:stop]
    estimates = track_estimates(separator, mixture, stems, rate, config.chunking, methods, stft_config)
    info = {
        "track": track.name,
        "seconds": round(seconds, 3),
        "excerpt_start": round(start / rate, 3),
        "excerpt_seconds": round((stop - start) / rate, 3),
        "sample_rate": rate,
    }
    arrays = {method: np.asarray(estimates[method]) for method in methods}
    return ScoreJob(track.name, stems, arrays, rate, stem_set.names, start / rate, config.scorer), info


def stems_scored(separator: Separator | None, track: Any = None) -> StemSet:
    """The stems an evaluation scores: the model's, as it was trained to make them; for the baselines
    alone, the data set's own (``track``'s base stems: MUSDB18's four, or a folders data set's)."""
    if separator is not None:
        return separator.config.model.stem_set
    return StemSet(base_stems(track)) if track is not None else StemSet()


def _museval_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("museval")
    except metadata.PackageNotFoundError:
        return ""
