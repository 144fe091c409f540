"""The vocal part of a synthetic song: a formant-synthesised singer (melody, vowels, consonants,
breaths, doubles and harmonies) or, in design 3, the same kind of melody sung by Sinsy's voice of
a recorded singer (:mod:`stemunet.data.synthetic.singing`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from stemunet.data.synthetic.dsp import _TWO_PI, _add, _adsr, _band_noise, _harmonic_freqs, _midi_hz, _render_note, _wavetable
from stemunet.data.synthetic.plan import _Plan
from stemunet.data.synthetic.singing import SINSY_SINGER, SYLLABLES, SungNote, sing

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
    0.26 dB vocals SDR on stempeg's real excerpt, 0.88 dB without.) Returns the stereo stem (2, n)
    and its manifest info."""
    vocalist = _Singer(plan, rng)
    notes = _melody(plan, rng, vocalist.lowest, vocalist.span)
    vocalist.choose_backing()
    for beat, duration, pitch, phrase_start in notes:
        start = plan.sample(beat) + int(rng.normal(0, 0.008 * plan.sr))
        if start >= plan.n:
            break
        vocalist.sing_note(start, beat, duration, pitch, phrase_start)
    vocalist.add_echo()
    info = {"voice": "female" if vocalist.female else "male", "lowest_midi": vocalist.lowest,
            "backing": vocalist.backing,
            "sections_beats": [[round(a, 2), round(b, 2)] for a, b in plan.vocal_sections]}
    return vocalist.out, info


# The sung voice's range, about C#4 to E5 (below C#4 the voice turns breathy and unvoiced).
_SUNG_LOWEST_MIDI = (61, 64)
_SUNG_SPAN = (10, 14)
_SUNG_HIGHEST_MIDI = 76  # above E5 the voice's pitch saturates (a harmony goes below the lead there)
_DOUBLE_TIMING_S = 0.012  # spread of a double's note onsets around the lead's (seconds)


