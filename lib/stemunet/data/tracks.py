"""Multitrack tracks: listing and reading MUSDB18-HQ, MUSDB18 and the embedded synthetic set
(through ``musdb``), and a user's folders of stems (:mod:`stemunet.data.folders`). This is the
one entry point: every function takes a track of either kind and dispatches on it.

Tracks are listed with ``musdb.DB`` so the official train/valid split of MUSDB18 applies; the
synthetic set names its own validation tracks in a musdb setup file beside its tracks; a folders
data set (``dataset: folders``) is listed by :func:`~stemunet.data.folders.list_folder_tracks`.
Training reads random chunks: only the frames a chunk needs are decoded (soundfile frame ranges
for wav folders and folder tracks), or, with ``cache=True``, every track is decoded once into RAM
as 16-bit audio at the model's rate.

Every reader takes a :class:`~stemunet.config.StemSet` (default: MUSDB18's four stems, read as
they are) and returns its targets, built by :func:`stemunet.data.stem_sets.build_targets` from the
track's source streams: in a wav folder (MUSDB18-HQ, the synthetic set) a source stem is
``<name>.wav`` (the synthetic set's instrument families too); a ``.stem.mp4`` holds only the four.

The chunk data sets that training and validation read are in :mod:`stemunet.data.chunks`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Union

import musdb
import numpy as np
import soundfile as sf

from stemunet.config import REST, STEM_NAMES, ConfigError, DataConfig, StemSet
from stemunet.data.folders import (FolderTrack, check_folder_files, check_folders_dataset, check_given_mixture, file_headers,
                                   folders_root, iter_summed_blocks, list_folder_tracks, read_summed)
from stemunet.data.stem_sets import TrackError, build_targets, sources_needed, track_label
from stemunet.data.synthetic import FAMILY_NAMES, MUSDB_SETUP_NAME, SyntheticSpec, ensure_synthetic_dataset, is_synthetic_dataset

SOURCE_NAMES: tuple[str, ...] = ("mixture", *STEM_NAMES)
"""The five streams of a track, in MUSDB18's stream order (mixture first)."""

STEM_DECODE_FORMAT = "s16le"
"""How ``.stem.mp4`` streams are decoded: 16-bit, as ``musdb`` (and so SiSEC's scores) decodes them.
A float decode differs by up to 0.02 (the AAC decoder overshoots full scale) and moves BSSEval
scores by about 0.002 dB."""

Subset = Literal["train", "test"]
Split = Literal["train", "valid"] | None
Track = Union["musdb.audio.MultiTrack", FolderTrack]
"""A track of any data set: a ``musdb`` track (MUSDB18, MUSDB18-HQ, the synthetic set) or a folder track."""

__all__ = ["SOURCE_NAMES", "STEM_DECODE_FORMAT", "FolderTrack", "StreamInfo", "Track", "TrackError", "TrackExcerpt",
           "base_stems", "check_dataset", "check_equal_lengths", "check_track_stems", "dataset_of", "is_stem_file",
           "is_wav_layout", "iter_track_blocks", "list_tracks", "missing_stems", "needs_family_stems", "read_stems", "read_track",
           "read_track_excerpt", "resolve_root", "stream_infos", "synthetic_spec", "track_folder", "track_label",
           "track_length", "track_stems"]


def needs_family_stems(stems: StemSet) -> bool:
    """Whether ``stems``' targets are made of stems beyond MUSDB18's four (from the synthetic set:
    its instrument families, written only by a set that is asked for them)."""
    return any(name not in STEM_NAMES for name in sources_needed(stems, STEM_NAMES))


def synthetic_spec(data: DataConfig, stems: StemSet = StemSet()) -> SyntheticSpec:
    """The synthetic set that ``data`` describes, with its instrument families' stems where
    ``stems`` needs them (another set, so another cache entry; the four stems are the same).

    Raises:
        ConfigError: ``stems`` is made of a stem the synthetic set has not (a typo), said before
            anything is generated.
    """
    offered = (*STEM_NAMES, *FAMILY_NAMES)
    needed = sources_needed(stems, STEM_NAMES)
    unknown = [name for name in needed if name not in offered]
    if unknown:
        raise ConfigError(f"stems: the synthetic set has no {unknown[0]!r} stem; it has {', '.join(offered)}")
    families = [name for name in needed if name in FAMILY_NAMES]
    if families and "other" in needed and stems.sources_of("other") != (REST,):
        raise ConfigError(f"stems: the synthetic set's other holds every family, {', '.join(families)} included, so they would be "
                          "learnt twice; make other the rest (stem_sources: {other: [rest]})")
    return SyntheticSpec(
        n_train_tracks=data.synthetic_train_tracks,
        n_test_tracks=data.synthetic_test_tracks,
        track_seconds=data.synthetic_seconds,
        seed=data.synthetic_seed,
        version=data.synthetic_version,
        soundfont=data.synthetic_soundfont,
        family_stems=needs_family_stems(stems),
    )


