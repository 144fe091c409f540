"""Sampled instruments for the synthetic set: note events rendered through a General MIDI SoundFont.

Slakh2100 made its multitracks by rendering MIDI through sample libraries; we do the same with a
small GM SoundFont, so that part of every synthetic song is recorded instruments (a real piano's
hammer noise, a bass's string attack, acoustic drum kits) rather than oscillators.

* The default SoundFont is ``TimGM6mb.sf2`` (6 MB, GM banks 0 and 128: pianos, basses, guitars,
  organs, strings, brass, pads, choir and voice samples, 9 drum kits), which ships inside the
  ``pretty_midi`` wheel (GPL-2.0, by Tim Brechbill). Any other ``.sf2`` file can replace it.
* Rendering is TinySoundFont's (``tinysoundfont`` on PyPI, MIT), from Python, with no system
  libraries. It is deterministic: equal events give equal samples.

Nothing here reads MIDI files: the synthetic-set renderers collect note events in a
:class:`PartSampler` and render them in one pass.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stemunet.files import cached_file_sha256

__all__ = ["DEFAULT_SOUNDFONT_NAME", "SoundFontError", "default_soundfont_path", "resolve_soundfont",
           "soundfont_digest", "PartSampler"]

DEFAULT_SOUNDFONT_NAME = "TimGM6mb.sf2"
DRUM_BANK = 128
"""GM SoundFonts keep drum kits in bank 128 (preset 0 = Standard, 8 Room, 16 Power, 24 Electronic,
25 TR-808, 32 Jazz, 40 Brush)."""
_MAX_CHANNELS = 16
_BLOCK = 4096  # samples rendered between checks for the next event


class SoundFontError(ValueError):
    """A SoundFont is missing, unreadable, or the renderer is not installed; says which and how to fix it."""


def default_soundfont_path() -> Path:
    """``TimGM6mb.sf2`` inside the installed ``pretty_midi`` package (found without importing it)."""
    spec = importlib.util.find_spec("pretty_midi")
    if spec is None or not spec.submodule_search_locations:
        raise SoundFontError("the synthetic set renders sampled instruments from pretty_midi's TimGM6mb.sf2: "
                             "install it (pip install pretty_midi) or name a .sf2 file (synthetic_soundfont)")
    path = Path(next(iter(spec.submodule_search_locations))) / DEFAULT_SOUNDFONT_NAME
    if not path.is_file():
        raise SoundFontError(f"{path}: no such file (reinstall pretty_midi, or name a .sf2 file as synthetic_soundfont)")
    return path


def resolve_soundfont(soundfont: str | Path = "") -> Path:
    """The SoundFont file to use: ``soundfont``, or the default when it is empty."""
    if not str(soundfont):
        return default_soundfont_path()
    path = Path(soundfont).expanduser()
    if not path.is_file():
        raise SoundFontError(f"{path}: no such SoundFont file")
    return path


@functools.lru_cache(maxsize=4)
def _soundfont_bytes(path: str, mtime_ns: int, size: int) -> bytes:
    """The file's bytes, read once per process (keyed on mtime and size, so an edited file is re-read)."""
    return Path(path).read_bytes()


def _load_bytes(path: Path) -> bytes:
    stat = path.stat()
    return _soundfont_bytes(str(path), stat.st_mtime_ns, stat.st_size)


def soundfont_digest(path: Path) -> str:
    """sha256 of a readable SoundFont's bytes: which samples a synthetic set was rendered from.
    Raises :class:`SoundFontError` naming the file when the renderer cannot load it."""
    PartSampler(path, 8000, 0)
    return cached_file_sha256(path)


def _synth_class():
    try:
        import tinysoundfont
    except ImportError as error:
        raise SoundFontError("rendering SoundFonts needs tinysoundfont: pip install --no-deps tinysoundfont "
                             "(its pyaudio dependency is only for live playback)") from error
    return tinysoundfont.Synth


@dataclass(frozen=True)
class _Note:
    start: int  # sample where the key goes down
    stop: int  # sample where it is released
    channel: int
    key: int  # MIDI key 0..127
    velocity: int  # 1..127


