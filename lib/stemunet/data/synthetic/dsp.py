"""Small signal helpers of the synthetic set: pitch, panning, wavetables, envelopes, filters, noise and the
wavetable note renderer. Signals are float64 numpy arrays; stereo buffers are shaped (2, n)."""

from __future__ import annotations

import math

import numpy as np
from scipy import signal as sp_signal

_TABLE_SIZE = 4096
_TWO_PI = 2.0 * math.pi


def _midi_hz(pitch: np.ndarray | float) -> np.ndarray | float:
    """MIDI pitch (may be fractional) -> frequency in Hz."""
    return 440.0 * 2.0 ** ((np.asarray(pitch, dtype=np.float64) - 69.0) / 12.0)


def _pan_gains(pan: float) -> tuple[float, float]:
    """Constant-power pan law; ``pan`` in [-1 (left), 1 (right)]."""
    angle = (float(np.clip(pan, -1.0, 1.0)) + 1.0) * math.pi / 4.0
    return math.cos(angle), math.sin(angle)


def _add(buffer: np.ndarray, signal: np.ndarray, start: int, pan: float, gain: float = 1.0) -> None:
    """Add mono ``signal`` into stereo ``buffer`` (2, n) at sample ``start``, panned, clipped to
    the buffer's extent (events may start before 0 because of timing jitter or end after n)."""
    n = buffer.shape[1]
    begin, end = max(start, 0), min(start + signal.shape[0], n)
    if end <= begin:
        return
    piece = signal[begin - start:end - start]
    left, right = _pan_gains(pan)
    buffer[0, begin:end] += (gain * left) * piece
    buffer[1, begin:end] += (gain * right) * piece