def resolve_root(data: DataConfig, *, progress: bool = True, stems: StemSet = StemSet()) -> Path:
    """The data set folder: ``data_root`` for a folders data set (as typed, relative to the current
    directory), else ``musdb_root``, or the synthetic set (generated on first use; with its
    instrument families' stems where ``stems`` needs them)."""
    if data.dataset == "folders":
        return folders_root(data)
    if not data.musdb_root:
        return ensure_synthetic_dataset(synthetic_spec(data, stems), progress=progress)
    root = Path(data.musdb_root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"musdb_root {root}: no such folder")
    if not any((root / subset).is_dir() for subset in ("train", "test")):
        raise FileNotFoundError(f"musdb_root {root}: expected train/ and test/ folders (MUSDB18 layout)")
    return root


def is_wav_layout(root: Path) -> bool:
    """MUSDB18-HQ (one folder of wavs per track) rather than MUSDB18 (``.stem.mp4`` files)."""
    return not any(root.glob("*/*.stem.mp4"))


def list_tracks(data: DataConfig | Path | str, subset: Subset = "train", split: Split = None, *,
                stems: StemSet = StemSet()) -> list[Track]:
    """The tracks of ``subset``; for ``train``, ``split`` picks the train or valid part.

    ``data`` is a :class:`DataConfig` or a MUSDB18 / synthetic data set folder. A folders data set
    (``dataset: folders``) needs its :class:`DataConfig` (its stem_map and splits) and gives
    :class:`FolderTrack` objects; it raises :class:`~stemunet.config.ConfigError` when asked for
    validation tracks it has none of. ``stems``: the stem set the tracks will be read for (a
    synthetic set is then the one with the instrument families' stems where it needs them, see
    :func:`resolve_root`).
    """
    if isinstance(data, DataConfig) and data.dataset == "folders":
        return list(list_folder_tracks(data, subset, split))
    root = resolve_root(data, stems=stems) if isinstance(data, DataConfig) else Path(data)
    # The synthetic set ships a musdb setup file naming its own validation tracks; MUSDB18 uses
    # musdb's bundled one.
    setup_file = MUSDB_SETUP_NAME if is_synthetic_dataset(root) else None
    split = split if subset == "train" else None
    db = musdb.DB(root=str(root), setup_file=setup_file, is_wav=is_wav_layout(root), subsets=subset, split=split)
    return list(db.tracks)


def track_folder(track: Track) -> Path:
    """The folder holding a track's files (musdb's ``track.path`` of a wav track is its ``mixture.wav``)."""
    path = Path(track.path)
    return path if path.is_dir() else path.parent


def dataset_of(track: Track) -> tuple[str, str]:
    """``(data set root, subset)`` a track belongs to (``root/subset/<track>``), the root absolute."""
    if isinstance(track, FolderTrack):
        root = track.root if track.root is not None else track.folder.parent.parent
        return str(Path(root).resolve()), track.subset
    folder = Path(track.path) if is_stem_file(track) else track_folder(track)
    return str(folder.parent.parent.resolve()), str(folder.parent.name)


def track_length(track: Track) -> tuple[int, int]:
    """``(n_samples, sample_rate)`` of a track without decoding it."""
    if is_stem_file(track):
        return int(round(track.duration * track.rate)), int(track.rate)
    if isinstance(track, FolderTrack):
        info = sf.info(str(track.mixture_file or track.all_files()[0]))
    else:
        info = sf.info(str(track_folder(track) / "mixture.wav"))
    return info.frames, info.samplerate


# ----------------------------------------------------------------------------------------------
# Source stems and stem sets
# ----------------------------------------------------------------------------------------------


def base_stems(track: Track) -> tuple[str, ...]:
    """The stems that sum to the track's mixture without overlapping (a :data:`~stemunet.config.REST`
    target's base): every stem of a folder track, else MUSDB18's four."""
    return track.stem_names if isinstance(track, FolderTrack) else STEM_NAMES


