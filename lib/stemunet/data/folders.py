"""A user's folders of stems as a data set (``dataset: folders``): listing, reading and checking.

One folder per track, one or more audio files per stem, any names, any format soundfile reads
(wav, flac, ogg, aiff, ...), nested sub-folders allowed: MoisesDB's ``track/<stem>/<uuid>.wav``,
Slakh's ``track/stems/S00.flac`` with ``track/metadata.yaml`` and ``track/mix.flac``, or a plain
``track/vocals.wav, drums.flac, ...``. Nothing here writes into the data folders.

Which stem a file belongs to (:func:`file_stems`). A file's *path* is its path relative to the
track folder, as ``a/b/name.flac``. A top-level file named ``mixture.*`` or ``mix.*`` is the
track's mixture. With an empty ``stem_map``, a top-level file is the stem of its name
(``vocals.wav`` -> ``vocals``) and a file in a sub-folder belongs to the stem named by its
top-level sub-folder (``vocals/<uuid>.wav`` -> ``vocals``). Otherwise each ``stem_map`` pattern is
matched, case-insensitively, as follows:

* a pattern with a ``/`` is a glob of the whole path: ``*`` and ``?`` stay within a folder name,
  ``**`` spans folders (``vocals*/**``: every file under a folder whose name starts with vocals);
* a pattern without ``/`` is a glob of any one component of the path: a folder name, the file
  name or the file name without its suffix (``*vox*`` matches ``lead_vox.wav`` and
  ``vox/take1.wav``; ``vocals`` matches ``vocals.wav`` and ``vocals/a.wav``);
* a pattern ``key:value`` is matched against the file's entry in the track's Slakh
  ``metadata.yaml`` (``stems: {S00: {inst_class: Guitar, program_num: 30, is_drum: false}}``,
  the entry named by the file name without its suffix): ``inst_class:Guitar`` (a glob of the
  value), ``program:0-7`` (a General MIDI program or range, of a stem that is not a drum kit),
  ``is_drum:true``, or any other key of the entry.

A file matched by patterns of two different stems, or by none while ``unmatched_files`` is
``refuse``, refuses the track; unmatched files otherwise go to the stem ``unmatched_files`` names.
The files of one stem are summed.

Splits: ``split_lists`` files (one track folder per line, relative to ``data_root``; ``#`` starts
a comment line; the list files' own paths, like ``data_root``'s, as typed, relative to the current
directory) where given, else the sub-folders ``data_root/train``, ``valid`` and ``test``
(each one folder per track); ``valid_root``, a folder of validation track folders, overrides both.
A data set without validation tracks is refused (training tracks are never validated on).

Reading: frame ranges of every file (``sf.read(start=, frames=)``), each stem's files summed, so a
training chunk decodes only its frames. :func:`check_folders_dataset` checks a whole data set
before training, from headers except for a few seconds of each given mixture.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import soundfile as sf
import yaml

from stemunet.config import ConfigError, DataConfig, StemSet
from stemunet.data.stem_sets import TrackError, sources_needed, track_label

AUDIO_SUFFIXES = frozenset({".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".aif", ".aiff", ".aifc", ".au",
                            ".caf", ".w64", ".rf64", ".mp3"})
"""File suffixes read as audio (soundfile's formats); other files (metadata, MIDI, notes) are ignored."""

MIXTURE_NAMES = frozenset({"mixture", "mix"})
"""Names (without suffix, any case) of a top-level file that is the track's mixture, not a stem."""

METADATA_NAME = "metadata.yaml"
"""Slakh's per-track file naming each stem file's instrument (``stems: {S00: {...}}``)."""

SPLIT_NAMES = ("train", "valid", "test")

MIXTURE_TOLERANCE_DB = -30.0
"""Largest energy of ``mixture - sum(stems)`` relative to the mixture's, in dB, for a given mixture
to count as the sum of its stems: 16-bit files and float rounding leave -70 dB or less; a
mastered mix (limiter, EQ) or a mixture of other takes leaves -20 dB or more."""

MIXTURE_CHECK_SECONDS = 8.0
"""Seconds of each given mixture :func:`check_folders_dataset` compares with its stems, in four
excerpts spread over the track: a gain, offset or mastering differs everywhere, so a few seconds
find it without decoding the whole data set."""

_METADATA_PATTERN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*):(.+)$")
_KEY_ALIASES = {"program": "program_num"}


