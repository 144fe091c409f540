"""Results of evaluations: aggregate tables of scores, ``metrics.json``, and the published
MUSDB18 figures beside them.

Evaluation scores (``track_scores.csv``: one row per method, track, stem and metric, the median
over a track's 1 s frames, in dB) are aggregated in both conventions they get compared in
(:data:`CONVENTIONS`). Scores on the synthetic set are not comparable with MUSDB18 scores: the
published MUSDB18 numbers (:func:`published_reference`) are kept in a separate, labelled table.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import pandas as pd

from stemunet.config import STEM_NAMES
from stemunet.evaluation.metrics import METRIC_LABELS, WHOLE_TRACK_METRICS
from stemunet.evaluation.scoring import METRICS

ALL_METRICS: tuple[str, ...] = (*METRICS, *WHOLE_TRACK_METRICS)
"""BSSEval's frame metrics (per-track medians over 1 s frames), then the whole-track ones."""

METHODS: tuple[str, ...] = ("model", "MIX", "irm1", "irm2")
"""What gets scored: the trained model, then the baselines (floor and ceilings)."""

METHOD_LABELS: dict[str, str] = {
    "model": "U-Net (this checkpoint)",
    "MIX": "SiSEC MIX: mixture / n stems as every estimate (floor)",
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
track's mean over its stems. The whole-track metrics (global SDR, SI-SDR) have one value per track,
so for them the columns are the median, the mean (the MDX/SDX challenges' figure: stem ``all`` is
each track's mean over stems, averaged over tracks) and the std over tracks."""

TRACK_SCORE_COLUMNS = ("method", "track", "stem", "metric", "value")

PUBLISHED_TITLE = "published, MUSDB18 test, not comparable with synthetic scores"


# ----------------------------------------------------------------------------------------------
# Aggregation and tables
# ----------------------------------------------------------------------------------------------



def stem_order(stems: Iterable[str]) -> list[str]:
    """The distinct stem names of ``stems`` in table order: MUSDB18's four first, in MUSDB18's
    order (so 4-stem tables read as they always have), then the others as first seen (a model's
    rows come in its own order), then ``all``."""
    seen = [name for name in dict.fromkeys(str(stem) for stem in stems) if name != "all"]
    return [*(s for s in STEM_NAMES if s in seen), *(s for s in seen if s not in STEM_NAMES), "all"]

def _ordered(frame: pd.DataFrame, column: str, order: Sequence[str]) -> pd.Series:
    known = [value for value in order if value in set(frame[column])]
    extra = sorted(set(frame[column]) - set(order))
    return pd.Categorical(frame[column], categories=[*known, *extra], ordered=True)


def sort_track_scores(track_scores: pd.DataFrame) -> pd.DataFrame:
    """Rows in method, track, stem, metric order (methods and stems in their usual order)."""
    keys = track_scores.assign(
        method=_ordered(track_scores, "method", METHODS),
        stem=_ordered(track_scores, "stem", stem_order(track_scores["stem"])),
        metric=_ordered(track_scores, "metric", ALL_METRICS),
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
        stem=_ordered(table, "stem", stem_order(table["stem"])),
        metric=_ordered(table, "metric", ALL_METRICS),
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
        stem=_ordered(aggregates, "stem", stem_order(aggregates["stem"])),
        metric=_ordered(aggregates, "metric", ALL_METRICS),
    ).pivot_table(index=["method", "stem"], columns="metric", values="median_of_medians", observed=True, dropna=False)
    table = table[[m for m in METRICS if m in table.columns]].round(decimals)
    if (table >= NO_ERROR_DB).any().any():
        table = table.astype(object).where(~(table >= NO_ERROR_DB), "–")
    table.index = table.index.set_levels([level.astype(str) for level in table.index.levels])
    table.columns.name = "dB, median over frames then tracks"
    return table


HEADLINE_ROWS: tuple[tuple[str, str, str], ...] = (
    ("SDR", "median_of_medians", "cSDR: median over frames, then tracks (SiSEC)"),
    ("global_SDR", "mean_of_medians", "global SDR: whole track, mean over tracks (MDX/SDX)"),
    ("global_SDR", "median_of_medians", "global SDR: whole track, median over tracks (all: mean of the stems')"),
    ("SI_SDR", "mean_of_medians", "SI-SDR: whole track, mean over tracks"),
)
"""The rows of :func:`headline_table`: metric, aggregate column, label."""


def headline_table(aggregates: pd.DataFrame, decimals: int = 2) -> pd.DataFrame:
    """The field's SDR figures side by side (dB): for each method, BSSEval's cSDR as SiSEC reports
    it, the global SDR the challenges rank by (mean and median over tracks) and SI-SDR; columns
    the stems and ``all``. Rows whose metric was not scored (an evaluation from before the
    whole-track metrics) are left out."""
    rows = []
    for method in [m for m in METHODS if m in set(aggregates["method"])]:
        for metric, column, label in HEADLINE_ROWS:
            scores = aggregates[(aggregates["method"] == method) & (aggregates["metric"] == metric)]
            if scores.empty:
                continue
            rows.append({"method": method, "figure": label, **dict(zip(scores["stem"], scores[column].round(decimals)))})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    stems = [c for c in table.columns if c not in ("method", "figure")]
    ordered = [s for s in stem_order(stems) if s in stems]
    return table.set_index(["method", "figure"])[ordered]


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
    stems = [s for s in stem_order(table.columns) if s in table.columns]
    table = table.loc[methods, stems]
    table.index = [METHOD_LABELS.get(m, m) for m in table.index]
    table.index.name = f"{METRIC_LABELS.get(metric, metric)} (dB), " + (
        ("median over tracks" if metric in WHOLE_TRACK_METRICS else "SiSEC/museval: median over frames, then over tracks")
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
