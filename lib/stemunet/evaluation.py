"""Evaluation: museval BSSEval v4 per track, baselines and oracle bounds, aggregation, run overview.

For every track of a data set (``subset`` of a MUSDB18(-HQ) folder or of the synthetic set) the
trained separator's estimates are scored with museval's BSSEval v4 (SDR, SIR, SAR, ISR on
1-second frames, museval's default window and hop), together with three references scored on the
same audio by the same code:

* ``mixture``: the mixture as every stem's estimate, the floor (what doing nothing scores);
* ``irm1`` and ``irm2``: oracle ratio masks built from the true stems with the model's own STFT
  (magnitude ratio ``|S_j| / sum_k |S_k|`` and power ratio ``|S_j|^2 / sum_k |S_k|^2``) applied to
  the mixture's STFT, the ceiling of what a mask on the mixture spectrogram can reach.

Scoring runs in worker processes (``n_workers``), since museval costs seconds of CPU per second of
audio. An evaluation run folder receives::

    scores/<track>.json            museval's JSON of the model's scores (one entry per 1 s frame)
    scores/<method>/<track>.json   the same for each baseline (mixture, irm1, irm2)
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
import math
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
import soundfile as sf
import torch
import yaml
from tqdm.auto import tqdm

from stemunet.audio import AudioError, resample
from stemunet.bsseval import (
    HOP_SECONDS,
    METRICS,
    WINDOW_SECONDS,
    ScoreJob,
    ScoreResult,
    limit_threads,
    run_score_job,
    track_medians,
)
from stemunet.chunking import overlap_add
from stemunet.config import STEM_NAMES, ChunkingConfig, Config, DataConfig, StftConfig, _require
from stemunet.datasets import list_tracks, read_stems, resolve_root, track_folder
from stemunet.files import write_json_atomic, write_text_atomic
from stemunet import runs
from stemunet.runs import list_runs, runs_root
from stemunet.separator import Separator
from stemunet.separator import load_separator as load_checkpoint_file

METHODS: tuple[str, ...] = ("model", "mixture", "irm1", "irm2")
"""What gets scored: the trained model, then the baselines (floor and ceilings)."""

METHOD_LABELS: dict[str, str] = {
    "model": "U-Net (this checkpoint)",
    "mixture": "mixture as estimate (floor)",
    "irm1": "oracle IRM1, magnitude ratio (ceiling)",
    "irm2": "oracle IRM2, power ratio (ceiling)",
}

CONVENTIONS: dict[str, str] = {
    "median_of_medians": "SiSEC 2018 / museval: median over 1 s frames per track, then median over tracks",
    "mean_of_medians": "model card: mean over tracks of the per-track medians over frames",
    "std_of_medians": "model card: standard deviation (ddof=1) over tracks of the per-track medians",
}
"""The aggregate columns and what each means. Stem ``all``: for the SiSEC column the mean of the
four stems' medians over tracks; for the model card's columns the mean and std over tracks of each
track's mean over its stems."""

TRACK_SCORE_COLUMNS = ("method", "track", "stem", "metric", "value")

AUDIBLE_DB = -60.0
"""A stem counts as audible in a 1 s frame when its RMS is above this (dB re full scale); used to
pick the excerpt of a track when ``max_seconds`` crops it."""

PUBLISHED_TITLE = "published, MUSDB18 test, not comparable with synthetic scores"

# Training parameters shown beside each evaluation in the runs overview.
TRAINING_KEYS: tuple[str, ...] = (
    "sample_rate",
    "n_channels",
    "n_fft",
    "hop_length",
    "block",
    "base_channels",
    "depth",
    "stem_stride",
    "mask_activation",
    "max_frequency",
    "epochs",
    "samples_per_epoch",
    "batch_size",
    "chunk_seconds",
    "learning_rate",
    "loss",
    "musdb_root",
    "synthetic_train_tracks",
    "synthetic_seconds",
    "synthetic_seed",
)
TRAINING_METRIC_KEYS: tuple[str, ...] = ("n_parameters", "best_epoch", "best_valid_loss", "train_seconds")


