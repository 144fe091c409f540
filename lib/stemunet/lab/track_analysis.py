"""Measures of one track's audio for the explore notebook: loudness per frame, silent share,
average spectra, the residual of mixture minus stems, and whether the files agree in length,
rate and channels."""

from __future__ import annotations

from dataclasses import dataclass

import musdb
import numpy as np

from stemunet.config import StemSet
from stemunet.data.tracks import StreamInfo, base_stems, iter_track_blocks

BLOCK_FRAMES = 300
"""Loudness frames per read block (30 s): memory stays flat however long a track is."""

LOUDNESS_FRAME_SECONDS = 0.1
"""Length of the non-overlapping frames whose RMS makes the loudness distribution."""

FLOOR_DB = -120.0
"""Frame loudness of digital silence (20 log10(0) is -inf): the histograms' left edge."""

SPECTRUM_N_FFT = 4096
"""Frame length of the average spectra: 10.8 Hz bins at 44.1 kHz, fine enough for bass notes."""

BAND_EDGES_HZ = (60.0, 250.0, 2000.0, 6000.0)
"""Band borders of :meth:`Exploration.band_energy`: sub-bass, bass, mids, presence, air."""


# --------------------------------------------------------------------------------------------
# Signal statistics on arrays (the pure functions the data pass is made of)
# --------------------------------------------------------------------------------------------


def frame_rms_db(waveform: np.ndarray, frame_length: int) -> np.ndarray:
    """RMS loudness of consecutive non-overlapping frames, in dBFS.

    Args:
        waveform: ``(n_channels, n_samples)`` (or ``(n_samples,)``), full scale 1.0.
        frame_length: samples per frame; a last partial frame is dropped.

    Returns:
        ``(n_samples // frame_length,)`` float64: ``20 log10(rms)`` over all channels of the
        frame, floored at :data:`FLOOR_DB`.
    """
    audio = np.atleast_2d(np.asarray(waveform, dtype=np.float64))
    n_frames = audio.shape[-1] // frame_length
    if n_frames == 0:
        return np.zeros(0)
    frames = audio[:, : n_frames * frame_length].reshape(audio.shape[0], n_frames, frame_length)
    mean_square = np.mean(frames**2, axis=(0, 2))
    with np.errstate(divide="ignore"):
        return np.maximum(10 * np.log10(mean_square), FLOOR_DB)


def silent_share(frame_db: np.ndarray, threshold_db: float = -60.0) -> float:
    """Share in [0, 1] of frames quieter than ``threshold_db`` (NaN when there are no frames)."""
    frame_db = np.asarray(frame_db)
    return float(np.mean(frame_db < threshold_db)) if frame_db.size else float("nan")


def spectrum_frequencies(sample_rate: int, n_fft: int = SPECTRUM_N_FFT) -> np.ndarray:
    """Centre frequencies in Hz of the bins of :func:`power_spectrum_sum`, ``(n_fft // 2 + 1,)``."""
    return np.fft.rfftfreq(n_fft, 1.0 / sample_rate)


def power_spectrum_sum(waveform: np.ndarray, n_fft: int = SPECTRUM_N_FFT) -> tuple[np.ndarray, int]:
    """Summed power spectrum of half-overlapping Hann frames, over frames and channels.

    Args:
        waveform: ``(n_channels, n_samples)``; samples after the last whole frame are ignored.

    Returns:
        ``(power_sum, n_frames)``: ``(n_fft // 2 + 1,)`` float64 sum of ``|rfft|^2`` scaled so a
        full-scale sine's peak bin is 1 (0 dB), and how many (channel, frame) pairs it sums.
        Divide by ``n_frames`` for the average; sums of several blocks add.
    """
    audio = np.atleast_2d(np.asarray(waveform, dtype=np.float32))
    hop = n_fft // 2
    n_frames = 0 if audio.shape[-1] < n_fft else 1 + (audio.shape[-1] - n_fft) // hop
    if n_frames == 0:
        return np.zeros(n_fft // 2 + 1), 0
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)  # periodic Hann, as torch.hann_window
    frames = np.lib.stride_tricks.sliding_window_view(audio, n_fft, axis=-1)[:, ::hop][:, :n_frames]
    spectrum = np.fft.rfft(frames * window, axis=-1)
    full_scale = window.sum() / 2  # a unit sine's peak bin magnitude under this window
    power = (np.abs(spectrum) / full_scale) ** 2
    return power.sum(axis=(0, 1), dtype=np.float64), audio.shape[0] * n_frames


