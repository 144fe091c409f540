"""The drum part of a synthetic song: additive kick, snare, cymbals, toms and shakers, or a sampled GM kit."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import signal as sp_signal

from stemunet.data.synthetic.dsp import _TWO_PI, _add, _adsr, _band_noise, _exp_env, _normalise_peak
from stemunet.data.synthetic.plan import _Plan
from stemunet.data.synthetic.soundfont import PartSampler


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
    drum kit drawn from ``picks``. Returns the stereo stem (2, n) and its manifest info."""
    kit = _DrumKit(plan, rng)
    if sampler is not None:
        kit.use_sampler(sampler, picks)
    n_bars = int(math.ceil(plan.n_beats / 4))
    crash_next = plan.drums_from < 4 * n_bars and plan.drums_from > 0
    for bar in range(n_bars):
        if 4.0 * bar + 4 <= plan.drums_from:
            continue
        crash_next = kit.play_bar(bar, crash_next)
    return kit.result()


class _DrumKit:
    """One song's drummer: a kit synthesised from ``rng`` (kicks, snares, hats, crash, ride, toms,
    sometimes a shaker), its pans and levels, and how it is played, all drawn in a fixed order (a
    song's sound depends on it); the hits go into the stereo buffer ``out`` (2, n) or, after
    :meth:`use_sampler`, to a GM drum kit."""

    def __init__(self, plan: _Plan, rng: np.random.Generator) -> None:
        self.plan, self.rng, sr = plan, rng, plan.sr
        self.out = np.zeros((2, plan.n))
        self.sampler: PartSampler | None = None
        self._synthesise_drums()
        self.hat_mode = str(rng.choice(["8th", "16th", "8th", "quarter", "ride"]))
        ride_len = int(1.5 * sr)
        ride = _metal(rng, sr, ride_len, self.metal_base * 1.6, rng.uniform(3000, 5000)) * _exp_env(ride_len, sr, rng.uniform(0.3, 0.7))
        self.ride = _normalise_peak(ride)
        # A shaker/tambourine in some songs: 16ths of band-passed noise, filling the 3-10 kHz band that
        # vocal consonants and breath also occupy.
        self.shaker = None
        if rng.random() < 0.35:
            shaker_len = int(0.12 * sr)
            self.shaker = [_normalise_peak(_band_noise(rng, shaker_len, sr, rng.uniform(2500, 4500), 11000.0)
                                           * _adsr(shaker_len, sr, 0.01, rng.uniform(0.02, 0.05), 0.0, 0.05))
                           for _ in range(4)]
        self.shaker_pan, self.g_shaker = rng.uniform(-0.7, 0.7), rng.uniform(0.08, 0.2)
        self.hat_pan, self.tom_spread = rng.uniform(-0.5, 0.5), rng.uniform(0.2, 0.7)
        self.snare_pan, self.crash_pan = rng.uniform(-0.12, 0.12), rng.uniform(-0.6, 0.6)
        self.half_time = rng.random() < 0.15
        # Level balance inside the kit, in linear gain.
        self.g_kick, self.g_snare = 1.0, rng.uniform(0.5, 0.9)
        self.g_hat, self.g_crash, self.g_tom = rng.uniform(0.12, 0.3), rng.uniform(0.12, 0.3), rng.uniform(0.4, 0.7)
        self.jitter = 0.004 * sr

    def _synthesise_drums(self) -> None:
        """The kit's additive samples: two kicks, four snares and closed hats, an open hat, a crash, three toms."""
        rng, sr = self.rng, self.plan.sr
        self.kick_args = dict(f_start=rng.uniform(100, 220), f_end=rng.uniform(42, 62), tau_pitch=rng.uniform(0.012, 0.05),
                              tau_amp=rng.uniform(0.1, 0.3), drive=rng.uniform(1.0, 3.0), click=rng.uniform(0.1, 0.5))
        self.kicks = [_normalise_peak(_kick(rng, sr, **self.kick_args)) for _ in range(2)]
        snare_args = dict(f_body=rng.uniform(160, 250), tau_body=rng.uniform(0.03, 0.08),
                          noise_band=(rng.uniform(900, 2500), rng.uniform(6000, 11000)),
                          tau_noise=rng.uniform(0.06, 0.18), noise_level=rng.uniform(0.5, 1.3))
        self.snares = [_normalise_peak(_snare(rng, sr, **snare_args)) for _ in range(4)]
        self.metal_base, hat_low = rng.uniform(280, 460), rng.uniform(5000, 8000)
        tau_closed, tau_open = rng.uniform(0.015, 0.05), rng.uniform(0.12, 0.35)
        self.hats = []
        for _ in range(4):
            length = int(6 * tau_closed * sr)
            self.hats.append(_normalise_peak(_metal(rng, sr, length, self.metal_base, hat_low) * _exp_env(length, sr, tau_closed)))
        open_len = int(min(1.0, 5 * tau_open) * sr)
        self.open_hat = _normalise_peak(_metal(rng, sr, open_len, self.metal_base, hat_low) * _exp_env(open_len, sr, tau_open))
        crash_len = int(2.5 * sr)
        crash = _metal(rng, sr, crash_len, self.metal_base * 1.1, rng.uniform(2500, 4500)) * _exp_env(crash_len, sr, rng.uniform(0.5, 1.2))
        self.crash = _normalise_peak(crash)
        tom_base = rng.uniform(85, 120)
        self.toms = [_tom(rng, sr, tom_base * r, rng.uniform(0.12, 0.3)) for r in (1.0, 1.35, 1.8)]

    def use_sampler(self, sampler: PartSampler, picks: np.random.Generator) -> None:
        """Play the hits on a GM drum kit of ``sampler`` drawn from ``picks``, each sample on its GM key."""
        self.sampler = sampler
        self.kit = int(picks.choice(_GM_KITS))
        self.kit_channel = sampler.instrument(self.kit, drums=True)
        shaker_key = int(picks.choice(_GM_SHAKERS))
        kicks, snares = self.kicks, self.snares
        self.keys = {id(kicks[0]): _GM_KICKS[0], id(kicks[1]): _GM_KICKS[int(picks.integers(2))], id(self.open_hat): _GM_OPEN_HAT,
                     id(self.crash): int(picks.choice(_GM_CRASHES)), id(self.ride): _GM_RIDE,
                     **{id(sample): _GM_SNARES[0] if i < 3 else _GM_SNARES[int(picks.integers(2))] for i, sample in enumerate(snares)},
                     **{id(sample): _GM_CLOSED_HAT for sample in self.hats},
                     **{id(sample): key for sample, key in zip(self.toms, _GM_TOMS)},
                     **({id(sample): shaker_key for sample in self.shaker} if self.shaker is not None else {})}

    def hit(self, sample: np.ndarray, beat: float, pan: float, gain: float) -> None:
        """Play ``sample`` at ``beat``, a little early or late and louder or softer, as a drummer would."""
        start = self.plan.sample(beat) + int(self.rng.normal(0.0, self.jitter))
        gain *= float(np.exp(self.rng.normal(0.0, 0.1)))
        if self.sampler is not None:
            # Cymbals' gains are set for the synthetic kit's loud metal; the kit's samples are balanced.
            self.sampler.note(self.kit_channel, start, sample.size, self.keys[id(sample)], min(1.0, gain * 1.6))
        else:
            _add(self.out, sample, start, pan, gain)

    def play_bar(self, bar: int, crash_next: bool) -> bool:
        """Bar ``bar``'s 16 steps: the groove, or a fill at its end; a crash on its first beat after a
        fill (``crash_next``). Returns whether this bar ends with a fill (so the next one crashes)."""
        plan, rng = self.plan, self.rng
        bar_beat = 4.0 * bar
        in_break = plan.drum_break is not None and plan.drum_break[0] <= bar_beat < plan.drum_break[1]
        kick_steps = plan.kick_patterns[1 if bar % 2 == 1 else 0]
        fill_from = 16
        if bar in plan.fills and not in_break:
            fill_from = int(rng.choice([8, 12, 12, 14]))
        if bar_beat >= plan.drums_from and (crash_next or bar == 0 and rng.random() < 0.3):
            self.hit(self.crash, bar_beat, self.crash_pan, self.g_crash)
        for step in range(16):
            beat = bar_beat + step / 4.0
            if beat < plan.drums_from or beat * plan.spb >= plan.n:
                continue
            if step >= fill_from:
                self._fill_step(step, fill_from, beat, kick_steps)
            else:
                self._groove_step(step, beat, in_break, kick_steps)
        return fill_from < 16

    def _fill_step(self, step: int, fill_from: int, beat: float, kick_steps) -> None:
        """Fill: 16ths over snare and toms, descending, growing louder."""
        position = (step - fill_from) / max(1, 16 - fill_from)
        choice = int(self.rng.integers(4)) if self.rng.random() < 0.3 else min(3, int(position * 4))
        sample = self.snares[step % 4] if choice == 0 else self.toms[3 - choice]
        pan = self.snare_pan if choice == 0 else self.tom_spread * (1.0 - 2.0 * (choice - 1) / 2.0)
        self.hit(sample, beat, pan, (self.g_snare if choice == 0 else self.g_tom) * (0.6 + 0.4 * position))
        if step in kick_steps:
            self.hit(self.kicks[0], beat, 0.0, self.g_kick)

    def _groove_step(self, step: int, beat: float, in_break: bool, kick_steps) -> None:
        """One 16th of the groove: kick, backbeat or ghost snare, shaker, hats or ride."""
        rng = self.rng
        if not in_break and step in kick_steps:
            self.hit(self.kicks[step % 2], beat, 0.0, self.g_kick)
        backbeat = (step == 8) if self.half_time else step in (4, 12)
        if not in_break and backbeat:
            self.hit(self.snares[int(rng.integers(4))], beat, self.snare_pan, self.g_snare)
        elif not in_break and rng.random() < 0.06:
            self.hit(self.snares[int(rng.integers(4))], beat, self.snare_pan, self.g_snare * rng.uniform(0.15, 0.3))  # ghost
        if self.shaker is not None:
            self.hit(self.shaker[step % 4], beat, self.shaker_pan, self.g_shaker * (1.0 if step % 4 == 2 else 0.6))
        hat_mode = self.hat_mode
        on_hat = {"16th": True, "8th": step % 2 == 0, "quarter": step % 4 == 2, "ride": step % 2 == 0}[hat_mode]
        if on_hat and hat_mode == "ride":
            self.hit(self.ride, beat, self.hat_pan, self.g_hat * (1.2 if step % 4 == 0 else 0.8))
        elif on_hat:
            accent = 1.0 if step % 4 == 0 else 0.7 if step % 2 == 0 else 0.5
            if hat_mode != "quarter" and step in (6, 14) and rng.random() < 0.25:
                self.hit(self.open_hat, beat, self.hat_pan, self.g_hat * 0.8)
            else:
                sample = self.open_hat if hat_mode == "quarter" else self.hats[int(rng.integers(4))]
                self.hit(sample, beat, self.hat_pan, self.g_hat * accent)

    def result(self) -> tuple[np.ndarray, dict[str, Any]]:
        """The stem (2, n) and its manifest info."""
        info = {"kick_hz": round(float(self.kick_args["f_end"]), 1), "cymbals": self.hat_mode,
                "shaker": self.shaker is not None, "half_time": bool(self.half_time), "swing": self.plan.swing}
        if self.sampler is None:
            info["instrument"] = "additive"
            return self.out, info
        del info["kick_hz"]
        info["instrument"] = f"sampled: {self.sampler.preset_name(self.kit, drums=True)} kit"
        return self.sampler.render(), info
