"""Figures read at the notebook's 72-dpi inline size: text tall enough, titles clear of their neighbours."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd

from stemunet.evaluation.plots import plot_track_scores
from stemunet.lab.plots import SOURCE_COLOURS, plot_average_spectra, plot_loudness_distribution, plot_silent_share, plot_stems


def test_per_track_scores_legend_and_labels_are_at_least_ten_points():
    """At 72 dpi a point is a pixel: 8-point text was about 7 px high on screen."""
    rng = np.random.default_rng(0)
    rows = [{"method": m, "track": f"test_00{t}", "stem": s, "metric": "SDR", "value": rng.normal(3)}
            for m in ("model", "MIX", "irm1", "irm2") for t in range(4) for s in ("drums", "bass", "other", "vocals")]  # fmt: skip
    figure = plot_track_scores(pd.DataFrame(rows))
    figure.canvas.draw()
    legend_sizes = [text.get_fontsize() for legend in figure.legends for text in legend.get_texts()]
    tick_sizes = [label.get_fontsize() for ax in figure.axes for label in ax.get_yticklabels() + ax.get_xticklabels() if label.get_text()]
    assert legend_sizes and min(legend_sizes) >= 10 and min(tick_sizes) >= 9
    assert all(ax.xaxis.label.get_fontsize() >= 10 for ax in figure.axes)


def test_stacked_spectrogram_titles_do_not_run_into_the_panel_above():
    rng = np.random.default_rng(0)
    stems = {name: 0.1 * rng.standard_normal((1, 22050 * 2)).astype(np.float32) for name in ("mixture", "drums", "bass", "other", "vocals")}
    figure = plot_stems(stems, 22050)
    figure.suptitle("test_000 from 0.0 s")
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    axes = [ax for ax in figure.axes if ax.get_title()]
    assert len(axes) == 5
    for above, below in zip(axes, axes[1:]):
        title = below.title.get_window_extent(renderer)
        panel_above = above.get_tightbbox(renderer)  # its image, ticks and tick labels
        assert title.y1 <= panel_above.y0, f"the title {below.get_title()!r} overlaps the panel above"
    assert figure._suptitle.get_window_extent(renderer).y0 >= axes[0].title.get_window_extent(renderer).y1


def test_a_six_stem_set_gets_six_distinct_colours_and_the_four_keep_theirs():
    from matplotlib.colors import to_rgba

    names = ["mixture", "drums", "bass", "other", "vocals", "guitar", "piano"]
    rng = np.random.default_rng(0)
    levels = {name: rng.uniform(-90, -10, 50) for name in names}
    frequencies = np.linspace(0, 11025, 513)
    figures = {
        "loudness": plot_loudness_distribution(levels),
        "silent share": plot_silent_share({name: 0.1 for name in names}),
        "spectra": plot_average_spectra({name: rng.uniform(-80, -20, 513) for name in names}, frequencies),
    }
    for label, figure in figures.items():
        if label == "spectra":
            colours = [to_rgba(line.get_color()) for line in figure.axes[0].get_lines()[: len(names)]]
        elif label == "silent share":
            colours = [patch.get_facecolor() for patch in figure.axes[0].patches]
        else:
            colours = [ax.patches[0].get_facecolor()[:3] + (1.0,) for ax in figure.axes]
        colours = [tuple(round(c, 3) for c in colour[:3]) for colour in colours]
        assert len(set(colours)) == len(names), label  # guitar and piano no longer share a colour
        for name, colour in zip(names, colours):
            if name in SOURCE_COLOURS:
                assert colour == tuple(round(c, 3) for c in to_rgba(SOURCE_COLOURS[name])[:3]), (label, name)
        matplotlib.pyplot.close(figure)


def test_a_stem_keeps_its_colour_from_figure_to_figure():
    from stemunet.lab.plots import source_colours

    six = source_colours(["drums", "bass", "other", "vocals", "guitar", "piano"])
    two = source_colours(["piano", "vocals"])
    assert two["piano"] == six["piano"] and two["vocals"] == six["vocals"]
    unknown = source_colours(["sax", "trumpet", "guitar", "mixture"])
    assert len(set(unknown.values())) == 4  # names outside the table still differ within a figure
