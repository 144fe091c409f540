"""Figures of evaluation scores: box plots per stem and metric, and a per-track chart.

Both read the long table of per-track medians (``track_scores.csv``: method, track, stem,
metric, value in dB) and draw the model beside its baselines, each method in the same colour in
every figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from stemunet.evaluation.results import METHOD_LABELS, METHODS, stem_order
from stemunet.evaluation.scoring import METRICS

METHOD_COLOURS: dict[str, str] = {"model": "#1f77b4", "MIX": "#7f7f7f", "irm1": "#2ca02c", "irm2": "#98df8a"}
SHORT_LABELS: dict[str, str] = {"model": "model", "MIX": "MIX", "irm1": "IRM1", "irm2": "IRM2"}
FIGURE_WIDTH = 9.6
"""Widest figure, inches: 960 pixels in a notebook (100 dpi), within a notebook cell at a 1100 px window."""


def _methods(track_scores: pd.DataFrame, methods: Sequence[str] | None) -> list[str]:
    present = list(dict.fromkeys(track_scores["method"]))
    order = [m for m in METHODS if m in present] + [m for m in present if m not in METHODS]
    return [m for m in order if methods is None or m in methods]


def _off_scale_methods(scores: pd.DataFrame, methods: Sequence[str], gap_db: float = 30.0) -> set[str]:
    """Methods whose scores all lie ``gap_db`` above every other method's (the mixture's SAR is
    about 100 dB: it holds no artefacts, being a sum of the references); drawn off scale so the
    others stay readable."""
    values = {m: scores.loc[scores["method"] == m, "value"].dropna() for m in methods}
    off = set()
    for method, own in values.items():
        others = [v.max() for m, v in values.items() if m != method and v.size]
        if own.size and others and own.min() > max(others) + gap_db:
            off.add(method)
    return off


def plot_score_boxes(
    track_scores: pd.DataFrame,
    metrics: Sequence[str] = METRICS,
    methods: Sequence[str] | None = None,
) -> plt.Figure:
    """Box plots of per-track medians: one panel per metric (rows) and stem (columns), one box per
    method, each track a dot on its box (with few tracks the dots say more than the boxes).

    A method far above all others in a row (the mixture's SAR) is drawn off scale: a triangle at
    the top with its median, in dB."""
    methods = _methods(track_scores, methods)
    stems = stem_order(track_scores["stem"])[:-1]
    # At most FIGURE_WIDTH wide: the notebook shows it at its own size, not shrunk to fit.
    figure, axes = plt.subplots(
        len(metrics), len(stems), figsize=(min(FIGURE_WIDTH, 2.6 * len(stems) + 0.6), 2.3 * len(metrics) + 0.4), squeeze=False, sharey="row"
    )
    rng = np.random.default_rng(0)  # fixed jitter: the same data draws the same figure
    for row, metric in enumerate(metrics):
        row_scores = track_scores[track_scores["metric"] == metric]
        off_scale = _off_scale_methods(row_scores, methods)
        in_scale = row_scores.loc[~row_scores["method"].isin(off_scale), "value"].dropna()
        for column, stem in enumerate(stems):
            ax = axes[row, column]
            cell = track_scores[(track_scores["metric"] == metric) & (track_scores["stem"] == stem)]
            values = [cell.loc[cell["method"] == m, "value"].dropna().to_numpy() for m in methods]
            positions = np.arange(len(methods))
            boxes = ax.boxplot(
                [v if v.size else np.array([np.nan]) for v in values],
                positions=positions,
                widths=0.6,
                patch_artist=True,
                showfliers=False,
                medianprops={"color": "black"},
            )
            for patch, method in zip(boxes["boxes"], methods):
                patch.set_facecolor(METHOD_COLOURS.get(method, "#cccccc"))
                patch.set_alpha(0.55)
            for position, v in zip(positions, values):
                ax.scatter(position + rng.uniform(-0.15, 0.15, v.size), v, s=10, color="black", zorder=3, alpha=0.7)
            if off_scale and in_scale.size:
                span = max(1.0, float(in_scale.max() - in_scale.min()))
                top = float(in_scale.max()) + 0.15 * span
                ax.set_ylim(float(in_scale.min()) - 0.08 * span, top)
                for position, method, v in zip(positions, methods, values):
                    if method in off_scale and v.size:
                        ax.annotate(f"{np.median(v):.0f}", (position, top), xytext=(0, -6), textcoords="offset points",
                                    ha="center", va="top", fontsize=7, arrowprops=None)
                        ax.scatter([position], [top], marker="^", color=METHOD_COLOURS.get(method, "#333333"),
                                   s=30, clip_on=False, zorder=4)
            ax.set_xticks(positions, [SHORT_LABELS.get(m, m) for m in methods], rotation=30, fontsize=9)
            ax.grid(axis="y", alpha=0.3)
            if row == 0:
                ax.set_title(stem)
            if column == 0:
                ax.set_ylabel(f"{metric} (dB)")
    n_tracks = track_scores["track"].nunique()
    figure.suptitle(f"BSSEval v4 per-track medians over 1 s frames ({n_tracks} track{'s' * (n_tracks != 1)})")
    figure.tight_layout()
    return figure


def plot_track_scores(
    track_scores: pd.DataFrame,
    metric: str = "SDR",
    methods: Sequence[str] | None = None,
) -> plt.Figure:
    """Per-track chart: one row per track, one panel per stem plus their mean (``all``), one
    marker per method, so hard tracks and the gap between model and ceiling stand out."""
    methods = _methods(track_scores, methods)
    scores = track_scores[track_scores["metric"] == metric]
    stems = stem_order(scores["stem"])[:-1]
    means = scores.groupby(["method", "track"], as_index=False)["value"].mean().assign(stem="all")
    scores = pd.concat([scores, means], ignore_index=True)
    # Tracks sorted by the model's (or first method's) mean score: hardest at the bottom.
    reference = means[means["method"] == methods[0]].set_index("track")["value"]
    tracks = list(reference.sort_values(ascending=True).index)
    tracks += sorted(set(scores["track"]) - set(tracks))
    y = {track: i for i, track in enumerate(tracks)}
    panels = [*stems, "all"]
    # FIGURE_WIDTH wide, in rows of at most five panels (a 6-stem model's seven: two rows); 10-point
    # text is 10 pixels high on screen at the notebook's 72 dpi.
    n_columns = min(len(panels), 5)
    n_rows = -(-len(panels) // n_columns)
    figure, axes = plt.subplots(
        n_rows, n_columns, figsize=(FIGURE_WIDTH, n_rows * (0.4 * len(tracks) + 1.4) + 0.5), sharey=True, squeeze=False
    )
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, stem in zip(axes.flat, panels):
        cell = scores[scores["stem"] == stem]
        for method in methods:
            points = cell[cell["method"] == method]
            ax.scatter(
                points["value"],
                [y[t] for t in points["track"]],
                color=METHOD_COLOURS.get(method, "#333333"),
                label=METHOD_LABELS.get(method, method),
                s=22,
                zorder=3,
            )
        ax.set_title("mean of stems" if stem == "all" else stem)
        ax.set_xlabel(f"{metric} (dB)")
        ax.grid(alpha=0.3)
    for row in axes:
        row[0].set_yticks(range(len(tracks)), tracks, fontsize=10)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    legend_rows = 2 if len(methods) > 2 else 1
    figure.legend(handles, labels, loc="upper center", ncol=-(-len(methods) // legend_rows), fontsize=10, bbox_to_anchor=(0.5, 1.0))
    figure.tight_layout(rect=(0, 0, 1, 1 - (0.22 * legend_rows + 0.15) / figure.get_figheight()))
    return figure