def _wavetable(amplitudes: np.ndarray, phases: np.ndarray | None = None) -> np.ndarray:
    """One period of sum_k a_k sin(2 pi k x + phi_k), k = 1..len(amplitudes), sampled at
    ``_TABLE_SIZE`` points plus one wrap-around point (for linear interpolation)."""
    n_harm = min(len(amplitudes), _TABLE_SIZE // 2 - 1)
    spectrum = np.zeros(_TABLE_SIZE // 2 + 1, dtype=np.complex128)
    amps = np.asarray(amplitudes[:n_harm], dtype=np.float64)
    phase = np.zeros(n_harm) if phases is None else np.asarray(phases[:n_harm])
    # irfft of -j * a/2 * N * e^{j phi} at bin k gives a * sin(2 pi k x + phi).
    spectrum[1:n_harm + 1] = -0.5j * _TABLE_SIZE * amps * np.exp(1j * phase)
    table = np.fft.irfft(spectrum, n=_TABLE_SIZE)
    return np.append(table, table[0])


def _lookup(tables: list[np.ndarray], phase_cycles: np.ndarray) -> list[np.ndarray]:
    """Read wavetables at a phase given in cycles (>= 0), linearly interpolated. Several tables
    share one phase (and one index computation: this is the generator's hot loop)."""
    position = phase_cycles * _TABLE_SIZE
    whole = np.floor(position)
    frac = position - whole
    index = whole.astype(np.int64)
    index &= _TABLE_SIZE - 1  # the table size is a power of two, so this is the modulo
    results = []
    for table in tables:
        low = table[index]
        results.append(low + frac * (table[index + 1] - low))
    return results


def _n_harmonics(f_max: float, sr: int, limit: int = 200, top_hz: float | None = None) -> int:
    """How many harmonics of a tone whose highest instantaneous f0 is ``f_max`` stay below
    0.45 * sr (no aliasing) and below ``top_hz``."""
    ceiling = 0.45 * sr if top_hz is None else min(0.45 * sr, top_hz)
    return int(max(1, min(limit, ceiling // max(f_max, 1.0))))


def _lowpass_weights(freqs: np.ndarray, cutoff: float, order: int = 2, resonance: float = 0.0) -> np.ndarray:
    """Magnitude response of a Butterworth-like low-pass of ``order`` at ``freqs`` (Hz), with an
    optional resonant bump (gain ``resonance``) at the cutoff -- how an analogue-style filter
    shapes the harmonics of an oscillator."""
    ratio = freqs / cutoff
    response = 1.0 / np.sqrt(1.0 + ratio ** (2 * order))
    if resonance > 0:
        response = response * (1.0 + resonance * np.exp(-0.5 * ((ratio - 1.0) / 0.15) ** 2))
    return response


def _exp_env(length: int, sr: int, tau: float) -> np.ndarray:
    """exp(-t / tau) over ``length`` samples (tau in seconds)."""
    return np.exp(-np.arange(length) / (tau * sr))


def _adsr(length: int, sr: int, attack: float, decay: float, sustain: float, release: float,
          gate: int | None = None) -> np.ndarray:
    """Amplitude envelope of ``length`` samples: linear attack (s), exponential decay (time
    constant, s) to ``sustain`` (0..1) until ``gate`` samples, then an exponential release whose
    time constant is ``release``/5 s (so it is ~-43 dB after ``release`` s)."""
    t = np.arange(length) / sr
    gate = length if gate is None else min(gate, length)
    env = sustain + (1.0 - sustain) * np.exp(-np.maximum(t - attack, 0.0) / max(decay, 1e-4))
    n_attack = max(1, int(attack * sr))
    env[:n_attack] *= np.linspace(0.0, 1.0, n_attack, endpoint=False)[:min(n_attack, length)]
    if gate < length:
        level = env[gate - 1] if gate > 0 else 0.0
        env[gate:] = level * np.exp(-(t[gate:] - t[gate]) / max(release / 5.0, 1e-4))
    return env


def _band_noise(rng: np.random.Generator, length: int, sr: int, low: float | None, high: float | None,
                order: int = 2) -> np.ndarray:
    """White noise band-limited with a Butterworth filter (``low``/``high`` in Hz; None = open)."""
    noise = rng.standard_normal(length)
    nyquist = 0.5 * sr
    if high is not None and high >= 0.95 * nyquist:
        high = None
    if low is not None:
        low = min(low, 0.8 * nyquist)  # keeps low sample rates working (the band just narrows)
    if low is not None and high is not None:
        sos = sp_signal.butter(order, [low, high], btype="bandpass", fs=sr, output="sos")
    elif low is not None:
        sos = sp_signal.butter(order, low, btype="highpass", fs=sr, output="sos")
    elif high is not None:
        sos = sp_signal.butter(order, high, btype="lowpass", fs=sr, output="sos")
    else:
        return noise
    return sp_signal.sosfilt(sos, noise)


def _normalise_peak(x: np.ndarray) -> np.ndarray:
    peak = np.max(np.abs(x))
    return x / peak if peak > 0 else x


# --------------------------------------------------------------------------------------------
# Tonal instruments: wavetable oscillators whose spectrum follows a two-table crossfade (a cheap
# stand-in for an enveloped filter: bright at the attack, darker as the note decays).
# --------------------------------------------------------------------------------------------

def _render_note(sr: int, length: int, pitch: np.ndarray | float, bright: np.ndarray, dark: np.ndarray | None,
                 brightness: np.ndarray | None, envelope: np.ndarray, phase0: float = 0.0) -> np.ndarray:
    """One note of ``length`` samples. ``pitch`` is a MIDI pitch, constant or per sample;
    ``bright``/``dark`` are wavetables crossfaded by ``brightness`` (1 = bright, per sample)."""
    freq = _midi_hz(pitch)
    if np.ndim(freq) == 0:
        phase = phase0 + float(freq) * np.arange(length) / sr
    else:
        phase = phase0 + np.cumsum(freq) / sr
    if dark is not None and brightness is not None:
        tone, dull = _lookup([bright, dark], phase)
        tone = dull + brightness * (tone - dull)
    else:
        (tone,) = _lookup([bright], phase)
    return tone * envelope


def _harmonic_freqs(f0: float, sr: int, limit: int = 200, top_hz: float | None = None) -> np.ndarray:
    return f0 * np.arange(1, _n_harmonics(f0 * 1.06, sr, limit, top_hz) + 1)