def track_stems(track: Track) -> tuple[str, ...]:
    """Every source stem the track has: a folder track's stems, a ``.stem.mp4``'s four, or the
    name of every wav of a wav folder but ``mixture.wav`` (the synthetic set's families too)."""
    if isinstance(track, FolderTrack):
        return track.stem_names
    if is_stem_file(track):
        return STEM_NAMES
    return tuple(path.stem for path in sorted(track_folder(track).glob("*.wav")) if path.stem != "mixture")


def missing_stems(track: Track, stems: StemSet = StemSet()) -> list[str]:
    """The source stems ``stems``' targets are made of that the track does not have (headers and
    file names only)."""
    available = set(track_stems(track))
    return [name for name in sources_needed(stems, base_stems(track)) if name not in available]


def _missing_message(track: Track, name: str) -> str:
    if isinstance(track, FolderTrack):
        return (f"has no {name} stem (no file of it; its stems: {', '.join(track.files) or 'none'}); "
                "require_all_stems: false makes a missing stem silence")
    if is_stem_file(track):
        return f"has no {name} stem: a .stem.mp4 holds only {', '.join(STEM_NAMES)} (use MUSDB18-HQ's wav folders for more)"
    folder = track_folder(track)
    if is_synthetic_dataset(folder.parent.parent) and name in FAMILY_NAMES:
        return (f"has no {name}.wav (in {folder}): a synthetic set holds its instrument families' stems only when "
                "made for a stem set that needs them (resolve_root or list_tracks with that stems=)")
    return f"has no {name}.wav (in {folder})"


def check_track_stems(track: Track, stems: StemSet = StemSet()) -> list[str]:
    """The stems ``stems`` needs that ``track`` lacks, where they may be silence (a folder track
    with ``require_all_stems: false``); else :class:`TrackError` naming the track and the stem."""
    missing = missing_stems(track, stems)
    if missing and not (isinstance(track, FolderTrack) and track.allow_missing):
        raise TrackError(track, _missing_message(track, missing[0]))
    return missing


def check_dataset(data: DataConfig, stems: StemSet = StemSet(), *, progress: bool = True) -> list[str]:
    """Check a data set against a stem set before training: raise on bad input, return warnings.

    A folders data set: :func:`~stemunet.data.folders.check_folders_dataset` (files, stems,
    mixtures, splits, patterns). MUSDB18 and the synthetic set: every training and validation
    track has the stems the stem set is made of (file names only).
    """
    if data.dataset == "folders":
        return check_folders_dataset(data, stems)
    for track in list_tracks(resolve_root(data, progress=progress, stems=stems), "train"):
        check_track_stems(track, stems)
    return []


def check_tracks(tracks: Sequence[Track]) -> None:
    """Training's file checks of the folders tracks among ``tracks`` (unreadable files, files that
    differ in length, rate or channels, a given mixture that is not the sum of its stems), for work
    on tracks chosen after training checked them; whatever stems the tracks have (a stem the work
    needs and a track lacks is silence there). Raises :class:`~stemunet.data.folders.TrackError`."""
    for track in tracks:
        if isinstance(track, FolderTrack):
            check_folder_files(track)
            check_given_mixture(track)


def _stream_files(track: Track, names: Sequence[str]) -> tuple[dict[str, tuple[Path, ...]], bool]:
    """The files of each of ``names`` the track has (``mixture``: its file), and whether the
    mixture was asked for but is the sum of the base stems (whose files are then included)."""
    if isinstance(track, FolderTrack):
        files = {"mixture": (track.mixture_file,)} if track.mixture_file else {}
        files.update(track.files)
        sum_mixture = "mixture" in names and "mixture" not in files
    else:  # a wav folder: <name>.wav; a track without mixture.wav is broken, not summed
        sum_mixture = False
        folder = track_folder(track)
        files = {name: (folder / f"{name}.wav",) for name in names if (folder / f"{name}.wav").is_file()}
    wanted = [*names, *base_stems(track)] if sum_mixture else names
    return {name: files[name] for name in dict.fromkeys(wanted) if name in files}, sum_mixture


def _with_summed_mixture(streams: dict[str, np.ndarray], track: Track) -> dict[str, np.ndarray]:
    """``streams`` plus ``mixture``, the sum of the base stems (float64, rounded once)."""
    parts = [streams[name] for name in base_stems(track) if name in streams]
    streams["mixture"] = np.sum(parts, axis=0, dtype=np.float64).astype(np.float32)
    return streams