@dataclasses.dataclass(frozen=True)
class EvaluateConfig(Config):
    """Everything an evaluation depends on. Flat parameter names; see ``notebooks/evaluate.ipynb``.

    The defaults are a full evaluation (every test track, whole tracks, baselines included);
    ``parameters/evaluate.yaml`` spells it out for MUSDB18-HQ, ``parameters/evaluate_demo.yaml``
    is the CPU demo on the synthetic set.
    """

    data: DataConfig = DataConfig()
    chunking: ChunkingConfig = ChunkingConfig()
    checkpoint: str = ""  # training run folder or checkpoint file; "" = newest training run
    subset: Literal["train", "test"] = "test"  # which part of the data set to score
    max_tracks: int = 0  # score the first N tracks (by name); 0 = all
    max_seconds: float = 0.0  # score an excerpt this long per track (for speed); 0 = whole tracks
    n_workers: int = 0  # processes scoring tracks in parallel; 0 = one per CPU core, 1 = no pool
    device: str = "auto"  # where the model runs: auto (CUDA if available, else CPU), cpu, cuda, cuda:N
    baselines: bool = True  # also score the mixture and the oracle masks IRM1 and IRM2

    def __post_init__(self) -> None:
        _require(self.max_tracks >= 0, f"max_tracks must be >= 0, got {self.max_tracks}")
        _require(
            self.max_seconds == 0 or self.max_seconds >= WINDOW_SECONDS,
            f"max_seconds must be 0 (whole tracks) or at least one museval window ({WINDOW_SECONDS} s), got {self.max_seconds}",
        )
        _require(self.n_workers >= 0, f"n_workers must be >= 0, got {self.n_workers}")

    @property
    def methods(self) -> tuple[str, ...]:
        return METHODS if self.baselines else ("model",)


# ----------------------------------------------------------------------------------------------
# Which checkpoint
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CheckpointSource:
    """The checkpoint file to evaluate and the training run it came from (``None`` if unknown)."""

    checkpoint: Path
    train_run: Path | None = None

    def provenance(self) -> dict[str, str]:
        """The ``train_run`` and ``checkpoint`` entries of an evaluation's ``parameters.yaml``."""
        return {"train_run": str(self.train_run or ""), "checkpoint": str(self.checkpoint)}


def resolve_checkpoint(checkpoint: str | Path = "", runs_dir: Path | None = None) -> CheckpointSource:
    """Find the checkpoint to evaluate (:func:`stemunet.runs.resolve_checkpoint`).

    Args:
        checkpoint: a training run folder (its ``checkpoints/best.pt``, else ``last.pt``), a
            checkpoint file, or ``""`` for the newest training run under ``runs_dir`` that has a
            ``checkpoints/best.pt``.
        runs_dir: where run folders are (default :func:`stemunet.runs.runs_root`).

    Raises:
        FileNotFoundError: nothing to evaluate, with what to do about it.
    """
    try:
        path, train_run = runs.resolve_checkpoint(checkpoint, runs_dir)
    except runs.NoTrainingRunError:
        root = runs_root() if runs_dir is None else Path(runs_dir)
        raise runs.NoTrainingRunError(
            f"no training run found in {root} (none has checkpoints/best.pt); "
            "run notebooks/train.ipynb or pass checkpoint="
        ) from None
    return CheckpointSource(path, train_run)


def load_separator(source: CheckpointSource | str | Path, device: str = "auto") -> Separator:
    """The separator in a checkpoint, in eval mode on ``device``."""
    return load_checkpoint_file(source.checkpoint if isinstance(source, CheckpointSource) else source, device)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        values = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return values if isinstance(values, dict) else {}


def _read_json(path: Path) -> dict[str, Any]:
    import json

    try:
        values = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return values if isinstance(values, dict) else {}


