"""The song plan of a synthetic song: tempo, key, chords, grooves and the arrangement (where each stem plays)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stemunet.data.synthetic.spec import SyntheticSpec

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
