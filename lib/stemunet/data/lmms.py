"""LMMS projects: which tracks ``lmms rendertracks`` writes, under which file names, and rendering.

LMMS (the Linux MultiMedia Studio) saves a song as XML: ``.mmp`` plain, ``.mmpz`` zlib-compressed
after a 4-byte big-endian length header (Qt's ``qCompress``). Its command line renders every
track of a project to its own file::

    lmms rendertracks PROJECT -f wav -s 44100 -a -o FOLDER/

It renders the unmuted instrument and sample tracks of the song editor, then those of the
Beat+Bassline editor (each BB instrument once, over every pattern of the song), one at a time
with the others muted, to ``FOLDER/<n>_<track name>.wav`` (``n`` counting from 1 in that order,
characters illegal in file names removed). :func:`rendered_tracks` lists those files from the
project alone, so a mapping of tracks to stems can be written and checked without rendering.

Rendered audio is not bit-reproducible (some instruments use random generators), and a render
can take half an hour: render once and keep the files.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ElementTree
import zlib
from dataclasses import dataclass
from pathlib import Path

INSTRUMENT_TRACK, BB_TRACK, SAMPLE_TRACK = "0", "1", "2"
"""LMMS's ``<track type=...>`` codes (automation tracks, 5 and 6, render nothing)."""

FILENAME_ILLEGAL = re.compile(r'[\x00-\x1f"*/:<>?\\|\x7f]')
"""Characters LMMS removes from a track name to make its file name (``FILENAME_FILTER``)."""


class ProjectError(ValueError):
    """An LMMS project file that cannot be read; the message names the file."""


@dataclass(frozen=True)
class ProjectTrack:
    """One track ``lmms rendertracks`` renders to its own file.

    ``file_name``: ``<n>_<name>.wav``; ``plugin``: the instrument plugin (``tripleoscillator``,
    ``zynaddsubfx``, ``audiofileprocessor``...), ``sample`` for a sample track; ``source``: the
    sample file it plays (LMMS's path, e.g. ``drums/kick01.ogg``), if any; ``in_beat_bassline``:
    the track lives in the Beat+Bassline editor; ``n_notes`` and ``key_range`` (LMMS keys,
    57 = A4 = 440 Hz, so MIDI = key + 12) describe what it plays.
    """

    index: int
    name: str
    file_name: str
    plugin: str
    source: str
    in_beat_bassline: bool
    n_notes: int
    key_range: tuple[int, int] | None