# ----------------------------------------------------------------------------------------------
# Tracks and which stem each file is
# ----------------------------------------------------------------------------------------------


@dataclass(eq=False)
class FolderTrack:
    """One track of a folders data set: where its files are and which stem each belongs to.

    Duck-types what the library uses of a ``musdb`` track: ``name``, ``subset`` (``train`` for
    training and validation tracks, ``test``), ``path`` (the folder, as a string).
    """

    name: str
    subset: str
    folder: Path
    files: dict[str, tuple[Path, ...]]  # source stem -> its files (summed), in the order found
    mixture_file: Path | None  # None: the mixture is the sum of every stem (no file, or mixture: sum)
    split: str = "train"  # train, valid or test
    root: Path | None = None  # the data set's data_root
    allow_missing: bool = True  # a stem the track lacks reads as silence (require_all_stems: false)
    matched_patterns: frozenset[str] = field(default_factory=frozenset)  # stem_map patterns some file matched

    @property
    def path(self) -> str:
        return str(self.folder)

    @property
    def stem_names(self) -> tuple[str, ...]:
        """Its stems: the base stems of this track (they sum to its mixture)."""
        return tuple(self.files)

    def all_files(self) -> list[Path]:
        return [path for paths in self.files.values() for path in paths]

    def __repr__(self) -> str:
        return f"FolderTrack({track_label(self)!r}, {self.folder}, stems={list(self.files)})"


def pattern_matches(pattern: str, path: PurePosixPath, metadata: Mapping[str, Any] | None = None) -> bool:
    """Whether a ``stem_map`` pattern matches ``path`` (relative to the track folder); ``metadata``
    is the file's Slakh metadata entry, if any (the module docstring has the rule)."""
    meta = _METADATA_PATTERN.match(pattern)
    if meta:
        return metadata is not None and _metadata_matches(metadata, meta.group(1), meta.group(2).strip())
    if "/" in pattern:
        return _path_regex(pattern).fullmatch(path.as_posix()) is not None
    components = [*path.parts, path.stem]
    return any(fnmatch.fnmatchcase(component.lower(), pattern.lower()) for component in components)


@functools.lru_cache(maxsize=256)
def _path_regex(pattern: str) -> re.Pattern[str]:
    """A glob of a whole relative path as a regular expression: ``**`` spans folders, ``*`` and
    ``?`` do not, ``[...]`` is a character class."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:[^/]*/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and (end := pattern.find("]", i + 2)) > 0:
            inner = pattern[i + 1 : end]
            out.append("[" + ("^" + inner[1:] if inner.startswith("!") else inner) + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out), re.IGNORECASE)


def _metadata_matches(entry: Mapping[str, Any], key: str, value: str) -> bool:
    key = _KEY_ALIASES.get(key, key)
    if key not in entry:
        return False
    actual = entry[key]
    if key == "program_num":
        if entry.get("is_drum"):
            return False  # a drum kit's program number picks a kit, not an instrument
        low, _, high = value.partition("-")
        try:
            return int(low) <= int(actual) <= int(high or low)
        except ValueError:
            raise ConfigError(f"stem_map: program:{value} is not a General MIDI program or range such as program:0-7") from None
    if isinstance(actual, bool):
        return value.lower() == str(actual).lower()
    return fnmatch.fnmatchcase(str(actual).lower(), value.lower())


def file_stems(path: PurePosixPath, stem_map: Mapping[str, str], metadata: Mapping[str, Any] | None = None) -> dict[str, str]:
    """``{pattern: stem}`` of the ``stem_map`` patterns that match ``path``; with an empty
    ``stem_map``, ``{"": stem}`` with the stem its name or top-level folder gives."""
    if not stem_map:
        return {"": path.parts[0] if len(path.parts) > 1 else path.stem}
    return {pattern: stem for pattern, stem in stem_map.items() if pattern_matches(pattern, path, metadata)}


def _slakh_metadata(folder: Path) -> dict[str, Any]:
    """``{file name without suffix: entry}`` from the track's ``metadata.yaml``; {} without one."""
    path = folder / METADATA_NAME
    if not path.is_file():
        return {}
    try:
        # libyaml's loader where installed: Slakh has 2100 of these files, each read at every listing.
        content = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as error:
        raise TrackError(str(path), f"is not a readable metadata file ({str(error).splitlines()[0]})") from None
    stems = content.get("stems") if isinstance(content, dict) else None
    return {str(name): entry for name, entry in stems.items() if isinstance(entry, dict)} if isinstance(stems, dict) else {}