def _read_sources(track: Track, names: Sequence[str], start: int = 0, n_samples: int | None = None) -> tuple[dict[str, np.ndarray], int]:
    """Frames ``start`` to ``start + n_samples`` (default: to the end) of the streams of ``names``
    the track has (a stem's files summed; ``mixture``: its file, or the sum of the base stems).

    Returns ``({name: float32 (n_channels, n_samples)}, sample_rate)``, every stream cut to the
    shortest; a name the track lacks is left out.
    """
    if is_stem_file(track):
        rate = track.rate
        track.chunk_start = start / rate
        track.chunk_duration = None if n_samples is None else n_samples / rate
        try:
            streams = {name: (track.audio if name == "mixture" else track.targets[name].audio).T.astype(np.float32)
                       for name in names if name in SOURCE_NAMES}
        finally:
            track.chunk_start, track.chunk_duration = 0, None
        return streams, int(rate)
    files, sum_mixture = _stream_files(track, names)
    streams, rates = {}, {}
    for name, paths in files.items():
        streams[name], rates[name] = read_summed(paths, start, n_samples, track)
    if len(set(rates.values())) > 1 or len({s.shape[0] for s in streams.values()}) > 1:
        listing = ", ".join(f"{name} {rates[name]} Hz x {streams[name].shape[0]}" for name in streams)
        raise TrackError(track, f"its files differ in sample rate or channel count ({listing})")
    length = min((s.shape[-1] for s in streams.values()), default=0)
    streams = {name: s[:, :length] for name, s in streams.items()}
    if sum_mixture and streams:
        _with_summed_mixture(streams, track)
    rate = next(iter(rates.values())) if rates else track_length(track)[1]
    return streams, int(rate)


def _targets(track: Track, streams: dict[str, np.ndarray], stems: StemSet, targets: Sequence[int] | None = None,
             shape: tuple[int, int] | None = None) -> np.ndarray:
    """:func:`build_targets` for ``track``: missing stems are silence only for a folder track that
    allows it; else :class:`TrackError` naming the track and the stem (and the file it looked for)."""
    allow = isinstance(track, FolderTrack) and track.allow_missing
    base = base_stems(track)
    missing = [name for name in sources_needed(stems, base, targets) if name not in streams]
    if missing and not allow:
        raise TrackError(track, _missing_message(track, missing[0]))
    sources = {name: audio for name, audio in streams.items() if name != "mixture"}
    if not sources and shape is None and streams:
        shape = next(iter(streams.values())).shape
    return build_targets(sources, base, stems, track=track_label(track), allow_missing=allow, targets=targets, shape=shape)


def _silent_shape(track: Track, start: int, n_samples: int | None) -> tuple[int, int]:
    """``(n_channels, n_samples)`` of a read of a track none of whose needed stems exist."""
    if isinstance(track, FolderTrack):
        info = sf.info(str(track.mixture_file or track.all_files()[0]))
    else:
        info = sf.info(str(track_folder(track) / "mixture.wav"))
    available = max(0, info.frames - start)
    return info.channels, available if n_samples is None else min(n_samples, available)


def read_stems(
    track: Track,
    start: int = 0,
    n_samples: int | None = None,
    stem_names: Sequence[str] | None = None,
    *,
    stems: StemSet = StemSet(),
) -> tuple[np.ndarray, int]:
    """The targets of ``stems`` for ``track``, frames ``start`` to ``start + n_samples`` (default: to the end).

    Returns ``(targets, sample_rate)``: float32 ``(n_targets, n_channels, n_samples)`` in
    ``stems.names`` order, or in ``stem_names`` order when given (a subset of ``stems.names``:
    only their source streams are read), at the track's own rate. The default stem set gives
    MUSDB18's four stems, as they are in the files.

    Raises:
        TrackError: a file is unreadable, or the track lacks a stem the targets need (a folder
            track with ``require_all_stems: false`` reads it as silence).
    """
    indices = None
    if stem_names is not None:
        unknown = [name for name in stem_names if name not in stems.names]
        if unknown:
            raise ValueError(f"{unknown} are not stems of the stem set {list(stems.names)}")
        indices = [stems.names.index(name) for name in stem_names]
    needed = sources_needed(stems, base_stems(track), indices)
    streams, rate = _read_sources(track, needed, start, n_samples)
    shape = None if streams or is_stem_file(track) else _silent_shape(track, start, n_samples)
    return _targets(track, streams, stems, indices, shape), rate