def read_project(path: str | Path) -> ElementTree.Element:
    """The XML root (``<lmms-project>``) of a ``.mmp`` or ``.mmpz`` file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ProjectError(f"{path}: cannot read the LMMS project ({error.strerror or error})") from None
    if path.suffix.lower() == ".mmpz":
        try:
            data = zlib.decompress(data[4:])  # qCompress: 4-byte length, then a zlib stream
        except zlib.error as error:
            raise ProjectError(f"{path}: not a compressed LMMS project ({error})") from None
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as error:
        raise ProjectError(f"{path}: not an LMMS project (XML error: {error})") from None
    if root.find("song/trackcontainer") is None:
        raise ProjectError(f"{path}: not an LMMS project (no <song><trackcontainer>)")
    return root


def _renders(track: ElementTree.Element) -> bool:
    return track.get("type") in (INSTRUMENT_TRACK, SAMPLE_TRACK) and track.get("muted", "0") != "1"


def _describe(track: ElementTree.Element, index: int, in_beat_bassline: bool) -> ProjectTrack:
    name = track.get("name", "")
    if track.get("type") == SAMPLE_TRACK:
        plugin = "sample"
        source = ",".join(sorted({clip.get("src", "") for clip in track.iter("sampletco")} - {""}))
    else:
        instrument = track.find("instrumenttrack/instrument")
        plugin = instrument.get("name", "") if instrument is not None else ""
        settings = instrument[0] if instrument is not None and len(instrument) else None
        source = (settings.get("src") or settings.get("src_orig") or "") if settings is not None else ""
    keys = [int(note.get("key", "0")) for note in track.iter("note")]
    return ProjectTrack(
        index=index,
        name=name,
        file_name=f"{index}_{FILENAME_ILLEGAL.sub('', name)}.wav",
        plugin=plugin,
        source=source,
        in_beat_bassline=in_beat_bassline,
        n_notes=len(keys),
        key_range=(min(keys), max(keys)) if keys else None,
    )


def rendered_tracks(path: str | Path) -> list[ProjectTrack]:
    """The tracks ``lmms rendertracks`` renders from the project at ``path``, in its order.

    Song-editor tracks first, then the Beat+Bassline editor's (LMMS 1.2 keeps one set of BB
    instruments, inside the first BB track); muted tracks are not rendered.
    """
    root = read_project(path)
    song_tracks = root.findall("song/trackcontainer/track")
    beat_bassline = next((t for t in song_tracks if t.get("type") == BB_TRACK and t.find("bbtrack/trackcontainer") is not None), None)
    bb_tracks = beat_bassline.findall("bbtrack/trackcontainer/track") if beat_bassline is not None else []
    ordered = [(t, False) for t in song_tracks if _renders(t)] + [(t, True) for t in bb_tracks if _renders(t)]
    return [_describe(track, index, in_bb) for index, (track, in_bb) in enumerate(ordered, start=1)]


def project_rendering_only(path: str | Path, file_names: set[str] | frozenset[str]) -> bytes:
    """The project at ``path`` as plain XML with every rendered track muted except those whose
    :func:`rendered_tracks` file name is in ``file_names``: ``rendertracks`` on it renders just
    those (numbered anew from 1, in the same order). Finishes a render that was cut short."""
    root = read_project(path)
    song_tracks = root.findall("song/trackcontainer/track")
    beat_bassline = next((t for t in song_tracks if t.get("type") == BB_TRACK and t.find("bbtrack/trackcontainer") is not None), None)
    bb_tracks = beat_bassline.findall("bbtrack/trackcontainer/track") if beat_bassline is not None else []
    ordered = [t for t in song_tracks if _renders(t)] + [t for t in bb_tracks if _renders(t)]
    for index, track in enumerate(ordered, start=1):
        if _describe(track, index, False).file_name not in file_names:
            track.set("muted", "1")
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


def render_tracks(
    project: str | Path,
    folder: str | Path,
    *,
    only: set[str] | frozenset[str] | None = None,
    sample_rate: int = 44100,
    timeout_seconds: float = 1800.0,
) -> float:
    """Render every track of ``project`` (or those whose file names are in ``only``) into
    ``folder`` as 32-bit float wavs named as :func:`rendered_tracks` says; returns the seconds taken.

    Runs without a display (Qt's ``offscreen`` platform). Raises :class:`ProjectError` naming the
    project when ``lmms`` is missing, fails or runs past ``timeout_seconds``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    if only is None:
        _run_lmms(project, folder, sample_rate, timeout_seconds)
        return time.monotonic() - start
    wanted = [track for track in rendered_tracks(project) if track.file_name in only]
    with tempfile.TemporaryDirectory(dir=folder, prefix=".partial-") as scratch:
        # A plain-XML copy beside the output; the demos name their samples relative to LMMS's
        # own sample folder, so the copy plays the same sounds.
        copy = Path(scratch) / "project.mmp"
        copy.write_bytes(project_rendering_only(project, set(only)))
        _run_lmms(copy, Path(scratch), sample_rate, timeout_seconds)
        for number, track in enumerate(wanted, start=1):
            rendered = Path(scratch) / f"{number}_{FILENAME_ILLEGAL.sub('', track.name)}.wav"
            if not rendered.is_file():
                raise ProjectError(f"{project}: lmms did not write {track.file_name}")
            rendered.replace(folder / track.file_name)
    return time.monotonic() - start


def _run_lmms(project: str | Path, folder: Path, sample_rate: int, timeout_seconds: float) -> None:
    command = ["lmms", "rendertracks", str(project), "-f", "wav", "-s", str(sample_rate), "-a", "-o", f"{folder}{os.sep}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.insert(1, "--allowroot")  # LMMS refuses to start as root otherwise
    environment = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_seconds, env=environment)
    except FileNotFoundError:
        raise ProjectError(f"{project}: cannot render: the lmms program is not installed") from None
    except subprocess.TimeoutExpired:
        raise ProjectError(f"{project}: rendering took longer than {timeout_seconds:.0f} s; stopped") from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise ProjectError(f"{project}: lmms exited with status {result.returncode} ({last})")