def read_folder_track(folder: Path, data: DataConfig, subset: str, split: str, root: Path | None = None) -> FolderTrack:
    """The track in ``folder``: its mixture file and each audio file's stem, by ``data``'s rules.

    Raises:
        TrackError: a file matches two stems, or none while ``unmatched_files`` is ``refuse``;
            two mixture files; no audio file.
    """
    uses_metadata = any(_METADATA_PATTERN.match(pattern) for pattern in data.stem_map)
    metadata = _slakh_metadata(folder) if uses_metadata else {}
    files: dict[str, list[Path]] = {}
    mixture: Path | None = None
    hits: set[str] = set()
    audio = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    for path in audio:
        relative = PurePosixPath(path.relative_to(folder).as_posix())
        if len(relative.parts) == 1 and relative.stem.lower() in MIXTURE_NAMES:
            if mixture is not None:
                raise TrackError(str(folder), f"has two mixture files, {mixture.name} and {path.name}; keep one")
            mixture = path
            continue
        matched = file_stems(relative, data.stem_map, metadata.get(relative.stem))
        stems = sorted(set(matched.values()))
        if len(stems) > 1:
            which = ", ".join(f"{pattern!r} -> {stem}" for pattern, stem in matched.items())
            raise TrackError(str(folder), f"{relative} matches the stem_map patterns of two stems ({which}); "
                                          "a file belongs to one stem: make the patterns exclusive")
        if not stems:
            if data.unmatched_files == "refuse":
                raise TrackError(str(folder), f"{relative} matches no stem_map pattern ({', '.join(data.stem_map)}); "
                                              "add a pattern for it, or set unmatched_files to a stem (such as other) to put such files there")
            stems = [data.unmatched_files]
        hits.update(pattern for pattern in matched if pattern)
        files.setdefault(stems[0], []).append(path)
    if not files and mixture is None:
        raise TrackError(str(folder), f"holds no audio files ({', '.join(sorted(AUDIO_SUFFIXES))})")
    return FolderTrack(
        name=folder.name, subset=subset, folder=folder, files={stem: tuple(paths) for stem, paths in files.items()},
        mixture_file=mixture if data.mixture == "given" else None, split=split, root=root,
        allow_missing=not data.require_all_stems, matched_patterns=frozenset(hits),
    )


# ----------------------------------------------------------------------------------------------
# Listing and splits
# ----------------------------------------------------------------------------------------------


def folders_root(data: DataConfig) -> Path:
    """``data_root`` as typed (relative to the current directory), checked to be a folder, as
    is ``valid_root`` if given. Raises FileNotFoundError naming the folder."""
    if not data.data_root:
        raise FileNotFoundError("dataset folders: set data_root to the folder holding train/, valid/ and test/ (or the tracks, with split_lists)")
    root = Path(data.data_root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"data_root {root}: no such folder")
    if data.valid_root and not Path(data.valid_root).expanduser().is_dir():
        raise FileNotFoundError(f"valid_root {Path(data.valid_root).expanduser()}: no such folder")
    unknown = sorted(set(data.split_lists) - set(SPLIT_NAMES))
    if unknown:
        raise ConfigError(f"split_lists: {unknown} is not one of {list(SPLIT_NAMES)}")
    return root


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != "__MACOSX")


def _read_split_list(root: Path, list_file: Path) -> list[Path]:
    try:
        lines = list_file.read_text().splitlines()
    except OSError as error:
        raise FileNotFoundError(f"split list {list_file}: {error.strerror or error}") from None
    folders = []
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        folder = root / line
        if not folder.is_dir():
            raise FileNotFoundError(f"split list {list_file}, line {number}: {folder} is not a track folder")
        folders.append(folder)
    return folders