class PartSampler:
    """Note events of one part (a stem's instruments), rendered through a SoundFont.

    Usage: ``channel = sampler.instrument(program, pan=...)``, then ``sampler.note(channel, start,
    length, pitch, gain)`` for every note, then ``sampler.render()`` -> ``(2, n)`` float64 stereo at
    ``sample_rate``. Each instrument gets its own MIDI channel (at most 16 per part).
    """

    def __init__(self, soundfont: Path, sample_rate: int, n_samples: int) -> None:
        self.path = soundfont
        self.sample_rate = sample_rate
        self.n = n_samples
        self.programs: list[tuple[int, int, bool, float]] = []  # (bank, preset, drums, pan) per channel
        self.notes: list[_Note] = []
        self._synth = _synth_class()(samplerate=sample_rate)
        self._rendered = False
        try:
            self._sfid = self._synth.sfload(_load_bytes(soundfont))
        except Exception as error:  # tinysoundfont raises its own exception types for a bad file
            raise SoundFontError(f"{soundfont}: not a readable SoundFont ({error})") from error

    def preset_name(self, preset: int, *, drums: bool = False) -> str | None:
        """The SoundFont's name for a GM program (or drum kit), None when it has none."""
        return self._synth.sfpreset_name(self._sfid, DRUM_BANK if drums else 0, preset)

    def instrument(self, preset: int, *, drums: bool = False, pan: float = 0.0) -> int:
        """A channel playing GM ``preset`` (a drum kit with ``drums``), panned ``pan`` in [-1, 1];
        falls back to preset 0 of the bank when the SoundFont lacks it."""
        if len(self.programs) >= _MAX_CHANNELS:
            raise ValueError(f"a part can use at most {_MAX_CHANNELS} SoundFont channels")
        if self.preset_name(preset, drums=drums) is None:
            preset = 0
        self.programs.append((DRUM_BANK if drums else 0, preset, drums, float(np.clip(pan, -1.0, 1.0))))
        return len(self.programs) - 1

    def note(self, channel: int, start: int, length: int, pitch: float, gain: float) -> None:
        """One note: key ``round(pitch)`` down at sample ``start`` for ``length`` samples, loudness
        ``gain`` (linear amplitude, 1 = full velocity; velocity follows its square root, as GM's
        velocity curve is roughly quadratic in amplitude)."""
        key = int(round(pitch))
        if not 0 <= key <= 127 or start >= self.n or length <= 0:
            return
        velocity = int(np.clip(round(127.0 * np.sqrt(max(gain, 0.0))), 1, 127))
        self.notes.append(_Note(max(start, 0), max(start, 0) + int(length), channel, key, velocity))

    def render(self, channels: Collection[int] | None = None) -> np.ndarray:
        """Every note, rendered: ``(2, n_samples)`` float64 (the SoundFont's own stereo samples,
        each channel panned). Releases ring past a note's end and are cut at ``n_samples``.

        ``channels``: only the notes of these channels (one instrument of the part), as they sound
        in the whole part's render: the synth is still run in the same stretches between *every*
        note's events (TinySoundFont updates envelopes and LFOs per stretch), so the renders of
        channels that split the part sum to its render to float32 rounding (about 1e-6; rendered
        on their own, in their own stretches, they differed by up to -35 dB). Renders after the
        first silence the synth first."""
        synth = self._synth
        if self._rendered:
            synth.sounds_off()
            for _ in range(64):  # the fast release of the cut voices: until the synth is silent
                if not np.any(np.frombuffer(synth.generate(_BLOCK), dtype=np.float32)):
                    break
        self._rendered = True
        for channel, (bank, preset, drums, pan) in enumerate(self.programs):
            synth.program_select(channel, self._sfid, bank, preset, drums)
            synth.control_change(channel, 10, int(round(64 + 63 * pan)))  # CC 10: pan
        # Key-down and key-up events in time order; at equal times releases come first, so a
        # repeated key re-strikes instead of being cut by its own previous release.
        events = sorted([(note.stop, 0, note.channel, note.key, 0) for note in self.notes]
                        + [(note.start, 1, note.channel, note.key, note.velocity) for note in self.notes])
        out = np.zeros((self.n, 2), dtype=np.float32)
        position = 0
        for time, down, channel, key, velocity in [*events, (self.n, 0, -1, 0, 0)]:
            time = min(time, self.n)
            while position < time:
                count = min(_BLOCK, time - position)
                out[position:position + count] = np.frombuffer(synth.generate(count), dtype=np.float32).reshape(count, 2)
                position += count
            if channel < 0 or time >= self.n or (channels is not None and channel not in channels):
                continue
            if down:
                synth.noteon(channel, key, velocity)
            else:
                synth.noteoff(channel, key)
        return out.T.astype(np.float64)
