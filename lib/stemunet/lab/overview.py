"""What the notebooks show about earlier runs: the runs overview (one row a run: model,
training, scores against the baselines), a checkpoint's training table, and the runs a
listen notebook compares with their per-track scores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from stemunet.checkpoints import PRETRAINED, CheckpointRef, pretrained_file
from stemunet.config import STEM_NAMES, PostFilterChoice
from stemunet.evaluation.results import stem_order
from stemunet.files import read_mapping
from stemunet.lab.runs import short_path
from stemunet.runfolders import list_runs, runs_root
from stemunet.separation.loading import load_separator

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
    "stems",
    "epochs",
    "samples_per_epoch",
    "batch_size",
    "chunk_seconds",
    "learning_rate",
    "loss",
    "dataset",
    "data_root",
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
    """The training behind ``checkpoint`` (:data:`TRAINING_KEYS`, :data:`TRAINING_METRIC_KEYS`) as a
    one-column table, its file first (``.../`` and its last two parts: the run's ``parameters.yaml``
    records the full path)."""
    summary = {"checkpoint": short_path(str(checkpoint.file)), **checkpoint.training_summary(TRAINING_KEYS, TRAINING_METRIC_KEYS)}
    return pd.DataFrame({"value": [str(v) for v in summary.values()]}, index=pd.Index(list(summary), name="training"))


# ----------------------------------------------------------------------------------------------
# Runs overview
# ----------------------------------------------------------------------------------------------


def _score(metrics: dict[str, Any], method: str, stem: str, column: str = "median_of_medians", metric: str = "SDR") -> float:
    try:
        value = metrics[method][stem][metric][column]
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
    """One row per finished evaluation run (oldest first): its data (and number of tracks), the
    training behind it and its SDR aggregates, so runs can be compared at a glance: ``model`` and
    the stems are cSDR (BSSEval, SiSEC's medians), ``global SDR`` the model's whole-track SDR
    averaged over stems and tracks (MDX/SDX; empty for evaluations made before it was scored),
    ``MIX`` and ``IRM1`` the baselines' cSDR.

    Training parameters come from the training run recorded as the evaluation's ``train_run``.
    Scores on different data (column ``data``) are not comparable with each other.
    """
    rows, stems_seen = [], []
    for run in list_runs("evaluate", runs_dir):
        metrics = read_mapping(run / "metrics.json")
        if "model" not in metrics and "MIX" not in metrics:
            continue  # unfinished or failed
        record = read_mapping(run / "parameters.yaml")
        parameters = record.get("parameters", {}) or {}
        about = metrics.get("about", {})
        training = _training_of(record)
        folder = parameters.get("data_root") if parameters.get("dataset") == "folders" else parameters.get("musdb_root")
        row: dict[str, Any] = {
            "run": run.name.removesuffix("_evaluate"),  # the time stamp: every row is an evaluation
            "data": f"{Path(folder).name if folder else 'synthetic'} ({about.get('n_tracks')})",
            "train_run": str(training.get("train_run", "")).removesuffix("_train"),
            **{key: training.get(key) for key in OVERVIEW_TRAINING_KEYS},
            "model": _score(metrics, "model", "all"),
            "global SDR": _score(metrics, "model", "all", "mean_of_medians", "global_SDR"),
            **{stem: _score(metrics, "model", stem) for stem in about.get("stems", STEM_NAMES)},  # before stem sets: the four
            "MIX": _score(metrics, "MIX", "all"),
            "IRM1": _score(metrics, "irm1", "all"),
        }
        rows.append(row)
        stems_seen.append(about.get("stems", STEM_NAMES))
    table = pd.DataFrame(rows).set_index("run") if rows else pd.DataFrame(columns=["run"]).set_index("run")
    if rows:  # each model's stems are columns (MUSDB18's four first), between the global SDR and the baselines
        stems = stem_order(stem for stems in stems_seen for stem in stems)[:-1]
        fixed = [column for column in table.columns if column not in (*stems, "MIX", "IRM1")]
        table = table[[*fixed, *stems, "MIX", "IRM1"]]
    table.index.name = "evaluation run"
    return table.round(2)


def run_time(name: str, *, seconds: bool = True) -> str:
    """``2026-12-06 02:31:57`` (``seconds``) or ``2026-12-06 02:31`` of a run folder named
    ``2026-12-06T02-31-57_<notebook>``; other names without their ``_<notebook>``."""
    import re

    stamp = re.match(r"(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})(?:_|$)", name)
    if not stamp:
        return name.rsplit("_", 1)[0]
    return f"{stamp[1]} {stamp[2]}:{stamp[3]}" + (f":{stamp[4]}" if seconds else "")


def runs_overview_view(runs_dir: Path | None = None) -> pd.DataFrame:
    """:func:`runs_overview` as a notebook shows it, narrow enough for a notebook cell: evaluations
    named by when they ran, the model by its recipe (when run from a ``train_<recipe>.yaml``) and
    training time, or ``pretrained``; ``SDR`` is the model's cSDR (``model`` in the full table)."""
    table = runs_overview(runs_dir)
    trained = []
    for run in list_runs("evaluate", runs_dir):
        if run.name.removesuffix("_evaluate") in table.index:
            record = read_mapping(run / "parameters.yaml")
            train_run = Path(record["train_run"]) if record.get("train_run") else None
            if train_run is None:
                trained.append(str(_training_of(record).get("train_run") or "?"))
            else:
                trained.append(" ".join(part for part in (_recipe(train_run), run_time(train_run.name, seconds=False)) if part))
    view = table.drop(columns=["train_run"]).rename(columns={"model": "SDR"})
    view.insert(1, "model", trained)
    view.index = pd.Index([run_time(name) for name in table.index], name="evaluation")
    return view


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
        """The :class:`~stemunet.separation.separator.Separator`, loaded on first use, with ``postfilter``'s settings over its own."""
        if self._separator is None:
            self._separator = load_separator(self.source, device)
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


def _recipe(train_run: Path) -> str:
    """The recipe a training run was started with: ``demo`` for ``-f parameters/train_demo.yaml`` in
    the command its ``parameters.yaml`` records; "" for none (run from JupyterLab, say)."""
    import re

    command = str(read_mapping(train_run / "parameters.yaml").get("command", ""))
    found = re.search(r"(?:^|[\s/])train_(\w+)\.ya?ml\b", command)
    return found[1] if found else ""


def model_label(source: CheckpointRef) -> str:
    """A short name of a model for players and tables: ``pretrained``; for a training run, its
    recipe (:func:`_recipe`) and when it started, e.g. ``demo model (2026-12-06 02:31)`` (with the
    file's name when not ``best.pt``); else the file's name."""
    if source.name == PRETRAINED or source.train_run is None:
        return source.label
    run = Path(source.train_run)
    recipe, started = _recipe(run), run_time(run.name, seconds=False)
    details = ([started] if started != run.name.rsplit("_", 1)[0] else []) + ([] if source.file.name == "best.pt" else [source.file.stem])
    name = f"{recipe} model" if recipe else ("model" if details else run.name.removesuffix("_train"))
    return f"{name} ({', '.join(details)})" if details else name


def resolve_runs(runs: Sequence[str] = ()) -> list[ComparedRun]:
    """The models to compare: each entry a training run folder, a checkpoint file, ``pretrained`` or
    ``latest``; none = the default checkpoint (:meth:`CheckpointRef.resolve`).

    Raises :class:`FileNotFoundError` with a message saying what is missing, before anything is loaded.
    """
    compared: list[ComparedRun] = []
    for source in [CheckpointRef.resolve(entry) for entry in (runs or [""])]:
        taken, label = [c.label for c in compared], model_label(source)
        label += f" #{taken.count(label) + 1}" if label in taken else ""
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