def split_folders(data: DataConfig, split: str) -> list[Path] | None:
    """The track folders of one split (train, valid or test), or None where the data set gives none."""
    root = folders_root(data)
    if split == "valid" and data.valid_root:
        return _subfolders(Path(data.valid_root).expanduser())
    if split in data.split_lists:
        return _read_split_list(root, Path(data.split_lists[split]).expanduser())
    return _subfolders(root / split) if (root / split).is_dir() else None


def list_folder_tracks(data: DataConfig, subset: str = "train", split: str | None = None) -> list[FolderTrack]:
    """The tracks of a folders data set, as ``list_tracks`` gives musdb's: ``subset`` train or
    test; for train, ``split`` train, valid, or None for both.

    Raises:
        ConfigError: no training tracks, or (``split="valid"``) no validation tracks, saying how
            to give them.
        TrackError: a track folder whose files cannot be assigned to stems.
    """
    root = folders_root(data)
    splits = ["test"] if subset == "test" else ["train", "valid"] if split is None else [split]
    tracks: list[FolderTrack] = []
    for name in splits:
        folders = split_folders(data, name)
        if not folders and name == "train":
            raise ConfigError(f"data_root {root}: no training tracks; put one folder per track in {root / 'train'}, "
                              "or name them in a split_lists train file")
        if not folders and name == "valid" and split == "valid":
            raise ConfigError(f"data_root {root}: no validation tracks (training tracks are never reused for validation); "
                              f"put one folder per track in {root / 'valid'}, set valid_root to a folder of track folders, "
                              "or name them in a split_lists valid file")
        tracks.extend(read_folder_track(folder, data, "test" if name == "test" else "train", name, root) for folder in folders or [])
    return tracks


# ----------------------------------------------------------------------------------------------
# Reading: frame ranges and blocks, each stem's files summed
# ----------------------------------------------------------------------------------------------


def read_summed(paths: Sequence[Path], start: int = 0, n_samples: int | None = None, track: Any = "track") -> tuple[np.ndarray, int]:
    """Frames ``start`` to ``start + n_samples`` (default: to the end) of ``paths``, summed.

    Returns ``(audio, sample_rate)``: float32 ``(n_channels, n_samples)`` (cut to the shortest
    file), Hz. Raises :class:`TrackError` naming a file that is unreadable or whose rate or
    channel count differs from the first's.
    """
    total: np.ndarray | None = None
    rate = 0
    for path in paths:
        try:
            audio, file_rate = sf.read(str(path), start=start, frames=-1 if n_samples is None else n_samples,
                                       dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, OSError) as error:
            raise TrackError(track, f"{path.name} is not a readable audio file ({error})") from None
        audio = audio.T
        if total is None:
            total, rate = np.ascontiguousarray(audio), file_rate
            continue
        if file_rate != rate or audio.shape[0] != total.shape[0]:
            raise TrackError(track, f"{path.name} and {paths[0].name} differ in sample rate or channels "
                                    f"({file_rate} Hz x {audio.shape[0]} vs {rate} Hz x {total.shape[0]})")
        length = min(total.shape[-1], audio.shape[-1])
        total = total[:, :length] + audio[:, :length]
    if total is None:
        raise TrackError(track, "a stem without files")
    return total, int(rate)


def iter_summed_blocks(groups: Mapping[str, Sequence[Path]], block_samples: int, track: Any = "track") -> Iterator[dict[str, np.ndarray]]:
    """Consecutive blocks of every group of files, each group's files summed, reading each file once.

    Yields ``{group: float32 (n_channels, <= block_samples)}``, every group cut to the shortest
    file's end; memory stays flat however long the files are.
    """
    opened: dict[str, list[sf.SoundFile]] = {}
    try:
        for name, paths in groups.items():
            opened[name] = []
            for path in paths:
                try:
                    opened[name].append(sf.SoundFile(str(path)))
                except (sf.LibsndfileError, RuntimeError, OSError) as error:
                    raise TrackError(track, f"{path.name} is not a readable audio file ({error})") from None
        while True:
            blocks = {}
            for name, files in opened.items():
                parts = [f.read(block_samples, dtype="float32", always_2d=True).T for f in files]
                length = min(part.shape[-1] for part in parts)
                blocks[name] = np.sum([part[:, :length] for part in parts], axis=0, dtype=np.float32)
            length = min((block.shape[-1] for block in blocks.values()), default=0)
            if length == 0:
                return
            yield {name: block[:, :length] for name, block in blocks.items()}
    finally:
        for files in opened.values():
            for f in files:
                f.close()


