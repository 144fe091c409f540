"""Results of finished runs: aggregate tables of evaluation scores, the runs overview, and which
evaluations scored a given model.

Evaluation scores (``track_scores.csv``: one row per method, track, stem and metric, the median
over a track's 1 s frames, in dB) are aggregated in both conventions they get compared in
(:data:`CONVENTIONS`). Scores on the synthetic set are not comparable with MUSDB18 scores: the
published MUSDB18 numbers (:func:`published_reference`) are kept in a separate, labelled table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from stemunet.scoring import METRICS
from stemunet.checkpoints import PRETRAINED, CheckpointRef, pretrained_file
from stemunet.config import STEM_NAMES, PostFilterChoice
from stemunet.files import read_mapping
from stemunet.runs import list_runs, runs_root

METHODS: tuple[str, ...] = ("model", "MIX", "irm1", "irm2")
"""What gets scored: the trained model, then the baselines (floor and ceilings)."""

METHOD_LABELS: dict[str, str] = {
    "model": "U-Net (this checkpoint)",
    "MIX": "SiSEC MIX: mixture / 4 as every estimate (floor)",
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
    "synthetic_version",
)
TRAINING_METRIC_KEYS: tuple[str, ...] = ("n_parameters", "best_epoch", "best_valid_loss", "train_seconds")

OVERVIEW_TRAINING_KEYS: tuple[str, ...] = ("epochs",)
"""The training parameters the runs overview shows (the rest: ``training_table`` of the run); few,
so that the table fits a notebook cell beside the scores."""


def training_table(checkpoint: CheckpointRef) -> pd.DataFrame:
    """The training behind ``checkpoint`` (:data:`TRAINING_KEYS`, :data:`TRAINING_METRIC_KEYS`) as a one-column table, its path first."""
    summary = {"checkpoint": str(checkpoint.file), **checkpoint.training_summary(TRAINING_KEYS, TRAINING_METRIC_KEYS)}
    return pd.DataFrame({"value": [str(v) for v in summary.values()]}, index=pd.Index(list(summary), name="training"))


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


NO_ERROR_DB = 100.0
"""A BSSEval ratio this high measures no error of its kind, only float rounding: MIX's SAR (the
mixture lies in the span of the true stems, so it has no artefact part and BSSEval divides by a
numerical zero, printing some 150 dB). Tables show "–" for it."""


def aggregate_table(aggregates: pd.DataFrame, decimals: int = 2) -> pd.DataFrame:
    """Every metric at a glance, SiSEC's convention (median over frames, then tracks; dB): rows
    method and stem, columns SDR, SIR, SAR, ISR. Narrow enough for a notebook; the model card's
    mean ± std per metric is :func:`score_table` with ``"card"``. A ratio of :data:`NO_ERROR_DB`
    or more (MIX's SAR) is shown as "–": there is no error of that kind to measure."""
    table = aggregates.assign(
        method=_ordered(aggregates, "method", METHODS),
        stem=_ordered(aggregates, "stem", [*STEM_NAMES, "all"]),
        metric=_ordered(aggregates, "metric", METRICS),
    ).pivot_table(index=["method", "stem"], columns="metric", values="median_of_medians", observed=True, dropna=False)
    table = table[[m for m in METRICS if m in table.columns]].round(decimals)
    if (table >= NO_ERROR_DB).any().any():
        table = table.astype(object).where(~(table >= NO_ERROR_DB), "–")
    table.index = table.index.set_levels([level.astype(str) for level in table.index.levels])
    table.columns.name = "dB, median over frames then tracks"
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
         "source": "model card: below MIX, see the text"},
        {"method": "SiSEC MIX (mixture / 4)", "drums": 1.33, "bass": 0.67, "other": 1.16, "vocals": 1.12, "all": 1.07,
         "source": "SiSEC 2018 (museval medians)"},
        {"method": "oracle IRM1", "drums": 7.3, "bass": 6.2, "other": 6.9, "vocals": 8.5, "all": 7.2,
         "source": "SiSEC 2018 (museval medians)"},
    ]
    table = pd.DataFrame(rows).set_index("method").astype(object)
    table = table.where(table.notna(), "–")  # per-stem figures the source does not give
    table.index.name = f"SDR (dB), {PUBLISHED_TITLE}"
    return table


