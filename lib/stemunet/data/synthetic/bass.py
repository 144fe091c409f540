"""The bass part of a synthetic song: a bass line on the chord roots, additive or a sampled GM bass."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from stemunet.data.synthetic.dsp import (_add, _adsr, _exp_env, _harmonic_freqs, _lowpass_weights, _midi_hz,
                                         _render_note, _wavetable)
from stemunet.data.synthetic.plan import _Chord, _Plan
from stemunet.data.synthetic.soundfont import PartSampler

_GM_BASSES = (32, 33, 33, 34, 34, 35, 36, 38, 39)  # acoustic, finger, pick, fretless, slap, synth basses


def _render_bass(plan: _Plan, rng: np.random.Generator, sampler: PartSampler | None = None,
                 picks: np.random.Generator | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """The bass line: additive synthesis, or with ``sampler`` the same notes on a GM bass drawn from ``picks``.
    Returns the stereo stem (2, n) and its manifest info."""
    sr, n = plan.sr, plan.n
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
    tone = dict(timbre=timbre, cut_bright=cut_bright, cut_dark=cut_dark, tau_filter=tau_filter, resonance=resonance,
                sustain=sustain, drive=drive)
    events = _bass_line(plan, rng, pattern, low_root, legato)

    if sampler is not None:
        program = int(picks.choice(_GM_BASSES))
        channel = sampler.instrument(program, pan=pan)
        for beat, length_beats, pitch in events:
            start = plan.sample(beat) + int(rng.normal(0, 0.003 * sr))
            sampler.note(channel, start, int(length_beats * plan.spb), pitch, 0.7 * float(np.exp(rng.normal(0, 0.12))))
        return sampler.render(), {"timbre": f"sampled: {sampler.preset_name(program)}", "pattern": pattern}
    out = np.zeros((2, n))
    for beat, length_beats, pitch in events:
        start = plan.sample(beat)
        if start >= n:
            continue
        note = _bass_note(sr, rng, pitch, int(length_beats * plan.spb), tone)
        _add(out, note, start + int(rng.normal(0, 0.003 * sr)), pan, float(np.exp(rng.normal(0, 0.08))))
    return out, {"timbre": timbre, "pattern": pattern}


def _root_pitch(chord: _Chord, low_root: int) -> int:
    """The chord's root as a MIDI pitch in [low_root, low_root + 11]."""
    return low_root + (chord.tones[0] - low_root) % 12


def _bass_line(plan: _Plan, rng: np.random.Generator, pattern: str, low_root: int,
               legato: float) -> list[tuple[float, float, int]]:
    """Note events (beat, length in beats, MIDI pitch) chord by chord; each note lasts ``legato``
    of the time to the next one."""
    events: list[tuple[float, float, int]] = []
    for index, chord in enumerate(plan.chords):
        nxt = plan.chords[index + 1] if index + 1 < len(plan.chords) else chord
        onsets, notes = _bass_notes(plan, rng, pattern, chord, nxt, low_root)
        for k, (onset, pitch) in enumerate(zip(onsets, notes)):
            end = onsets[k + 1] if k + 1 < len(onsets) else chord.length
            events.append((chord.start + onset, max(0.1, (end - onset) * legato), pitch))
    return events


def _bass_notes(plan: _Plan, rng: np.random.Generator, pattern: str, chord: _Chord, nxt: _Chord,
                low_root: int) -> tuple[list[float], list[int]]:
    """The onsets (beats from the chord's start) and MIDI pitches the bass plays over ``chord``
    (``nxt`` is the chord after it) in ``pattern``."""
    root = _root_pitch(chord, low_root)
    fifth = root + 7
    third = low_root + (chord.tones[1] - low_root) % 12
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
        target = _root_pitch(nxt, low_root)
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
            notes.append(_root_pitch(nxt, low_root) + int(rng.choice([-1, 1, 2])))
    return onsets, notes


def _bass_note(sr: int, rng: np.random.Generator, pitch: int, gate: int, tone: dict[str, Any]) -> np.ndarray:
    """One additive bass note held ``gate`` samples (plus its release), mono: the ``tone``'s
    spectrum through a low-pass that closes as the note decays, sometimes driven."""
    length = gate + int(0.08 * sr)
    f0 = float(_midi_hz(pitch))
    freqs = _harmonic_freqs(f0, sr, limit=80, top_hz=8000.0)
    k = np.arange(1, freqs.size + 1)
    timbre, resonance, sustain, drive = tone["timbre"], tone["resonance"], tone["sustain"], tone["drive"]
    if timbre == "saw":
        src = 1.0 / k
    elif timbre == "square":
        src = np.where(k % 2 == 1, 1.0 / k, 0.12 / k)
    elif timbre == "sine":
        src = np.where(k <= 6, 1.0 / k ** 1.5, 0.0)
        src[0] = 1.0
    else:  # finger: a plucked string's spectrum with the pluck-position comb
        src = np.abs(np.sin(math.pi * k * 0.18)) / k ** 1.1 + 0.02 / k
    bright = _wavetable(src * _lowpass_weights(freqs, max(tone["cut_bright"], 3 * f0), 2, resonance))
    dark = _wavetable(src * _lowpass_weights(freqs, max(tone["cut_dark"], 1.5 * f0), 2, 0.3 * resonance))
    brightness = _exp_env(length, sr, tone["tau_filter"])
    decay = rng.uniform(0.15, 0.5) if sustain > 0 else rng.uniform(0.4, 1.2)
    envelope = _adsr(length, sr, rng.uniform(0.003, 0.012), decay, sustain, 0.06, gate)
    detune = rng.normal(0.0, 0.03)
    note = _render_note(sr, length, pitch + detune, bright, dark, brightness, envelope, rng.uniform())
    if drive > 0:
        note = np.tanh(drive * note) / np.tanh(drive)
    return note
