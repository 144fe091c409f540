"""Real validation families beyond the LMMS songs: what each holds, how a model's stems make its
references, and the builder of their frozen copy.

A *family* is a handful of real recordings with separate stems, chosen so that a whole family
shares one kind of music (karaoke pairs, a jazz saxophone over its rhythm section): a change
that helps one kind and hurts another shows up as one family's mean falling. Each family
declares its *references* (the stems it can be scored on) as sums of MUSDB18's four parts::

    karaoke:   vocals <- [vocals]          accompaniment <- [drums, bass, other]
    jazz_sax:  other  <- [other]           rhythm        <- [drums, bass]

and ``benchmarks/validation_families.yaml`` names, per track, the source files each reference is
read from (a file, one channel of it, or a sum of files), with the family's data set, licence and
the repository and commit the files come from. :func:`build_families` writes the frozen copy::

    ROOT/<family>/test/<track>/{mixture,<reference>...}.wav   44.1 kHz stereo float32
    ROOT/stemunet_validation_families.json                    where each excerpt came from
    ROOT/sha256.txt                                            ``sha256sum`` lines of every file

each track cut to the whole seconds in which every reference plays (a 1 s BSSEval frame of a
silent reference scores noise), one gain per track putting its mixture's peak at -1 dBFS, and
the mixture the exact float32 sum of the references; the same source files give the same bytes
(:func:`write_float_wav`), so a copy built anywhere from the named commit matches the repository's
sha256 list. Validation only: never train on it.

How a model's stems make a family's references (:func:`group_stems`, for any stem set): each of
the model's stems holds some of MUSDB18's parts (:func:`stem_parts`: a stem named after a part
holds it; a stem made of named stems holds theirs; ``accompaniment`` or a :data:`REST` stem holds
every part no other stem holds; any other stem, ``guitar`` or ``piano``, holds ``other``, where
MUSDB18 puts it), and a reference takes every model stem whose parts lie in it: for a 6-stem model
jazz_sax's ``other`` is ``other + guitar + piano``, karaoke's ``accompaniment`` every stem but the
vocals. A model stem that spans two references joins them into one (a vocals/accompaniment model
scores MUSDB18's excerpt as ``vocals`` and ``drums+bass+other``); a family left with fewer than two
references cannot be scored by that model. A model stem in no reference (a 4-stem model's vocals
on jazz_sax) is left out: what the model put there is lost, as a listener would lose it.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from stemunet.config import REST, STEM_NAMES, StemSet
from stemunet.data.real_validation import (MANIFEST_NAME, MIXTURE_NAME, PEAK_DBFS, RESERVED_SONGS, SAMPLE_RATE,
                                           playing_frames, read_mapping_file, write_manifest)
from stemunet.files import write_json_atomic

RESERVED_MUSDB_TRACKS: tuple[str, ...] = ("Music Delta - 80s Rock",)
"""MUSDB18 tracks kept for scoring outside the repository: never in a family."""
RESERVED_NAMES: tuple[str, ...] = (*RESERVED_SONGS, *RESERVED_MUSDB_TRACKS)
"""Every name no family may hold (tracks and source files are checked, ignoring case and punctuation)."""

WHOLE_MIX_NAMES: tuple[str, ...] = ("accompaniment", "instrumental", "karaoke", "music", "no_vocals")
"""Model stems that hold every MUSDB18 part the model's other stems do not, as a :data:`REST` stem does."""
CHANNELS: tuple[str, ...] = ("both", "left", "right")
"""Which channels of a source file a reference takes (``both``: the file as it is, mono in both channels)."""
MIN_SECONDS = 2
"""A track needs this many whole seconds in which every reference plays: BSSEval's 1 s frames."""
INFO_NAME = "stemunet_validation_families.json"

LMMS_FAMILY = "LMMS"
MUSDB_FAMILY = "MUSDB18"
MUSDB_REFERENCES: dict[str, tuple[str, ...]] = {stem: (stem,) for stem in STEM_NAMES}
"""The references of the LMMS songs and of stempeg's MUSDB18 excerpt: the four stems as they are."""


class FamilyError(ValueError):
    """A family mapping, a source file or a frozen copy that is wrong; the message names it."""


