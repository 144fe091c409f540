"""A mixing engineer's chain for the synthetic set: EQ, compression, saturation, delay, automation.

Real stems are not raw instruments: they are equalised, compressed, sometimes driven, sent to
reverbs and delays, and their levels move through a song; the mixture's bus is compressed too.
A separator trained on raw synth notes learns cues (exact envelopes, flat spectra, constant
levels) that produced music does not have. Each function here draws its settings from the
generator it is given, so a song's production is as deterministic as its notes.

Signals are float64 numpy arrays shaped ``(2, n)`` (stereo) at ``sr`` Hz. Every function works
on one stem, except :func:`bus_gain`, which returns one gain curve for *all* stems (a bus
compressor is a gain applied to the sum; applying it to each stem keeps mixture = sum of stems).

The in-place processes also take ``parts``, ``(k, 2, n)``: signals that sum to the stem (its
instrument families), processed alongside it so that each part is its own instrument's processed
sound and they still sum to the processed stem. The stem is processed exactly as without them; the
parts get the same filters and delays (linear) and the gain the stem's level sets (the compressor's
gain curve, derived from the whole stem as the compressor hears it). The saturator is the one
memoryless nonlinearity: it maps the stem's sample ``x`` to ``f(x)``, and each part gets the same
instantaneous gain ``f(x) / x`` (see :func:`saturate`), so that the parts still sum to ``f(x)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import signal as sp_signal

__all__ = ["equalise", "compress", "saturate", "tempo_delay", "level_automation", "bus_gain", "hum"]


def _biquad(kind: str, freq: float, sr: int, gain_db: float = 0.0, q: float = 0.707) -> np.ndarray:
    """One RBJ audio-EQ-cookbook biquad as a scipy sos row (1, 6)."""
    freq = min(freq, 0.45 * sr)
    a = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * math.pi * freq / sr
    cos_w0, alpha = math.cos(w0), math.sin(w0) / (2.0 * q)
    if kind == "peak":
        b = [1 + alpha * a, -2 * cos_w0, 1 - alpha * a]
        den = [1 + alpha / a, -2 * cos_w0, 1 - alpha / a]
    elif kind in ("low_shelf", "high_shelf"):
        sign = 1.0 if kind == "low_shelf" else -1.0
        root = 2.0 * math.sqrt(a) * alpha
        b = [a * ((a + 1) - sign * (a - 1) * cos_w0 + root), sign * 2 * a * ((a - 1) - sign * (a + 1) * cos_w0),
             a * ((a + 1) - sign * (a - 1) * cos_w0 - root)]
        den = [(a + 1) + sign * (a - 1) * cos_w0 + root, -sign * 2 * ((a - 1) + sign * (a + 1) * cos_w0),
               (a + 1) + sign * (a - 1) * cos_w0 - root]
    elif kind == "high_pass":
        b = [(1 + cos_w0) / 2, -(1 + cos_w0), (1 + cos_w0) / 2]
        den = [1 + alpha, -2 * cos_w0, 1 - alpha]
    else:
        raise ValueError(f"unknown filter {kind!r}")
    return np.array([b + den]) / den[0]


def equalise(stereo: np.ndarray, sr: int, rng: np.random.Generator, *, high_pass_hz: tuple[float, float],
             parts: np.ndarray | None = None) -> dict[str, Any]:
    """In place: a high-pass (drawn in ``high_pass_hz``), a low shelf, a bell and a high shelf of
    +-4..6 dB at drawn frequencies (a mix engineer's corrective and tonal EQ); ``parts`` through the
    same filters. Returns the settings."""
    settings = {
        "high_pass_hz": float(rng.uniform(*high_pass_hz)),
        "low_shelf": (float(rng.uniform(80, 250)), float(rng.uniform(-4, 4))),
        "bell": (float(np.exp(rng.uniform(math.log(200), math.log(5000)))), float(rng.uniform(-6, 6)),
                 float(rng.uniform(0.5, 2.0))),
        "high_shelf": (float(rng.uniform(3000, 10000)), float(rng.uniform(-5, 4))),
    }
    sos = np.concatenate([
        _biquad("high_pass", settings["high_pass_hz"], sr),
        _biquad("low_shelf", settings["low_shelf"][0], sr, settings["low_shelf"][1]),
        _biquad("peak", settings["bell"][0], sr, settings["bell"][1], settings["bell"][2]),
        _biquad("high_shelf", settings["high_shelf"][0], sr, settings["high_shelf"][1]),
    ])
    stereo[:] = sp_signal.sosfilt(sos, stereo, axis=1)
    if parts is not None:
        parts[:] = sp_signal.sosfilt(sos, parts, axis=-1)
    return {key: np.round(value, 1).tolist() for key, value in settings.items()}


def _level_db(stereo: np.ndarray, sr: int, window_s: float) -> np.ndarray:
    """Short-term level in dB, (n,): mean square of both channels smoothed by a one-pole filter
    of time constant ``window_s`` (an RMS detector)."""
    power = np.mean(stereo ** 2, axis=0)
    pole = math.exp(-1.0 / max(1.0, window_s * sr))
    smooth = sp_signal.lfilter([1.0 - pole], [1.0, -pole], power)
    return 10.0 * np.log10(np.maximum(smooth, 1e-20))


def _gain_reduction_db(stereo: np.ndarray, sr: int, settings: dict[str, float]) -> np.ndarray | None:
    """A compressor's gain reduction in dB, (n,), >= 0: the level over a threshold
    ``threshold_below_db`` under the loud level (95th percentile of the playing level) times
    ``1 - 1/ratio``, released over ``release_ms``. None for a silent signal."""
    level = _level_db(stereo, sr, settings["window_ms"] / 1000.0)
    playing = level > -120.0
    if not playing.any():
        return None
    threshold = float(np.percentile(level[playing], 95)) - settings["threshold_below_db"]
    reduction = np.maximum(level - threshold, 0.0) * (1.0 - 1.0 / settings["ratio"])
    pole = math.exp(-1.0 / (settings["release_ms"] / 1000.0 * sr))
    return sp_signal.lfilter([1.0 - pole], [1.0, -pole], reduction)


def compress(stereo: np.ndarray, sr: int, rng: np.random.Generator, *, parts: np.ndarray | None = None) -> dict[str, Any]:
    """In place: a feed-forward RMS compressor. Threshold 3-12 dB under the stem's loud level
    (its 95th percentile), ratio 2-6, detector window 5-40 ms, the gain reduction smoothed by a
    20-150 ms release; the lost level is made up. ``parts`` get the same gain curve (the one the
    whole stem's level sets). Returns the settings."""
    settings = {"threshold_below_db": float(rng.uniform(3, 12)), "ratio": float(rng.uniform(2, 6)),
                "window_ms": float(rng.uniform(5, 40)), "release_ms": float(rng.uniform(20, 150))}
    reduction = _gain_reduction_db(stereo, sr, settings)
    if reduction is None:
        return settings
    gain = 10.0 ** ((float(np.median(reduction)) - reduction) / 20.0)  # made up by the median reduction
    stereo *= gain
    if parts is not None:
        parts *= gain
    return {key: round(value, 1) for key, value in settings.items()}


def saturate(stereo: np.ndarray, rng: np.random.Generator, *, parts: np.ndarray | None = None) -> dict[str, Any]:
    """In place: tape/tube-like soft clipping (tanh, drive 1.5-4 on the stem's peak, slightly
    asymmetric for even harmonics), the peak restored. Returns the settings.

    ``parts`` (summing to the stem) are each multiplied by the saturator's instantaneous gain
    ``f(x) / x`` at the stem's sample ``x``: a memoryless nonlinearity is a gain that the sum's
    level sets, as a compressor's is, so each part keeps its own waveform (its own notes, driven as
    hard as the whole drives them) and the parts sum to ``f(x)`` to float64 rounding. (Saturating
    each part on its own instead would drop the intermodulation between them from their sum: that
    residual, measured at -17 dB (up to -13 dB) under the stem in songs with two families, would
    have to be shared out by some rule; this way it is float64 rounding, -140 dB.) The gain is
    positive and bounded (below about ``drive / top``, top the peak of the shaped signal), so a
    part never blows up where the others cancel it."""
    drive, bias = float(rng.uniform(1.5, 4.0)), float(rng.uniform(0.0, 0.15))
    peak = float(np.max(np.abs(stereo)))
    if peak <= 0:
        return {"drive": round(drive, 2)}
    x = drive * stereo / peak
    shaped = np.tanh(x + bias) - math.tanh(bias)
    top = max(float(np.max(np.abs(shaped))), 1e-12)
    stereo[:] = shaped * peak / top
    if parts is not None:
        # f(x)/x without cancellation near x = 0: tanh(x + b) - tanh(b) = tanh(x) (1 - tanh(b)^2) / (1 + tanh(x) tanh(b)).
        tanh_x, tanh_b = np.tanh(x), math.tanh(bias)
        ratio = np.divide(tanh_x, x, out=np.ones_like(x), where=x != 0) * (1.0 - tanh_b ** 2) / (1.0 + tanh_x * tanh_b)
        parts *= ratio * (drive / top)  # y / s = (shaped / x) * drive / top, with s = x * peak / drive
    return {"drive": round(drive, 2), "bias": round(bias, 2)}


def tempo_delay(stereo: np.ndarray, sr: int, seconds_per_beat: float, rng: np.random.Generator, *,
                parts: np.ndarray | None = None) -> dict[str, Any]:
    """In place: a tempo-synced delay send (a quarter, dotted eighth or eighth), feedback 0.2-0.5,
    each repeat darker (one-pole low-pass), alternating sides (ping-pong), send level 0.1-0.3;
    ``parts`` each through the same delay."""
    beats = float(rng.choice([1.0, 0.75, 0.5]))
    delay = int(round(beats * seconds_per_beat * sr))
    feedback, send = float(rng.uniform(0.2, 0.5)), float(rng.uniform(0.1, 0.3))
    pole = float(rng.uniform(0.2, 0.6))
    for signal in [stereo, *(parts if parts is not None else [])]:
        signal += _delay_wet(signal, delay, feedback, send, pole)
    return {"beats": beats, "feedback": round(feedback, 2), "send": round(send, 2)}


def _delay_wet(stereo: np.ndarray, delay: int, feedback: float, send: float, pole: float) -> np.ndarray:
    """The delay's repeats of ``stereo`` (2, n): 5 at most, each ``delay`` samples later, darker and
    on the other side."""
    n = stereo.shape[1]
    repeat = 0.5 * (stereo[0] + stereo[1])
    wet = np.zeros_like(stereo)
    for index in range(1, 6):
        shift = index * delay
        if shift >= n or delay <= 0:
            break
        repeat = sp_signal.lfilter([1.0 - pole], [1.0, -pole], repeat)
        wet[index % 2, shift:] += send * feedback ** (index - 1) * repeat[:n - shift]
    return wet


def _smooth_steps(n: int, sr: int, seconds_per_step: float, values: np.ndarray) -> np.ndarray:
    """A curve (n,) through ``values`` held for ``seconds_per_step`` each, with raised-cosine ramps
    of a quarter step between them (a fader moved by hand)."""
    step = max(1, int(seconds_per_step * sr))
    curve = np.repeat(values, step)[:n]
    if curve.size < n:
        curve = np.pad(curve, (0, n - curve.size), mode="edge")
    ramp = max(1, step // 4)
    window = np.hanning(2 * ramp + 1)
    return sp_signal.oaconvolve(np.pad(curve, ramp, mode="edge"), window / window.sum(), mode="valid")[:n]


def level_automation(n: int, sr: int, seconds_per_bar: float, rng: np.random.Generator, depth_db: float) -> np.ndarray:
    """A gain curve (n,) that moves every 2 or 4 bars by up to ``depth_db`` either way (rides of the
    fader: a verse sits lower, a chorus pushes)."""
    seconds_per_step = float(rng.choice([2.0, 4.0])) * seconds_per_bar
    n_steps = int(math.ceil(n / max(1.0, seconds_per_step * sr))) + 1
    return 10.0 ** (_smooth_steps(n, sr, seconds_per_step, rng.uniform(-depth_db, depth_db, n_steps)) / 20.0)


def bus_gain(mixture: np.ndarray, sr: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """The gain curve (n,) of a glue compressor on the mixture bus (threshold 2-8 dB under the
    loud level, ratio 1.5-4, 30-100 ms detector, 100-400 ms release). Multiply every stem by it:
    the compressed mixture is then still the sum of the stems."""
    settings = {"threshold_below_db": float(rng.uniform(2, 8)), "ratio": float(rng.uniform(1.5, 4)),
                "window_ms": float(rng.uniform(30, 100)), "release_ms": float(rng.uniform(100, 400))}
    reduction = _gain_reduction_db(mixture, sr, settings)
    if reduction is None:
        return np.ones(mixture.shape[1]), settings
    return 10.0 ** (-reduction / 20.0), {key: round(value, 1) for key, value in settings.items()}


def hum(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Mains hum and buzz, (n,), unit RMS: 50 or 60 Hz and its first harmonics with falling,
    drawn levels (what an amplifier or a guitar pickup adds to a recorded stem)."""
    mains = float(rng.choice([50.0, 60.0]))
    t = np.arange(n) / sr
    tone = np.zeros(n)
    for harmonic in range(1, 8):
        if mains * harmonic < 0.45 * sr:
            tone += rng.uniform(0.2, 1.0) / harmonic * np.sin(2 * math.pi * mains * harmonic * t + rng.uniform(0, 2 * math.pi))
    return tone / max(float(np.sqrt(np.mean(tone ** 2))), 1e-12)