# ----------------------------------------------------------------------------------------------
# Checks before training
# ----------------------------------------------------------------------------------------------


def file_headers(track: FolderTrack) -> tuple[list[tuple[str, Path, Any]], list[str]]:
    """``([(stream, file, header)], problems)``: the mixture file's and every stem file's header.

    A problem names the file: unreadable, or differing in length, sample rate or channel count from
    the first file (both files named, relative to the track folder).
    """
    headers, problems = [], []
    streams = ([("mixture", track.mixture_file)] if track.mixture_file else []) + [(s, p) for s, ps in track.files.items() for p in ps]
    for stream, path in streams:
        try:
            headers.append((stream, path, sf.info(str(path))))
        except (sf.LibsndfileError, RuntimeError, OSError) as error:
            problems.append(f"{path.relative_to(track.folder)} is not a readable audio file ({error})")
    if headers:
        _, first, reference = headers[0]
        for _, path, info in headers[1:]:
            # The rate first: files at two rates differ in length too, and the rate is the cause.
            for what, a, b, unit in (("sample rate", info.samplerate, reference.samplerate, "Hz"),
                                     ("channel count", info.channels, reference.channels, "channels"),
                                     ("length", info.frames, reference.frames, "samples")):
                if a != b:
                    problems.append(f"{path.relative_to(track.folder)} and {first.relative_to(track.folder)} differ in {what} ({a} vs {b} {unit})")
    return headers, problems


def mixture_residual_db(track: FolderTrack, seconds: float = MIXTURE_CHECK_SECONDS, n_excerpts: int = 4) -> float:
    """Energy of ``mixture - sum(stems)`` relative to the mixture's, in dB, over ``n_excerpts``
    excerpts of ``seconds`` in all, spread evenly over the track (-inf: equal; +inf: a silent
    mixture over stems that are not; NaN: both silent). Reads only those excerpts."""
    assert track.mixture_file is not None
    info = sf.info(str(track.mixture_file))
    length = min(info.frames, max(1, int(seconds * info.samplerate / n_excerpts)))
    starts = sorted({int(s) for s in np.linspace(0, info.frames - length, n_excerpts)})
    residual = energy = 0.0
    for start in starts:
        mixture, _ = read_summed([track.mixture_file], start, length, track)
        stems, _ = read_summed(track.all_files(), start, length, track)
        n = min(mixture.shape[-1], stems.shape[-1])
        mixture64 = mixture[:, :n].astype(np.float64)
        residual += float(np.sum((mixture64 - stems[:, :n]) ** 2))
        energy += float(np.sum(mixture64**2))
    if energy > 0:
        return float(10 * np.log10(residual / energy)) if residual > 0 else float("-inf")
    return float("inf") if residual > 0 else float("nan")


def check_folder_files(track: FolderTrack) -> None:
    """A track's files, whatever the stem set: readable, of one length, rate and channel count, and
    some stem files; raises :class:`TrackError` naming the file."""
    _, problems = file_headers(track)
    if problems:
        raise TrackError(track, problems[0])
    if not track.files:
        raise TrackError(track, "holds a mixture but no stem files")


