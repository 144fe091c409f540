"""The real-music validation set: LMMS demo songs, track by track, summed into stems; its manifest.

Debian's ``lmms-common`` ships demo songs written by people (licences per song: Artistic-2.0,
CC-BY-SA, BSD-2-Clause, GPL-2+). ``lmms rendertracks`` renders each track of a song to its own
file (:mod:`stemunet.data.lmms`); a mapping file written by hand says which stem each track belongs
to (``drums``, ``bass``, ``other``, or ``skip`` for a track that fits none), and this module
sums the tracks into stems, cuts one excerpt per song where drums, bass and other all play, and
writes it in the MUSDB18-HQ layout::

    ROOT/test/<Author - Title>/{mixture,drums,bass,other,vocals}.wav   44.1 kHz stereo float32
    ROOT/stemunet_real_validation.json                                  where each excerpt came from
    ROOT/sha256.txt                                                     ``sha256sum`` lines of every file

The demos have no lead voice: ``vocals.wav`` is digital silence, which BSSEval leaves out of a
track's scores (museval refuses a silent reference; :func:`stemunet.evaluation.scoring.score_track` drops
it), so these tracks score drums, bass and other. ``mixture.wav`` is ``drums + bass + other +
vocals`` in float32 arithmetic, in that order: the exact sum of the files beside it.

Renders are not bit-reproducible, so the set is built once and frozen; the repository keeps the
mapping and the frozen copy's ``sha256.txt``, against which a copy is checked before scoring.
Validation only: this audio never enters training. Eight of the demo songs
(:data:`RESERVED_SONGS`) are kept for scoring outside the repository and are never part of it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from stemunet.audio import save_audio
from stemunet.config import STEM_NAMES
from stemunet.files import file_sha256, write_json_atomic, write_text_atomic

RESERVED_SONGS: tuple[str, ...] = (
    "CapDan - Reggae Try",
    "CapDan - Reggaeton Try",
    "CapDan - Zero Sum Game",
    "Momo64 - esp",
    "Settel - Inner Recreation",
    "Skiessi - C64",
    "Skiessi - Onion",
    "Jousboxx - Buzzer Beater",
)
"""LMMS demo songs reserved for scoring outside the repository: never in the validation set."""

TRACK_STEMS: tuple[str, ...] = ("drums", "bass", "other", "skip")
"""What a mapping may assign a rendered track to (``skip``: left out of every stem and the mixture)."""
PLAYED_STEMS: tuple[str, ...] = ("drums", "bass", "other")
"""The stems LMMS songs fill; ``vocals`` stays silent."""
MIN_SONGS = 10
"""The set must hold at least this many songs."""

SAMPLE_RATE = 44100
"""Hz, as MUSDB18-HQ."""
EXCERPT_SECONDS = 30.0
"""Length of each song's excerpt (shorter songs are taken whole)."""
MIN_EXCERPT_SECONDS = 8.0
"""A song shorter than this (after its silent tail) is refused: too few 1 s BSSEval frames."""
PLAYING_BELOW_LOUDEST_DB = 30.0
"""A stem plays in a 1 s frame when its RMS is within this many dB of its loudest frame."""
PEAK_DBFS = -1.0
"""Each excerpt's stems share one gain that puts the mixture's peak here."""
RENDER_LEAD_IN_SECONDS = 1.0
"""The first second of every rendered track is dropped: LMMS 1.2's ``rendertracks`` leaves
uninitialised samples (NaN, 1e24) in the first buffer of some tracks (seen at samples 110-127)."""
MAX_SAMPLE = 100.0
"""A rendered sample beyond this (+40 dBFS) or not finite marks a broken render, refused."""

MANIFEST_NAME = "sha256.txt"
INFO_NAME = "stemunet_real_validation.json"
MIXTURE_NAME = "mixture.wav"


class MappingError(ValueError):
    """A mapping file that is incomplete or wrong; the message names the file and the song."""