def _squashed(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


def is_reserved_name(text: str) -> bool:
    """Whether ``text`` (a track name or a file path) names one of :data:`RESERVED_NAMES`,
    ignoring case, spaces and punctuation: ``music_delta-80s rock/vocals.wav`` does."""
    squashed = _squashed(text)
    return any(_squashed(name) in squashed for name in RESERVED_NAMES)


def refuse_reserved(names: Sequence[str], where: str) -> None:
    """Raise :class:`FamilyError` naming ``where`` and the name if any of ``names`` is reserved."""
    for name in names:
        if is_reserved_name(name):
            raise FamilyError(f"{where}: {name!r} is reserved for scoring outside the repository; it must not be in a validation family")


@dataclass(frozen=True)
class StemFile:
    """A source file (a path relative to the resources folder) and the channels a reference takes."""

    path: str
    channel: str = "both"


@dataclass(frozen=True)
class FamilyTrack:
    """One track of a family: ``stems``: reference -> the source files summed into it."""

    name: str
    stems: dict[str, tuple[StemFile, ...]]


@dataclass(frozen=True)
class Family:
    """A validation family: its references (name -> MUSDB18 parts, in scoring order) and tracks."""

    name: str
    references: dict[str, tuple[str, ...]]
    description: str = ""
    dataset: str = ""
    licence: str = ""
    tracks: tuple[FamilyTrack, ...] = ()

    @property
    def reference_names(self) -> tuple[str, ...]:
        return tuple(self.references)


@dataclass(frozen=True)
class FamilySource:
    """Where the families' source files come from: a repository, its commit, the folder in it."""

    repository: str
    commit: str
    folder: str
    licence: str
    rejected: tuple[dict[str, str], ...] = field(default_factory=tuple)


# ----------------------------------------------------------------------------------------------
# The mapping file
# ----------------------------------------------------------------------------------------------


def check_references(references: Mapping[str, Sequence[str]], where: str) -> dict[str, tuple[str, ...]]:
    """``references`` checked: two or more, usable names, each a non-empty set of MUSDB18 parts,
    no part in two references. Raises :class:`FamilyError` naming ``where``."""
    if not isinstance(references, Mapping) or len(references) < 2:
        raise FamilyError(f"{where}: 'references' must map two or more reference names to MUSDB18 parts {list(STEM_NAMES)}")
    checked: dict[str, tuple[str, ...]] = {}
    for name, parts in references.items():
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", str(name)) or name in ("mixture", REST):
            raise FamilyError(f"{where}: {name!r} is not a usable reference name (letters, digits, _ . -; not 'mixture' or {REST!r})")
        parts = [parts] if isinstance(parts, str) else parts
        if not isinstance(parts, Sequence) or not parts or any(part not in STEM_NAMES for part in parts):
            raise FamilyError(f"{where}: reference {name!r} must list MUSDB18 parts {list(STEM_NAMES)}, got {parts!r}")
        taken = [part for part in parts if any(part in other for other in checked.values())]
        if taken:
            raise FamilyError(f"{where}: reference {name!r} repeats {taken}, which another reference holds")
        checked[str(name)] = tuple(parts)
    return checked


def _stem_files(value: Any, where: str) -> tuple[StemFile, ...]:
    items = value if isinstance(value, list) else [value]
    files = []
    for item in items:
        path, channel = (item, "both") if isinstance(item, str) else (item.get("file"), item.get("channel", "both")) if isinstance(item, dict) else (None, None)
        if not isinstance(path, str) or not path.strip() or channel not in CHANNELS:
            raise FamilyError(f"{where}: expected a file path, {{file: PATH, channel: {'|'.join(CHANNELS)}}} or a list of them, got {item!r}")
        if Path(path).is_absolute() or ".." in Path(path).parts:
            raise FamilyError(f"{where}: {path!r} must be a path inside the resources folder")
        files.append(StemFile(path, channel))
    return tuple(files)


def _family(entry: Any, where: str) -> Family:
    if not isinstance(entry, dict):
        raise FamilyError(f"{where}: expected a mapping with name, dataset, description, licence, references, tracks")
    where = f"{where} ({entry.get('name', '?')})"
    for key in ("name", "dataset", "description", "licence"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise FamilyError(f"{where}: '{key}' is missing or empty")
    unknown = sorted(set(entry) - {"name", "dataset", "description", "licence", "references", "tracks"})
    if unknown:
        raise FamilyError(f"{where}: unknown key(s) {unknown}")
    if entry["name"] in (LMMS_FAMILY, MUSDB_FAMILY) or not re.fullmatch(r"[a-z0-9][a-z0-9_]*", entry["name"]):
        raise FamilyError(f"{where}: the name must be lower case letters, digits and _ (a folder of the copy), and not {LMMS_FAMILY} or {MUSDB_FAMILY}")
    references = check_references(entry.get("references"), where)
    if not isinstance(entry.get("tracks"), list) or not entry["tracks"]:
        raise FamilyError(f"{where}: 'tracks' must list the family's tracks")
    tracks = []
    for number, track in enumerate(entry["tracks"], start=1):
        if not isinstance(track, dict) or not isinstance(track.get("name"), str) or not isinstance(track.get("stems"), dict):
            raise FamilyError(f"{where}: track {number}: expected {{name: ..., stems: {{reference: file}}}}")
        label = f"{where}: track {track['name']!r}"
        if set(track["stems"]) != set(references):
            raise FamilyError(f"{label}: its stems {sorted(track['stems'])} must be the family's references {sorted(references)}")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 _.,()'-]*", track["name"]):
            raise FamilyError(f"{label}: not a usable folder name")
        stems = {name: _stem_files(track["stems"][name], f"{label}, {name}") for name in references}
        refuse_reserved([track["name"], *(file.path for files in stems.values() for file in files)], label)
        tracks.append(FamilyTrack(track["name"], stems))
    names = [_squashed(track.name) for track in tracks]
    if len(set(names)) < len(names):
        raise FamilyError(f"{where}: a track is listed twice")
    return Family(entry["name"], references, entry["description"].strip(), entry["dataset"], entry["licence"].strip(), tuple(tracks))


def load_families(path: str | Path) -> tuple[FamilySource, list[Family]]:
    """The source and families of a mapping file (``benchmarks/validation_families.yaml``), checked.

    Raises:
        FamilyError: naming the file and family: a missing field, a reference that is not a sum
            of MUSDB18 parts, a track whose stems are not the references, a reserved name.
    """
    path = Path(path)
    data = read_mapping_file(path, FamilyError)
    if not isinstance(data, dict) or not isinstance(data.get("source"), dict) or not isinstance(data.get("families"), list):
        raise FamilyError(f"{path}: expected 'source:' and 'families:'")
    source = data["source"]
    for key in ("repository", "commit", "folder", "licence"):
        if not isinstance(source.get(key), str) or not source[key].strip():
            raise FamilyError(f"{path}: source: '{key}' is missing or empty")
    if not re.fullmatch(r"[0-9a-f]{40}", source["commit"]):
        raise FamilyError(f"{path}: source: 'commit' must be a full 40-digit commit hash")
    rejected = tuple({str(k): str(v) for k, v in item.items()} for item in data.get("rejected", []) if isinstance(item, dict))
    families = [_family(entry, f"{path}: family {number}") for number, entry in enumerate(data["families"], start=1)]
    names = [family.name for family in families]
    if len(set(names)) < len(names):
        raise FamilyError(f"{path}: a family is listed twice: {names}")
    return FamilySource(source["repository"], source["commit"], source["folder"], source["licence"].strip(), rejected), families


# ----------------------------------------------------------------------------------------------
# A model's stems -> a family's references
# ----------------------------------------------------------------------------------------------


def stem_parts(stems: StemSet) -> dict[str, frozenset[str]]:
    """``{model stem: the MUSDB18 parts it holds}`` (see the module's docstring).

    A stem made of named stems holds their parts (a name beyond MUSDB18's four counts as
    ``other``); a stem named after a part holds that part, whatever it is made of (a 6-stem model's
    ``other``, the rest of its data set's stems, is still MUSDB18's other); ``accompaniment`` (or
    another of :data:`WHOLE_MIX_NAMES`) and a :data:`REST` stem hold every part the others do not;
    any other stem holds ``other``.
    """

    def as_part(name: str) -> str:
        return name if name in STEM_NAMES else "other"

    parts: dict[str, frozenset[str]] = {}
    whole_mix = []
    for name in stems.names:
        sources = stems.sources_of(name)
        if sources != (name,) and sources != (REST,):
            parts[name] = frozenset(map(as_part, sources))
        elif name in STEM_NAMES:
            parts[name] = frozenset({name})
        elif sources == (REST,) or name.lower() in WHOLE_MIX_NAMES:
            whole_mix.append(name)
        else:
            parts[name] = frozenset({"other"})
    held = frozenset().union(*parts.values())
    for name in whole_mix:
        parts[name] = frozenset(STEM_NAMES) - held
    return {name: parts[name] for name in stems.names}


@dataclass(frozen=True)
class Grouping:
    """How a model's estimates and a family's references become the signals scored.

    ``names``: the scored references, in the family's order (``a+b`` where a model stem joined two);
    ``references``: the family's reference indices summed into each; ``model_stems``: the model's
    stem indices summed into each (empty: the model makes nothing for it, its estimate is silence);
    ``dropped``: model stems in no reference.
    """

    names: tuple[str, ...]
    references: tuple[tuple[int, ...], ...]
    model_stems: tuple[tuple[int, ...], ...]
    dropped: tuple[str, ...] = ()

    @property
    def scorable(self) -> bool:
        """Two or more references: one reference would be the mixture itself."""
        return len(self.names) >= 2

    def sum_references(self, references: np.ndarray) -> np.ndarray:
        """``(n_family_references, n_channels, n_samples)`` -> ``(len(names), n_channels, n_samples)``."""
        return np.stack([np.sum([references[i] for i in group], axis=0) for group in self.references])

    def sum_estimates(self, estimates: np.ndarray) -> np.ndarray:
        """``(n_model_stems, n_channels, n_samples)`` -> ``(len(names), n_channels, n_samples)``, zeros where no stem."""
        estimates = np.asarray(estimates)
        zeros = np.zeros(estimates.shape[1:], dtype=estimates.dtype)
        return np.stack([np.sum([estimates[i] for i in group], axis=0) if group else zeros for group in self.model_stems])

    def describe(self, stem_names: Sequence[str]) -> str:
        """One line: ``vocals <- vocals; accompaniment <- drums + bass + other; left out: ...``."""
        parts = [f"{name} <- {' + '.join(stem_names[i] for i in group) or 'nothing'}" for name, group in zip(self.names, self.model_stems)]
        return "; ".join(parts) + (f"; left out: {', '.join(self.dropped)}" if self.dropped else "")


def group_stems(references: Mapping[str, Sequence[str]], stems: StemSet) -> Grouping:
    """How ``stems`` (a model's) make ``references`` (a family's, name -> MUSDB18 parts).

    A reference takes each model stem whose parts (:func:`stem_parts`) it holds; a model stem whose
    parts fall in several references joins them into one; one whose parts fall in none is dropped.
    """
    reference_names = list(references)
    reference_parts = [frozenset(references[name]) for name in reference_names]
    component = list(range(len(reference_names)))  # union-find over the references

    def root(index: int) -> int:
        while component[index] != index:
            index = component[index]
        return index

    touched: dict[int, list[int]] = {}
    for stem_index, parts in enumerate(stem_parts(stems).values()):
        touched[stem_index] = [r for r, held in enumerate(reference_parts) if held & parts]
        for other in touched[stem_index][1:]:
            component[root(other)] = root(touched[stem_index][0])
    roots = list(dict.fromkeys(root(r) for r in range(len(reference_names))))
    groups = [tuple(r for r in range(len(reference_names)) if root(r) == group_root) for group_root in roots]
    model_stems = [tuple(s for s, hit in touched.items() if hit and root(hit[0]) == group_root) for group_root in roots]
    return Grouping(
        names=tuple("+".join(reference_names[r] for r in group) for group in groups),
        references=tuple(groups),
        model_stems=tuple(model_stems),
        dropped=tuple(stems.names[s] for s, hit in touched.items() if not hit),
    )


# ----------------------------------------------------------------------------------------------
# Building the frozen copy
# ----------------------------------------------------------------------------------------------


def read_stem_file(resources: Path, stem_file: StemFile) -> tuple[np.ndarray, int]:
    """``(audio, sample_rate)``: float64 ``(2, n_samples)`` of ``stem_file`` (mono played in both
    channels, or the one channel it names in both). Raises :class:`FamilyError` naming the file."""
    path = Path(resources) / stem_file.path
    try:
        samples, rate = sf.read(path, dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as error:
        raise FamilyError(f"{path}: not a readable audio file ({error})") from None
    if samples.shape[1] not in (1, 2):
        raise FamilyError(f"{path}: {samples.shape[1]} channels; expected mono or stereo")
    if stem_file.channel != "both":
        if samples.shape[1] != 2:
            raise FamilyError(f"{path}: the mapping takes its {stem_file.channel} channel, but it is mono")
        samples = samples[:, [CHANNELS.index(stem_file.channel) - 1]]
    if not np.isfinite(samples).all():
        raise FamilyError(f"{path}: holds samples that are not finite")
    return np.ascontiguousarray(np.broadcast_to(samples.T, (2, samples.shape[0]))), int(rate)


def track_references(track: FamilyTrack, family: Family, resources: Path) -> np.ndarray:
    """The track's references from the source files: float64 ``(n_references, 2, n_samples)`` at
    :data:`SAMPLE_RATE`, in the family's order (files of different lengths zero-padded to the longest)."""
    audio: list[list[np.ndarray]] = []
    for name in family.reference_names:
        audio.append([])
        for stem_file in track.stems[name]:
            samples, rate = read_stem_file(resources, stem_file)
            if rate != SAMPLE_RATE:
                raise FamilyError(f"{Path(resources) / stem_file.path}: {rate} Hz; the families are {SAMPLE_RATE} Hz")
            audio[-1].append(samples)
    length = max(samples.shape[-1] for files in audio for samples in files)
    references = np.zeros((len(audio), 2, length))
    for index, files in enumerate(audio):
        for samples in files:
            references[index, :, : samples.shape[-1]] += samples
    return references


def all_play_span(references: np.ndarray, sample_rate: int) -> tuple[int, int]:
    """``(start, stop)`` samples: the longest run of whole seconds in which every reference plays
    (:func:`stemunet.data.real_validation.playing_frames`), the earliest of equals.

    Raises:
        FamilyError: no run of :data:`MIN_SECONDS` or more.
    """
    all_play = playing_frames(references, sample_rate).all(axis=0)
    best_start, best_length, start = 0, 0, None
    for second, plays in enumerate([*all_play, False]):
        if plays and start is None:
            start = second
        elif not plays and start is not None:
            if second - start > best_length:
                best_start, best_length = start, second - start
            start = None
    if best_length < MIN_SECONDS:
        raise FamilyError(f"every reference plays together for {best_length} whole seconds; a track needs {MIN_SECONDS}")
    return best_start * sample_rate, (best_start + best_length) * sample_rate


def write_float_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write ``(n_channels, n_samples)`` audio as a 32-bit float wav that is byte for byte the same
    whenever the samples are: the header libsndfile writes, less its PEAK chunk, which stamps the
    time of writing (so a copy built again from the same commit matches the repository's sha256 list)."""
    n_channels, n_samples = audio.shape
    data = np.ascontiguousarray(np.asarray(audio, dtype="<f4").T).tobytes()
    fmt = struct.pack("<HHIIHH", 3, n_channels, sample_rate, sample_rate * n_channels * 4, n_channels * 4, 32)  # 3: IEEE float
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"fact" + struct.pack("<II", 4, n_samples) + b"data" + struct.pack("<I", len(data)) + data
    Path(path).write_bytes(b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks)


def build_family_track(track: FamilyTrack, family: Family, resources: Path, root: Path) -> dict[str, Any]:
    """Cut, scale and write one track under ``root/<family>/test/<track>/``; what was done.

    Raises :class:`FamilyError` naming the track (a source file unreadable, too short a span).
    """
    try:
        references = track_references(track, family, resources)
        start, stop = all_play_span(references, SAMPLE_RATE)
    except FamilyError as error:
        raise FamilyError(f"{family.name}/{track.name}: {error}") from None
    played = references[..., start:stop]
    gain = 10 ** (PEAK_DBFS / 20) / float(np.abs(played.sum(axis=0)).max())
    written = (played * gain).astype(np.float32)
    mixture = written[0].copy()
    for reference in written[1:]:
        mixture += reference  # float32, in the family's order: the exact sum of the files beside it
    folder = Path(root) / family.name / "test" / track.name
    folder.mkdir(parents=True, exist_ok=True)
    write_float_wav(folder / MIXTURE_NAME, mixture, SAMPLE_RATE)
    for name, reference in zip(family.reference_names, written):
        write_float_wav(folder / f"{name}.wav", reference, SAMPLE_RATE)
    return {
        "family": family.name,
        "track": track.name,
        "start_seconds": start / SAMPLE_RATE,
        "seconds": (stop - start) / SAMPLE_RATE,
        "gain_db": round(20 * float(np.log10(gain)), 3),
        "stems": {name: [{"file": f.path, "channel": f.channel} for f in files] for name, files in track.stems.items()},
    }


def build_families(families: Sequence[Family], resources: Path, root: Path, *,
                   about: Mapping[str, Any] | None = None) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Write every family's tracks under ``root`` from the source files in ``resources``, then the
    copy's description and manifest. A track that fails is reported and left out.

    ``root`` must not exist or be empty: a frozen copy is never overwritten.

    Returns ``(built, failed)``: one description per written track, ``{family/track: reason}``.
    """
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root}: not empty; a frozen copy is never overwritten (choose a new folder)")
    built, failed = [], {}
    for family in families:
        for track in family.tracks:
            try:
                built.append(build_family_track(track, family, Path(resources), root))
            except FamilyError as error:
                failed[f"{family.name}/{track.name}"] = str(error)
    references = {family.name: {name: list(parts) for name, parts in family.references.items()} for family in families}
    write_json_atomic(root / INFO_NAME, {**(about or {}), "references": references, "tracks": built, "failed": failed})
    write_manifest(root)
    return built, failed


# ----------------------------------------------------------------------------------------------
# Reading the frozen copy
# ----------------------------------------------------------------------------------------------


def family_folders(root: Path, family: Family) -> list[Path]:
    """The track folders of ``family`` in a frozen copy at ``root``, by name."""
    return sorted(path for path in (Path(root) / family.name / "test").glob("*") if path.is_dir())


def read_family_track(folder: Path, reference_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """``(mixture, references, sample_rate)`` of one track folder: float32 ``(n_channels, n_samples)``,
    ``(n_references, n_channels, n_samples)`` in ``reference_names`` order, and Hz."""
    audio, rates = [], set()
    for name in ("mixture", *reference_names):
        path = Path(folder) / f"{name}.wav"
        if not path.is_file():
            raise FamilyError(f"{path}: missing")
        samples, rate = sf.read(path, dtype="float32", always_2d=True)
        audio.append(samples.T)
        rates.add(int(rate))
    if len(rates) != 1 or len({samples.shape for samples in audio}) != 1:
        raise FamilyError(f"{folder}: its files differ in rate, channels or length")
    return audio[0], np.stack(audio[1:]), rates.pop()


__all__ = ["CHANNELS", "INFO_NAME", "LMMS_FAMILY", "MANIFEST_NAME", "MIN_SECONDS", "MUSDB_FAMILY", "MUSDB_REFERENCES",
           "RESERVED_MUSDB_TRACKS", "RESERVED_NAMES", "WHOLE_MIX_NAMES", "Family", "FamilyError", "FamilySource",
           "FamilyTrack", "Grouping", "StemFile", "all_play_span", "build_families", "build_family_track",
           "check_references", "family_folders", "group_stems", "is_reserved_name", "load_families", "read_family_track",
           "read_stem_file", "refuse_reserved", "stem_parts", "track_references", "write_float_wav"]