# ----------------------------------------------------------------------------------------------
# Reading tracks: the one reader of wav folders, .stem.mp4 files and folder tracks
# ----------------------------------------------------------------------------------------------


@dataclass
class StreamInfo:
    """Header data of one stream of a track (a wav file, a stream of a ``.stem.mp4``, or a folder
    track's stem: its first file's header)."""

    name: str  # mixture, or a stem (drums, bass, other, vocals; a folder track's own)
    n_samples: int
    sample_rate: int
    n_channels: int


def is_stem_file(track: Track) -> bool:
    return str(track.path).endswith(".stem.mp4")


def stream_infos(track: Track) -> tuple[list[StreamInfo], list[str]]:
    """Length, rate and channels of the track's streams, read from headers only: MUSDB18's five
    (mixture first); a folder track's mixture (its file's, or for the sum of its stems the first
    stem's) and its stems.

    Returns ``(infos, problems)``: a stream that is missing or unreadable is left out of
    ``infos`` and described in ``problems`` (a folder track's: each file that disagrees with the
    track's first file in length, rate or channels, both named).
    """
    infos: list[StreamInfo] = []
    problems: list[str] = []
    if isinstance(track, FolderTrack):
        headers, problems = file_headers(track)
        found: dict[str, StreamInfo] = {}
        for name, _, info in headers:
            found.setdefault(name, StreamInfo(name, info.frames, info.samplerate, info.channels))
        if "mixture" not in found and found:
            first = next(iter(found.values()))
            found = {"mixture": StreamInfo("mixture", first.n_samples, first.sample_rate, first.n_channels), **found}
        return list(found.values()), problems
    if is_stem_file(track):
        info = track.info  # stempeg.Info, filled by musdb when it listed the track
        if info is None:
            return [], [f"{track.path}: no such file"]
        for stem_id, name in enumerate(SOURCE_NAMES):
            if stem_id >= info.nb_audio_streams:
                problems.append(f"{Path(track.path).name}: has no stream {stem_id} ({name}); a .stem.mp4 holds 5")
                continue
            infos.append(StreamInfo(name, int(info.samples(stem_id)), int(info.rate(stem_id)), int(info.channels(stem_id))))
        return infos, problems
    folder = track_folder(track)
    for name in SOURCE_NAMES:
        path = folder / f"{name}.wav"
        if not path.is_file():
            problems.append(f"missing {name}.wav")
            continue
        try:
            info = sf.info(str(path))
        except (sf.LibsndfileError, RuntimeError) as error:
            problems.append(f"{name}.wav is not a readable audio file ({error})")
            continue
        infos.append(StreamInfo(name, info.frames, info.samplerate, info.channels))
    return infos, problems


def _decode_stem_file(track: Track, *, mixture_only: bool = False, **options) -> np.ndarray:
    """A ``.stem.mp4``'s five streams (or its mixture alone), float32 ``(streams, n_channels,
    n_samples)``; ``options`` (start, duration in seconds) go to ``stempeg.read_stems``."""
    import stempeg

    audio, _ = stempeg.read_stems(str(track.path), stem_id=0 if mixture_only else None, dtype=np.float32, info=track.info,
                                  ffmpeg_format=STEM_DECODE_FORMAT, **options)
    audio = np.atleast_3d(audio) if not mixture_only else audio[None]
    return np.ascontiguousarray(np.transpose(audio, (0, 2, 1)))  # (streams, n, ch) -> (streams, ch, n)


def iter_track_blocks(track: Track, block_samples: int, stems: StemSet = StemSet()) -> Iterator[np.ndarray]:
    """A track's mixture and ``stems``' targets in consecutive blocks, reading the audio once.

    Yields float32 ``(1 + n_targets, n_channels, <= block_samples)`` arrays: the mixture, then the
    targets in ``stems.names`` order (the default stem set: :data:`SOURCE_NAMES`, mixture, drums,
    bass, other, vocals), up to the shortest stream's end. Files are read block by block (memory
    stays flat); a ``.stem.mp4`` is decoded once, all streams together.
    """
    if is_stem_file(track):
        audio = _decode_stem_file(track)
        whole = np.concatenate([audio[:1], _targets(track, dict(zip(STEM_NAMES, audio[1:])), stems)])
        for start in range(0, whole.shape[-1], block_samples):
            yield whole[..., start : start + block_samples]
        return
    needed = sources_needed(stems, base_stems(track))
    files, sum_mixture = _stream_files(track, ["mixture", *needed])
    for blocks in iter_summed_blocks(files, block_samples, track):
        if sum_mixture:
            _with_summed_mixture(blocks, track)
        if "mixture" not in blocks:
            raise TrackError(track, "missing mixture.wav")
        yield np.concatenate([blocks["mixture"][None], _targets(track, blocks, stems)])


