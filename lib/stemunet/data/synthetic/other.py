"""The "other" part of a synthetic song: chords, arpeggios and left-hand roots on pads, keys, organ,
plucks or guitar, additive or sampled GM instruments."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import signal as sp_signal

from stemunet.data.synthetic.dsp import (_TWO_PI, _add, _adsr, _exp_env, _harmonic_freqs, _lowpass_weights, _midi_hz,
                                         _render_note, _wavetable)
from stemunet.data.synthetic.plan import _Chord, _Plan
from stemunet.data.synthetic.room import _active_rms
from stemunet.data.synthetic.soundfont import PartSampler


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


# The instrument family (stemunet.data.synthetic.spec.FAMILY_NAMES) of each GM program a role may
# play (and of program 0, which a SoundFont without the program drawn plays instead) ...
PROGRAM_FAMILY = {
    **dict.fromkeys((0, 1, 2, 4, 5, 7), "piano"),  # grand, bright, electric grand, electric pianos, clavinet
    **dict.fromkeys((8, 9, 10, 11, 12, 13, 108), "mallets"),  # celesta .. xylophone (GM chromatic percussion), kalimba
    **dict.fromkeys((16, 17, 18, 19), "organ"),
    **dict.fromkeys((24, 25, 26, 27, 29, 30, 104), "guitar"),  # and the sitar, a plucked, fretted string
    **dict.fromkeys((46, 48, 49, 50), "strings"),  # harp (GM's strings family), string ensembles, synth strings
    61: "brass",  # brass section
    **dict.fromkeys((88, 89, 90, 92, 93, 95), "pads"),
    **dict.fromkeys((80, 81), "synth"),  # square and saw leads: none of GM's families above
}
# ... and of each role when it is additive.
ADDITIVE_FAMILY = {"pad": "pads", "keys": "piano", "organ": "organ", "strum": "guitar", "guitar": "guitar",
                   "arp": "synth"}


# Where a bar's chords start (beats) for each rhythm of the chord instruments, and of the guitar.
_ONSETS_BY_RHYTHM = {"sustain": [0.0], "quarters": [0.0, 1.0, 2.0, 3.0], "offbeats": [0.5, 1.5, 2.5, 3.5],
                     "syncopated": [0.0, 0.75, 1.5, 2.5, 3.0]}
_GUITAR_GRIDS = {"eighths": [0.5 * i for i in range(8)], "quarters": [0.0, 1.0, 2.0, 3.0],
                 "syncopated": [0.0, 0.75, 1.5, 2.5, 3.0], "sustain": [0.0, 2.0]}


def _render_other(plan: _Plan, rng: np.random.Generator, sampler: PartSampler | None = None,
                  picks: np.random.Generator | None = None,
                  families: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """The accompaniment: chords and sometimes an arpeggio, each role (primary, secondary)
    additive or, with ``sampler``, drawn (from ``picks``) to be played on a GM program.
    Returns the stereo stem (2, n) and its manifest info. With ``families`` (a dict), also fills it
    with each instrument family that plays, ``{family: (2, n)}``, summing to the stem (to float32
    rounding: the stem itself is the same either way), and the info names each role's family."""
    part = _OtherPart(plan, rng, track_families=families is not None)
    if sampler is not None:
        part.pick_programs(sampler, picks)
    previous = None
    for chord in plan.chords:
        voicing = _voicing(plan, chord, part.low, previous)
        previous = voicing
        for instrument in (part.primary, part.secondary):
            if instrument == "none":
                continue
            gain = 1.0 if instrument == part.primary else rng.uniform(0.4, 0.7)
            if instrument == "guitar":
                part.strum_guitar(chord, voicing, gain)
            elif instrument == "arp":
                part.arpeggiate(chord, voicing, gain)
            else:
                part.play_chords(chord, voicing, instrument, gain)
    stem, info = part.mixed()
    if families is not None:
        families.update(part.family_out)
        info["families"] = {role: part.family_of(role) for role in (part.primary, part.secondary) if role != "none"}
    return stem, info


def _onsets(chord: _Chord, bar_onsets: list[float]) -> list[float]:
    """The beats (from the chord's start) where ``bar_onsets`` fall in each bar the chord lasts."""
    return [4.0 * bar + o for bar in range(int(math.ceil(chord.length / 4))) for o in bar_onsets
            if 4.0 * bar + o < chord.length]


