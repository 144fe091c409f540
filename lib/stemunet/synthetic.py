"""A deterministic synthetic multitrack data set in MUSDB18-HQ layout.

Real MUSDB18 cannot be downloaded where this project is built and tested, so training, evaluation
and CI run on songs synthesised here. The songs are meant to be *hard enough to be informative*:
a model only learns something that transfers if the stems overlap in time and frequency the way
real stems do. So

* drums: a kick (a pitched-down sine sweep with a click, most energy 40-120 Hz, i.e. in the bass's
  register), snare (tone body + noise), closed/open hi-hats or a ride, toms, crashes and sometimes
  a shaker, in grooves with variations, ghost notes, swing and fills at the song's tempo;
* bass: a bass line on the chord roots (patterns locked to the kick, eighths, root-fifth, walking),
  saw/square/sine+harmonics timbres through an enveloped low-pass, fundamentals 40-200 Hz with
  harmonics well into the mids;
* other: chords (pad, electric-piano-like keys, organ, strummed plucks or an overdriven,
  double-tracked guitar) voiced around 150-900 Hz with harmonics to several kHz, sometimes with an
  arpeggio or a low left-hand root that doubles the bass;
* vocals: a monophonic melody over the chords (mostly chord tones, so its harmonics collide with
  the accompaniment's), with scoops, glides, vibrato, per-note vowel formants, consonant and breath
  noise, phrases with rests, sometimes a double or harmony and an echo, and silent for 20-40 % of
  every song (an instrumental intro and/or break);

with a random tempo (80-160 BPM), key, mode, timbres, stem levels (several dB either way), panning,
stereo width, a shared room reverb and fades, per song.

Two designs (``SyntheticSpec.version``, :data:`DESIGN_VERSIONS`):

* 1: every part additive (oscillators, wavetables, filtered noise), as described above;
* 2 (the default): per song, the drums, the bass and each role of the "other" part are drawn as
  *sampled* (the same notes played by a General MIDI SoundFont through :mod:`stemunet.soundfont`:
  a GM drum kit, a GM bass, pianos, guitars, organs, strings, brass, pads, mallets) or additive,
  about half each, recorded per track in the manifest; then every stem goes through a mixing
  engineer's chain (:mod:`stemunet.production`: EQ, compression, saturation, tempo-synced delay,
  fader rides, amplifier hum) and the song's dynamics (section rides and a bus compressor) are
  one gain curve applied to every stem, so the mixture stays their sum. The vocals stay
  formant-synthesised: GM choir and voice samples sound like the "other" stem's pads.

Layout (what ``musdb.DB(root=..., is_wav=True)`` reads)::

    root/
      stemunet_synthetic.json        # manifest: spec, track names, validation tracks, per-track info
      musdb_setup.yaml               # musdb setup file naming our validation tracks (split="valid")
      train/train_000/{mixture,drums,bass,other,vocals}.wav
      ...
      test/test_000/...

(musdb 0.4 decodes even wav files through ffmpeg/ffprobe, as 16-bit PCM; soundfile reads them
exactly.) Every wav is 32-bit IEEE float, stereo, ``spec.sample_rate`` Hz; ``mixture.wav`` is the float32
rounding of the exact float64 sum of the four stored float32 stems (so mixture == sum of stems to
within 1e-7) and no file peaks above 0.99.

Determinism: every song is drawn from ``numpy.random.Generator(PCG64)`` streams seeded by
``(seed, subset, index, stream)``, one stream per stem, so a song does not depend on how many songs
are generated, and the same spec gives byte-identical files (the wav writer here writes no
timestamp, unlike libsndfile's PEAK chunk).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import struct
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import fft as sp_fft
from scipy import signal as sp_signal

from stemunet import production
from stemunet.config import STEM_NAMES
from stemunet.soundfont import PartSampler, resolve_soundfont, soundfont_digest

__all__ = [
    "STEM_NAMES",
    "SyntheticSpec",
    "generate_synthetic_dataset",
    "synthetic_cache_root",
    "ensure_synthetic_dataset",
    "is_synthetic_dataset",
    "read_synthetic_manifest",
    "render_track",
    "synthetic_set_name",
    "MANIFEST_NAME",
    "MUSDB_SETUP_NAME",
    "FORMAT_VERSION",
    "DESIGN_VERSIONS",
]

FORMAT_NAME = "stemunet-synthetic-musdb"
FORMAT_VERSION = 3
"""Bump whenever the generated audio or the layout changes: cached sets are keyed on it.
2: stems carry a recording's noise floor while they play (BSSEval's SIR, SAR and ISR are meaningful).
3: the spec names a design (``SyntheticSpec.version``): 1 is the audio format 2 wrote; 2 adds
sampled (SoundFont) instruments and a production chain."""
DESIGN_VERSIONS = (1, 2)
"""``SyntheticSpec.version``: 1 = additive synths, room reverb and noise floors (the first design);
2 = the default: per song, each part drawn as sampled (a General MIDI SoundFont) or additive, then
EQ, compression, saturation, delay, automation, hum and bus compression (see stemunet.production)."""
MANIFEST_NAME = "stemunet_synthetic.json"
MUSDB_SETUP_NAME = "musdb_setup.yaml"
"""A musdb setup file (JSON, which is YAML) naming this set's validation tracks:
``musdb.DB(root, is_wav=True, setup_file=MUSDB_SETUP_NAME, subsets="train", split="valid")``."""
SUBSETS = ("train", "test")
_SUBSET_CODES = {"train": 0, "test": 1}
# One random stream per part of a song, so that changing e.g. the vocal synthesis leaves the
# drums of every song untouched.
(_STREAM_PLAN, _STREAM_DRUMS, _STREAM_BASS, _STREAM_OTHER, _STREAM_VOCALS, _STREAM_MIX, _STREAM_NOISE_FLOOR,
 _STREAM_INSTRUMENTS, _STREAM_PRODUCTION) = range(9)


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate. Equal specs give byte-identical sets.

    ``track_seconds`` is each song's length in seconds; ``validation_fraction`` is the share of
    the train songs listed in the manifest as validation songs (they stay in ``train/``, as in
    MUSDB18, whose validation songs are a named subset of its train folder).
    """

    n_train_tracks: int = 12
    n_test_tracks: int = 4
    track_seconds: float = 12.0
    seed: int = 0
    sample_rate: int = 44100
    validation_fraction: float = 0.2
    version: int = 2
    soundfont: str = ""

    # ``version``: the design (DESIGN_VERSIONS); ``soundfont``: the .sf2 file sampled instruments
    # come from ("" = TimGM6mb.sf2 from pretty_midi; version 2 only). A set's cache name includes
    # the SoundFont's sha256, so another or an edited file makes another set.

    def __post_init__(self) -> None:
        if not (isinstance(self.n_train_tracks, int) and self.n_train_tracks >= 0):
            raise ValueError(f"n_train_tracks must be an int >= 0, got {self.n_train_tracks!r}")
        if not (isinstance(self.n_test_tracks, int) and self.n_test_tracks >= 0):
            raise ValueError(f"n_test_tracks must be an int >= 0, got {self.n_test_tracks!r}")
        if self.n_train_tracks + self.n_test_tracks < 1:
            raise ValueError("a synthetic set needs at least one track")
        if not (isinstance(self.track_seconds, (int, float)) and 1.0 <= self.track_seconds <= 600.0):
            raise ValueError(f"track_seconds must be in [1, 600], got {self.track_seconds!r}")
        if not (isinstance(self.seed, int) and self.seed >= 0):
            raise ValueError(f"seed must be an int >= 0, got {self.seed!r}")
        if not (isinstance(self.sample_rate, int) and 8000 <= self.sample_rate <= 192000):
            raise ValueError(f"sample_rate must be an int in [8000, 192000], got {self.sample_rate!r}")
        if not (isinstance(self.validation_fraction, (int, float)) and 0.0 <= self.validation_fraction < 1.0):
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction!r}")
        if self.version not in DESIGN_VERSIONS:
            raise ValueError(f"version must be one of {DESIGN_VERSIONS}, got {self.version!r}")
        if not isinstance(self.soundfont, str):
            raise ValueError(f"soundfont must be a path (str), got {self.soundfont!r}")
        # 12 and 12.0 must name the same set (the cache key is the JSON of the fields).
        object.__setattr__(self, "track_seconds", float(self.track_seconds))
        object.__setattr__(self, "validation_fraction", float(self.validation_fraction))

    @property
    def n_samples(self) -> int:
        """Length of every song in samples."""
        return int(round(self.track_seconds * self.sample_rate))

    def track_names(self, subset: str) -> list[str]:
        """Folder names of the songs of ``subset`` ('train' or 'test'): ``train_000``, ..."""
        count = {"train": self.n_train_tracks, "test": self.n_test_tracks}[subset]
        return [f"{subset}_{index:03d}" for index in range(count)]

    def validation_tracks(self) -> list[str]:
        """The train songs used for validation: the last ``round(fraction * n_train)`` of them
        (at least one when the fraction is > 0 and there are >= 2 train songs; never all)."""
        n_train = self.n_train_tracks
        if self.validation_fraction <= 0 or n_train < 2:
            return []
        n_val = min(max(int(round(self.validation_fraction * n_train)), 1), n_train - 1)
        return self.track_names("train")[n_train - n_val:]


# --------------------------------------------------------------------------------------------
# Small signal helpers. Signals are float64 numpy arrays; stereo buffers are shaped (2, n).
# --------------------------------------------------------------------------------------------

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
# The song plan: tempo, key, chords, grooves and the arrangement (where each stem plays).
# --------------------------------------------------------------------------------------------

_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)
# Chord progressions as 0-based scale degrees (I V vi IV, i VI III VII, ...).
_PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4), (0, 3, 4, 3), (1, 4, 0, 0), (0, 3, 5, 4), (0, 2, 3, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 5, 3, 4), (0, 3, 6, 2), (0, 2, 5, 4)),
}


