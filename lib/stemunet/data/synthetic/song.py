"""One synthetic song: its plan, the four parts (sampled from which SoundFont), room, levels, the
production chain (versions 2 and 3), the mixture and, where asked, the instrument families of the
"other" stem as stems of their own.

How the families stay each instrument's own sound and still sum to "other" exactly: each family's
raw signal (its additive notes, its channels of the SoundFont render) is carried through every
step "other" goes through, with the step's settings and gain curves taken from the whole stem, as
a mix engineer's processing of the whole stem acts on each instrument in it: the same EQ, delay,
room send and fades (linear), the same compressor, fader-ride, bus and loudness gains (one gain
curve for all), the same silence gate (the blocks where the whole is silent), and, for the one
memoryless nonlinearity (saturation), the instantaneous gain ``f(x)/x`` of the whole's sample
``x`` (:func:`production.saturate`). So the families sum to "other" up to float64 rounding except
for what the recording adds to the whole and to no instrument: the noise floor and the hum (measured
-48 to -60 dB, median -56 dB, under the stem's RMS), shared out in proportion to each family's
short-term energy (:func:`_share_untracked`). A song whose "other" is one family gives it all of
"other". The four stems and the mixture are computed exactly as without
families (the families ride alongside), so a set's audio is the same with or without them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.ndimage import uniform_filter1d

from stemunet.config import STEM_NAMES
from stemunet.data.synthetic import production
from stemunet.data.synthetic.bass import _render_bass
from stemunet.data.synthetic.drums import _render_drums
from stemunet.data.synthetic.other import _render_other
from stemunet.data.synthetic.plan import _make_plan, _Plan
from stemunet.data.synthetic.room import _active_rms, _add_noise_floor, _Convolver, _gate_silence, _room_ir
from stemunet.data.synthetic.singing import singer_available
from stemunet.data.synthetic.soundfont import PartSampler, resolve_soundfont
from stemunet.data.synthetic.soundfont_registry import soundfont_pool
from stemunet.data.synthetic.spec import _SUBSET_CODES, FAMILY_NAMES, SUBSETS, SyntheticSpec
from stemunet.data.synthetic.vocals import _render_sung_vocals, _render_vocals

# One random stream per part of a song, so that changing e.g. the vocal synthesis leaves the
# drums of every song untouched.
(_STREAM_PLAN, _STREAM_DRUMS, _STREAM_BASS, _STREAM_OTHER, _STREAM_VOCALS, _STREAM_MIX, _STREAM_NOISE_FLOOR,
 _STREAM_INSTRUMENTS, _STREAM_PRODUCTION, _STREAM_SOUNDFONTS, _STREAM_SINGER) = range(11)


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
# Version 3, where pysinsy is installed: the share of songs whose vocals Sinsy's singer sings.
_SUNG_SHARE = 0.5
_FORMANT_SINGER = {"name": "formant synthesiser (stemunet.synthetic.vocals)"}  # recorded in manifests: the module's name when the sets were made


def _produce_stem(stem: np.ndarray, name: str, plan: _Plan, rng: np.random.Generator,
                  parts: np.ndarray | None = None) -> dict[str, Any]:
    """In place, version 2: what a mix engineer does to a stem before the reverb send and the
    fader: EQ, then sometimes compression, saturation and a tempo-synced delay (``parts``, signals
    summing to the stem, along with it). Returns the settings."""
    chain: dict[str, Any] = {"eq": production.equalise(stem, plan.sr, rng, high_pass_hz=_HIGH_PASS_HZ[name], parts=parts)}
    if rng.random() < _COMPRESS_SHARE[name]:
        chain["compressor"] = production.compress(stem, plan.sr, rng, parts=parts)
    if rng.random() < _SATURATE_SHARE[name]:
        chain["saturation"] = production.saturate(stem, rng, parts=parts)
    if rng.random() < _DELAY_SHARE[name]:
        chain["delay"] = production.tempo_delay(stem, plan.sr, plan.spb / plan.sr, rng, parts=parts)
    return chain


def render_track(spec: SyntheticSpec, subset: str, index: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Synthesise one song: ``({stem: float32 array (n_samples, 2)}, info)``; ``info`` describes
    the song (tempo, key, timbres, ...). Stems are in [-0.99, 0.99]; their float64 sum, rounded to
    float32, is the mixture :func:`generate_synthetic_dataset` writes.

    With ``spec.family_stems`` the dict also holds every family of :data:`FAMILY_NAMES` (zeros for
    those the song does not play), which sum to ``other`` to float32 rounding (1e-6), and
    ``info["other"]["families"]`` names each role's family; the four stems are the same either way."""
    if subset not in _SUBSET_CODES:
        raise ValueError(f"subset must be one of {SUBSETS}, got {subset!r}")

    def stream(code: int) -> np.random.Generator:
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence([spec.seed, _SUBSET_CODES[subset], index, code])))

    plan = _make_plan(spec, stream(_STREAM_PLAN))
    families: dict[str, np.ndarray] | None = {} if spec.family_stems else None
    stems, part_info = _render_parts(spec, plan, stream, families)
    # The families of "other" as one array (k, 2, n), carried through every step "other" goes through
    # (one family is "other" itself: nothing to carry).
    parts = np.stack(list(families.values())) if families and len(families) > 1 else None
    mix_rng = stream(_STREAM_MIX)
    producer = stream(_STREAM_PRODUCTION) if spec.version >= 2 else None
    levels, chains = _place_stems(stems, plan, mix_rng, producer, parts)
    mixture = _record(stems, spec, mix_rng, stream(_STREAM_NOISE_FLOOR), producer, chains, parts)
    if producer is not None:
        _bus_dynamics(stems, mixture, plan, producer, chains, parts)
    # Loudness: mixture RMS around -16 dBFS, but no mixture or stem sample above 0.98.
    target_rms = 10.0 ** (float(mix_rng.uniform(-18.0, -14.0)) / 20.0)
    rms = float(np.sqrt(np.mean(mixture ** 2)))
    peak = max(float(np.max(np.abs(x))) for x in [mixture, *stems.values()])
    scale = min(target_rms / max(rms, 1e-12), 0.98 / max(peak, 1e-12))
    result = {name: np.ascontiguousarray((stems[name] * scale).T, dtype=np.float32) for name in STEM_NAMES}
    if families is not None:
        silence = np.zeros_like(result["other"])
        result.update({name: silence.copy() for name in FAMILY_NAMES})
        if parts is not None:
            _share_untracked(parts, stems["other"], plan.sr)
            result.update({name: np.ascontiguousarray((part * scale).T, dtype=np.float32)
                           for name, part in zip(families, parts)})
        elif families:
            result[next(iter(families))] = result["other"].copy()
    info = {"bpm": round(plan.bpm, 2), "key": ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"][plan.tonic],
            "mode": plan.mode, "levels_db": levels, **part_info}
    if producer is not None:
        info["production"] = chains
    return result, info