@dataclass
class TrackExcerpt:
    """Part of a track: its mixture and a stem set's targets, same length and rate."""

    track: str  # subset/name
    start_seconds: float
    sample_rate: int
    mixture: np.ndarray  # float32 (n_channels, n_samples)
    stems: np.ndarray | None  # float32 (n_stems, n_channels, n_samples), stem_names order; None: no stem files
    stem_names: tuple[str, ...] = STEM_NAMES  # the stem set's names, in order

    def named(self) -> dict[str, np.ndarray]:
        """``{"mixture": ..., "drums": ..., ...}``: each ``(n_channels, n_samples)``."""
        stems = {} if self.stems is None else dict(zip(self.stem_names, self.stems))
        return {"mixture": self.mixture, **stems}

    @property
    def n_samples(self) -> int:
        return self.mixture.shape[-1]


def check_equal_lengths(track: Track, infos: Sequence[StreamInfo] | None = None) -> None:
    """:class:`TrackError` if the track's files are missing, unreadable or differ in length.

    A stem shorter than the mixture would silently shorten every score, or cut every training
    chunk drawn from the track to the shortest stem: evaluation and training both refuse the track.
    """
    if infos is None:
        infos, problems = stream_infos(track)
        if problems:
            raise TrackError(track, "; ".join(problems))
    if len({info.n_samples for info in infos}) > 1:
        lengths = ", ".join(f"{info.name} {info.n_samples}" for info in infos)
        raise TrackError(track, f"its files differ in length (samples: {lengths})")


def read_track_excerpt(
    track: Track,
    start_seconds: float = 0.0,
    duration_seconds: float | None = None,
    *,
    require_stems: bool = True,
    stems: StemSet = StemSet(),
) -> TrackExcerpt:
    """Mixture and ``stems``' targets of ``track`` from ``start_seconds`` for ``duration_seconds`` (None: to the end).

    An excerpt running past the end is cut at the end (and may be empty if it starts there).
    One decode for a ``.stem.mp4`` (all five streams at once), one frame-range read per file.
    With ``require_stems=False`` a track whose stem files are all missing gives ``stems=None``.
    The excerpt's ``stem_names`` are ``stems.names``.

    Raises:
        TrackError: a file is missing or unreadable, the files differ in channel count, or the
            track lacks a stem the stem set needs.
    """
    infos, problems = stream_infos(track)
    names = [info.name for info in infos]
    mixture_only = not require_stems and names == ["mixture"]
    if problems and not mixture_only:
        raise TrackError(track, "; ".join(problems))
    check_equal_lengths(track, infos)
    rate = infos[0].sample_rate
    start = max(0, int(round(start_seconds * rate)))
    n_samples = None if duration_seconds is None else max(0, int(round(duration_seconds * rate)))
    if is_stem_file(track):
        audio = _decode_stem_file(track, mixture_only=mixture_only, start=start / rate,
                                  duration=None if n_samples is None else n_samples / rate)
        if n_samples is not None:
            audio = audio[..., :n_samples]
        mixture, streams = audio[0], dict(zip(STEM_NAMES, audio[1:]))
    else:
        needed = [] if mixture_only else sources_needed(stems, base_stems(track))
        streams, _ = _read_sources(track, ["mixture", *needed], start, n_samples)
        mixture = streams["mixture"]
    targets = None if mixture_only else _targets(track, streams, stems)
    return TrackExcerpt(track_label(track), start / rate, int(rate), mixture, targets, tuple(stems.names))


def read_track(track: Track, stems: StemSet = StemSet()) -> tuple[np.ndarray, np.ndarray, int]:
    """A track's mixture and ``stems``' true targets, whole, at its own rate.

    Returns ``(mixture, stems, sample_rate)``: float32 ``(n_channels, n_samples)`` and
    ``(n_stems, n_channels, n_samples)`` in ``stems.names`` order (default: :data:`STEM_NAMES`), and Hz.
    """
    excerpt = read_track_excerpt(track, stems=stems)
    return excerpt.mixture, excerpt.stems, excerpt.sample_rate