# ----------------------------------------------------------------------------------------------
# Runs overview
# ----------------------------------------------------------------------------------------------


def _score(metrics: dict[str, Any], method: str, stem: str, column: str = "median_of_medians") -> float:
    try:
        value = metrics[method][stem]["SDR"][column]
    except (KeyError, TypeError):
        return float("nan")
    return float("nan") if value is None else float(value)


def _training_of(record: dict[str, Any]) -> dict[str, Any]:
    """The training summary behind an evaluation's ``parameters.yaml`` record: from its training run,
    else from the checkpoint file itself (the bundled model is named ``pretrained``, with the epochs
    its recipe trained); ``{"train_run": ""}`` when neither can be read any more."""
    train_run = Path(record["train_run"]) if record.get("train_run") else None
    checkpoint = Path(record.get("checkpoint") or "")
    if train_run is None and not checkpoint.is_file():
        return {"train_run": ""}
    bundled = pretrained_file()
    name = PRETRAINED if train_run is None and bundled is not None and checkpoint.resolve() == bundled.resolve() else ""
    try:
        return CheckpointRef(checkpoint, train_run, name).training_summary(TRAINING_KEYS, TRAINING_METRIC_KEYS)
    except (OSError, ValueError):  # a checkpoint since damaged or replaced: the row keeps its scores
        return {"train_run": ""}


def runs_overview(runs_dir: Path | None = None) -> pd.DataFrame:
    """One row per finished evaluation run (oldest first): its data, the training behind it and
    its SDR aggregates, so runs can be compared at a glance.

    Training parameters come from the training run recorded as the evaluation's ``train_run``.
    Scores on different data (column ``data``) are not comparable with each other.
    """
    rows = []
    for run in list_runs("evaluate", runs_dir):
        metrics = read_mapping(run / "metrics.json")
        if "model" not in metrics and "MIX" not in metrics:
            continue  # unfinished or failed
        record = read_mapping(run / "parameters.yaml")
        parameters = record.get("parameters", {}) or {}
        about = metrics.get("about", {})
        training = _training_of(record)
        row: dict[str, Any] = {
            "run": run.name.removesuffix("_evaluate"),  # the time stamp: every row is an evaluation
            "data": Path(parameters.get("musdb_root")).name if parameters.get("musdb_root") else "synthetic",
            "tracks": about.get("n_tracks"),
            "train_run": str(training.get("train_run", "")).removesuffix("_train"),
            **{key: training.get(key) for key in OVERVIEW_TRAINING_KEYS},
            "model": _score(metrics, "model", "all"),
            **{stem: _score(metrics, "model", stem) for stem in STEM_NAMES},
            "MIX": _score(metrics, "MIX", "all"),
            "IRM1": _score(metrics, "irm1", "all"),
        }
        rows.append(row)
    table = pd.DataFrame(rows).set_index("run") if rows else pd.DataFrame(columns=["run"]).set_index("run")
    table.index.name = "evaluation run"
    return table.round(2)


# ----------------------------------------------------------------------------------------------
# Models compared in the listen notebook, and their evaluations
# ----------------------------------------------------------------------------------------------


@dataclass
class ComparedRun:
    """A model to listen to: its checkpoint (and training run), a label, its evaluations."""

    label: str
    source: CheckpointRef
    evaluate_runs: list[Path] = field(default_factory=list)  # newest first
    _separator: Any = field(default=None, repr=False)

    @property
    def checkpoint(self) -> Path:
        return self.source.file

    @property
    def train_run(self) -> Path | None:
        return self.source.train_run

    def separator(self, device: str = "auto", postfilter: PostFilterChoice = PostFilterChoice()):
        """The :class:`~stemunet.separator.Separator`, loaded on first use, with ``postfilter``'s settings over its own."""
        if self._separator is None:
            self._separator = self.source.load_separator(device)
        return self._separator.use_postfilter(postfilter)