class ManifestError(ValueError):
    """A frozen copy that does not match its manifest; the message names the file."""


@dataclass(frozen=True)
class ValidationSong:
    """One LMMS song of the set and the stem of each of its rendered tracks.

    ``project``: the project file relative to LMMS's projects folder (``demos/X.mmpz``);
    ``tracks``: rendered file name (``<n>_<track name>.wav``, see :func:`stemunet.data.lmms.rendered_tracks`)
    -> one of :data:`TRACK_STEMS`; ``reasons``: why, for tracks where it is not obvious.
    """

    project: str
    author: str
    title: str
    licence: str
    copyright: str
    tracks: dict[str, str]
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """``Author - Title``, MUSDB18's track naming; the excerpt's folder name."""
        return f"{self.author} - {self.title}"

    @property
    def render_folder(self) -> str:
        """The folder of a render root holding this song's rendered tracks: the project's stem."""
        return Path(self.project).name.split(".")[0]

    def files_of(self, stem: str) -> list[str]:
        return [file for file, assigned in self.tracks.items() if assigned == stem]


def _squashed(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


def is_reserved(song: ValidationSong) -> bool:
    """Whether ``song`` is one of :data:`RESERVED_SONGS` (by author and title, or by project file
    name, ignoring case, spaces and punctuation)."""
    by_name, project = _squashed(song.author + song.title), _squashed(song.render_folder)
    # project files spell "Author-Title[-more]": "CapDan-ZeroSumGame-OriginalByZakarra"
    return any(by_name == reserved or project.startswith(reserved) for reserved in map(_squashed, RESERVED_SONGS))


def _song(entry: Any, where: str) -> ValidationSong:
    if not isinstance(entry, dict):
        raise MappingError(f"{where}: expected a mapping with project, author, title, licence, tracks")
    label = f"{where} ({entry.get('author', '?')} - {entry.get('title', '?')})"
    for key in ("project", "author", "title", "licence", "copyright"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise MappingError(f"{label}: '{key}' is missing or empty")
    unknown = sorted(set(entry) - {"project", "author", "title", "licence", "copyright", "tracks"})
    if unknown:
        raise MappingError(f"{label}: unknown key(s) {unknown}")
    if not isinstance(entry.get("tracks"), dict) or not entry["tracks"]:
        raise MappingError(f"{label}: 'tracks' must map rendered file names to {list(TRACK_STEMS)}")
    tracks, reasons = {}, {}
    for file, value in entry["tracks"].items():
        stem, reason = (value, "") if isinstance(value, str) else (value.get("stem"), value.get("why", "")) if isinstance(value, dict) else (None, "")
        if stem not in TRACK_STEMS:
            raise MappingError(f"{label}: track {file!r}: stem must be one of {list(TRACK_STEMS)}, got {value!r}")
        if not re.fullmatch(r"\d+_.*\.wav", str(file)):
            raise MappingError(f"{label}: track {file!r} is not a rendered track's file name (<n>_<name>.wav)")
        tracks[str(file)] = stem
        if reason:
            reasons[str(file)] = str(reason)
    song = ValidationSong(entry["project"], entry["author"], entry["title"], entry["licence"], entry["copyright"], tracks, reasons)
    missing = [stem for stem in PLAYED_STEMS if not song.files_of(stem)]
    if missing:
        raise MappingError(f"{label}: no track is mapped to {', '.join(missing)}; every song needs drums, bass and other")
    if is_reserved(song):
        raise MappingError(f"{label}: reserved for scoring outside the repository; it must not be in the validation set")
    return song


def read_mapping_file(path: Path, error: type[ValueError]) -> Any:
    """A mapping file's YAML; ``error`` (naming the file) when it cannot be read or parsed."""
    import yaml

    try:
        return yaml.safe_load(path.read_text())
    except OSError as failure:
        raise error(f"{path}: cannot read the mapping ({failure.strerror or failure})") from None
    except yaml.YAMLError as failure:
        raise error(f"{path}: not valid YAML ({str(failure).splitlines()[0]})") from None


def load_mapping(path: str | Path, *, min_songs: int = MIN_SONGS) -> list[ValidationSong]:
    """The songs of a mapping file (YAML, see ``benchmarks/real_validation_mapping.yaml``), checked.

    Raises:
        MappingError: naming the file and song: a missing field, an unknown stem, a song without
            drums, bass or other, a reserved song, two songs with one name, fewer than ``min_songs``.
    """
    path = Path(path)
    data = read_mapping_file(path, MappingError)
    if not isinstance(data, dict) or not isinstance(data.get("songs"), list):
        raise MappingError(f"{path}: expected a 'songs:' list")
    songs = [_song(entry, f"{path}: song {number}") for number, entry in enumerate(data["songs"], start=1)]
    names = [_squashed(song.name) for song in songs]
    duplicates = sorted({song.name for song, name in zip(songs, names) if names.count(name) > 1})
    if duplicates:
        raise MappingError(f"{path}: songs listed twice: {duplicates}")
    if len(songs) < min_songs:
        raise MappingError(f"{path}: {len(songs)} songs; the set needs at least {min_songs}")
    return songs


# ----------------------------------------------------------------------------------------------
# Building the set from rendered tracks
# ----------------------------------------------------------------------------------------------


def needed_tracks(song: ValidationSong) -> set[str]:
    """The rendered files the set is made of: every mapped track but the skipped ones."""
    return {file for file, stem in song.tracks.items() if stem != "skip"}


def check_rendered(song: ValidationSong, folder: Path, expected: Sequence[str] | None = None) -> None:
    """Raise :class:`MappingError` unless ``folder`` holds every needed track's wav
    (:func:`needed_tracks`; skipped tracks need not be rendered) and no track the mapping lacks.

    ``expected``: the file names the project renders (:func:`stemunet.data.lmms.rendered_tracks`),
    when the project is at hand: the mapping must name each of them, no more.
    """
    if expected is not None and set(expected) != set(song.tracks):
        unmapped, unknown = sorted(set(expected) - set(song.tracks)), sorted(set(song.tracks) - set(expected))
        raise MappingError(f"{song.name}: the mapping disagrees with {song.project}: unmapped tracks {unmapped}, tracks it does not render {unknown}")
    if not folder.is_dir():
        raise MappingError(f"{folder}: no rendered tracks of {song.name} (folder missing)")
    present = {path.name for path in folder.glob("*.wav")}
    missing, unmapped = sorted(needed_tracks(song) - present), sorted(present - set(song.tracks))
    if missing or unmapped:
        raise MappingError(f"{folder}: rendered tracks of {song.name} do not match the mapping: missing {missing}, not in the mapping {unmapped}")


def song_stems(song: ValidationSong, folder: Path) -> tuple[np.ndarray, int]:
    """The song's drums, bass and other: the sums of their rendered tracks from ``folder``.

    Returns ``(stems, sample_rate)``: float64 ``(3, 2, n_samples)`` in :data:`PLAYED_STEMS` order
    from the song's second :data:`RENDER_LEAD_IN_SECONDS` on (tracks of different lengths are
    zero-padded to the longest; mono tracks play in both channels), and Hz.

    Raises:
        MappingError: naming the file: unreadable, mismatched rate or channels, or broken (a
            sample that is not finite or beyond :data:`MAX_SAMPLE` after the lead-in).
    """
    check_rendered(song, folder)
    audio: dict[str, list[np.ndarray]] = {stem: [] for stem in PLAYED_STEMS}
    rate = None
    for file, stem in song.tracks.items():
        if stem == "skip":
            continue
        try:
            samples, file_rate = sf.read(folder / file, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as error:
            raise MappingError(f"{folder / file}: not a readable wav ({error})") from None
        if rate is not None and file_rate != rate:
            raise MappingError(f"{folder / file}: {file_rate} Hz where the song's other tracks are {rate} Hz")
        rate = file_rate
        if samples.shape[1] not in (1, 2):
            raise MappingError(f"{folder / file}: {samples.shape[1]} channels; expected mono or stereo")
        samples = samples[int(RENDER_LEAD_IN_SECONDS * rate) :]
        broken = ~np.isfinite(samples) | (np.abs(samples) > MAX_SAMPLE)
        if broken.any():
            first = int(np.flatnonzero(broken.any(axis=1))[0]) / rate + RENDER_LEAD_IN_SECONDS
            raise MappingError(f"{folder / file}: broken render: {int(broken.sum())} samples not finite or beyond {MAX_SAMPLE:g}, the first at {first:.3f} s")
        audio[stem].append(np.broadcast_to(samples.T, (2, samples.shape[0])))
    length = max(track.shape[-1] for tracks in audio.values() for track in tracks)
    stems = np.zeros((len(PLAYED_STEMS), 2, length))
    for index, stem in enumerate(PLAYED_STEMS):
        for track in audio[stem]:
            stems[index, :, : track.shape[-1]] += track
    return stems, int(rate)


def playing_frames(stems: np.ndarray, sample_rate: int) -> np.ndarray:
    """``(n_stems, n_frames)`` bool: whether each stem plays in each whole second.

    A stem plays when its RMS over the second is within :data:`PLAYING_BELOW_LOUDEST_DB` of its
    loudest second (and is not digital silence), so reverb tails and faint pads do not count.
    ``stems``: ``(n_stems, n_channels, n_samples)``.
    """
    n_frames = stems.shape[-1] // sample_rate
    framed = stems[..., : n_frames * sample_rate].reshape(stems.shape[0], stems.shape[1], n_frames, sample_rate)
    rms = np.sqrt(np.mean(np.square(framed, dtype=np.float64), axis=(1, 3)))
    loudest = rms.max(axis=1, keepdims=True)
    return (rms > 0) & (rms >= loudest * 10 ** (-PLAYING_BELOW_LOUDEST_DB / 20))


def choose_excerpt(stems: np.ndarray, sample_rate: int, seconds: float = EXCERPT_SECONDS) -> tuple[int, int]:
    """``(start, stop)`` samples of the excerpt to keep: ``seconds`` long, starting on a whole
    second, with the most seconds in which every stem plays (:func:`playing_frames`), the
    earliest of equals. A song shorter than that (once its silent tail is cut) is taken whole.

    Raises:
        ValueError: the song plays for less than :data:`MIN_EXCERPT_SECONDS`.
    """
    audible = np.flatnonzero(np.abs(stems).max(axis=(0, 1)) > 0)
    end = int(audible[-1]) + 1 if audible.size else 0
    if end < MIN_EXCERPT_SECONDS * sample_rate:
        raise ValueError(f"the song plays for {end / sample_rate:.1f} s; an excerpt needs at least {MIN_EXCERPT_SECONDS:.0f} s")
    length = int(round(seconds * sample_rate))
    if end <= length:
        return 0, end
    all_play = playing_frames(stems[..., :end], sample_rate).all(axis=0)
    window = length // sample_rate
    counts = np.convolve(all_play.astype(int), np.ones(window, dtype=int), mode="valid")
    start = int(np.argmax(counts)) * sample_rate
    return start, start + length


def excerpt_audio(stems: np.ndarray, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, float]:
    """The excerpt's four stems and mixture as written, and the gain applied.

    Returns ``(stems, mixture, gain)``: float32 ``(4, 2, n)`` in :data:`STEM_NAMES` order (vocals
    silent), float32 ``(2, n)`` = ``drums + bass + other + vocals`` summed in float32 in that
    order, and the one linear gain that puts the mixture's peak at :data:`PEAK_DBFS`.
    """
    played = stems[..., start:stop]
    peak = float(np.abs(played.sum(axis=0)).max())
    if peak == 0:
        raise ValueError("the excerpt is silent")
    gain = 10 ** (PEAK_DBFS / 20) / peak
    written = np.zeros((len(STEM_NAMES), 2, stop - start), dtype=np.float32)
    for index, stem in enumerate(PLAYED_STEMS):
        written[STEM_NAMES.index(stem)] = played[index] * gain
    mixture = written[0].copy()
    for stem in written[1:]:
        mixture += stem
    return written, mixture, gain


def write_excerpt(folder: Path, stems: np.ndarray, mixture: np.ndarray, sample_rate: int) -> None:
    """Write one MUSDB18-HQ track folder: ``mixture.wav`` and a wav per stem, float32."""
    folder.mkdir(parents=True, exist_ok=True)
    save_audio(folder / MIXTURE_NAME, mixture, sample_rate, "float32")
    for name, stem in zip(STEM_NAMES, stems):
        save_audio(folder / f"{name}.wav", stem, sample_rate, "float32")


def build_song(song: ValidationSong, render_folder: Path, root: Path, seconds: float = EXCERPT_SECONDS) -> dict[str, Any]:
    """Sum, cut and write one song's excerpt under ``root/test/<Author - Title>/``; what was done.

    Raises :class:`MappingError` (rendered files and mapping disagree) or ``ValueError`` (the
    song is too short or silent), naming the song.
    """
    stems, rate = song_stems(song, render_folder)
    if rate != SAMPLE_RATE:
        raise MappingError(f"{render_folder}: rendered at {rate} Hz; the set is {SAMPLE_RATE} Hz")
    try:
        start, stop = choose_excerpt(stems, rate, seconds)
        written, mixture, gain = excerpt_audio(stems, start, stop)
    except ValueError as error:
        raise ValueError(f"{song.name}: {error}") from None
    write_excerpt(root / "test" / song.name, written, mixture, rate)
    playing = playing_frames(stems[..., start:stop], rate)
    return {
        "track": song.name,
        "project": song.project,
        "licence": song.licence,
        "copyright": song.copyright,
        "start_seconds": RENDER_LEAD_IN_SECONDS + start / rate,  # in the song
        "seconds": (stop - start) / rate,
        "gain_db": round(20 * float(np.log10(gain)), 3),
        "seconds_all_stems_play": int(playing.all(axis=0).sum()),
        "tracks": {stem: song.files_of(stem) for stem in TRACK_STEMS},
    }


def build_validation_set(
    songs: Sequence[ValidationSong],
    render_root: Path,
    root: Path,
    *,
    seconds: float = EXCERPT_SECONDS,
    about: Mapping[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Write every song's excerpt under ``root`` (from ``render_root/<project stem>/``), then the
    set's description and manifest. A song that fails is reported and left out; the others go on.

    ``root`` must not exist or be empty: a frozen copy is never overwritten.

    Returns ``(built, failed)``: one description per written excerpt, and ``{song: reason}``.
    """
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root}: not empty; a frozen validation set is never overwritten (choose a new folder)")
    built, failed = [], {}
    for song in songs:
        try:
            built.append(build_song(song, Path(render_root) / song.render_folder, root, seconds))
        except (MappingError, ValueError) as error:
            failed[song.name] = str(error)
    write_json_atomic(root / INFO_NAME, {**(about or {}), "tracks": built, "failed": failed})
    write_manifest(root)
    return built, failed


# ----------------------------------------------------------------------------------------------
# Manifest: sha256 of every file of a frozen copy
# ----------------------------------------------------------------------------------------------


def manifest_lines(root: Path) -> list[str]:
    """``sha256sum`` lines (``<hex>  <path relative to root>``) of every file under ``root`` but the manifest, sorted by path."""
    root = Path(root)
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.relative_to(root).as_posix() != MANIFEST_NAME)
    return [f"{file_sha256(path)}  {path.relative_to(root).as_posix()}" for path in files]


def write_manifest(root: Path) -> Path:
    """Write ``root/sha256.txt`` (``sha256sum -c`` reads it) and return its path."""
    return write_text_atomic(Path(root) / MANIFEST_NAME, "\n".join(manifest_lines(root)) + "\n")


def parse_manifest(path: Path) -> dict[str, str]:
    """``{relative path: sha256}`` from ``sha256sum`` lines; raises :class:`ManifestError` naming the file."""
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise ManifestError(f"{path}: cannot read the manifest ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise ManifestError(f"{path}: not a sha256sum list (a binary file)") from None
    entries = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = re.fullmatch(r"([0-9a-f]{64}) [ *](.+)", line.strip())
        if not match:
            raise ManifestError(f"{path}:{number}: not a sha256sum line")
        entries[match.group(2)] = match.group(1)
    return entries


def verify_copy(root: Path, manifest: Path) -> None:
    """Check a frozen copy at ``root`` against ``manifest`` before scoring it.

    Every listed file must be there with its sha256, and every track file under ``root/test/``
    (or, for a copy of several families, ``root/<family>/test/``) must be listed (an extra track
    would be scored unnoticed).

    Raises:
        ManifestError: naming the first file that is missing, altered or unlisted.
    """
    root = Path(root)
    scored = [root / "test"] if (root / "test").is_dir() else sorted(path for path in root.glob("*/test") if path.is_dir())
    if not scored:
        raise ManifestError(f"{root}: not a validation set (no test/ folder)")
    expected = parse_manifest(manifest)
    for relative, digest in expected.items():
        path = root / relative
        if not path.is_file():
            raise ManifestError(f"{path}: missing from the copy ({manifest} lists it)")
        if file_sha256(path) != digest:
            raise ManifestError(f"{path}: sha256 differs from {manifest} (a different or altered copy)")
    for path in sorted(path for folder in scored for path in folder.rglob("*")):
        if path.is_file() and path.relative_to(root).as_posix() not in expected:
            raise ManifestError(f"{path}: not listed in {manifest}")


def read_info(root: Path) -> dict[str, Any]:
    """The set's description (``stemunet_real_validation.json``), ``{}`` if absent."""
    path = Path(root) / INFO_NAME
    return json.loads(path.read_text()) if path.is_file() else {}


# ----------------------------------------------------------------------------------------------
# The second real set: stempeg's MUSDB18 excerpt; the SDR table both benchmarks print
# ----------------------------------------------------------------------------------------------

STEMPEG_EXCERPT = "stempeg's MUSDB18 excerpt (The Easton Ellises - Falcon 69, 6 s)"


def stempeg_excerpt_root(folder: Path) -> Path:
    """A MUSDB18 layout folder (made in ``folder``) holding the real excerpt that ships in the
    ``stempeg`` wheel as its one train and test track (links, no copies)."""
    import stempeg

    source = Path(stempeg.example_stem_path())
    for subset in ("train", "test"):
        (folder / subset).mkdir(parents=True, exist_ok=True)
        (folder / subset / source.name).symlink_to(source)
    return folder


def sdr_table(rows: Mapping[str, np.ndarray], label: str = "SDR dB", width: int = 16) -> list[str]:
    """Lines of a fixed-width table: one row per ``{name: (4,) dB in STEM_NAMES order}``, then
    its mean over the stems it has (NaN: stem absent, shown as ``-``) and over drums, bass and
    other ("d/b/o"); ``width``: characters of the name column."""
    lines = [f"{label:<{width}}" + "".join(f"{stem:>9}" for stem in STEM_NAMES) + f"{'mean':>9}{'d/b/o':>9}"]
    for name, values in rows.items():
        values = np.asarray(values, dtype=float)
        present = values[~np.isnan(values)]
        mean = float(np.mean(present)) if present.size else float("nan")
        cells = "".join(f"{'-':>9}" if np.isnan(v) else f"{v:9.2f}" for v in values)
        lines.append(f"{name:<{width}}{cells}{mean:9.2f}{np.mean(values[:3]):9.2f}")
    return lines