def power_db(power: np.ndarray | float) -> np.ndarray:
    """``10 log10(power)``, floored at :data:`FLOOR_DB` (so silence stays finite on plots)."""
    with np.errstate(divide="ignore"):
        return np.maximum(10 * np.log10(np.asarray(power, dtype=np.float64)), FLOOR_DB)


def residual_db(residual_energy: float, mixture_energy: float) -> float:
    """Energy of ``mixture - sum(stems)`` relative to the mixture's, in dB.

    -inf when the residual is exactly zero; +inf when the mixture is silent but the stems are not;
    NaN when both are silent.
    """
    if mixture_energy > 0:
        return float(10 * np.log10(residual_energy / mixture_energy)) if residual_energy > 0 else float("-inf")
    return float("inf") if residual_energy > 0 else float("nan")


# --------------------------------------------------------------------------------------------
# Reading tracks: metadata without decoding, blocks for the analysis, excerpts for listening
# --------------------------------------------------------------------------------------------


_CHECKED_ATTRIBUTES = {"lengths_agree": ("n_samples", "lengths", "samples"), "rates_agree": ("sample_rate", "sample rates", "Hz"), "channels_agree": ("n_channels", "channel counts", "channels")}


def stream_agreement(infos: list[StreamInfo]) -> dict[str, bool]:
    """``{"lengths_agree", "rates_agree", "channels_agree"}``: whether the streams share each."""
    return {key: len({getattr(info, attribute) for info in infos}) <= 1 for key, (attribute, _, _) in _CHECKED_ATTRIBUTES.items()}


def consistency_problems(infos: list[StreamInfo]) -> list[str]:
    """Disagreements in length, sample rate or channels between a track's streams, in words."""
    problems = []
    for key, agree in stream_agreement(infos).items():
        if not agree:
            attribute, words, unit = _CHECKED_ATTRIBUTES[key]
            listing = ", ".join(f"{info.name} {getattr(info, attribute)}" for info in infos)
            problems.append(f"{words} differ ({unit}): {listing}")
    return problems


# --------------------------------------------------------------------------------------------
# The data set pass
# --------------------------------------------------------------------------------------------


@dataclass
class TrackAnalysis:
    """Everything one read of one track yields."""

    frame_db: dict[str, np.ndarray]  # source -> (n_frames,) frame RMS in dBFS
    spectrum_power: dict[str, np.ndarray]  # source -> (n_fft // 2 + 1,) mean power (full-scale sine = 1)
    sample_rate: int
    residual_db: float
    mixture_peak_db: float  # largest absolute mixture sample, dBFS (>= 0 means clipped)
    n_samples_read: int


def analyse_track(track: musdb.audio.MultiTrack, sample_rate: int) -> TrackAnalysis:
    """Loudness frames, average spectra and the mixture residual of one track, in one read: the
    mixture and the track's own stems (MUSDB18's four, or a folder track's)."""
    frame_length = max(1, int(round(LOUDNESS_FRAME_SECONDS * sample_rate)))
    stems = base_stems(track)  # they sum to the mixture: the residual is what they miss
    names = ("mixture", *stems)
    frame_db: dict[str, list[np.ndarray]] = {name: [] for name in names}
    power = {name: np.zeros(SPECTRUM_N_FFT // 2 + 1) for name in names}
    counts = dict.fromkeys(names, 0)
    residual_energy = mixture_energy = 0.0
    peak = 0.0
    n_read = 0
    for block in iter_track_blocks(track, frame_length * BLOCK_FRAMES, stems=StemSet(stems)):
        for name, audio in zip(names, block):
            frame_db[name].append(frame_rms_db(audio, frame_length))
            block_power, n_frames = power_spectrum_sum(audio)
            power[name] += block_power
            counts[name] += n_frames
        mixture = block[0].astype(np.float64)
        residual_energy += float(np.sum((mixture - block[1:].astype(np.float64).sum(axis=0)) ** 2))
        mixture_energy += float(np.sum(mixture**2))
        peak = max(peak, float(np.max(np.abs(block[0]), initial=0.0)))
        n_read += block.shape[-1]
    return TrackAnalysis(
        frame_db={name: np.concatenate(parts) if parts else np.zeros(0) for name, parts in frame_db.items()},
        spectrum_power={name: power[name] / max(counts[name], 1) for name in names},
        sample_rate=sample_rate,
        residual_db=residual_db(residual_energy, mixture_energy),
        mixture_peak_db=float(power_db(peak**2)),
        n_samples_read=n_read,
    )