def training_summary(source: CheckpointSource | str | Path | None) -> dict[str, Any]:
    """Key parameters and figures of the training behind a checkpoint, for tables.

    Read from the training run's ``parameters.yaml`` and ``metrics.json``; for a checkpoint
    outside a run folder, from the configuration stored in the checkpoint itself.
    """
    if source is None or source == "":
        return {}
    if not isinstance(source, CheckpointSource):
        source = resolve_checkpoint(source)
    summary: dict[str, Any] = {"train_run": source.train_run.name if source.train_run else ""}
    if source.train_run is not None:
        parameters = _read_yaml(source.train_run / "parameters.yaml").get("parameters", {}) or {}
        metrics = _read_json(source.train_run / "metrics.json")
    else:
        try:
            stored = torch.load(source.checkpoint, map_location="cpu", weights_only=False)
        except Exception as error:
            raise ValueError(f"{source.checkpoint}: not a readable checkpoint ({error})") from error
        parameters = {**stored.get("separator_config", {}), **stored.get("train_config", {})}
        metrics = {"best_epoch": stored.get("best_epoch"), "best_valid_loss": stored.get("best_valid_loss")}
    summary.update({key: parameters[key] for key in TRAINING_KEYS if key in parameters})
    summary.update({key: metrics[key] for key in TRAINING_METRIC_KEYS if metrics.get(key) is not None})
    return summary


def training_table(source: CheckpointSource | str | Path) -> pd.DataFrame:
    """:func:`training_summary` as a one-column table, with the checkpoint's path first."""
    if not isinstance(source, CheckpointSource):
        source = resolve_checkpoint(source)
    summary = {"checkpoint": str(source.checkpoint), **training_summary(source)}
    return pd.DataFrame({"value": [str(v) for v in summary.values()]}, index=pd.Index(list(summary), name="training"))


# ----------------------------------------------------------------------------------------------
# Tracks and estimates
# ----------------------------------------------------------------------------------------------


def evaluation_tracks(config: EvaluateConfig, *, progress: bool = True) -> list:
    """The ``musdb`` tracks to score: ``config.subset``, the first ``max_tracks`` by name.

    Raises:
        FileNotFoundError: the data set holds no track in that subset.
    """
    root = resolve_root(config.data, progress=progress)
    tracks = sorted(list_tracks(root, config.subset), key=lambda track: track.name)
    if not tracks:
        raise FileNotFoundError(f"{root}: no tracks in its {config.subset}/ folder")
    return tracks[: config.max_tracks] if config.max_tracks else tracks


def read_track(track) -> tuple[np.ndarray, np.ndarray, int]:
    """A track's mixture and true stems, whole, at its own rate.

    Returns ``(mixture, stems, sample_rate)``: float32 ``(n_channels, n_samples)`` and
    ``(n_stems, n_channels, n_samples)`` in :data:`STEM_NAMES` order, and Hz.
    """
    if str(track.path).endswith(".stem.mp4"):
        # One ffmpeg call for every stream: mixture, then the stems in stem-id order
        # (drums, bass, other, vocals, which is STEM_NAMES).
        streams = np.asarray(track.stems, dtype=np.float32).transpose(0, 2, 1)
        rate = int(track.rate)
        return np.ascontiguousarray(streams[0]), np.ascontiguousarray(streams[1:]), rate
    stems, rate = read_stems(track)
    path = track_folder(track) / "mixture.wav"
    try:
        mixture, mixture_rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AudioError(path, f"not a readable audio file ({error})") from error
    if mixture_rate != rate:
        raise AudioError(path, f"sample rate {mixture_rate} Hz differs from its stems' {rate} Hz")
    mixture = np.ascontiguousarray(mixture.T)
    length = min(mixture.shape[-1], stems.shape[-1])
    return mixture[:, :length], stems[..., :length], rate


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

    ``model`` separates the mixture with ``separator`` (chunked); ``mixture`` is the mixture for
    every stem; ``irm1``/``irm2`` are :func:`oracle_estimates` with the separator's STFT (or
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
        elif method == "mixture":
            estimates[method] = np.broadcast_to(mixture, stems.shape)
        else:
            if stft_config is None:
                raise ValueError("oracle masks need the model's STFT settings (a separator or stft_config)")
            power = {"irm1": 1.0, "irm2": 2.0}[method]
            estimates[method] = oracle_estimates(mixture, stems, sample_rate, stft_config, power, chunking)
    return estimates