def _same_path(a: str | Path | None, b: str | Path | None) -> bool:
    if not a or not b:
        return False
    try:
        return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()
    except OSError:
        return False


def find_evaluate_runs(checkpoint: Path, train_run: Path | None, roots: Sequence[Path] = ()) -> list[Path]:
    """Evaluate run folders holding ``track_scores.csv`` for this model, newest first.

    An evaluation belongs to the model when its ``parameters.yaml`` names the same training run
    (``train_run``) or the same checkpoint file (``checkpoint``). Looks in :func:`runs_root`, in
    the training run's parent folder and in ``roots``.
    """
    folders = {runs_root().resolve()} | {Path(r).resolve() for r in roots}
    if train_run is not None:
        folders.add(Path(train_run).resolve().parent)
    found = []
    for folder in folders:
        for run in list_runs("evaluate", folder):
            if not (run / "track_scores.csv").is_file() or not (run / "parameters.yaml").is_file():
                continue
            record = read_mapping(run / "parameters.yaml")
            if (train_run is not None and _same_path(record.get("train_run"), train_run)) or _same_path(record.get("checkpoint"), checkpoint):
                found.append(run)
    return sorted(set(found), key=lambda p: p.name, reverse=True)


def evaluated_data(run: Path) -> tuple[str, str]:
    """``(data_root, subset)`` an evaluation run scored (its ``metrics.json``); empty for runs that predate the record."""
    about = read_mapping(run / "metrics.json").get("about", {}) or {}
    return str(about.get("data_root", "")), str(about.get("subset", ""))


def track_sdr(evaluate_runs: Sequence[Path], track: str, stem: str, data: tuple[str, str] | None = None) -> tuple[float, Path] | None:
    """The model's SDR (dB, per-track median over frames) of ``stem`` on ``track``, and the run it comes from.

    Reads ``track_scores.csv`` (columns method, track, stem, metric, value; rows with method
    ``model`` and metric ``SDR``) of the newest run that scored that track; None if none did.
    ``data``: ``(data_root, subset)`` the track comes from; only evaluations of that very data set
    count (synthetic sets of other sizes or seeds reuse track names like ``test_000``).
    """
    for run in evaluate_runs:
        if data is not None and evaluated_data(run) != (str(Path(data[0]).resolve()), data[1]):
            continue
        scores = pd.read_csv(run / "track_scores.csv")
        rows = scores[(scores["method"] == "model") & (scores["track"] == track) & (scores["stem"] == stem) & (scores["metric"] == "SDR")]
        if len(rows):
            return float(rows["value"].iloc[0]), run
    return None


def resolve_runs(runs: Sequence[str] = ()) -> list[ComparedRun]:
    """The models to compare: each entry a training run folder, a checkpoint file, ``pretrained`` or
    ``latest``; none = the default checkpoint (:meth:`CheckpointRef.resolve`).

    Raises :class:`FileNotFoundError` with a message saying what is missing, before anything is loaded.
    """
    compared: list[ComparedRun] = []
    for source in [CheckpointRef.resolve(entry) for entry in (runs or [""])]:
        taken = [c.label for c in compared]
        label = source.label + (f" #{taken.count(source.label) + 1}" if source.label in taken else "")
        compared.append(ComparedRun(label, source, find_evaluate_runs(source.file, source.train_run)))
    return compared


def listen_provenance(runs: Sequence[ComparedRun]) -> dict[str, Any]:
    """``parameters.yaml`` entries recording which models a listening run compared."""
    return {
        "compared": [
            {"label": r.label, "checkpoint": str(r.checkpoint), "train_run": str(r.train_run) if r.train_run else ""}
            for r in runs
        ]
    }