class _OtherPart:
    """The accompaniment's players for one song: its roles, voicing habits and timbres, drawn from
    ``rng`` in a fixed order (a song's sound depends on it), and the stereo buffer ``out`` (2, n)
    the additive instruments add into (sampled roles play through the sampler instead). With
    ``track_families``, every additive note is also added into its family's buffer
    (``family_out``), and :meth:`mixed` adds each family's sampled notes there too."""

    def __init__(self, plan: _Plan, rng: np.random.Generator, track_families: bool = False) -> None:
        self.plan, self.rng, self.sr = plan, rng, plan.sr
        self.out = np.zeros((2, plan.n))
        self.family_out: dict[str, np.ndarray] = {}
        self.track_families = track_families
        self.primary = str(rng.choice(["pad", "keys", "organ", "strum", "guitar", "guitar"]))
        secondary = str(rng.choice(["arp", "pad", "keys", "guitar", "strum"])) if rng.random() < 0.8 else "none"
        self.secondary = "arp" if secondary == self.primary else secondary
        self.low = int(rng.integers(50, 62))  # lowest chord tone: D3..C#4, i.e. in the singer's range
        self.top_double = rng.random() < 0.5  # add the lowest tone an octave up: a wider, brighter voicing
        self.left_hand = rng.random() < 0.4  # keys/organ play the root an octave or two down: doubles the bass
        self.width = rng.uniform(0.2, 0.8)
        self.pans = {"pad": 0.0, "keys": rng.uniform(-0.5, 0.5), "organ": rng.uniform(-0.4, 0.4),
                     "strum": rng.uniform(-0.6, 0.6), "arp": rng.uniform(-0.7, 0.7)}
        self.rhythm = str(rng.choice(["sustain", "quarters", "offbeats", "syncopated"]))
        self.timbres = {
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
        self.guitar = self.timbres["guitar"]
        self.timbres["organ"]["drawbars"][0] = max(self.timbres["organ"]["drawbars"][0], 0.6)
        self.cabinet = sp_signal.butter(2, [90.0, min(self.guitar["cabinet"], 0.45 * self.sr)], btype="bandpass",
                                        fs=self.sr, output="sos")
        self.sampler: PartSampler | None = None
        self.channels: dict[str, int | tuple[int, int]] = {}  # sampled role -> its channel (the guitar: two takes)
        self.programs: dict[str, int] = {}

    def pick_programs(self, sampler: PartSampler, picks: np.random.Generator) -> None:
        """Each role is played on a GM program of ``sampler`` (drawn from ``picks``) 60 % of the time."""
        self.sampler = sampler
        for role in (self.primary, self.secondary):
            if role != "none" and picks.random() < 0.6:
                self.programs[role] = int(picks.choice(_GM_OTHER[role]))
                if role == "guitar":
                    self.channels[role] = (sampler.instrument(self.programs[role], pan=-self.guitar["spread"]),
                                           sampler.instrument(self.programs[role], pan=self.guitar["spread"]))
                else:
                    self.channels[role] = sampler.instrument(self.programs[role], pan=self.pans.get(role, 0.0))

    def family_of(self, role: str) -> str:
        """The instrument family a role sounds as: its GM program's (the one the SoundFont plays),
        or, additive, the role's own."""
        if role in self.channels:
            channel = self.channels[role]
            return PROGRAM_FAMILY[self.sampler.programs[channel[0] if isinstance(channel, tuple) else channel][1]]
        return ADDITIVE_FAMILY[role]

    def _add(self, role: str, signal: np.ndarray, start: int, pan: float, gain: float) -> None:
        """Add an additive note of ``role`` into the stem (and its family's buffer)."""
        _add(self.out, signal, start, pan, gain)
        if self.track_families:
            family = ADDITIVE_FAMILY[role]
            if family not in self.family_out:
                self.family_out[family] = np.zeros_like(self.out)
            _add(self.family_out[family], signal, start, pan, gain)

    def strum_guitar(self, chord: _Chord, voicing: list[int], gain: float) -> None:
        """The guitar over one chord: power chords or the voicing an octave down, in its rhythm."""
        plan, rng, guitar = self.plan, self.rng, self.guitar
        root = 40 + (chord.tones[0] - 40) % 12  # E2..D#3
        if guitar["power"]:
            pitches = [root, root + 7, root + 12]
        else:
            pitches = [root] + [p - 12 for p in voicing if p - 12 > root]
        onsets = _onsets(chord, _GUITAR_GRIDS[guitar["rhythm"]])
        for i, onset in enumerate(onsets):
            end = onsets[i + 1] if i + 1 < len(onsets) else chord.length
            start = plan.sample(chord.start + onset)
            if start < plan.n:
                gate = int((end - onset) * plan.spb * rng.uniform(0.6, 0.95))
                self.guitar_chord(pitches, start, gate, gain * 0.5 * float(np.exp(rng.normal(0, 0.1))))

    def guitar_chord(self, pitches: list[int], start: int, gate: int, gain: float) -> None:
        """One strum of a double-tracked overdriven guitar: the strings are summed, driven
        through tanh (intermodulation), filtered by a 'cabinet' band-pass; two takes, L and R."""
        sr, rng, guitar = self.sr, self.rng, self.guitar
        if "guitar" in self.channels:
            for take, channel in enumerate(self.channels["guitar"]):
                lag = int(rng.normal(0, 0.006 * sr))
                for j, pitch in enumerate(pitches):
                    self.sampler.note(channel, start + lag + int(j * 0.008 * sr), gate, pitch, gain)
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
            tone = sp_signal.sosfilt(self.cabinet, np.tanh(drive * strings / len(pitches)) / np.tanh(drive))
            self._add("guitar", tone, start + int(rng.normal(0, 0.006 * sr)), take * guitar["spread"], gain)

    def arpeggiate(self, chord: _Chord, voicing: list[int], gain: float) -> None:
        """The voicing an octave up, up and down in eighths or sixteenths, over one chord."""
        rng = self.rng
        step = 0.5 if rng.random() < 0.6 else 0.25
        tones = [p + 12 for p in voicing]
        order = tones + tones[-2:0:-1]
        for i in range(int(chord.length / step)):
            beat = chord.start + i * step
            _play_at(self.plan, self.play, "arp", order[i % len(order)], beat, step * 0.9, gain * 0.7,
                     self.pans["arp"], rng)

    def play_chords(self, chord: _Chord, voicing: list[int], instrument: str, gain: float) -> None:
        """``instrument`` (pad, keys, organ, strum) plays the voicing over one chord in the song's
        rhythm (pads and organ hold it), keys and organ sometimes with a left-hand root."""
        plan, rng = self.plan, self.rng
        if instrument in ("pad", "organ") or self.rhythm == "sustain":
            bar_onsets = [0.0]
            note_beats = chord.length
        else:
            bar_onsets = _ONSETS_BY_RHYTHM[self.rhythm]
            note_beats = 0.0
        onsets = _onsets(chord, bar_onsets)
        for i, onset in enumerate(onsets):
            end = onsets[i + 1] if i + 1 < len(onsets) else chord.length
            dur = note_beats if note_beats else (end - onset) * rng.uniform(0.5, 0.9)
            strum = 0.012 * self.sr if instrument == "strum" else 0.0
            for j, pitch in enumerate(voicing + ([voicing[0] + 12] if self.top_double else [])):
                _play_at(plan, self.play, instrument, pitch, chord.start + onset, dur, gain * 0.5, self.pans[instrument],
                         rng, offset=int(j * strum))
            if self.left_hand and instrument in ("keys", "organ"):
                root = voicing[0] - 12 - (voicing[0] - 12 - chord.tones[0]) % 12
                _play_at(plan, self.play, instrument, root - (12 if rng.random() < 0.5 else 0), chord.start + onset,
                         dur, gain * 0.45, self.pans[instrument], rng)

    def play(self, instrument: str, pitch: float, start: int, gate: int, gain: float, pan: float) -> None:
        """One note (MIDI ``pitch``, from sample ``start``, held ``gate`` samples): through the
        sampler when the role is sampled, else additive into ``out``."""
        if instrument in self.channels:
            self.sampler.note(self.channels[instrument], start, gate, pitch, gain)
        elif instrument == "pad":
            self._pad(pitch, start, gate, gain, pan)
        else:
            self._add(instrument, self._additive_note(instrument, pitch, start, gate), start, pan, gain)

    def _pad(self, pitch: float, start: int, gate: int, gain: float, pan: float) -> None:
        """Three detuned low-passed saws spread across the stereo width."""
        sr, rng, p = self.sr, self.rng, self.timbres["pad"]
        freqs = _harmonic_freqs(float(_midi_hz(pitch)), sr, limit=120, top_hz=12000.0)
        k = np.arange(1, freqs.size + 1)
        length = gate + int(0.4 * sr)
        table = _wavetable((1.0 / k) * _lowpass_weights(freqs, p["cut"], 2))
        envelope = _adsr(length, sr, p["attack"], 0.5, 0.8, 0.4, gate)
        for voice, cents in enumerate((-p["detune"], 0.0, p["detune"])):
            note = _render_note(sr, length, pitch + cents / 100.0, table, None, None, envelope, rng.uniform())
            self._add("pad", note, start, pan + self.width * (voice - 1), gain * 0.6)

    def _additive_note(self, instrument: str, pitch: float, start: int, gate: int) -> np.ndarray:
        """One note of keys (electric piano), organ (drawbars, tremolo), strum (a plucked string) or
        arp (saw or square), mono, with its release."""
        sr, rng, p = self.sr, self.rng, self.timbres[instrument]
        f0 = float(_midi_hz(pitch))
        freqs = _harmonic_freqs(f0, sr, limit=120, top_hz=12000.0)
        k = np.arange(1, freqs.size + 1)
        if instrument == "keys":
            length = gate + int(0.3 * sr)
            bright = _wavetable((1.0 / k ** 1.3) * _lowpass_weights(freqs, 5000.0, 2)
                                + p["bell"] * (k == 14) / 3.0)
            dark = _wavetable(1.0 / k ** 3)
            envelope = _adsr(length, sr, 0.003, p["tau"], 0.0, 0.2, gate)
            return _render_note(sr, length, pitch, bright, dark, _exp_env(length, sr, p["tau_bright"]), envelope,
                                rng.uniform())
        if instrument == "organ":
            length = gate + int(0.03 * sr)
            amps = np.zeros(k.size)
            for bar_level, harmonic in zip(p["drawbars"], (1, 2, 3, 4, 6, 8)):
                if harmonic <= k.size:
                    amps[harmonic - 1] = bar_level
            envelope = _adsr(length, sr, 0.005, 1.0, 1.0, 0.03, gate)
            envelope *= 1.0 + 0.12 * np.sin(_TWO_PI * p["trem"] * (start + np.arange(length)) / sr)
            return _render_note(sr, length, pitch, _wavetable(amps), None, None, envelope, rng.uniform())
        if instrument == "strum":
            length = gate + int(0.2 * sr)
            src = np.abs(np.sin(math.pi * k * p["position"])) / k
            bright = _wavetable(src * _lowpass_weights(freqs, 6000.0, 2))
            dark = _wavetable(src * _lowpass_weights(freqs, 4.0 * f0, 2))
            envelope = _adsr(length, sr, 0.002, p["tau"], 0.0, 0.1, gate)
            return _render_note(sr, length, pitch, bright, dark, _exp_env(length, sr, p["tau_bright"]), envelope,
                                rng.uniform())
        length = gate + int(0.15 * sr)  # arp
        src = np.where(k % 2 == 1, 1.0 / k, 0.0) if p["square"] else 1.0 / k
        bright = _wavetable(src * _lowpass_weights(freqs, 5000.0, 2))
        dark = _wavetable(src * _lowpass_weights(freqs, 2.5 * f0, 2))
        envelope = _adsr(length, sr, 0.002, p["tau"], 0.0, 0.08, gate)
        return _render_note(sr, length, pitch, bright, dark, _exp_env(length, sr, 0.06), envelope, rng.uniform())

    def mixed(self) -> tuple[np.ndarray, dict[str, Any]]:
        """The stem (2, n): the additive roles plus the sampled ones, balanced; and its manifest info."""
        info = {"primary": self.primary, "secondary": self.secondary, "rhythm": self.rhythm,
                "left_hand": bool(self.left_hand)}
        if self.channels:
            sampled = self.sampler.render()
            # Balance the roles as the additive gains do: the secondary about 0.55 of the primary.
            additive_rms, sampled_rms = _active_rms(self.out, self.sr), _active_rms(sampled, self.sr)
            balance = 1.0
            if additive_rms > 0 and sampled_rms > 0:
                balance = additive_rms / sampled_rms * (1.0 / 0.55 if self.primary in self.channels else 0.55)
                sampled *= balance
            self.out += sampled
            if self.track_families:
                self._add_sampled_families(sampled, balance)
        info["instruments"] = {role: f"sampled: {self.sampler.preset_name(self.programs[role])}"
                               if role in self.channels else "additive"
                               for role in (self.primary, self.secondary) if role != "none"}
        return self.out, info

    def _add_sampled_families(self, sampled: np.ndarray, balance: float) -> None:
        """Add the sampled roles into their families' buffers: ``sampled`` (the whole sampled part,
        times ``balance``) when they are one family, else each family's channels rendered alone."""
        channels: dict[str, list[int]] = {}
        for role, channel in self.channels.items():
            channels.setdefault(self.family_of(role), []).extend(channel if isinstance(channel, tuple) else [channel])
        for family, its_channels in channels.items():
            share = sampled if len(channels) == 1 else self.sampler.render(its_channels) * balance
            if family in self.family_out:
                self.family_out[family] += share
            else:
                self.family_out[family] = share.copy()


def _play_at(plan: _Plan, play, instrument: str, pitch: float, beat: float, length_beats: float, gain: float,
             pan: float, rng: np.random.Generator, offset: int = 0) -> None:
    start = plan.sample(beat) + offset + int(rng.normal(0, 0.004 * plan.sr))
    if start >= plan.n:
        return
    gate = max(int(0.05 * plan.sr), int(length_beats * plan.spb))
    play(instrument, pitch, start, gate, gain * float(np.exp(rng.normal(0, 0.1))), pan)
