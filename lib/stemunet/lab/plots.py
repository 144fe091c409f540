"""Matplotlib figures used by more than one notebook."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from stemunet.config import StftConfig
from stemunet.stft import Stft

FIGURE_WIDTH = 9.6
"""Widest figure, inches: 960 pixels in a notebook (100 dpi), within a notebook cell at a 1100 px window."""

# A display STFT: finer in time than the model's, enough to see drum hits and vocal notes.
DISPLAY_N_FFT = 2048
DISPLAY_HOP = 512


def spectrogram_db(waveform: np.ndarray | torch.Tensor, sample_rate: int, *, floor_db: float = -80.0) -> np.ndarray:
    """Log-magnitude spectrogram of the channel mean, ``(n_channels, n_samples)`` -> ``(n_bins, n_frames)`` dB.

    0 dB is a full-scale sine; values below ``floor_db`` are clipped to it.
    """
    audio = torch.as_tensor(np.asarray(waveform, dtype=np.float32)).reshape(-1, np.shape(waveform)[-1]).mean(0)
    n_fft = min(DISPLAY_N_FFT, max(16, 2 ** int(np.log2(max(16, audio.shape[-1])))))
    config = StftConfig(sample_rate=sample_rate, n_channels=1, n_fft=n_fft, hop_length=min(DISPLAY_HOP, n_fft // 4))
    magnitude = Stft(config)(audio).abs().numpy()
    full_scale = config.n_fft / 4  # a unit sine's peak bin under a Hann window
    return np.maximum(20 * np.log10(magnitude / full_scale + 1e-10), floor_db)


def plot_spectrogram(
    ax: plt.Axes,
    waveform: np.ndarray | torch.Tensor,
    sample_rate: int,
    title: str = "",
    *,
    max_frequency: float | None = None,
    floor_db: float = -80.0,
):
    """Draw a spectrogram of ``(n_channels, n_samples)`` audio on ``ax`` (log frequency axis)."""
    spec = spectrogram_db(waveform, sample_rate, floor_db=floor_db)
    seconds = np.shape(waveform)[-1] / sample_rate
    image = ax.imshow(
        spec,
        origin="lower",
        aspect="auto",
        extent=(0, seconds, 0, sample_rate / 2),
        vmin=floor_db,
        vmax=0,
        cmap="magma",
        interpolation="nearest",
    )
    ax.set_ylim(0, max_frequency or sample_rate / 2)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    if title:
        ax.set_title(title)
    return image


def plot_stems(stems: Mapping[str, np.ndarray | torch.Tensor], sample_rate: int, *, max_frequency: float = 8000.0) -> plt.Figure:
    """One spectrogram per named waveform (mixture and stems, say), stacked, sharing axes."""
    # 72 dpi on screen, 650 pixels wide: a notebook cell beside the file browser in a 1100 px window
    # shows it unshrunk, and a spectrogram's noise-like detail makes large PNGs (this keeps a run
    # notebook small); Run.save_figure writes the file at 150 dpi.
    # Constrained layout: each panel's title gets its own space instead of running into the panel above.
    figure, axes = plt.subplots(len(stems), 1, figsize=(9, 1.75 * len(stems)), sharex=True, sharey=True, squeeze=False, dpi=72,
                                layout="constrained")
    image = None
    for ax, (name, waveform) in zip(axes[:, 0], stems.items()):
        image = plot_spectrogram(ax, waveform, sample_rate, name, max_frequency=max_frequency)
        ax.set_xlabel("")
    axes[-1, 0].set_xlabel("time (s)")
    figure.colorbar(image, ax=axes[:, 0], label="dB", fraction=0.02, aspect=40)
    return figure


# Fixed colours per source, so every figure of a notebook reads the same way.
SOURCE_COLOURS = {"mixture": "0.35", "drums": "tab:orange", "bass": "tab:blue", "other": "tab:green", "vocals": "tab:red"}
# Stems beyond MUSDB18's four: the common ones keep a colour in every figure; others take the
# colours left, in the order a figure meets them.
EXTRA_COLOURS = {"guitar": "tab:purple", "piano": "tab:brown", "accompaniment": "tab:pink", "keys": "tab:olive",
                 "strings": "tab:cyan", "synth": "gold", "organ": "darkslateblue", "brass": "firebrick", "pads": "plum",
                 "mallets": "teal"}
SPARE_COLOURS = ("tab:olive", "tab:cyan", "tab:pink", "tab:purple", "tab:brown", "navy", "olive", "salmon")


def source_colours(names: Sequence[str]) -> dict[str, str]:
    """A colour per source, distinct within a figure: the mixture, MUSDB18's four and the common
    extra stems (:data:`EXTRA_COLOURS`) keep theirs in every figure; other names take the spare
    colours no name of this figure holds, in order (cycling after those)."""
    fixed = {name: SOURCE_COLOURS.get(name) or EXTRA_COLOURS.get(name) for name in names}
    spare = [colour for colour in SPARE_COLOURS if colour not in fixed.values()]
    others = [name for name in names if fixed[name] is None]
    return {name: fixed[name] or spare[others.index(name) % len(spare)] for name in names}


def plot_loudness_distribution(
    frame_db: Mapping[str, np.ndarray],
    silence_threshold_db: float = -60.0,
    *,
    floor_db: float = -120.0,
    bin_db: float = 2.0,
) -> plt.Figure:
    """Histograms of frame RMS loudness (dBFS), one panel per source, sharing the level axis.

    ``frame_db`` maps a source name to ``(n_frames,)`` frame levels in dBFS. Frames below
    ``silence_threshold_db`` (dashed line) are counted as silent; the panel title gives their
    share and the median level of the other frames. Levels at ``floor_db`` are digital silence.
    """
    frame_db = dict(frame_db.items())
    names = list(frame_db)
    # At most FIGURE_WIDTH wide (seven sources: 1.4 inches a panel), so the notebook need not shrink it.
    figure, axes = plt.subplots(1, len(names), figsize=(min(FIGURE_WIDTH, 2.6 * len(names)), 3.0), sharex=True, sharey=True, squeeze=False)
    edges = np.arange(floor_db, 0 + bin_db, bin_db)
    colours = source_colours(names)
    for ax, name in zip(axes[0], names):
        levels = np.clip(np.asarray(frame_db[name], dtype=np.float64), floor_db, 0)
        weights = np.full(levels.shape, 100.0 / max(levels.size, 1))  # percent of frames
        ax.hist(levels, bins=edges, weights=weights, color=colours[name], alpha=0.85)
        ax.axvline(silence_threshold_db, color="k", linestyle="--", linewidth=1)
        active = levels[levels >= silence_threshold_db]
        silent = np.mean(levels < silence_threshold_db) if levels.size else np.nan
        median = f"{np.median(active):.1f} dBFS" if active.size else "n/a"
        ax.set_title(f"{name}\nmedian {median}\nsilent {100 * silent:.0f} %", fontsize=9)
        ax.set_xlabel("frame RMS (dBFS)")
    axes[0, 0].set_ylabel("% of frames")
    axes[0, 0].set_xlim(floor_db, 0)
    figure.tight_layout()
    return figure


def plot_silent_share(silent_share: Mapping[str, float], silence_threshold_db: float = -60.0) -> plt.Figure:
    """Bars of the share of silent frames per source (``{name: share in [0, 1]}``, or a Series)."""
    silent_share = dict(silent_share.items())
    names = list(silent_share)
    figure, ax = plt.subplots(figsize=(5, 2.6))
    values = [100 * float(silent_share[name]) for name in names]
    bars = ax.bar(names, values, color=list(source_colours(names).values()))
    ax.bar_label(bars, fmt="%.0f %%", fontsize=8)
    ax.set_ylabel(f"% of frames < {silence_threshold_db:g} dBFS")
    ax.set_ylim(0, max(10.0, max(values, default=0) * 1.2))
    ax.set_title("silent frames per source")
    figure.tight_layout()
    return figure


def smooth_fractional_octave(levels_db: np.ndarray, frequencies: np.ndarray, octaves: float) -> np.ndarray:
    """Mean power over a band ``octaves`` wide centred (geometrically) on each bin, back in dB.

    ``levels_db`` and ``frequencies`` (Hz, evenly spaced from 0) are ``(n_bins,)``. Smoothing
    hides the comb of individual harmonics that a linear-frequency spectrum shows, as room and
    loudspeaker measurement tools do; ``octaves=0`` returns the levels unchanged.
    """
    levels_db = np.asarray(levels_db, dtype=np.float64)
    if octaves <= 0 or levels_db.size < 2:
        return levels_db
    power = 10 ** (levels_db / 10)
    cumulative = np.concatenate([[0.0], np.cumsum(power)])
    bin_width = frequencies[1] - frequencies[0]
    half = 2 ** (octaves / 2)
    low = np.clip(np.floor(frequencies / half / bin_width), 0, power.size - 1).astype(int)
    high = np.clip(np.ceil(frequencies * half / bin_width), 0, power.size - 1).astype(int)
    high = np.maximum(high, low)
    mean = (cumulative[high + 1] - cumulative[low]) / (high - low + 1)
    return 10 * np.log10(np.maximum(mean, 1e-30))


def plot_average_spectra(
    spectra: Mapping[str, np.ndarray],
    frequencies: np.ndarray,
    *,
    min_frequency: float = 20.0,
    floor_db: float = -120.0,
    smoothing_octaves: float = 1 / 6,
) -> plt.Figure:
    """Average power spectra of several sources on one log-frequency plot.

    ``spectra`` maps a source name to ``(n_bins,)`` levels in dB at ``frequencies`` (Hz, evenly
    spaced from 0), drawn after ``smoothing_octaves`` fractional-octave smoothing. Where two curves
    are close, those stems share the band: a mask there must split energy that neither magnitude
    nor frequency tells apart.
    """
    figure, ax = plt.subplots(figsize=(9, 3.6))
    frequencies = np.asarray(frequencies, dtype=np.float64)
    keep = frequencies >= min_frequency
    top = floor_db
    colours = source_colours(list(spectra))
    for name, levels in spectra.items():
        levels = smooth_fractional_octave(np.asarray(levels, dtype=np.float64), frequencies, smoothing_octaves)
        top = max(top, float(np.max(levels[keep], initial=floor_db)))
        style = {"linestyle": "--", "linewidth": 1.2} if name == "mixture" else {"linewidth": 1.5}
        ax.semilogx(frequencies[keep], levels[keep], label=name, color=colours[name], **style)
    ax.set_xlim(min_frequency, frequencies[-1] if frequencies.size else 22050)
    ax.set_ylim(max(floor_db, top - 90), top + 5)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("mean power (dB re full-scale sine)")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(ncols=len(spectra), fontsize=8, loc="upper right")
    smoothing = f", 1/{round(1 / smoothing_octaves)}-octave smoothed" if smoothing_octaves > 0 else ""
    ax.set_title(f"average spectrum per source{smoothing}")
    figure.tight_layout()
    return figure


def plot_loss_curves(history, *, best_epoch: int | None = None, ylabel: str = "loss") -> plt.Figure:
    """Training and validation loss per epoch, the best epoch marked, and beside them, when the
    history has it, the validation tracks' global SDR (dB; epochs without one are skipped).

    ``history``: rows with ``epoch``, ``train_loss``, ``valid_loss`` and optionally ``valid_sdr``
    (a list of dicts, as :func:`stemunet.training.fit.fit` keeps, or a pandas DataFrame with those
    columns). A log scale is used when the losses span more than a decade. Epoch ticks are whole.
    """
    from matplotlib.ticker import MaxNLocator

    rows = history.reset_index().to_dict("records") if hasattr(history, "to_dict") else list(history)
    epochs = [int(row["epoch"]) for row in rows]
    train = [float(row["train_loss"]) for row in rows]
    valid = [float(row["valid_loss"]) for row in rows]
    sdr = [(epoch, float(row["valid_sdr"])) for epoch, row in zip(epochs, rows) if np.isfinite(float(row.get("valid_sdr", np.nan)))]
    figure, axes = plt.subplots(1, 2 if sdr else 1, figsize=(9.5 if sdr else 7, 3.5), squeeze=False)
    ax = axes[0, 0]
    ax.plot(epochs, train, marker="o", markersize=3, label="training")
    ax.plot(epochs, valid, marker="o", markersize=3, label="validation")
    if best_epoch is None and valid:
        best_epoch = epochs[int(np.argmin(valid))]
    values = [v for v in train + valid if v > 0]
    if values and max(values) / min(values) > 10:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    if sdr:
        right = axes[0, 1]
        right.plot(*zip(*sdr), marker="o", markersize=3, color="C2", label="validation")
        right.set_ylabel("global SDR (dB)")
        right.set_title("validation tracks, whole-track SDR", fontsize=10)
    for panel in axes[0]:
        if best_epoch:
            panel.axvline(best_epoch, color="0.6", linestyle=":", label=f"best (epoch {best_epoch})")
        panel.set_xlabel("epoch")
        panel.xaxis.set_major_locator(MaxNLocator(integer=True))
        panel.grid(alpha=0.3)
        panel.legend()
    figure.tight_layout()
    return figure