# ----------------------------------------------------------------------------------------------
# Scoring many tracks in worker processes
# ----------------------------------------------------------------------------------------------


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
    :mod:`stemunet.bsseval` (no torch), safe from Jupyter kernels and after CUDA is initialised.
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


def _frame_rows(result: ScoreResult) -> list[dict[str, Any]]:
    return [
        {"method": result.method, "track": result.track, "stem": stem, "metric": metric, "value": value}
        for stem, metrics in track_medians(result.store).items()
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

    The model runs in this process (on ``config.device``, where the separator is); each
    (track, method) pair of estimates is scored by museval in one of ``config.n_workers`` worker
    processes, at most one job more than there are workers in flight so memory stays bounded on
    long tracks. A track that cannot be read or scored is reported (a warning and the
    ``failures`` entry of ``metrics.json``) and the others go on.

    Args:
        separator: the model, or ``None`` to score only baselines (``config.baselines``).
        tracks: ``musdb`` tracks (:func:`evaluation_tracks`).
        out_dir: the run folder (a path, or a :class:`stemunet.runs.Run`).
    """
    out_dir = Path(getattr(out_dir, "path", out_dir))
    tracks = list(tracks)
    if not tracks:
        raise ValueError("no tracks to evaluate")
    methods = [m for m in config.methods if not (m == "model" and separator is None)]
    stft_config = separator.config.stft if separator is not None else StftConfig()
    n_jobs = len(tracks) * len(methods)
    n_workers = resolve_workers(config.n_workers, n_jobs)
    began = time.perf_counter()

    rows: list[dict[str, Any]] = []
    track_info: list[dict[str, Any]] = []
    failures: list[dict[str, str]] = []

    def collect(future: Future) -> None:
        result: ScoreResult = future.result()
        if result.error:
            failures.append({"track": result.track, "method": result.method, "error": result.error})
            warnings.warn(f"{result.track} ({result.method}): not scored: {result.error}", stacklevel=3)
        else:
            write_text_atomic(score_file(out_dir, result.method, result.track), result.store.json)
            rows.extend(_frame_rows(result))
        bar.update(1)

    executor = score_executor(n_workers)
    bar = tqdm(total=n_jobs, desc=f"BSSEval v4 ({n_workers} worker{'s' * (n_workers > 1)})", unit="score", disable=not progress)
    pending: set[Future] = set()
    try:
        for track in tracks:
            bar.set_postfix_str(f"separating {track.name}")
            try:
                mixture, stems, rate = read_track(track)
                seconds = stems.shape[-1] / rate
                start, stop = excerpt_bounds(stems, rate, config.max_seconds)
                mixture, stems = mixture[:, start:stop], stems[..., start:stop]
                estimates = track_estimates(separator, mixture, stems, rate, config.chunking, methods, stft_config)
            except (AudioError, OSError, ValueError, RuntimeError) as error:
                failures.append({"track": track.name, "method": "all", "error": f"{type(error).__name__}: {error}"})
                warnings.warn(f"{track.name}: skipped: {error}", stacklevel=2)
                bar.update(len(methods))
                continue
            track_info.append(
                {
                    "track": track.name,
                    "seconds": round(seconds, 3),
                    "excerpt_start": round(start / rate, 3),
                    "excerpt_seconds": round((stop - start) / rate, 3),
                    "sample_rate": rate,
                }
            )
            bar.set_postfix_str(f"scoring {track.name}")
            for method in methods:
                while len(pending) > n_workers:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        collect(future)
                job = ScoreJob(method, track.name, stems, np.asarray(estimates[method]), rate, STEM_NAMES, start / rate)
                pending.add(executor.submit(run_score_job, job))
            del estimates
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                collect(future)
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

    if not rows:
        raise RuntimeError(f"no track could be scored: {failures}")
    track_scores = sort_track_scores(pd.DataFrame(rows, columns=TRACK_SCORE_COLUMNS))
    aggregates = aggregate(track_scores)
    tracks_table = pd.DataFrame(track_info)
    about = {
        "data": config.data.musdb_root or "synthetic",
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
        "museval_version": _museval_version(),
    }
    metrics = metrics_dict(aggregates, about)
    track_scores.to_csv(out_dir / "track_scores.csv.part", index=False)
    os.replace(out_dir / "track_scores.csv.part", out_dir / "track_scores.csv")
    write_json_atomic(out_dir / "metrics.json", metrics)
    return EvaluationResult(out_dir, track_scores, aggregates, tracks_table, metrics, failures)


def _museval_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("museval")
    except metadata.PackageNotFoundError:
        return ""


def run_evaluation(config: EvaluateConfig, out_dir: str | Path, *, progress: bool = True) -> EvaluationResult:
    """The whole evaluation in one call: find the checkpoint, load it, list tracks, :func:`evaluate`."""
    source = resolve_checkpoint(config.checkpoint)
    separator = load_separator(source, config.device)
    tracks = evaluation_tracks(config, progress=progress)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return evaluate(separator, tracks, config, out_dir, progress=progress)


# ----------------------------------------------------------------------------------------------
# Aggregation and tables
# ----------------------------------------------------------------------------------------------


def _ordered(frame: pd.DataFrame, column: str, order: Sequence[str]) -> pd.Series:
    known = [value for value in order if value in set(frame[column])]
    extra = sorted(set(frame[column]) - set(order))
    return pd.Categorical(frame[column], categories=[*known, *extra], ordered=True)


def sort_track_scores(track_scores: pd.DataFrame) -> pd.DataFrame:
    """Rows in method, track, stem, metric order (methods and stems in their usual order)."""
    keys = track_scores.assign(
        method=_ordered(track_scores, "method", METHODS),
        stem=_ordered(track_scores, "stem", [*STEM_NAMES, "all"]),
        metric=_ordered(track_scores, "metric", METRICS),
    )
    order = keys.sort_values(["method", "track", "stem", "metric"]).index
    return track_scores.loc[order].reset_index(drop=True)


def aggregate(track_scores: pd.DataFrame) -> pd.DataFrame:
    """Aggregates of per-track medians, in both conventions (see :data:`CONVENTIONS`).

    Args:
        track_scores: columns method, track, stem, metric, value (a track's median over frames, dB).

    Returns:
        one row per method, stem (the four, then ``all``) and metric, with columns
        ``median_of_medians`` (SiSEC/museval), ``mean_of_medians`` and ``std_of_medians`` (model
        card) and ``n_tracks`` (tracks with a score; NaN per-track values are left out).
    """
    scores = track_scores.dropna(subset=["value"])
    keys = ["method", "stem", "metric"]
    per_stem = scores.groupby(keys, observed=True)["value"].agg(
        median_of_medians="median", mean_of_medians="mean", std_of_medians="std", n_tracks="count"
    )
    per_stem = per_stem.reset_index()
    # "all": the model card averages each track over its stems first; SiSEC tables average the
    # four stems' medians over tracks.
    track_means = scores.groupby(["method", "track", "metric"], observed=True)["value"].mean().reset_index()
    overall = track_means.groupby(["method", "metric"], observed=True)["value"].agg(
        mean_of_medians="mean", std_of_medians="std", n_tracks="count"
    )
    overall["median_of_medians"] = per_stem.groupby(["method", "metric"], observed=True)["median_of_medians"].mean()
    overall = overall.reset_index().assign(stem="all")
    table = pd.concat([per_stem, overall[per_stem.columns]], ignore_index=True)
    table = table.assign(
        method=_ordered(table, "method", METHODS),
        stem=_ordered(table, "stem", [*STEM_NAMES, "all"]),
        metric=_ordered(table, "metric", METRICS),
    ).sort_values(keys)
    for column in keys:
        table[column] = table[column].astype(str)
    table["n_tracks"] = table["n_tracks"].astype(int)
    return table.reset_index(drop=True)


def aggregate_table(aggregates: pd.DataFrame, decimals: int = 2) -> pd.DataFrame:
    """Every aggregate at a glance: rows method and stem, columns metric and convention (dB)."""
    table = aggregates.assign(
        method=_ordered(aggregates, "method", METHODS),
        stem=_ordered(aggregates, "stem", [*STEM_NAMES, "all"]),
        metric=_ordered(aggregates, "metric", METRICS),
    ).pivot_table(
        index=["method", "stem"],
        columns="metric",
        values=["median_of_medians", "mean_of_medians", "std_of_medians"],
        observed=True,
        dropna=False,
    )
    table = table.swaplevel(0, 1, axis=1)
    order = [(m, c) for m in METRICS for c in ("median_of_medians", "mean_of_medians", "std_of_medians") if (m, c) in table.columns]
    table = table[order].round(decimals)
    table.index = table.index.set_levels([level.astype(str) for level in table.index.levels])
    return table


def _number(value: Any) -> float | None:
    """JSON-safe: NaN becomes null."""
    value = float(value)
    return None if math.isnan(value) else round(value, 4)


def metrics_dict(aggregates: pd.DataFrame, about: dict[str, Any] | None = None) -> dict[str, Any]:
    """``metrics.json``: ``{method: {stem: {metric: {median_of_medians, mean_of_medians,
    std_of_medians, n_tracks}}}}`` plus ``about`` (data, tracks, conventions, failures)."""
    metrics: dict[str, Any] = {}
    for row in aggregates.itertuples(index=False):
        metrics.setdefault(row.method, {}).setdefault(row.stem, {})[row.metric] = {
            "median_of_medians": _number(row.median_of_medians),
            "mean_of_medians": _number(row.mean_of_medians),
            "std_of_medians": _number(row.std_of_medians),
            "n_tracks": int(row.n_tracks),
        }
    metrics["about"] = about or {"conventions": CONVENTIONS}
    return metrics


def score_table(
    aggregates: pd.DataFrame,
    convention: Literal["sisec", "card"] = "sisec",
    metric: str = "SDR",
    decimals: int = 2,
) -> pd.DataFrame:
    """One metric as a method x stem table (dB), in one convention.

    ``sisec``: numbers, median over tracks of per-track medians. ``card``: ``"mean ± std"``
    strings over tracks of per-track medians (for display).
    """
    rows = aggregates[aggregates["metric"] == metric]
    if convention == "sisec":
        table = rows.pivot(index="method", columns="stem", values="median_of_medians").round(decimals)
    elif convention == "card":
        text = rows.assign(
            cell=[
                f"{mean:.{decimals}f} ± {std:.{decimals}f}" if not math.isnan(std) else f"{mean:.{decimals}f}"
                for mean, std in zip(rows["mean_of_medians"], rows["std_of_medians"])
            ]
        )
        table = text.pivot(index="method", columns="stem", values="cell")
    else:
        raise ValueError(f"convention must be 'sisec' or 'card', got {convention!r}")
    methods = [m for m in METHODS if m in table.index]
    stems = [s for s in (*STEM_NAMES, "all") if s in table.columns]
    table = table.loc[methods, stems]
    table.index = [METHOD_LABELS.get(m, m) for m in table.index]
    table.index.name = f"{metric} (dB), " + (
        "SiSEC/museval: median over frames, then over tracks"
        if convention == "sisec"
        else "model card: mean ± std over tracks of per-track medians"
    )
    table.columns.name = None
    return table


def published_reference() -> pd.DataFrame:
    """Published MUSDB18 test-set SDR (dB), to read beside our scores, never to mix with them.

    Per-stem numbers are given where the source gives them; ``all`` is the mean over stems.
    """
    rows = [
        {"method": "U-Net (model card)", "drums": None, "bass": None, "other": None, "vocals": None, "all": -0.14,
         "source": "model card", "note": ""},
        {"method": "mixture as estimate", "drums": None, "bass": None, "other": None, "vocals": None, "all": 1.07,
         "source": "model card",
         "note": "as published; BSSEval v4 scores the mixture as 10 log10(E_stem / E_others) per frame, "
                 "about -4.8 dB on average for four stems of equal level, so this figure may follow "
                 "another convention"},
        {"method": "oracle IRM1", "drums": 7.3, "bass": 6.2, "other": 6.9, "vocals": 8.5, "all": 7.2,
         "source": "SiSEC 2018 (museval medians)", "note": ""},
    ]
    table = pd.DataFrame(rows).set_index("method")
    table.index.name = f"SDR (dB), {PUBLISHED_TITLE}"
    return table


def load_track_scores(run_dir: str | Path) -> pd.DataFrame:
    """``track_scores.csv`` of an evaluation run."""
    path = Path(run_dir) / "track_scores.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (is {Path(run_dir).name} a finished evaluation run?)")
    return pd.read_csv(path)


# ----------------------------------------------------------------------------------------------
# Runs overview
# ----------------------------------------------------------------------------------------------


def _score(metrics: dict[str, Any], method: str, stem: str, column: str = "median_of_medians") -> float:
    try:
        value = metrics[method][stem]["SDR"][column]
    except (KeyError, TypeError):
        return float("nan")
    return float("nan") if value is None else float(value)


def runs_overview(runs_dir: Path | None = None) -> pd.DataFrame:
    """One row per finished evaluation run (oldest first): its data, the training behind it and
    its SDR aggregates, so runs can be compared at a glance.

    Training parameters come from the training run recorded as the evaluation's ``train_run``.
    Scores on different data (column ``data``) are not comparable with each other.
    """
    rows = []
    for run in list_runs("evaluate", runs_dir):
        metrics = _read_json(run / "metrics.json")
        if "model" not in metrics and "mixture" not in metrics:
            continue  # unfinished or failed
        record = _read_yaml(run / "parameters.yaml")
        parameters = record.get("parameters", {}) or {}
        about = metrics.get("about", {})
        train_run = Path(record["train_run"]) if record.get("train_run") else None
        if train_run is not None:
            training = training_summary(CheckpointSource(Path(record.get("checkpoint", "")), train_run))
        else:
            training = {"train_run": ""}
        row: dict[str, Any] = {
            "run": run.name,
            "data": parameters.get("musdb_root") or "synthetic",
            "subset": parameters.get("subset", ""),
            "n_tracks": about.get("n_tracks"),
            "max_seconds": parameters.get("max_seconds"),
            "checkpoint": Path(record.get("checkpoint", "")).name,
            **training,
            "model SDR (SiSEC median)": _score(metrics, "model", "all"),
            "model SDR (card mean)": _score(metrics, "model", "all", "mean_of_medians"),
            **{f"model {stem} SDR": _score(metrics, "model", stem) for stem in STEM_NAMES},
            "mixture SDR": _score(metrics, "mixture", "all"),
            "irm1 SDR": _score(metrics, "irm1", "all"),
            "irm2 SDR": _score(metrics, "irm2", "all"),
        }
        rows.append(row)
    return pd.DataFrame(rows).set_index("run") if rows else pd.DataFrame(columns=["run"]).set_index("run")