@dataclass
class _Chord:
    start: float  # beats
    length: float  # beats
    degree: int  # scale degree of the root (0-based)
    tones: tuple[int, ...]  # pitch classes relative to C of the chord tones, root first


@dataclass
class _Plan:
    sr: int
    n: int
    bpm: float
    spb: float  # samples per beat
    n_beats: int  # beats covering the song (the last may run past its end)
    tonic: int  # pitch class 0..11
    mode: str
    scale: tuple[int, ...]
    chords: list[_Chord]
    swing: float  # delay of the off-beat 16ths, as a fraction of a 16th
    kick_patterns: tuple[tuple[int, ...], tuple[int, ...]]  # 16-step kick grooves A and B
    drums_from: float  # beat where the drums come in
    drum_break: tuple[float, float] | None  # beats with the drums reduced to hats
    vocal_sections: list[tuple[float, float]]  # beats where the vocals may sing
    fills: set[int]  # bars that end with a fill

    def sample(self, beat: float) -> int:
        """Sample index of a (fractional) beat, with the song's swing applied to off-16ths."""
        sixteenth = beat * 4.0
        step = math.floor(sixteenth + 1e-9)
        if step % 2 == 1 and abs(sixteenth - step) < 1e-6:
            beat += self.swing / 4.0
        return int(round(beat * self.spb))

    def chord_at(self, beat: float) -> _Chord:
        for chord in self.chords:
            if chord.start <= beat < chord.start + chord.length:
                return chord
        return self.chords[-1]

    def degree_pitch(self, degree: int, octave_base: int) -> int:
        """MIDI pitch of scale ``degree`` (any integer), counted from the tonic in the octave
        starting at MIDI ``octave_base`` (a multiple of 12)."""
        return octave_base + self.tonic + 12 * (degree // 7) + self.scale[degree % 7]


def _make_plan(spec: SyntheticSpec, rng: np.random.Generator) -> _Plan:
    sr, n = spec.sample_rate, spec.n_samples
    bpm = float(rng.uniform(80.0, 160.0))
    spb = sr * 60.0 / bpm
    n_beats = int(math.ceil(n / spb))
    mode = "major" if rng.random() < 0.55 else "minor"
    scale = _MAJOR if mode == "major" else _MINOR
    tonic = int(rng.integers(12))
    progression = _PROGRESSIONS[mode][int(rng.integers(len(_PROGRESSIONS[mode])))]
    # Harmonic rhythm: a chord lasts 2, 4 or 8 beats, whichever gives 1.2-4.5 s chords.
    options = [b for b in (2, 4, 8) if 1.2 <= b * 60.0 / bpm <= 4.5] or [4]
    chord_beats = options[int(rng.integers(len(options)))]
    seventh = rng.random() < 0.35
    chords = []
    for i in range(int(math.ceil(n_beats / chord_beats))):
        degree = progression[i % len(progression)]
        steps = (0, 2, 4, 6) if seventh else (0, 2, 4)
        tones = tuple((tonic + 12 * ((degree + s) // 7) + scale[(degree + s) % 7]) % 12 for s in steps)
        chords.append(_Chord(start=float(i * chord_beats), length=float(chord_beats), degree=degree, tones=tones))
    swing = float(rng.choice([0.0, 0.0, 0.0, 0.12, 0.25]))

    def kick_pattern() -> tuple[int, ...]:
        if rng.random() < 0.2:
            return (0, 4, 8, 12)  # four on the floor
        steps = {0}
        if rng.random() < 0.75:
            steps.add(8)
        for step in (3, 6, 7, 10, 11, 14):
            if rng.random() < 0.22:
                steps.add(step)
        return tuple(sorted(steps))

    pattern_a = kick_pattern()
    pattern_b = tuple(sorted(set(pattern_a) ^ {int(rng.choice([6, 10, 11, 14, 15]))} | {0}))

    # Arrangement. Vocals rest for 25-45 % of the song (20-40 % once their reverb and echo tails
    # spill into the rests): an instrumental intro, plus sometimes a break (mid-song) or an outro.
    total = n / spb
    off_total = float(rng.uniform(0.25, 0.45)) * total
    layout = rng.choice(["intro", "intro+break", "intro+outro", "break"], p=[0.35, 0.35, 0.15, 0.15])
    if layout == "intro":
        intro, other_gap = off_total, 0.0
    elif layout == "break":
        intro = min(1.0, off_total)
        other_gap = off_total - intro
    else:
        intro = off_total * float(rng.uniform(0.35, 0.7))
        other_gap = off_total - intro
    # Half-beat resolution; the intro keeps at least half a beat and leaves the voice >= 55 % of
    # the song (which matters only for songs a few beats long).
    intro = min(max(0.5, math.ceil(2.0 * intro) / 2.0), max(0.5, math.floor(0.9 * total) / 2.0))
    other_gap = math.ceil(2.0 * other_gap) / 2.0 if other_gap >= 1.0 else 0.0
    if layout == "intro+outro" and other_gap > 0:
        vocal_sections = [(intro, max(intro + 1.0, total - other_gap))]
    elif other_gap > 0:
        singing = total - intro - other_gap
        split = intro + math.floor(singing * float(rng.uniform(0.35, 0.65)))
        vocal_sections = [(intro, float(split)), (split + other_gap, total)]
    else:
        vocal_sections = [(intro, total)]
    vocal_sections = [(a, b) for a, b in vocal_sections if b - a >= 1.0] or [(intro, max(total, intro + 1.0))]

    drums_from = 0.0
    if rng.random() < 0.25 and intro >= 4:
        drums_from = float(4 * int(rng.integers(1, max(2, int(intro // 4) + 1))))  # drums enter later
        drums_from = min(drums_from, intro)
    drum_break = None
    if rng.random() < 0.2 and total >= 16:
        start = 4.0 * int(rng.integers(1, int(total // 4)))
        drum_break = (start, start + 4.0)
    n_bars = int(math.ceil(n_beats / 4))
    fills = {bar for bar in range(n_bars) if (bar % 4 == 3 or (bar + 1) * 4 == intro) and rng.random() < 0.7}
    return _Plan(sr=sr, n=n, bpm=bpm, spb=spb, n_beats=n_beats, tonic=tonic, mode=mode, scale=scale,
                 chords=chords, swing=swing, kick_patterns=(pattern_a, pattern_b), drums_from=drums_from,
                 drum_break=drum_break, vocal_sections=vocal_sections, fills=fills)


# --------------------------------------------------------------------------------------------
# Drums
# --------------------------------------------------------------------------------------------

def _kick(rng: np.random.Generator, sr: int, f_start: float, f_end: float, tau_pitch: float,
          tau_amp: float, drive: float, click: float) -> np.ndarray:
    """A kick: a sine sweeping from ``f_start`` down to ``f_end`` Hz, soft-clipped, plus a short
    high-passed noise click. Most of its energy sits at 40-120 Hz, where the bass plays."""
    length = int(min(0.9, 6 * tau_amp) * sr)
    t = np.arange(length) / sr
    freq = f_end + (f_start - f_end) * np.exp(-t / tau_pitch)
    body = np.sin(_TWO_PI * np.cumsum(freq) / sr) * np.exp(-t / tau_amp)
    body = np.tanh(drive * body) / np.tanh(drive)
    n_click = int(0.01 * sr)
    body[:n_click] += click * _band_noise(rng, n_click, sr, 1500.0, 9000.0) * _exp_env(n_click, sr, 0.0015)
    ramp = int(0.0005 * sr) + 1
    body[:ramp] *= np.linspace(0.0, 1.0, ramp)
    return body


def _snare(rng: np.random.Generator, sr: int, f_body: float, tau_body: float, noise_band: tuple[float, float],
           tau_noise: float, noise_level: float) -> np.ndarray:
    length = int(min(0.6, 6 * tau_noise) * sr)
    t = np.arange(length) / sr
    drop = 1.0 + 0.15 * np.exp(-t / 0.01)  # the head's pitch drops right after the hit
    phase = _TWO_PI * np.cumsum(f_body * drop) / sr
    body = (np.sin(phase) + 0.5 * np.sin(1.59 * phase + 1.0)) * np.exp(-t / tau_body)
    noise = _band_noise(rng, length, sr, noise_band[0], noise_band[1]) * np.exp(-t / tau_noise)
    return _normalise_peak(body) + noise_level * _normalise_peak(noise)


def _metal(rng: np.random.Generator, sr: int, length: int, base: float, low: float) -> np.ndarray:
    """Inharmonic square-wave cluster (the 808 cymbal recipe) plus noise, high-passed at ``low``."""
    t = np.arange(length) / sr
    ratios = (1.0, 1.4471, 1.6170, 1.9265, 2.5028, 2.6637)
    tone = sum(np.sign(np.sin(_TWO_PI * base * r * t + rng.uniform(0, _TWO_PI))) for r in ratios)
    mix = 0.6 * tone / 6.0 + rng.standard_normal(length)
    sos = sp_signal.butter(4, min(low, 0.4 * sr), btype="highpass", fs=sr, output="sos")
    return sp_signal.sosfilt(sos, mix)


def _tom(rng: np.random.Generator, sr: int, freq: float, tau: float) -> np.ndarray:
    length = int(min(0.8, 5 * tau) * sr)
    t = np.arange(length) / sr
    f = freq * (1.0 + 0.25 * np.exp(-t / 0.04))
    body = np.sin(_TWO_PI * np.cumsum(f) / sr) * np.exp(-t / tau)
    noise = _band_noise(rng, length, sr, 800.0, 6000.0) * np.exp(-t / 0.03)
    return _normalise_peak(body + 0.3 * _normalise_peak(noise))


# General MIDI drum keys for the sampled kits (bank 128).
_GM_KICKS, _GM_SNARES, _GM_TOMS = (36, 35), (38, 40), (41, 45, 48)
_GM_CLOSED_HAT, _GM_OPEN_HAT, _GM_CRASHES, _GM_RIDE = 42, 46, (49, 57), 51
_GM_SHAKERS = (70, 54, 69)  # maracas, tambourine, cabasa
_GM_KITS = (0, 0, 8, 16, 24, 25, 32, 40)  # Standard (twice as likely), Room, Power, Electronic, TR-808, Jazz, Brush


def _render_drums(plan: _Plan, rng: np.random.Generator, sampler: PartSampler | None = None,
                  picks: np.random.Generator | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """The drum part: additive drum synthesis, or with ``sampler`` the same hits played on a GM
    drum kit drawn from ``picks``."""
    sr, n = plan.sr, plan.n
    out = np.zeros((2, n))
    kick_args = dict(f_start=rng.uniform(100, 220), f_end=rng.uniform(42, 62), tau_pitch=rng.uniform(0.012, 0.05),
                     tau_amp=rng.uniform(0.1, 0.3), drive=rng.uniform(1.0, 3.0), click=rng.uniform(0.1, 0.5))
    kicks = [_normalise_peak(_kick(rng, sr, **kick_args)) for _ in range(2)]
    snare_args = dict(f_body=rng.uniform(160, 250), tau_body=rng.uniform(0.03, 0.08),
                      noise_band=(rng.uniform(900, 2500), rng.uniform(6000, 11000)),
                      tau_noise=rng.uniform(0.06, 0.18), noise_level=rng.uniform(0.5, 1.3))
    snares = [_normalise_peak(_snare(rng, sr, **snare_args)) for _ in range(4)]
    metal_base, hat_low = rng.uniform(280, 460), rng.uniform(5000, 8000)
    tau_closed, tau_open = rng.uniform(0.015, 0.05), rng.uniform(0.12, 0.35)
    hats = []
    for _ in range(4):
        length = int(6 * tau_closed * sr)
        hats.append(_normalise_peak(_metal(rng, sr, length, metal_base, hat_low) * _exp_env(length, sr, tau_closed)))
    open_len = int(min(1.0, 5 * tau_open) * sr)
    open_hat = _normalise_peak(_metal(rng, sr, open_len, metal_base, hat_low) * _exp_env(open_len, sr, tau_open))
    crash_len = int(2.5 * sr)
    crash = _metal(rng, sr, crash_len, metal_base * 1.1, rng.uniform(2500, 4500)) * _exp_env(crash_len, sr, rng.uniform(0.5, 1.2))
    crash = _normalise_peak(crash)
    tom_base = rng.uniform(85, 120)
    toms = [_tom(rng, sr, tom_base * r, rng.uniform(0.12, 0.3)) for r in (1.0, 1.35, 1.8)]

    hat_mode = str(rng.choice(["8th", "16th", "8th", "quarter", "ride"]))
    ride_len = int(1.5 * sr)
    ride = _metal(rng, sr, ride_len, metal_base * 1.6, rng.uniform(3000, 5000)) * _exp_env(ride_len, sr, rng.uniform(0.3, 0.7))
    ride = _normalise_peak(ride)
    # A shaker/tambourine in some songs: 16ths of band-passed noise, filling the 3-10 kHz band that
    # vocal consonants and breath also occupy.
    shaker = None
    if rng.random() < 0.35:
        shaker_len = int(0.12 * sr)
        shaker = [_normalise_peak(_band_noise(rng, shaker_len, sr, rng.uniform(2500, 4500), 11000.0)
                                  * _adsr(shaker_len, sr, 0.01, rng.uniform(0.02, 0.05), 0.0, 0.05))
                  for _ in range(4)]
    shaker_pan, g_shaker = rng.uniform(-0.7, 0.7), rng.uniform(0.08, 0.2)
    hat_pan, tom_spread = rng.uniform(-0.5, 0.5), rng.uniform(0.2, 0.7)
    snare_pan, crash_pan = rng.uniform(-0.12, 0.12), rng.uniform(-0.6, 0.6)
    half_time = rng.random() < 0.15
    # Level balance inside the kit, in linear gain.
    g_kick, g_snare = 1.0, rng.uniform(0.5, 0.9)
    g_hat, g_crash, g_tom = rng.uniform(0.12, 0.3), rng.uniform(0.12, 0.3), rng.uniform(0.4, 0.7)
    jitter = 0.004 * sr
    if sampler is not None:
        kit = int(picks.choice(_GM_KITS))
        kit_channel = sampler.instrument(kit, drums=True)
        shaker_key = int(picks.choice(_GM_SHAKERS))
        keys = {id(kicks[0]): _GM_KICKS[0], id(kicks[1]): _GM_KICKS[int(picks.integers(2))], id(open_hat): _GM_OPEN_HAT,
                id(crash): int(picks.choice(_GM_CRASHES)), id(ride): _GM_RIDE,
                **{id(sample): _GM_SNARES[0] if i < 3 else _GM_SNARES[int(picks.integers(2))] for i, sample in enumerate(snares)},
                **{id(sample): _GM_CLOSED_HAT for sample in hats},
                **{id(sample): key for sample, key in zip(toms, _GM_TOMS)},
                **({id(sample): shaker_key for sample in shaker} if shaker is not None else {})}

    def hit(sample: np.ndarray, beat: float, pan: float, gain: float) -> None:
        start = plan.sample(beat) + int(rng.normal(0.0, jitter))
        gain *= float(np.exp(rng.normal(0.0, 0.1)))
        if sampler is not None:
            # Cymbals' gains are set for the synthetic kit's loud metal; the kit's samples are balanced.
            sampler.note(kit_channel, start, sample.size, keys[id(sample)], min(1.0, gain * 1.6))
        else:
            _add(out, sample, start, pan, gain)

    n_bars = int(math.ceil(plan.n_beats / 4))
    crash_next = plan.drums_from < 4 * n_bars and plan.drums_from > 0
    for bar in range(n_bars):
        bar_beat = 4.0 * bar
        if bar_beat + 4 <= plan.drums_from:
            continue
        in_break = plan.drum_break is not None and plan.drum_break[0] <= bar_beat < plan.drum_break[1]
        kick_steps = plan.kick_patterns[1 if bar % 2 == 1 else 0]
        fill_from = 16
        if bar in plan.fills and not in_break:
            fill_from = int(rng.choice([8, 12, 12, 14]))
        if bar_beat >= plan.drums_from and (crash_next or bar == 0 and rng.random() < 0.3):
            hit(crash, bar_beat, crash_pan, g_crash)
        crash_next = fill_from < 16
        for step in range(16):
            beat = bar_beat + step / 4.0
            if beat < plan.drums_from or beat * plan.spb >= n:
                continue
            if step >= fill_from:
                # Fill: 16ths over snare and toms, descending, growing louder.
                position = (step - fill_from) / max(1, 16 - fill_from)
                choice = int(rng.integers(4)) if rng.random() < 0.3 else min(3, int(position * 4))
                sample = snares[step % 4] if choice == 0 else toms[3 - choice]
                pan = snare_pan if choice == 0 else tom_spread * (1.0 - 2.0 * (choice - 1) / 2.0)
                hit(sample, beat, pan, (g_snare if choice == 0 else g_tom) * (0.6 + 0.4 * position))
                if step in kick_steps:
                    hit(kicks[0], beat, 0.0, g_kick)
                continue
            if not in_break and step in kick_steps:
                hit(kicks[step % 2], beat, 0.0, g_kick)
            backbeat = (step == 8) if half_time else step in (4, 12)
            if not in_break and backbeat:
                hit(snares[int(rng.integers(4))], beat, snare_pan, g_snare)
            elif not in_break and rng.random() < 0.06:
                hit(snares[int(rng.integers(4))], beat, snare_pan, g_snare * rng.uniform(0.15, 0.3))  # ghost
            if shaker is not None:
                hit(shaker[step % 4], beat, shaker_pan, g_shaker * (1.0 if step % 4 == 2 else 0.6))
            on_hat = {"16th": True, "8th": step % 2 == 0, "quarter": step % 4 == 2, "ride": step % 2 == 0}[hat_mode]
            if on_hat and hat_mode == "ride":
                hit(ride, beat, hat_pan, g_hat * (1.2 if step % 4 == 0 else 0.8))
            elif on_hat:
                accent = 1.0 if step % 4 == 0 else 0.7 if step % 2 == 0 else 0.5
                if hat_mode != "quarter" and step in (6, 14) and rng.random() < 0.25:
                    hit(open_hat, beat, hat_pan, g_hat * 0.8)
                else:
                    sample = open_hat if hat_mode == "quarter" else hats[int(rng.integers(4))]
                    hit(sample, beat, hat_pan, g_hat * accent)
    info = {"kick_hz": round(float(kick_args["f_end"]), 1), "cymbals": hat_mode, "shaker": shaker is not None, "half_time": bool(half_time),
            "swing": plan.swing}
    if sampler is not None:
        out = sampler.render()
        info["instrument"] = f"sampled: {sampler.preset_name(kit, drums=True)} kit"
        del info["kick_hz"]
    else:
        info["instrument"] = "additive"
    return out, info


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


_GM_BASSES = (32, 33, 33, 34, 34, 35, 36, 38, 39)  # acoustic, finger, pick, fretless, slap, synth basses


def _render_bass(plan: _Plan, rng: np.random.Generator, sampler: PartSampler | None = None,
                 picks: np.random.Generator | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """The bass line: additive synthesis, or with ``sampler`` the same notes on a GM bass drawn from ``picks``."""
    sr, n = plan.sr, plan.n
    out = np.zeros((2, n))
    timbre = str(rng.choice(["saw", "square", "sine", "finger"]))
    pattern = str(rng.choice(["kick", "kick", "eighths", "root_fifth", "sustain", "walking"]))
    octave_base = 24 if rng.random() < 0.7 else 36  # roots at MIDI 24-35 (33-62 Hz) or 36-47
    low_root = int(rng.integers(28, 36)) if octave_base == 24 else int(rng.integers(36, 43))
    cut_bright, cut_dark = rng.uniform(500, 2500), rng.uniform(140, 450)
    tau_filter = rng.uniform(0.05, 0.3)
    resonance = rng.uniform(0.0, 1.5)
    pan = rng.normal(0.0, 0.05)
    legato = rng.uniform(0.55, 0.95)
    sustain = 0.0 if timbre == "finger" or rng.random() < 0.3 else rng.uniform(0.4, 0.85)
    drive = rng.uniform(1.0, 2.5) if rng.random() < 0.4 else 0.0

    def root_pitch(chord: _Chord) -> int:
        pc = chord.tones[0]
        return low_root + (pc - low_root) % 12

    # Note events (beat, length in beats, MIDI pitch) chord by chord.
    events: list[tuple[float, float, int]] = []
    for index, chord in enumerate(plan.chords):
        root = root_pitch(chord)
        fifth = root + 7
        third = low_root + (chord.tones[1] - low_root) % 12
        nxt = plan.chords[index + 1] if index + 1 < len(plan.chords) else chord
        if pattern == "sustain":
            onsets = [0.0] + ([chord.length / 2] if rng.random() < 0.5 else [])
            notes = [root] * len(onsets)
        elif pattern == "eighths":
            onsets = [0.5 * i for i in range(int(chord.length * 2))]
            notes = [root + (12 if rng.random() < 0.12 else 7 if rng.random() < 0.08 else 0) for _ in onsets]
        elif pattern == "root_fifth":
            onsets = [float(i) for i in range(int(chord.length))]
            cycle = [root, fifth, root + 12, fifth]
            notes = [cycle[i % 4] for i in range(len(onsets))]
        elif pattern == "walking":
            onsets = [float(i) for i in range(int(chord.length))]
            target = root_pitch(nxt)
            notes = [root] + [int(rng.choice([third, fifth, root + 12, root])) for _ in onsets[1:]]
            if len(notes) > 1:
                notes[-1] = target + int(rng.choice([-1, 1, -2, 2]))  # approach the next root
        else:  # "kick": lock to the kick drum, bar by bar
            onsets, notes = [], []
            for bar in range(int(math.ceil(chord.length / 4))):
                steps = plan.kick_patterns[1 if (int(chord.start) // 4 + bar) % 2 else 0]
                for step in steps:
                    beat = 4.0 * bar + step / 4.0
                    if beat < chord.length:
                        onsets.append(beat)
                        notes.append(root + (12 if rng.random() < 0.1 else 0))
            if rng.random() < 0.5 and chord.length - 0.5 not in onsets:
                onsets.append(chord.length - 0.5)
                notes.append(root_pitch(nxt) + int(rng.choice([-1, 1, 2])))
        for k, (onset, pitch) in enumerate(zip(onsets, notes)):
            end = onsets[k + 1] if k + 1 < len(onsets) else chord.length
            events.append((chord.start + onset, max(0.1, (end - onset) * legato), pitch))

    if sampler is not None:
        program = int(picks.choice(_GM_BASSES))
        channel = sampler.instrument(program, pan=pan)
        for beat, length_beats, pitch in events:
            start = plan.sample(beat) + int(rng.normal(0, 0.003 * sr))
            sampler.note(channel, start, int(length_beats * plan.spb), pitch, 0.7 * float(np.exp(rng.normal(0, 0.12))))
        return sampler.render(), {"timbre": f"sampled: {sampler.preset_name(program)}", "pattern": pattern}
    for beat, length_beats, pitch in events:
        start = plan.sample(beat)
        if start >= n:
            continue
        gate = int(length_beats * plan.spb)
        length = gate + int(0.08 * sr)
        f0 = float(_midi_hz(pitch))
        freqs = _harmonic_freqs(f0, sr, limit=80, top_hz=8000.0)
        k = np.arange(1, freqs.size + 1)
        if timbre == "saw":
            src = 1.0 / k
        elif timbre == "square":
            src = np.where(k % 2 == 1, 1.0 / k, 0.12 / k)
        elif timbre == "sine":
            src = np.where(k <= 6, 1.0 / k ** 1.5, 0.0)
            src[0] = 1.0
        else:  # finger: a plucked string's spectrum with the pluck-position comb
            src = np.abs(np.sin(math.pi * k * 0.18)) / k ** 1.1 + 0.02 / k
        bright = _wavetable(src * _lowpass_weights(freqs, max(cut_bright, 3 * f0), 2, resonance))
        dark = _wavetable(src * _lowpass_weights(freqs, max(cut_dark, 1.5 * f0), 2, 0.3 * resonance))
        brightness = _exp_env(length, sr, tau_filter)
        decay = rng.uniform(0.15, 0.5) if sustain > 0 else rng.uniform(0.4, 1.2)
        envelope = _adsr(length, sr, rng.uniform(0.003, 0.012), decay, sustain, 0.06, gate)
        detune = rng.normal(0.0, 0.03)
        note = _render_note(sr, length, pitch + detune, bright, dark, brightness, envelope, rng.uniform())
        if drive > 0:
            note = np.tanh(drive * note) / np.tanh(drive)
        _add(out, note, start + int(rng.normal(0, 0.003 * sr)), pan, float(np.exp(rng.normal(0, 0.08))))
    return out, {"timbre": timbre, "pattern": pattern}


def _voicing(plan: _Plan, chord: _Chord, low: int, previous: list[int] | None) -> list[int]:
    """Chord tones as MIDI pitches within [low, low + 15], the inversion closest to
    ``previous`` (voice leading, like a player would)."""
    best, best_cost = None, None
    for inversion in range(len(chord.tones)):
        tones = chord.tones[inversion:] + chord.tones[:inversion]
        pitches, current = [], low - 1
        for pc in tones:
            pitch = current + 1 + (pc - current - 1) % 12
            pitches.append(pitch)
            current = pitch
        if pitches[-1] > low + 15:
            continue
        cost = 0.0 if previous is None else sum(abs(a - b) for a, b in zip(sorted(pitches), sorted(previous)))
        if best_cost is None or cost < best_cost:
            best, best_cost = pitches, cost
    if best is None:
        best = sorted(low + (pc - low) % 12 for pc in chord.tones)
    return best


# General MIDI programs for each role of the "other" part when it is sampled.
_GM_OTHER = {
    # Synth pads, string ensembles, brass section; not the choir (91) and halo (94) pads, voices
    # that a listener would call vocals.
    "pad": (88, 89, 90, 92, 93, 95, 48, 49, 50, 61),
    "keys": (0, 0, 1, 2, 4, 5, 7, 11),  # pianos, electric pianos, clavinet, vibraphone
    "organ": (16, 17, 18, 19),
    "strum": (24, 25, 26, 27, 46),  # nylon, steel, jazz and clean electric guitars, harp
    "arp": (8, 9, 10, 12, 13, 80, 81, 104, 108),  # celesta, glockenspiel, music box, marimba, xylophone, leads, sitar, kalimba
    "guitar": (29, 30),  # overdriven, distortion
}


def _render_other(plan: _Plan, rng: np.random.Generator, sampler: PartSampler | None = None,
                  picks: np.random.Generator | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """The accompaniment: chords and sometimes an arpeggio, each role (primary, secondary)
    additive or, with ``sampler``, drawn (from ``picks``) to be played on a GM program."""
    sr, n = plan.sr, plan.n
    out = np.zeros((2, n))
    primary = str(rng.choice(["pad", "keys", "organ", "strum", "guitar", "guitar"]))
    secondary = str(rng.choice(["arp", "pad", "keys", "guitar", "strum"])) if rng.random() < 0.8 else "none"
    if secondary == primary:
        secondary = "arp"
    low = int(rng.integers(50, 62))  # lowest chord tone: D3..C#4, i.e. in the singer's range
    top_double = rng.random() < 0.5  # add the lowest tone an octave up: a wider, brighter voicing
    left_hand = rng.random() < 0.4  # keys/organ play the root an octave or two down: doubles the bass
    width = rng.uniform(0.2, 0.8)
    pans = {"pad": 0.0, "keys": rng.uniform(-0.5, 0.5), "organ": rng.uniform(-0.4, 0.4),
            "strum": rng.uniform(-0.6, 0.6), "arp": rng.uniform(-0.7, 0.7)}
    rhythm = str(rng.choice(["sustain", "quarters", "offbeats", "syncopated"]))
    timbres = {
        "pad": dict(cut=rng.uniform(1200, 4000), detune=rng.uniform(4, 14), attack=rng.uniform(0.08, 0.5)),
        "keys": dict(tau=rng.uniform(0.5, 1.6), bell=rng.uniform(0.0, 0.5), tau_bright=rng.uniform(0.08, 0.3)),
        "organ": dict(drawbars=rng.uniform(0.0, 1.0, 6) * np.array([1.0, 0.8, 0.6, 0.5, 0.4, 0.3]),
                      trem=rng.uniform(4.5, 7.0)),
        "strum": dict(tau=rng.uniform(0.3, 1.0), position=rng.uniform(0.1, 0.3), tau_bright=rng.uniform(0.05, 0.2)),
        "arp": dict(tau=rng.uniform(0.1, 0.35), square=rng.random() < 0.4),
        # Overdriven, double-tracked guitar: the drive's intermodulation fills 100 Hz-5 kHz densely,
        # right where the voice is (what makes real rock vocals hard to separate).
        "guitar": dict(drive=rng.uniform(2.0, 10.0), cabinet=rng.uniform(3000, 7000), tau=rng.uniform(0.5, 2.0),
                       power=rng.random() < 0.5, rhythm=str(rng.choice(["eighths", "quarters", "syncopated", "sustain"])),
                       spread=rng.uniform(0.4, 0.9)),
    }
    guitar = timbres["guitar"]
    channels: dict[str, int | tuple[int, int]] = {}  # sampled role -> its channel (the guitar: two takes)
    programs: dict[str, int] = {}
    if sampler is not None:
        for role in (primary, secondary):
            if role != "none" and picks.random() < 0.6:
                programs[role] = int(picks.choice(_GM_OTHER[role]))
                if role == "guitar":
                    channels[role] = (sampler.instrument(programs[role], pan=-guitar["spread"]),
                                      sampler.instrument(programs[role], pan=guitar["spread"]))
                else:
                    channels[role] = sampler.instrument(programs[role], pan=pans.get(role, 0.0))
    cabinet = sp_signal.butter(2, [90.0, min(guitar["cabinet"], 0.45 * sr)], btype="bandpass", fs=sr, output="sos")

    def guitar_chord(pitches: list[int], start: int, gate: int, gain: float) -> None:
        """One strum of a double-tracked overdriven guitar: the strings are summed, driven
        through tanh (intermodulation), filtered by a 'cabinet' band-pass; two takes, L and R."""
        if "guitar" in channels:
            for take, channel in enumerate(channels["guitar"]):
                lag = int(rng.normal(0, 0.006 * sr))
                for j, pitch in enumerate(pitches):
                    sampler.note(channel, start + lag + int(j * 0.008 * sr), gate, pitch, gain)
            return
        length = gate + int(0.1 * sr)
        for take in (-1.0, 1.0):
            strings = np.zeros(length)
            for j, pitch in enumerate(pitches):
                f0 = float(_midi_hz(pitch))
                freqs = _harmonic_freqs(f0, sr, limit=60, top_hz=7000.0)
                k = np.arange(1, freqs.size + 1)
                envelope = _adsr(length, sr, 0.004, guitar["tau"], 0.3, 0.08, gate)
                offset = int(j * 0.008 * sr)
                note = _render_note(sr, length - offset, pitch + rng.normal(0, 0.04), _wavetable(1.0 / k), None, None,
                                    envelope[:length - offset], rng.uniform())
                strings[offset:] += note
            drive = guitar["drive"]
            tone = sp_signal.sosfilt(cabinet, np.tanh(drive * strings / len(pitches)) / np.tanh(drive))
            _add(out, tone, start + int(rng.normal(0, 0.006 * sr)), take * guitar["spread"], gain)
    timbres["organ"]["drawbars"][0] = max(timbres["organ"]["drawbars"][0], 0.6)

    def play(instrument: str, pitch: float, start: int, gate: int, gain: float, pan: float) -> None:
        if instrument in channels:
            sampler.note(channels[instrument], start, gate, pitch, gain)
            return
        f0 = float(_midi_hz(pitch))
        freqs = _harmonic_freqs(f0, sr, limit=120, top_hz=12000.0)
        k = np.arange(1, freqs.size + 1)
        p = timbres[instrument]
        if instrument == "pad":
            length = gate + int(0.4 * sr)
            table = _wavetable((1.0 / k) * _lowpass_weights(freqs, p["cut"], 2))
            envelope = _adsr(length, sr, p["attack"], 0.5, 0.8, 0.4, gate)
            for voice, cents in enumerate((-p["detune"], 0.0, p["detune"])):
                note = _render_note(sr, length, pitch + cents / 100.0, table, None, None, envelope, rng.uniform())
                _add(out, note, start, pan + width * (voice - 1), gain * 0.6)
            return
        if instrument == "keys":
            length = gate + int(0.3 * sr)
            bright = _wavetable((1.0 / k ** 1.3) * _lowpass_weights(freqs, 5000.0, 2)
                                + p["bell"] * (k == 14) / 3.0)
            dark = _wavetable(1.0 / k ** 3)
            envelope = _adsr(length, sr, 0.003, p["tau"], 0.0, 0.2, gate)
            note = _render_note(sr, length, pitch, bright, dark, _exp_env(length, sr, p["tau_bright"]), envelope,
                                rng.uniform())
        elif instrument == "organ":
            length = gate + int(0.03 * sr)
            amps = np.zeros(k.size)
            for bar_level, harmonic in zip(p["drawbars"], (1, 2, 3, 4, 6, 8)):
                if harmonic <= k.size:
                    amps[harmonic - 1] = bar_level
            envelope = _adsr(length, sr, 0.005, 1.0, 1.0, 0.03, gate)
            envelope *= 1.0 + 0.12 * np.sin(_TWO_PI * p["trem"] * (start + np.arange(length)) / sr)
            note = _render_note(sr, length, pitch, _wavetable(amps), None, None, envelope, rng.uniform())
        elif instrument == "strum":
            length = gate + int(0.2 * sr)
            src = np.abs(np.sin(math.pi * k * p["position"])) / k
            bright = _wavetable(src * _lowpass_weights(freqs, 6000.0, 2))
            dark = _wavetable(src * _lowpass_weights(freqs, 4.0 * f0, 2))
            envelope = _adsr(length, sr, 0.002, p["tau"], 0.0, 0.1, gate)
            note = _render_note(sr, length, pitch, bright, dark, _exp_env(length, sr, p["tau_bright"]), envelope,
                                rng.uniform())
        else:  # arp
            length = gate + int(0.15 * sr)
            src = np.where(k % 2 == 1, 1.0 / k, 0.0) if p["square"] else 1.0 / k
            bright = _wavetable(src * _lowpass_weights(freqs, 5000.0, 2))
            dark = _wavetable(src * _lowpass_weights(freqs, 2.5 * f0, 2))
            envelope = _adsr(length, sr, 0.002, p["tau"], 0.0, 0.08, gate)
            note = _render_note(sr, length, pitch, bright, dark, _exp_env(length, sr, 0.06), envelope, rng.uniform())
        _add(out, note, start, pan, gain)

    onsets_by_rhythm = {"sustain": [0.0], "quarters": [0.0, 1.0, 2.0, 3.0], "offbeats": [0.5, 1.5, 2.5, 3.5],
                        "syncopated": [0.0, 0.75, 1.5, 2.5, 3.0]}
    previous = None
    for chord in plan.chords:
        voicing = _voicing(plan, chord, low, previous)
        previous = voicing
        for instrument in (primary, secondary):
            if instrument == "none":
                continue
            gain = 1.0 if instrument == primary else rng.uniform(0.4, 0.7)
            if instrument == "guitar":
                root = 40 + (chord.tones[0] - 40) % 12  # E2..D#3
                if guitar["power"]:
                    pitches = [root, root + 7, root + 12]
                else:
                    pitches = [root] + [p - 12 for p in voicing if p - 12 > root]
                grid = {"eighths": [0.5 * i for i in range(8)], "quarters": [0.0, 1.0, 2.0, 3.0],
                        "syncopated": [0.0, 0.75, 1.5, 2.5, 3.0], "sustain": [0.0, 2.0]}[guitar["rhythm"]]
                onsets = [4.0 * bar + o for bar in range(int(math.ceil(chord.length / 4))) for o in grid
                          if 4.0 * bar + o < chord.length]
                for i, onset in enumerate(onsets):
                    end = onsets[i + 1] if i + 1 < len(onsets) else chord.length
                    start = plan.sample(chord.start + onset)
                    if start < n:
                        gate = int((end - onset) * plan.spb * rng.uniform(0.6, 0.95))
                        guitar_chord(pitches, start, gate, gain * 0.5 * float(np.exp(rng.normal(0, 0.1))))
                continue
            if instrument == "arp":
                step = 0.5 if rng.random() < 0.6 else 0.25
                tones = [p + 12 for p in voicing]
                order = tones + tones[-2:0:-1]
                for i in range(int(chord.length / step)):
                    beat = chord.start + i * step
                    _play_at(plan, play, instrument, order[i % len(order)], beat, step * 0.9, gain * 0.7,
                             pans["arp"], rng)
                continue
            if instrument in ("pad", "organ") or rhythm == "sustain":
                bar_onsets = [0.0]
                note_beats = chord.length
            else:
                bar_onsets = onsets_by_rhythm[rhythm]
                note_beats = 0.0
            onsets = [4.0 * bar + o for bar in range(int(math.ceil(chord.length / 4))) for o in bar_onsets
                      if 4.0 * bar + o < chord.length]
            for i, onset in enumerate(onsets):
                end = onsets[i + 1] if i + 1 < len(onsets) else chord.length
                dur = note_beats if note_beats else (end - onset) * rng.uniform(0.5, 0.9)
                strum = 0.012 * sr if instrument == "strum" else 0.0
                for j, pitch in enumerate(voicing + ([voicing[0] + 12] if top_double else [])):
                    _play_at(plan, play, instrument, pitch, chord.start + onset, dur, gain * 0.5, pans[instrument],
                             rng, offset=int(j * strum))
                if left_hand and instrument in ("keys", "organ"):
                    root = voicing[0] - 12 - (voicing[0] - 12 - chord.tones[0]) % 12
                    _play_at(plan, play, instrument, root - (12 if rng.random() < 0.5 else 0), chord.start + onset,
                             dur, gain * 0.45, pans[instrument], rng)
    info = {"primary": primary, "secondary": secondary, "rhythm": rhythm, "left_hand": bool(left_hand)}
    if channels:
        sampled = sampler.render()
        # Balance the roles as the additive gains do: the secondary about 0.55 of the primary.
        additive_rms, sampled_rms = _active_rms(out, sr), _active_rms(sampled, sr)
        if additive_rms > 0 and sampled_rms > 0:
            sampled *= additive_rms / sampled_rms * (1.0 / 0.55 if primary in channels else 0.55)
        out += sampled
    info["instruments"] = {role: f"sampled: {sampler.preset_name(programs[role])}" if role in channels else "additive"
                           for role in (primary, secondary) if role != "none"}
    return out, info


def _play_at(plan: _Plan, play, instrument: str, pitch: float, beat: float, length_beats: float, gain: float,
             pan: float, rng: np.random.Generator, offset: int = 0) -> None:
    start = plan.sample(beat) + offset + int(rng.normal(0, 0.004 * plan.sr))
    if start >= plan.n:
        return
    gate = max(int(0.05 * plan.sr), int(length_beats * plan.spb))
    play(instrument, pitch, start, gate, gain * float(np.exp(rng.normal(0, 0.1))), pan)


# --------------------------------------------------------------------------------------------
# Vocals
# --------------------------------------------------------------------------------------------

# Vowel formants (F1, F2, F3 in Hz, adult male; female voices scale them by ~1.15).
_VOWELS = {
    "a": (730, 1090, 2440), "e": (530, 1840, 2480), "i": (270, 2290, 3010), "o": (570, 840, 2410),
    "u": (300, 870, 2240), "ae": (660, 1720, 2410), "er": (490, 1350, 1690),
}
_VOWEL_NAMES = tuple(_VOWELS)
_FORMANT_BANDWIDTHS = (90.0, 110.0, 170.0)
_FORMANT_LEVELS = (1.0, 0.7, 0.35)


def _vowel_amplitudes(freqs: np.ndarray, vowel: str, scale: float, singer: float, tilt: float) -> np.ndarray:
    """Harmonic amplitudes of a sung vowel: a glottal source falling as 1/k^tilt shaped by three
    resonances at the vowel's formants (scaled by ``scale``) and a "singer's formant" near 3 kHz."""
    k = np.arange(1, freqs.size + 1)
    response = np.full(freqs.size, 0.03)
    for formant, bandwidth, level in zip(_VOWELS[vowel], _FORMANT_BANDWIDTHS, _FORMANT_LEVELS):
        response += level / np.sqrt(1.0 + ((freqs - formant * scale) / (0.5 * bandwidth * scale)) ** 2)
    response += singer / np.sqrt(1.0 + ((freqs - 3000.0 * scale) / 250.0) ** 2)
    return response / k ** tilt


def _render_vocals(plan: _Plan, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """The vocal part: a formant-synthesised lead (syllables with consonants and breaths) with
    sometimes a double or harmony. (GM choir and voice samples are not used: they sound like the
    pads of the "other" stem; the demo-sized model trained with them as backing vocals scored
    0.26 dB vocals SDR on stempeg's real excerpt, 0.88 dB without.)"""
    sr, n = plan.sr, plan.n
    out = np.zeros((2, n))
    female = rng.random() < 0.5
    lowest = int(rng.integers(57, 62)) if female else int(rng.integers(48, 54))
    span = int(rng.integers(12, 17))
    formant_scale = rng.uniform(1.1, 1.22) if female else rng.uniform(0.93, 1.05)
    singer = rng.uniform(0.0, 0.5)
    tilt = rng.uniform(0.6, 1.2)
    vib_rate, vib_depth = rng.uniform(4.5, 6.5), rng.uniform(0.2, 0.6)  # Hz, semitones (peak)
    breathiness = rng.uniform(0.04, 0.15)
    pan = rng.normal(0.0, 0.08)
    # Aspiration noise for the whole song, band-passed once (cheap) and sliced per note.
    aspiration = _band_noise(rng, n + sr, sr, 700.0 * formant_scale, 5000.0)
    aspiration /= np.std(aspiration) + 1e-12

    # Melody: a random walk on the scale that lands on chord tones on strong beats.
    octave_base = 12 * (lowest // 12)
    degree_lo = next(d for d in range(-7, 30) if plan.degree_pitch(d, octave_base) >= lowest)
    degree_hi = max(d for d in range(degree_lo, degree_lo + 30) if plan.degree_pitch(d, octave_base) <= lowest + span)
    degree = int(rng.integers(degree_lo + 2, max(degree_lo + 3, degree_hi - 2)))
    notes: list[tuple[float, float, int, bool]] = []  # beat, length, pitch, starts a phrase
    for section_start, section_end in plan.vocal_sections:
        beat = section_start + float(rng.choice([0.0, 0.0, 0.5]))
        while beat < section_end - 0.5:
            phrase_end = min(section_end, beat + float(rng.choice([4.0, 6.0, 8.0, 8.0])))
            first = True
            while beat < phrase_end - 0.25:
                duration = float(rng.choice([0.5, 0.5, 1.0, 1.0, 1.0, 1.5, 2.0]))
                if beat + duration >= phrase_end - 0.25 or rng.random() < 0.1:
                    duration = max(0.5, min(float(rng.choice([1.5, 2.0, 3.0])), section_end - beat))
                degree += int(rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3]))
                degree = int(np.clip(degree, degree_lo, degree_hi))
                pitch = plan.degree_pitch(degree, octave_base)
                chord = plan.chord_at(beat)
                strong = abs(beat - round(beat)) < 1e-6 and int(round(beat)) % 2 == 0
                if strong and pitch % 12 not in chord.tones and rng.random() < 0.8:
                    pitch = min((pitch + d for d in (-2, -1, 1, 2) if (pitch + d) % 12 in chord.tones),
                                key=lambda p: abs(p - pitch), default=pitch)
                notes.append((beat, duration, pitch, first))
                first = False
                beat += duration
                if duration >= 1.5:
                    break  # a long note ends the phrase
            beat += float(rng.choice([0.5, 1.0, 1.0, 1.5, 2.0]))  # breath / rest

    # Backing vocals in some songs, on some phrases: a double (same line, slightly detuned and late,
    # panned away from the lead) or a harmony (the next chord tone above the lead).
    backing = str(rng.choice(["none", "none", "none", "double", "harmony"]))
    backing_pan = float(rng.choice([-1.0, 1.0])) * rng.uniform(0.3, 0.7)
    backing_gain = rng.uniform(0.35, 0.6)

    def sing(curve: np.ndarray, gate: int, vowels: tuple[str, str | None]) -> tuple[np.ndarray, np.ndarray]:
        """One sung note (peak 1) along the MIDI pitch ``curve``; returns it and its envelope."""
        length = curve.size
        t = np.arange(length) / sr
        vib_onset = rng.uniform(0.15, 0.35)
        curve = curve + vib_depth * np.clip((t - vib_onset) / 0.2, 0.0, 1.0) * np.sin(
            _TWO_PI * vib_rate * t + rng.uniform(0, _TWO_PI))
        curve += 0.08 * np.sin(_TWO_PI * rng.uniform(0.5, 2.0) * t + rng.uniform(0, _TWO_PI))  # pitch drift
        f0 = float(_midi_hz(np.median(curve)))
        freqs = _harmonic_freqs(f0 * 1.05, sr, limit=120, top_hz=10000.0) / 1.05
        table = _wavetable(_vowel_amplitudes(freqs, vowels[0], formant_scale, singer, tilt))
        envelope = _adsr(length, sr, rng.uniform(0.02, 0.07), rng.uniform(0.3, 1.0), rng.uniform(0.6, 0.9),
                         rng.uniform(0.06, 0.15), gate)
        if vowels[1] is not None:  # a diphthong: glide to a second vowel over the note's second half
            second = _wavetable(_vowel_amplitudes(freqs, vowels[1], formant_scale, singer, tilt))
            morph = np.clip((t - 0.5 * gate / sr) / max(0.3 * gate / sr, 1e-3), 0.0, 1.0)
            voice = _render_note(sr, length, curve, second, table, morph, envelope, rng.uniform())
        else:
            voice = _render_note(sr, length, curve, table, None, None, envelope, rng.uniform())
        return voice / (np.max(np.abs(voice)) + 1e-12), envelope

    previous_pitch = None
    previous_end = -1
    backed = False
    for beat, duration, pitch, phrase_start in notes:
        start = plan.sample(beat) + int(rng.normal(0, 0.008 * sr))
        if start >= n:
            break
        if phrase_start:
            backed = backing != "none" and rng.random() < 0.6
        gate = int(duration * plan.spb * rng.uniform(0.85, 0.98))
        length = gate + int(0.12 * sr)
        t = np.arange(length) / sr
        curve = np.full(length, float(pitch))
        legato = previous_pitch is not None and start - previous_end < int(0.06 * sr)
        if legato:
            curve += (previous_pitch - pitch) * np.exp(-t / (rng.uniform(0.03, 0.09) / 3.0))  # glide
        elif rng.random() < 0.5:
            curve -= rng.uniform(0.3, 0.8) * np.exp(-t / rng.uniform(0.02, 0.05))  # scoop up into the note
        vowels = (_VOWEL_NAMES[int(rng.integers(len(_VOWEL_NAMES)))],
                  _VOWEL_NAMES[int(rng.integers(len(_VOWEL_NAMES)))] if rng.random() < 0.25 else None)
        voice, envelope = sing(curve, gate, vowels)
        begin = max(start, 0)
        breath = aspiration[begin:begin + length]
        voice[:breath.size] += breathiness * breath * envelope[:breath.size]
        _add(out, voice, start, pan, float(np.exp(rng.normal(0, 0.12))))
        if backed:
            if backing == "double":
                shift = rng.normal(0.0, 0.1)  # about 10 cents off the lead
            else:
                chord = plan.chord_at(beat)
                above = next((p for p in range(pitch + 3, pitch + 10) if p % 12 in chord.tones), pitch + 4)
                shift = float(above - pitch)
            lag = int(rng.uniform(0.01, 0.035) * sr)
            backing_voice, _ = sing(curve + shift, gate, vowels)
            _add(out, backing_voice, start + lag, backing_pan, backing_gain * float(np.exp(rng.normal(0, 0.12))))
        # Consonants: a noise burst just before the vowel ("s", "sh", "t", "h").
        if rng.random() < (0.55 if not legato else 0.25):
            kind = str(rng.choice(["s", "sh", "t", "h"]))
            low_hz, high_hz, dur_s, level = {"s": (4500.0, 11000.0, 0.09, 0.25), "sh": (2000.0, 6000.0, 0.1, 0.25),
                                             "t": (2500.0, 8000.0, 0.02, 0.4), "h": (800.0, 4000.0, 0.06, 0.12)}[kind]
            burst_len = int(dur_s * sr * rng.uniform(0.7, 1.3))
            burst = _band_noise(rng, burst_len, sr, low_hz, high_hz) * np.hanning(burst_len)
            burst /= np.std(burst) + 1e-12
            _add(out, burst * level * 0.3, start - burst_len + int(0.01 * sr), pan)
        if phrase_start:  # an audible breath before the phrase
            breath_len = int(rng.uniform(0.15, 0.35) * sr)
            inhale = _band_noise(rng, breath_len, sr, 600.0, 3500.0) * np.hanning(breath_len)
            inhale /= np.std(inhale) + 1e-12
            _add(out, inhale * rng.uniform(0.01, 0.04), start - breath_len - int(0.04 * sr), pan)
        previous_pitch, previous_end = pitch, start + gate
    # A delay (echo) on the vocals in some songs: a few ping-pong repeats of a dotted eighth.
    if rng.random() < 0.35:
        delay = int(0.75 * plan.spb)
        feedback, level = rng.uniform(0.25, 0.45), rng.uniform(0.15, 0.3)
        dry = 0.5 * (out[0] + out[1])
        for repeat in range(1, 4):
            shift = repeat * delay
            if shift >= n:
                break
            out[repeat % 2, shift:] += level * feedback ** (repeat - 1) * dry[:n - shift]
    info = {"voice": "female" if female else "male", "lowest_midi": lowest, "backing": backing,
            "sections_beats": [[round(a, 2), round(b, 2)] for a, b in plan.vocal_sections]}
    return out, info


# --------------------------------------------------------------------------------------------
# Mixing: room reverb (one room per song, per-stem sends), levels, fades, normalisation.
# --------------------------------------------------------------------------------------------

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


def _gate_silence(stereo: np.ndarray, block: int, threshold: float) -> None:
    """Set to exact zero every block of ``block`` samples whose peak (both channels) is below
    ``threshold``: FFT reverb leaves ~1e-17 noise where a stem rests, and real multitrack stems
    (and museval, which skips frames with a digitally silent reference) expect true silence."""
    n_blocks = stereo.shape[1] // block
    if n_blocks == 0:
        return
    body = stereo[:, :n_blocks * block].reshape(2, n_blocks, block)
    quiet = np.max(np.abs(body), axis=(0, 2)) < threshold
    body[:, quiet, :] = 0.0
    tail = stereo[:, n_blocks * block:]
    if tail.size and np.max(np.abs(tail)) < threshold:
        tail[:] = 0.0


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


# Stem levels relative to each other (dB, RMS while playing) and the random spread around them.
_STEM_LEVEL_DB = {"drums": -0.5, "bass": -1.0, "other": -1.0, "vocals": -1.5}
_STEM_LEVEL_SPREAD_DB = 3.0
_NOISE_FLOOR_DB = (-60.0, -50.0)
"""Range of each stem's noise floor, dB relative to its RMS while playing (see :func:`_add_noise_floor`)."""
_REVERB_SEND = {"drums": (0.15, 0.35), "bass": (0.0, 0.0), "other": (0.2, 0.5), "vocals": (0.35, 0.7)}
# Version 2: the chance that a part is sampled (SoundFont) rather than additive.
_SAMPLED_SHARE = {"drums": 0.5, "bass": 0.5, "other": 0.7}
# Version 2 production chain per stem: high-pass range (Hz) and the chance of each process.
_HIGH_PASS_HZ = {"drums": (20.0, 50.0), "bass": (25.0, 40.0), "other": (60.0, 180.0), "vocals": (70.0, 140.0)}
_COMPRESS_SHARE = {"drums": 0.8, "bass": 0.8, "other": 0.5, "vocals": 0.9}
_SATURATE_SHARE = {"drums": 0.3, "bass": 0.4, "other": 0.25, "vocals": 0.2}
_DELAY_SHARE = {"drums": 0.1, "bass": 0.0, "other": 0.25, "vocals": 0.4}


def _produce_stem(stem: np.ndarray, name: str, plan: _Plan, rng: np.random.Generator) -> dict[str, Any]:
    """In place, version 2: what a mix engineer does to a stem before the reverb send and the
    fader: EQ, then sometimes compression, saturation and a tempo-synced delay. Returns the settings."""
    chain: dict[str, Any] = {"eq": production.equalise(stem, plan.sr, rng, high_pass_hz=_HIGH_PASS_HZ[name])}
    if rng.random() < _COMPRESS_SHARE[name]:
        chain["compressor"] = production.compress(stem, plan.sr, rng)
    if rng.random() < _SATURATE_SHARE[name]:
        chain["saturation"] = production.saturate(stem, rng)
    if rng.random() < _DELAY_SHARE[name]:
        chain["delay"] = production.tempo_delay(stem, plan.sr, plan.spb / plan.sr, rng)
    return chain


def render_track(spec: SyntheticSpec, subset: str, index: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Synthesise one song: ``({stem: float32 array (n_samples, 2)}, info)``; ``info`` describes
    the song (tempo, key, timbres, ...). Stems are in [-0.99, 0.99]; their float64 sum, rounded to
    float32, is the mixture :func:`generate_synthetic_dataset` writes."""
    if subset not in _SUBSET_CODES:
        raise ValueError(f"subset must be one of {SUBSETS}, got {subset!r}")

    def stream(code: int) -> np.random.Generator:
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence([spec.seed, _SUBSET_CODES[subset], index, code])))

    sr, n = spec.sample_rate, spec.n_samples
    plan = _make_plan(spec, stream(_STREAM_PLAN))
    renderers = {"drums": _render_drums, "bass": _render_bass, "other": _render_other}
    part_streams = {"drums": _STREAM_DRUMS, "bass": _STREAM_BASS, "other": _STREAM_OTHER}
    stems, part_info = {}, {}
    picks = stream(_STREAM_INSTRUMENTS) if spec.version >= 2 else None
    soundfont = resolve_soundfont(spec.soundfont) if picks is not None else None
    for name in ("drums", "bass", "other"):
        # Version 2: each instrumental part sampled or additive (_SAMPLED_SHARE; "other" then
        # draws each of its roles again, so about 0.4 of its roles are sampled).
        sampled = picks is not None and picks.random() < _SAMPLED_SHARE[name]
        sampler = PartSampler(soundfont, sr, n) if sampled else None
        stems[name], part_info[name] = renderers[name](plan, stream(part_streams[name]), sampler, picks)
    stems["vocals"], part_info["vocals"] = _render_vocals(plan, stream(_STREAM_VOCALS))

    mix_rng = stream(_STREAM_MIX)
    producer = stream(_STREAM_PRODUCTION) if spec.version >= 2 else None
    seconds_per_bar = 4.0 * plan.spb / sr
    room = _Convolver(_room_ir(mix_rng, sr, float(mix_rng.uniform(0.5, 1.8))), n)
    levels, chains = {}, {}
    for name in STEM_NAMES:
        stem = stems[name]
        if producer is not None:
            chains[name] = _produce_stem(stem, name, plan, producer)
        low, high = _REVERB_SEND[name]
        send = float(mix_rng.uniform(low, high))
        if send > 0:
            stem += send * room(0.5 * (stem[0] + stem[1]))
        rms = _active_rms(stem, sr)
        level_db = _STEM_LEVEL_DB[name] + float(mix_rng.uniform(-_STEM_LEVEL_SPREAD_DB, _STEM_LEVEL_SPREAD_DB))
        levels[name] = round(level_db, 2)
        if rms > 0:
            stem *= 10.0 ** (level_db / 20.0) / rms
        if producer is not None and producer.random() < 0.7:
            stem *= production.level_automation(n, sr, seconds_per_bar, producer, depth_db=2.0)
    # Fades, identical for every stem (a linear operation, so the mixture stays their sum).
    fade_in = max(1, int(mix_rng.uniform(0.005, 0.03) * sr))
    fade_out = max(1, int(min(mix_rng.uniform(0.3, 1.5), 0.1 * spec.track_seconds) * sr))
    ramp = np.ones(n)
    ramp[:fade_in] = 0.5 - 0.5 * np.cos(np.linspace(0.0, math.pi, fade_in))
    ramp[n - fade_out:] *= 0.5 + 0.5 * np.cos(np.linspace(0.0, math.pi, fade_out))
    mixture = np.zeros((2, n))
    floor_rng = stream(_STREAM_NOISE_FLOOR)
    for name in STEM_NAMES:
        stems[name] *= ramp
        _gate_silence(stems[name], 512, 1e-5 * float(np.max(np.abs(stems[name]))))  # -100 dB re peak
        hum = None
        if producer is not None and name in ("bass", "other") and producer.random() < 0.3:
            hum = production.hum(n, sr, producer) * 10.0 ** (float(producer.uniform(-65.0, -50.0)) / 20.0)
            chains[name]["hum"] = True
        _add_noise_floor(stems[name], floor_rng, float(floor_rng.uniform(*_NOISE_FLOOR_DB)), extra=hum)
        mixture += stems[name]
    if producer is not None:
        # The song's dynamics: sections pushed and pulled, and a glue compressor on the mix bus,
        # both as one gain curve applied to every stem (so the mixture stays their sum).
        gain = np.ones(n)
        if producer.random() < 0.6:
            gain *= production.level_automation(n, sr, seconds_per_bar, producer, depth_db=2.5)
        if producer.random() < 0.7:
            bus, chains["bus_compressor"] = production.bus_gain(mixture * gain, sr, producer)
            gain *= bus
        for name in STEM_NAMES:
            stems[name] *= gain
        mixture *= gain
    # Loudness: mixture RMS around -16 dBFS, but no mixture or stem sample above 0.98.
    target_rms = 10.0 ** (float(mix_rng.uniform(-18.0, -14.0)) / 20.0)
    rms = float(np.sqrt(np.mean(mixture ** 2)))
    peak = max(float(np.max(np.abs(x))) for x in [mixture, *stems.values()])
    scale = min(target_rms / max(rms, 1e-12), 0.98 / max(peak, 1e-12))
    result = {name: np.ascontiguousarray((stems[name] * scale).T, dtype=np.float32) for name in STEM_NAMES}
    info = {"bpm": round(plan.bpm, 2), "key": ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"][plan.tonic],
            "mode": plan.mode, "levels_db": levels, **part_info}
    if producer is not None:
        info["production"] = chains
    return result, info


def _mixture_of(stems: dict[str, np.ndarray]) -> np.ndarray:
    """float32 rounding of the exact (float64) sum of the float32 stems, in STEM_NAMES order."""
    total = np.zeros(stems[STEM_NAMES[0]].shape, dtype=np.float64)
    for name in STEM_NAMES:
        total += stems[name]
    return total.astype(np.float32)


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------

def _write_wav_float(path: Path, data: np.ndarray, sample_rate: int) -> None:
    """Write (n, channels) float32 audio as a 32-bit IEEE-float WAV (format tag 3, with the
    'fact' chunk non-PCM WAVs carry). Written by hand because libsndfile stamps the current time
    into a PEAK chunk, which would make equal sets differ in bytes."""
    data = np.ascontiguousarray(data, dtype="<f4")
    n_frames, n_channels = data.shape
    payload = data.tobytes()
    fmt = struct.pack("<HHIIHH", 3, n_channels, sample_rate, sample_rate * 4 * n_channels, 4 * n_channels, 32)
    fact = struct.pack("<I", n_frames)
    riff_size = 4 + (8 + len(fmt)) + (8 + len(fact)) + (8 + len(payload))
    with open(path, "wb") as handle:
        handle.write(b"RIFF" + struct.pack("<I", riff_size) + b"WAVE")
        handle.write(b"fmt " + struct.pack("<I", len(fmt)) + fmt)
        handle.write(b"fact" + struct.pack("<I", len(fact)) + fact)
        handle.write(b"data" + struct.pack("<I", len(payload)))
        handle.write(payload)


def _musdb_setup(spec: SyntheticSpec) -> dict[str, Any]:
    """musdb's own mus.yaml, with this set's validation tracks (musdb reads stems and builds
    targets from it; ``split='train'/'valid'`` then uses our split)."""
    return {
        "sample_rate": float(spec.sample_rate),
        "sources": {name: f"{name}.wav" for name in ("vocals", "drums", "bass", "other")},
        "mixture": "mixture.wav",
        "stem_ids": {"mixture": 0, "drums": 1, "bass": 2, "other": 3, "vocals": 4},
        "targets": {
            "vocals": {"vocals": 1}, "drums": {"drums": 1}, "bass": {"bass": 1}, "other": {"other": 1},
            "accompaniment": {"bass": 1, "drums": 1, "other": 1},
            "linear_mixture": {"vocals": 1, "bass": 1, "drums": 1, "other": 1},
        },
        "validation_tracks": spec.validation_tracks(),
    }


def _samples_of(spec: SyntheticSpec) -> dict[str, str] | None:
    """Which SoundFont a version-2 set samples its instruments from: file name and sha256 (None for version 1)."""
    if spec.version < 2:
        return None
    path = resolve_soundfont(spec.soundfont)
    return {"soundfont": path.name, "sha256": soundfont_digest(path)}


def _manifest(spec: SyntheticSpec, track_info: dict[str, Any], samples: dict[str, str] | None) -> dict[str, Any]:
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "spec": asdict(spec),
        "samples": samples,
        "stems": list(STEM_NAMES),
        "sample_rate": spec.sample_rate,
        "n_samples": spec.n_samples,
        "tracks": {subset: spec.track_names(subset) for subset in SUBSETS},
        "validation_tracks": spec.validation_tracks(),
        "musdb_setup_file": MUSDB_SETUP_NAME,
        "track_info": track_info,
    }


def is_synthetic_dataset(root: str | Path) -> bool:
    """True if ``root`` holds a manifest written by :func:`generate_synthetic_dataset`."""
    try:
        read_synthetic_manifest(root)
    except (OSError, ValueError):
        return False
    return True


def read_synthetic_manifest(root: str | Path) -> dict[str, Any]:
    """The manifest (``root/stemunet_synthetic.json``) as a dict: format, format_version, spec
    (the :class:`SyntheticSpec` fields), stems, sample_rate, n_samples, tracks ({subset: names}),
    validation_tracks, track_info. Raises FileNotFoundError / ValueError if there is none."""
    path = Path(root) / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ValueError(f"{path} is not a stemunet synthetic-set manifest")
    return manifest


def _expected_files(spec: SyntheticSpec) -> list[Path]:
    return [Path(subset) / name / f"{stem}.wav" for subset in SUBSETS for name in spec.track_names(subset)
            for stem in ("mixture", *STEM_NAMES)]


def _holds_set(root: Path, spec: SyntheticSpec, samples: dict[str, str] | None) -> bool:
    """Whether ``root`` already holds the complete set for ``spec`` (manifest and every file)."""
    try:
        manifest = read_synthetic_manifest(root)
    except (OSError, ValueError):
        return False
    if manifest.get("format_version") != FORMAT_VERSION or manifest.get("spec") != asdict(spec):
        return False
    if manifest.get("samples") != samples:
        return False
    return all((root / path).is_file() for path in _expected_files(spec))


def generate_synthetic_dataset(root: str | Path, spec: SyntheticSpec = SyntheticSpec(), *,
                               progress: bool = True) -> Path:
    """Write the synthetic set for ``spec`` to ``root`` and return ``root`` as a Path.

    Layout: ``root/{train,test}/<name>/{mixture,drums,bass,other,vocals}.wav`` (stereo 32-bit
    float, ``spec.sample_rate`` Hz, ``spec.n_samples`` samples each) plus ``root/`` +
    :data:`MANIFEST_NAME`. The set is written into a temporary sibling folder and renamed into
    place at the end, so an interrupted run never leaves a half-written set.

    If ``root`` already holds this exact set (same spec and format version) nothing is written.
    Raises ValueError if ``root`` is a file, or a non-empty folder that is not this set (another
    spec, an older format, an incomplete set, or not a synthetic set at all): delete it first.
    """
    root = Path(root)
    samples = _samples_of(spec)  # a missing or unreadable SoundFont fails here, before any work
    if root.exists():
        if _holds_set(root, spec, samples):
            return root
        if not root.is_dir():
            raise ValueError(f"{root} exists and is not a folder; refusing to write a synthetic set there")
        if any(root.iterdir()):
            if is_synthetic_dataset(root):
                found = read_synthetic_manifest(root)
                raise ValueError(
                    f"{root} holds a different or incomplete synthetic set (spec {found.get('spec')}, format "
                    f"version {found.get('format_version')}); asked for {asdict(spec)}, format version "
                    f"{FORMAT_VERSION}. Delete the folder or choose another one.")
            raise ValueError(f"{root} is a non-empty folder that is not a stemunet synthetic set; "
                             "refusing to write into it")
    root.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}.partial-"))
    began = time.perf_counter()
    try:
        track_info = {}
        jobs = [(subset, index, name) for subset in SUBSETS for index, name in enumerate(spec.track_names(subset))]
        for number, (subset, index, name) in enumerate(jobs, start=1):
            stems, info = render_track(spec, subset, index)
            folder = temporary / subset / name
            folder.mkdir(parents=True)
            _write_wav_float(folder / "mixture.wav", _mixture_of(stems), spec.sample_rate)
            for stem in STEM_NAMES:
                _write_wav_float(folder / f"{stem}.wav", stems[stem], spec.sample_rate)
            track_info[name] = info
            if progress:
                print(f"\rsynthetic set: {number}/{len(jobs)} tracks ({time.perf_counter() - began:.1f} s)",
                      end="", file=_progress_stream(), flush=True)
        for subset in SUBSETS:  # musdb lists a subset's folder even when it holds no track
            (temporary / subset).mkdir(exist_ok=True)
        (temporary / MUSDB_SETUP_NAME).write_text(json.dumps(_musdb_setup(spec), indent=2) + "\n")
        (temporary / MANIFEST_NAME).write_text(json.dumps(_manifest(spec, track_info, samples), indent=2, sort_keys=True) + "\n")
        if progress:
            print(f"\rsynthetic set: {len(jobs)} tracks in {time.perf_counter() - began:.1f} s -> {root}",
                  file=_progress_stream(), flush=True)
        try:
            if root.is_dir():
                root.rmdir()  # the empty folder we were asked to fill
            os.rename(temporary, root)
        except OSError:
            # Another process may have finished the same set first (two workers calling
            # ensure_synthetic_dataset at once); that is as good as ours.
            if _holds_set(root, spec, samples):
                shutil.rmtree(temporary, ignore_errors=True)
                return root
            raise
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return root


def _progress_stream():
    """Information, not an error: stdout in a notebook (JupyterLab shows stderr in red), stderr in a terminal."""
    from stemunet.progress import in_kernel

    return sys.stdout if in_kernel() else sys.stderr


def synthetic_cache_root() -> Path:
    """Folder holding cached synthetic sets: ``$STEMUNET_CACHE/synthetic`` if that variable is set,
    else ``~/.cache/stemunet/synthetic``."""
    base = os.environ.get("STEMUNET_CACHE")
    return (Path(base).expanduser() if base else Path.home() / ".cache" / "stemunet") / "synthetic"


def synthetic_set_name(spec: SyntheticSpec) -> str:
    """Cache folder name of ``spec``'s set: ``musdb-synth-<12 hex digits>``, a hash of the spec and
    the format version (so a new generator version never reuses an old set)."""
    key = json.dumps({"spec": asdict(spec), "format_version": FORMAT_VERSION, "samples": _samples_of(spec)}, sort_keys=True)
    return "musdb-synth-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def ensure_synthetic_dataset(spec: SyntheticSpec = SyntheticSpec(), cache_root: str | Path | None = None, *,
                             progress: bool = True) -> Path:
    """Path of the set for ``spec`` under ``cache_root`` (default :func:`synthetic_cache_root`),
    generating it on first use; later calls return the same path without touching it."""
    base = Path(cache_root) if cache_root is not None else synthetic_cache_root()
    return generate_synthetic_dataset(base / synthetic_set_name(spec), spec, progress=progress)