def _render_sung_vocals(plan: _Plan, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """Design 3's other vocal part: the same kind of melody (:func:`_melody`) sung on random kana
    by Sinsy's voice of a recorded singer (:func:`stemunet.data.synthetic.singing.sing`), a breath
    after each phrase, sometimes a double (the line sung again with its onsets a few ms off) or a
    harmony (the next chord tone above) on some phrases, a little late and panned away, and
    sometimes an echo. Returns the stereo stem (2, n) and its manifest info (naming the singer)."""
    sr, n, bpm = plan.sr, plan.n, plan.bpm
    lowest = int(rng.integers(*_SUNG_LOWEST_MIDI))
    span = int(rng.integers(*_SUNG_SPAN))
    melody = _melody(plan, rng, lowest, span)
    syllables = [SYLLABLES[int(k)] for k in rng.integers(len(SYLLABLES), size=len(melody))]
    backing, backing_pan, backing_gain = _draw_backing(rng)
    pan = rng.normal(0.0, 0.08)
    lead, backed = [], []
    for i, ((beat, duration, pitch, phrase_start), syllable) in enumerate(zip(melody, syllables)):
        if phrase_start:
            phrase_backed = backing != "none" and rng.random() < 0.6
        phrase_end = i + 1 == len(melody) or melody[i + 1][3]
        lead.append(SungNote(beat, duration, pitch, syllable, breath_after=phrase_end))
        if phrase_backed:
            backed.append(lead[-1])
    out = np.zeros((2, n))
    line, silenced_s, corrections = sing(lead, bpm, sr, n)
    _add(out, line, 0, pan)
    if backed:
        if backing == "double":  # the same syllables, each onset a few ms early or late
            jitter = rng.normal(0.0, _DOUBLE_TIMING_S * bpm / 60.0, size=len(backed))
            second = [SungNote(note.beat + float(shift), note.length - float(shift), note.pitch, note.syllable,
                               note.breath_after) for note, shift in zip(backed, jitter)]
        else:
            second = [SungNote(note.beat, note.length, _sung_harmony_pitch(plan, note.beat, note.pitch), note.syllable,
                               note.breath_after) for note in backed]
        backing_line, backing_silenced_s, _ = sing(second, bpm, sr, n)
        silenced_s += backing_silenced_s
        _add(out, backing_line, int(rng.uniform(0.01, 0.035) * sr), backing_pan, backing_gain)
    _add_echo(out, plan, rng)
    info = {"voice": "female", "lowest_midi": lowest, "backing": backing,
            "sections_beats": [[round(a, 2), round(b, 2)] for a, b in plan.vocal_sections],
            "singer": dict(SINSY_SINGER), "lyrics": "".join(syllables),
            "bursts_silenced_ms": round(1000.0 * silenced_s, 1),
            "tuned_semitones_mean_abs": round(float(np.mean(np.abs(corrections))) if corrections else 0.0, 2)}
    return out, info


def _sung_harmony_pitch(plan: _Plan, beat: float, pitch: int) -> int:
    """The sung harmony's note: the chord tone above (:func:`_harmony_pitch`) where the voice
    reaches it, else the chord tone 3 to 9 semitones below."""
    above = _harmony_pitch(plan, beat, pitch)
    if above <= _SUNG_HIGHEST_MIDI:
        return above
    chord = plan.chord_at(beat)
    return next((p for p in range(pitch - 3, pitch - 10, -1) if p % 12 in chord.tones), pitch - 5)


def _melody(plan: _Plan, rng: np.random.Generator, lowest: int, span: int) -> list[tuple[float, float, int, bool]]:
    """The lead's notes as (beat, length in beats, MIDI pitch, starts a phrase), within
    [lowest, lowest + span]: a random walk on the scale that lands on chord tones on strong beats,
    in phrases with rests, over the song's vocal sections."""
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
    return notes


class _Singer:
    """One song's singer: voice, range, formants, vibrato and breathiness drawn from ``rng`` in a
    fixed order (a song's sound depends on it), singing into the stereo buffer ``out`` (2, n)."""

    def __init__(self, plan: _Plan, rng: np.random.Generator) -> None:
        self.plan, self.rng, self.sr = plan, rng, plan.sr
        sr, n = plan.sr, plan.n
        self.out = np.zeros((2, n))
        self.female = rng.random() < 0.5
        self.lowest = int(rng.integers(57, 62)) if self.female else int(rng.integers(48, 54))
        self.span = int(rng.integers(12, 17))
        self.formant_scale = rng.uniform(1.1, 1.22) if self.female else rng.uniform(0.93, 1.05)
        self.singer = rng.uniform(0.0, 0.5)  # level of the singer's formant
        self.tilt = rng.uniform(0.6, 1.2)
        self.vib_rate, self.vib_depth = rng.uniform(4.5, 6.5), rng.uniform(0.2, 0.6)  # Hz, semitones (peak)
        self.breathiness = rng.uniform(0.04, 0.15)
        self.pan = rng.normal(0.0, 0.08)
        # Aspiration noise for the whole song, band-passed once (cheap) and sliced per note.
        aspiration = _band_noise(rng, n + sr, sr, 700.0 * self.formant_scale, 5000.0)
        aspiration /= np.std(aspiration) + 1e-12
        self.aspiration = aspiration
        self.previous_pitch: int | None = None
        self.previous_end = -1
        self.backed = False

    def choose_backing(self) -> None:
        """Backing vocals in some songs, on some phrases (:func:`_draw_backing`)."""
        self.backing, self.backing_pan, self.backing_gain = _draw_backing(self.rng)

    def sing(self, curve: np.ndarray, gate: int, vowels: tuple[str, str | None]) -> tuple[np.ndarray, np.ndarray]:
        """One sung note (peak 1) along the MIDI pitch ``curve``; returns it and its envelope."""
        sr, rng = self.sr, self.rng
        formant_scale, singer, tilt = self.formant_scale, self.singer, self.tilt
        length = curve.size
        t = np.arange(length) / sr
        vib_onset = rng.uniform(0.15, 0.35)
        curve = curve + self.vib_depth * np.clip((t - vib_onset) / 0.2, 0.0, 1.0) * np.sin(
            _TWO_PI * self.vib_rate * t + rng.uniform(0, _TWO_PI))
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

    def sing_note(self, start: int, beat: float, duration: float, pitch: int, phrase_start: bool) -> None:
        """One syllable of the lead from sample ``start``: a glide or scoop into the pitch, one or two
        vowels, breath noise, sometimes its backing voice, a consonant before it and an inhale
        before a phrase."""
        rng, sr = self.rng, self.sr
        if phrase_start:
            self.backed = self.backing != "none" and rng.random() < 0.6
        gate = int(duration * self.plan.spb * rng.uniform(0.85, 0.98))
        length = gate + int(0.12 * sr)
        t = np.arange(length) / sr
        curve = np.full(length, float(pitch))
        legato = self.previous_pitch is not None and start - self.previous_end < int(0.06 * sr)
        if legato:
            curve += (self.previous_pitch - pitch) * np.exp(-t / (rng.uniform(0.03, 0.09) / 3.0))  # glide
        elif rng.random() < 0.5:
            curve -= rng.uniform(0.3, 0.8) * np.exp(-t / rng.uniform(0.02, 0.05))  # scoop up into the note
        vowels = (_VOWEL_NAMES[int(rng.integers(len(_VOWEL_NAMES)))],
                  _VOWEL_NAMES[int(rng.integers(len(_VOWEL_NAMES)))] if rng.random() < 0.25 else None)
        voice, envelope = self.sing(curve, gate, vowels)
        begin = max(start, 0)
        breath = self.aspiration[begin:begin + length]
        voice[:breath.size] += self.breathiness * breath * envelope[:breath.size]
        _add(self.out, voice, start, self.pan, float(np.exp(rng.normal(0, 0.12))))
        if self.backed:
            self._back(curve, gate, vowels, start, beat, pitch)
        if rng.random() < (0.55 if not legato else 0.25):
            self._consonant(start)
        if phrase_start:  # an audible breath before the phrase
            self._inhale(start)
        self.previous_pitch, self.previous_end = pitch, start + gate

    def _back(self, curve: np.ndarray, gate: int, vowels: tuple[str, str | None], start: int, beat: float,
              pitch: int) -> None:
        """The backing voice of one note: the double (about 10 cents off) or the harmony, a little late."""
        rng = self.rng
        if self.backing == "double":
            shift = rng.normal(0.0, 0.1)  # about 10 cents off the lead
        else:
            shift = float(_harmony_pitch(self.plan, beat, pitch) - pitch)
        lag = int(rng.uniform(0.01, 0.035) * self.sr)
        backing_voice, _ = self.sing(curve + shift, gate, vowels)
        _add(self.out, backing_voice, start + lag, self.backing_pan, self.backing_gain * float(np.exp(rng.normal(0, 0.12))))

    def _consonant(self, start: int) -> None:
        """A noise burst just before the vowel ("s", "sh", "t", "h")."""
        rng, sr = self.rng, self.sr
        kind = str(rng.choice(["s", "sh", "t", "h"]))
        low_hz, high_hz, dur_s, level = {"s": (4500.0, 11000.0, 0.09, 0.25), "sh": (2000.0, 6000.0, 0.1, 0.25),
                                         "t": (2500.0, 8000.0, 0.02, 0.4), "h": (800.0, 4000.0, 0.06, 0.12)}[kind]
        burst_len = int(dur_s * sr * rng.uniform(0.7, 1.3))
        burst = _band_noise(rng, burst_len, sr, low_hz, high_hz) * np.hanning(burst_len)
        burst /= np.std(burst) + 1e-12
        _add(self.out, burst * level * 0.3, start - burst_len + int(0.01 * sr), self.pan)

    def _inhale(self, start: int) -> None:
        """An audible breath ending 40 ms before sample ``start``."""
        rng, sr = self.rng, self.sr
        breath_len = int(rng.uniform(0.15, 0.35) * sr)
        inhale = _band_noise(rng, breath_len, sr, 600.0, 3500.0) * np.hanning(breath_len)
        inhale /= np.std(inhale) + 1e-12
        _add(self.out, inhale * rng.uniform(0.01, 0.04), start - breath_len - int(0.04 * sr), self.pan)

    def add_echo(self) -> None:
        """A delay (echo) on the vocals in some songs (:func:`_add_echo`)."""
        _add_echo(self.out, self.plan, self.rng)


def _draw_backing(rng: np.random.Generator) -> tuple[str, float, float]:
    """Backing vocals in some songs, on some phrases: a double (same line, slightly detuned and
    late, panned away from the lead) or a harmony (the next chord tone above the lead). Returns
    the kind ("none", "double", "harmony"), its pan and gain."""
    backing = str(rng.choice(["none", "none", "none", "double", "harmony"]))
    backing_pan = float(rng.choice([-1.0, 1.0])) * rng.uniform(0.3, 0.7)
    return backing, backing_pan, rng.uniform(0.35, 0.6)


def _harmony_pitch(plan: _Plan, beat: float, pitch: int) -> int:
    """The harmony's note above ``pitch`` at ``beat``: the next chord tone 3 to 9 semitones up."""
    chord = plan.chord_at(beat)
    return next((p for p in range(pitch + 3, pitch + 10) if p % 12 in chord.tones), pitch + 4)


def _add_echo(out: np.ndarray, plan: _Plan, rng: np.random.Generator) -> None:
    """In place on the vocals ``out`` (2, n), in some songs: a delay (echo), a few ping-pong
    repeats of a dotted eighth."""
    n = plan.n
    if rng.random() < 0.35:
        delay = int(0.75 * plan.spb)
        feedback, level = rng.uniform(0.25, 0.45), rng.uniform(0.15, 0.3)
        dry = 0.5 * (out[0] + out[1])
        for repeat in range(1, 4):
            shift = repeat * delay
            if shift >= n:
                break
            out[repeat % 2, shift:] += level * feedback ** (repeat - 1) * dry[:n - shift]
