"""The room and the recording of a synthetic song: room reverb, silence gating, noise floor and
the level of a stem while it plays."""

from __future__ import annotations

import numpy as np
from scipy import fft as sp_fft
from scipy import signal as sp_signal


def _room_ir(rng: np.random.Generator, sr: int, rt60: float) -> np.ndarray:
    """Stereo (2, L) impulse response: decorrelated exponentially decaying noise, darker as it
    decays (one-pole low-pass), after a short pre-delay; unit energy per channel."""
    length = int(min(rt60, 2.0) * sr)
    predelay = int(rng.uniform(0.01, 0.03) * sr)
    t = np.arange(length) / sr
    ir = np.zeros((2, predelay + length))
    for channel in range(2):
        tail = rng.standard_normal(length) * np.exp(-6.9 * t / rt60)
        tail = sp_signal.lfilter([0.35], [1.0, -0.65], tail)
        ir[channel, predelay:] = tail / np.sqrt(np.sum(tail ** 2))
    return ir


class _Convolver:
    """Convolves mono signals of ``n`` samples with one stereo IR (2, L) -> (2, n), the tail past
    n cut; the IR's spectrum is computed once and shared by every stem sent to the room."""

    def __init__(self, ir: np.ndarray, n: int) -> None:
        self.n = n
        self.size = sp_fft.next_fast_len(n + ir.shape[1] - 1, real=True)
        self.ir_spectrum = sp_fft.rfft(ir, self.size, axis=1)

    def __call__(self, signal: np.ndarray) -> np.ndarray:
        spectrum = sp_fft.rfft(signal, self.size)
        return sp_fft.irfft(spectrum[None, :] * self.ir_spectrum, self.size, axis=1)[:, :self.n]


def _gate_silence(stereo: np.ndarray, block: int, threshold: float, parts: np.ndarray | None = None) -> None:
    """Set to exact zero every block of ``block`` samples whose peak (both channels) is below
    ``threshold``: FFT reverb leaves ~1e-17 noise where a stem rests, and real multitrack stems
    (and museval, which skips frames with a digitally silent reference) expect true silence.
    ``parts`` (k, 2, n), signals summing to the stem, are zeroed in the same blocks."""
    n_blocks = stereo.shape[1] // block
    if n_blocks == 0:
        return
    body = stereo[:, :n_blocks * block].reshape(2, n_blocks, block)
    quiet = np.max(np.abs(body), axis=(0, 2)) < threshold
    body[:, quiet, :] = 0.0
    if parts is not None:
        parts[:, :, :n_blocks * block].reshape(parts.shape[0], 2, n_blocks, block)[:, :, quiet, :] = 0.0
    tail = stereo[:, n_blocks * block:]
    if tail.size and np.max(np.abs(tail)) < threshold:
        tail[:] = 0.0
        if parts is not None:
            parts[:, :, n_blocks * block:] = 0.0


def _add_noise_floor(stereo: np.ndarray, rng: np.random.Generator, level_db: float, block: int = 512,
                     extra: np.ndarray | None = None) -> None:
    """Add a recording's noise floor where the stem plays: decorrelated stereo noise falling at
    3 dB per octave (pink, like preamp and room noise), ``level_db`` relative to the stem's RMS
    while it plays, in every ``block`` that is not digitally silent (rests stay exact zeros).

    Real stems carry such a floor in every frequency band. Without it a synthetic stem is exactly
    band-limited, the Gram matrix of its delayed copies that BSSEval v4 inverts is near singular,
    and SIR, SAR and ISR become meaningless (SDR is unaffected)."""
    n = stereo.shape[1]
    padded = np.pad(stereo, ((0, 0), (0, (-n) % block)))
    active = np.repeat(np.any(padded.reshape(2, -1, block) != 0, axis=(0, 2)), block)[:n]
    if not active.any():
        return
    rms = float(np.sqrt(np.mean(stereo[:, active] ** 2)))
    spectrum = sp_fft.rfft(rng.standard_normal((2, n)), axis=1)
    frequencies = np.arange(spectrum.shape[1], dtype=np.float64)
    spectrum /= np.sqrt(np.maximum(frequencies, 1.0))  # 1/f power: pink
    noise = sp_fft.irfft(spectrum, n, axis=1)
    noise *= rms * 10.0 ** (level_db / 20.0) / max(float(np.sqrt(np.mean(noise ** 2))), 1e-30)
    if extra is not None:  # hum, (n,), in dB re the stem's level like the noise
        noise += rms * extra
    stereo += noise * active


def _active_rms(stereo: np.ndarray, sr: int) -> float:
    """RMS over the parts of a stem that play (50 ms frames within 40 dB of the loudest), so a
    stem that rests for a third of the song is levelled by how loud it is when it plays."""
    frame = max(1, int(0.05 * sr))
    n_frames = stereo.shape[1] // frame
    if n_frames == 0:
        return float(np.sqrt(np.mean(stereo ** 2)))
    power = np.mean((stereo[:, :n_frames * frame] ** 2).reshape(2, n_frames, frame), axis=(0, 2))
    active = power[power > power.max() * 1e-4]
    return float(np.sqrt(np.mean(active))) if active.size else 0.0