def _render_parts(spec: SyntheticSpec, plan: _Plan, stream, families: dict[str, np.ndarray] | None = None,
                  ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The four parts as stereo (2, n) float64 stems and their manifest info; ``stream(code)`` gives
    the song's random stream ``code``. ``families``, a dict, is filled with the raw families of
    the "other" part (see :func:`_render_other`)."""
    sr, n = spec.sample_rate, spec.n_samples
    renderers = {"drums": _render_drums, "bass": _render_bass, "other": _render_other}
    part_streams = {"drums": _STREAM_DRUMS, "bass": _STREAM_BASS, "other": _STREAM_OTHER}
    stems, part_info = {}, {}
    picks = stream(_STREAM_INSTRUMENTS) if spec.version >= 2 else None
    # Version 3: each part's SoundFont drawn from every installed one, from a stream of its own so
    # that every other draw is version 2's (with a single SoundFont the audio is version 2's).
    pool = soundfont_pool(spec.soundfont) if spec.version >= 3 else None
    font_draws = stream(_STREAM_SOUNDFONTS) if pool is not None else None
    soundfont = resolve_soundfont(spec.soundfont) if spec.version == 2 else None
    for name in ("drums", "bass", "other"):
        # Versions 2 and 3: each instrumental part sampled or additive (_SAMPLED_SHARE; "other"
        # then draws each of its roles again, so about 0.4 of its roles are sampled).
        sampled = picks is not None and picks.random() < _SAMPLED_SHARE[name]
        font = pool[int(font_draws.integers(len(pool)))] if pool is not None else None  # drawn for every part
        sampler = PartSampler(font.path if font is not None else soundfont, sr, n) if sampled else None
        extra = {"families": families} if name == "other" and families is not None else {}
        stems[name], part_info[name] = renderers[name](plan, stream(part_streams[name]), sampler, picks, **extra)
        if font is not None and sampler is not None and sampler.programs:  # some instrument played from it
            part_info[name]["soundfont"] = font.attribution()
        sampler = None  # its synth holds the SoundFont's samples as floats (300 MB for FluidR3_GM): not two at once
    # Version 3: Sinsy's singer sings a share of the songs, drawn from a stream of its own (drawn
    # only where pysinsy is installed: without it every song is as before, formant-sung).
    sung = spec.version >= 3 and singer_available() and stream(_STREAM_SINGER).random() < _SUNG_SHARE
    stems["vocals"], part_info["vocals"] = (_render_sung_vocals if sung else _render_vocals)(plan, stream(_STREAM_VOCALS))
    if spec.version >= 3 and not sung:
        part_info["vocals"]["singer"] = dict(_FORMANT_SINGER)
    return stems, part_info


def _place_stems(stems: dict[str, np.ndarray], plan: _Plan, mix_rng: np.random.Generator,
                 producer: np.random.Generator | None, parts: np.ndarray | None = None,
                 ) -> tuple[dict[str, float], dict[str, Any]]:
    """In place: each stem's production chain (version 2), its send to the song's room, its level
    and fader rides (``parts``, summing to "other", along with it). Returns the levels (dB) and
    the chains, by stem."""
    sr, n = plan.sr, plan.n
    seconds_per_bar = 4.0 * plan.spb / sr
    room = _Convolver(_room_ir(mix_rng, sr, float(mix_rng.uniform(0.5, 1.8))), n)
    levels, chains = {}, {}
    for name in STEM_NAMES:
        stem = stems[name]
        its_parts = parts if name == "other" else None
        if producer is not None:
            chains[name] = _produce_stem(stem, name, plan, producer, its_parts)
        low, high = _REVERB_SEND[name]
        send = float(mix_rng.uniform(low, high))
        if send > 0:
            wet = send * room(0.5 * (stem[0] + stem[1]))
            stem += wet
            if its_parts is not None:  # the last part's send: the whole's less the others' (one convolution less)
                for part in its_parts[:-1]:
                    part_wet = send * room(0.5 * (part[0] + part[1]))
                    part += part_wet
                    wet -= part_wet
                its_parts[-1] += wet
        rms = _active_rms(stem, sr)
        level_db = _STEM_LEVEL_DB[name] + float(mix_rng.uniform(-_STEM_LEVEL_SPREAD_DB, _STEM_LEVEL_SPREAD_DB))
        levels[name] = round(level_db, 2)
        if rms > 0:
            gain = 10.0 ** (level_db / 20.0) / rms
            stem *= gain
            if its_parts is not None:
                its_parts *= gain
        if producer is not None and producer.random() < 0.7:
            ride = production.level_automation(n, sr, seconds_per_bar, producer, depth_db=2.0)
            stem *= ride
            if its_parts is not None:
                its_parts *= ride
    return levels, chains


def _record(stems: dict[str, np.ndarray], spec: SyntheticSpec, mix_rng: np.random.Generator,
            floor_rng: np.random.Generator, producer: np.random.Generator | None, chains: dict[str, Any],
            parts: np.ndarray | None = None) -> np.ndarray:
    """In place: fades, silence gating, hum (version 2) and each stem's noise floor while it plays
    (``parts`` of "other" get its fades and gating; the noise and hum are :func:`_share_untracked`'s).
    Returns the mixture (2, n), their sum."""
    sr, n = spec.sample_rate, spec.n_samples
    # Fades, identical for every stem (a linear operation, so the mixture stays their sum).
    fade_in = max(1, int(mix_rng.uniform(0.005, 0.03) * sr))
    fade_out = max(1, int(min(mix_rng.uniform(0.3, 1.5), 0.1 * spec.track_seconds) * sr))
    ramp = np.ones(n)
    ramp[:fade_in] = 0.5 - 0.5 * np.cos(np.linspace(0.0, math.pi, fade_in))
    ramp[n - fade_out:] *= 0.5 + 0.5 * np.cos(np.linspace(0.0, math.pi, fade_out))
    mixture = np.zeros((2, n))
    for name in STEM_NAMES:
        its_parts = parts if name == "other" else None
        stems[name] *= ramp
        if its_parts is not None:
            its_parts *= ramp
        _gate_silence(stems[name], 512, 1e-5 * float(np.max(np.abs(stems[name]))), its_parts)  # -100 dB re peak
        hum = None
        if producer is not None and name in ("bass", "other") and producer.random() < 0.3:
            hum = production.hum(n, sr, producer) * 10.0 ** (float(producer.uniform(-65.0, -50.0)) / 20.0)
            chains[name]["hum"] = True
        _add_noise_floor(stems[name], floor_rng, float(floor_rng.uniform(*_NOISE_FLOOR_DB)), extra=hum)
        mixture += stems[name]
    return mixture


def _bus_dynamics(stems: dict[str, np.ndarray], mixture: np.ndarray, plan: _Plan, producer: np.random.Generator,
                  chains: dict[str, Any], parts: np.ndarray | None = None) -> None:
    """In place, version 2: the song's dynamics, sections pushed and pulled and a glue compressor on
    the mix bus, as one gain curve applied to every stem and the mixture (which stays their sum)."""
    sr, n = plan.sr, plan.n
    seconds_per_bar = 4.0 * plan.spb / sr
    gain = np.ones(n)
    if producer.random() < 0.6:
        gain *= production.level_automation(n, sr, seconds_per_bar, producer, depth_db=2.5)
    if producer.random() < 0.7:
        bus, chains["bus_compressor"] = production.bus_gain(mixture * gain, sr, producer)
        gain *= bus
    for name in STEM_NAMES:
        stems[name] *= gain
    if parts is not None:
        parts *= gain
    mixture *= gain


_SHARE_WINDOW_S = 0.025
"""Window of the short-term energy by which :func:`_share_untracked` shares out what no family made."""


def _share_untracked(parts: np.ndarray, other: np.ndarray, sr: int) -> None:
    """In place: add to the families ``parts`` (k, 2, n) what the "other" stem (2, n) holds beyond
    their sum, so that they sum to it: the noise floor and hum the recording added to the whole
    stem (and float64 rounding), shared in proportion to each family's energy over 25 ms around
    each sample (centred: the noise starts with its 512-sample block, a little before the note).
    A noise floor belongs to the instruments that play, as loud as they play; a family that does
    not play at a moment gets none of it, one that never plays stays silent."""
    untracked = other - parts.sum(axis=0)
    energy = uniform_filter1d(np.sum(parts ** 2, axis=1), max(1, int(_SHARE_WINDOW_S * sr)), axis=-1, mode="constant")
    np.maximum(energy, 0.0, out=energy)  # a running sum's rounding
    # Where no family has energy nearby (no family plays), share by the families' energy over the song.
    energy += 1e-12 * np.mean(energy, axis=-1, keepdims=True)
    total = energy.sum(axis=0)
    parts += untracked[None] * np.divide(energy, total, out=np.zeros_like(energy), where=total > 0)[:, None, :]


def _mixture_of(stems: dict[str, np.ndarray]) -> np.ndarray:
    """float32 rounding of the exact (float64) sum of the float32 stems, in STEM_NAMES order."""
    total = np.zeros(stems[STEM_NAMES[0]].shape, dtype=np.float64)
    for name in STEM_NAMES:
        total += stems[name]
    return total.astype(np.float32)