def check_folder_track(track: FolderTrack, stems: StemSet = StemSet(), *, check_mixture: bool = True) -> list[str]:
    """One track's checks (see :func:`check_folders_dataset`): warnings, or :class:`TrackError`."""
    check_folder_files(track)
    missing = [name for name in sources_needed(stems, track.stem_names) if name not in track.files]
    warnings = []
    if missing:
        if not track.allow_missing:
            raise TrackError(track, f"has no {', '.join(missing)} stem (its stems: {', '.join(track.files)}); "
                                    "require_all_stems: false would make a missing stem silence")
        stems_word, its = ("stems", "their") if len(missing) > 1 else ("stem", "its")
        warnings.append(f"{track_label(track)} ({track.folder}) has no {', '.join(missing)} {stems_word}: silence in {its} place")
    if check_mixture:
        check_given_mixture(track)
    return warnings


def check_given_mixture(track: FolderTrack) -> None:
    """A given mixture file must be the sum of the track's stems (:func:`mixture_residual_db`);
    raises :class:`TrackError` with the difference in dB. A track without one passes."""
    if track.mixture_file is not None:
        residual = mixture_residual_db(track)
        if residual > MIXTURE_TOLERANCE_DB:  # NaN (mixture and stems silent) passes
            raise TrackError(track, f"{track.mixture_file.name} is not the sum of the track's stems (their difference is "
                                    f"{residual:+.1f} dB relative to the mixture, over {MIXTURE_TOLERANCE_DB:g} dB); "
                                    "set mixture: sum to train on the sum of the stems and ignore the file")


def check_folders_dataset(data: DataConfig, stems: StemSet = StemSet(), *, check_mixtures: bool = True) -> list[str]:
    """Check a folders data set before training; raise on the first bad input, else return warnings.

    Reads headers only (``sf.info``), except :data:`MIXTURE_CHECK_SECONDS` of each given mixture
    against its stems. Writes nothing.

    Returns:
        One warning per track lacking a stem the stem set needs (``require_all_stems: false``:
        the stem is silence).

    Raises:
        FileNotFoundError: ``data_root``, ``valid_root`` or a split list is missing.
        ConfigError: no training or no validation tracks; a track in two splits or two tracks of
            one name; a ``stem_map`` pattern that matches no file of the data set.
        TrackError: naming the track folder and file: a file matching two stems or none, a track
            lacking a stem with ``require_all_stems: true``, files of one track differing in length,
            sample rate or channel count, a given mixture that is not the sum of its stems.
    """
    tracks = [*list_folder_tracks(data, "train", "train"), *list_folder_tracks(data, "train", "valid"),
              *list_folder_tracks(data, "test")]
    seen_folders: dict[Path, FolderTrack] = {}
    seen_labels: dict[str, FolderTrack] = {}
    for track in tracks:
        folder = track.folder.resolve()
        if folder in seen_folders:
            raise ConfigError(f"{track.folder} is both a {seen_folders[folder].split} and a {track.split} track; a track belongs to one split")
        if track_label(track) in seen_labels:
            raise ConfigError(f"{track.folder} and {seen_labels[track_label(track)].folder} are both named {track.name!r} in {track.subset} "
                              "(training and validation tracks are both of subset train, as in MUSDB18); rename one")
        seen_folders[folder], seen_labels[track_label(track)] = track, track
    matched = set().union(*(track.matched_patterns for track in tracks))
    for pattern, stem in data.stem_map.items():
        if pattern not in matched:
            raise ConfigError(f"stem_map: the pattern {pattern!r} (-> {stem}) matches no file of the {len(tracks)} tracks under "
                              f"{folders_root(data)}; correct or remove it")
    available = sorted(set().union(*(track.stem_names for track in tracks)))
    for name in stems.names:
        absent = [part for part in sources_needed(stems, available, [stems.names.index(name)]) if part not in available]
        if absent:  # a typo or a case slip would otherwise train on silence
            raise ConfigError(f"stems: {name!r} needs the stem {absent[0]!r}, which no track under {folders_root(data)} has "
                              f"(its stems: {', '.join(available)}); name one of them, or map files to it with stem_map")
    unused = [name for name in available if name not in sources_needed(stems, available)]
    warnings = [f"{folders_root(data)}: the stems {unused} go into no target (the training mixture is the sum of the targets, "
                "so the model never hears them); take them with stem_sources, e.g. other: [rest]"] if unused else []
    return warnings + [warning for track in tracks for warning in check_folder_track(track, stems, check_mixture=check_mixtures)]
