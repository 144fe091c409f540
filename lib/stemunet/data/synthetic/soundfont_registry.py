"""Which General MIDI SoundFonts design 3 of the synthetic set samples from: the known ones, where
they are installed, their licences.

Design 3 draws each sampled part's SoundFont per song from every known SoundFont installed here,
so that the same GM program sounds like several instruments across the set, as a piano or a bass
does across real recordings. Only freely licensed, General MIDI-complete ``.sf2`` files are known:

* ``TimGM6mb.sf2`` (6 MB, GPL-2.0, by Tim Brechbill), the one inside the ``pretty_midi`` wheel,
  which this project installs, so design 3 always has at least this one. (Debian's
  ``timgm6mb-soundfont`` holds another revision of it, with other bytes: not used, so a set does
  not depend on whether that package is installed.)
* ``FluidR3_GM.sf2`` (148 MB, MIT, by Frank Wen): Debian and Ubuntu's ``fluid-soundfont-gm``,
  Fedora's ``fluid-soundfont-gm``.
* ``MuseScore_General.sf2`` (MIT, parts public domain or CC0, by S. Christian Collins): only the
  uncompressed ``.sf2`` (Debian's ``musescore-general-soundfont-lossless``). Debian's
  ``musescore-general-soundfont`` installs ``MuseScore_General_Full.sf3``, Ogg Vorbis-compressed
  samples that TinySoundFont decodes on every load (about 7 s and 1.3 GB of memory for each part
  of each song), so ``.sf3`` files are not used.

Rendered audio is data, not the SoundFont; the manifest names the SoundFont and licence of every
sampled part (``track_info[song][part]["soundfont"]``) so that a user can attribute the samples.
A set's cache name includes the sha256 of every SoundFont it drew from, so two machines with
different SoundFonts installed never share a cached set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stemunet.data.synthetic.soundfont import DEFAULT_SOUNDFONT_NAME, SoundFontError, default_soundfont_path, resolve_soundfont

__all__ = ["KnownSoundFont", "InstalledSoundFont", "KNOWN_SOUNDFONTS", "SEARCH_FOLDERS", "available_soundfonts",
           "soundfont_pool"]

SEARCH_FOLDERS: tuple[str, ...] = ("/usr/share/sounds/sf2", "/usr/share/soundfonts", "/usr/local/share/soundfonts",
                                   "~/.local/share/soundfonts")
"""Where system packages put SoundFonts (Debian/Ubuntu, Fedora/Arch, a local install, a user's own),
searched in this order; the first folder holding a known file wins."""


@dataclass(frozen=True)
class KnownSoundFont:
    """A SoundFont design 3 uses when it is installed: its file names (the first found is used),
    licence and where it comes from (how to install it)."""

    name: str
    file_names: tuple[str, ...]
    licence: str
    source: str
    from_pretty_midi: bool = False  # found inside the pretty_midi package rather than in SEARCH_FOLDERS


@dataclass(frozen=True)
class InstalledSoundFont:
    """A SoundFont file found here, with the licence and source of its :class:`KnownSoundFont`."""

    name: str
    path: Path
    licence: str
    source: str

    def attribution(self) -> dict[str, str]:
        """What the manifest records of a sampled part: the SoundFont's file name and licence."""
        return {"file": self.path.name, "licence": self.licence}


KNOWN_SOUNDFONTS: tuple[KnownSoundFont, ...] = (
    KnownSoundFont("TimGM6mb", (DEFAULT_SOUNDFONT_NAME,), "GPL-2.0",
                   "by Tim Brechbill; inside the pretty_midi wheel (pip install pretty_midi)", from_pretty_midi=True),
    KnownSoundFont("FluidR3_GM", ("FluidR3_GM.sf2",), "MIT",
                   "Fluid (R3) GM by Frank Wen; apt-get install fluid-soundfont-gm"),
    KnownSoundFont("MuseScore_General", ("MuseScore_General.sf2", "MuseScore_General_Full.sf2"),
                   "MIT (parts public domain or CC0)",
                   "MuseScore General by S. Christian Collins; apt-get install musescore-general-soundfont-lossless"),
)
"""In a fixed order: a set draws a part's SoundFont by its index in :func:`available_soundfonts`."""


def _find(known: KnownSoundFont, folders: tuple[str, ...]) -> Path | None:
    if known.from_pretty_midi:
        try:
            return default_soundfont_path()
        except SoundFontError:
            return None
    for folder in folders:
        for file_name in known.file_names:
            path = Path(folder).expanduser() / file_name
            if path.is_file():
                return path.resolve()  # Debian names some through update-alternatives links
    return None


def available_soundfonts(folders: tuple[str, ...] | None = None) -> list[InstalledSoundFont]:
    """The known SoundFonts installed here, in :data:`KNOWN_SOUNDFONTS` order, each searched for in
    ``folders`` (default :data:`SEARCH_FOLDERS`). Finding a file does not read it."""
    folders = SEARCH_FOLDERS if folders is None else folders
    found = []
    for known in KNOWN_SOUNDFONTS:
        path = _find(known, folders)
        if path is not None:
            found.append(InstalledSoundFont(known.name, path, known.licence, known.source))
    return found


def soundfont_pool(extra: str | Path = "") -> list[InstalledSoundFont]:
    """What design 3 draws each sampled part's SoundFont from: :func:`available_soundfonts`, plus
    ``extra`` (a user's .sf2 file, ``SyntheticSpec.soundfont``; its licence is the user's to know)
    when it is not one of them. Raises :class:`SoundFontError`, in one line, when there is none."""
    pool = available_soundfonts()
    if str(extra):
        path = resolve_soundfont(extra).resolve()
        if all(font.path.resolve() != path for font in pool):
            pool.append(InstalledSoundFont(path.stem, path, "unknown (the user's own file)", "synthetic_soundfont"))
    if not pool:
        raise SoundFontError("synthetic set v3 found no SoundFont: install pretty_midi (its TimGM6mb.sf2) or "
                             "fluid-soundfont-gm, or name a .sf2 file as synthetic_soundfont")
    return pool
