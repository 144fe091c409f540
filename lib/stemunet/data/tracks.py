"""Multitrack tracks: listing and reading MUSDB18-HQ, MUSDB18 and the embedded synthetic set,
through ``musdb``.

Tracks are listed with ``musdb.DB`` so the official train/valid split of MUSDB18 applies; the
synthetic set names its own validation tracks in a musdb setup file beside its tracks. Training reads random chunks:
only the frames a chunk needs are decoded (soundfile frame ranges for wav folders), or, with
``cache=True``, every track is decoded once into RAM as 16-bit audio at the model's rate.

The chunk data sets that training and validation read are in :mod:`stemunet.data.chunks`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import musdb
import numpy as np
import soundfile as sf

from stemunet.audio import AudioError
from stemunet.config import STEM_NAMES, DataConfig
from stemunet.data.synthetic import MUSDB_SETUP_NAME, SyntheticSpec, ensure_synthetic_dataset, is_synthetic_dataset

SOURCE_NAMES: tuple[str, ...] = ("mixture", *STEM_NAMES)
"""The five streams of a track, in MUSDB18's stream order (mixture first)."""

STEM_DECODE_FORMAT = "s16le"
"""How ``.stem.mp4`` streams are decoded: 16-bit, as ``musdb`` (and so SiSEC's scores) decodes them.
A float decode differs by up to 0.02 (the AAC decoder overshoots full scale) and moves BSSEval
scores by about 0.002 dB."""

Subset = Literal["train", "test"]
Split = Literal["train", "valid"] | None


def synthetic_spec(data: DataConfig) -> SyntheticSpec:
    """The synthetic set that ``data`` describes."""
    return SyntheticSpec(
        n_train_tracks=data.synthetic_train_tracks,
        n_test_tracks=data.synthetic_test_tracks,
        track_seconds=data.synthetic_seconds,
        seed=data.synthetic_seed,
        version=data.synthetic_version,
        soundfont=data.synthetic_soundfont,
    )


def resolve_root(data: DataConfig, *, progress: bool = True) -> Path:
    """The data set folder: ``musdb_root``, or the synthetic set (generated on first use)."""
    if not data.musdb_root:
        return ensure_synthetic_dataset(synthetic_spec(data), progress=progress)
    root = Path(data.musdb_root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"musdb_root {root}: no such folder")
    if not any((root / subset).is_dir() for subset in ("train", "test")):
        raise FileNotFoundError(f"musdb_root {root}: expected train/ and test/ folders (MUSDB18 layout)")
    return root


class TrackError(AudioError):
    """A track of a data set is missing a file, unreadable or inconsistent; names the track (``subset/name``)."""

    def __init__(self, track: musdb.audio.MultiTrack | str, problem: str):
        super().__init__(track if isinstance(track, str) else track_label(track), problem)


def is_wav_layout(root: Path) -> bool:
    """MUSDB18-HQ (one folder of wavs per track) rather than MUSDB18 (``.stem.mp4`` files)."""
    return not any(root.glob("*/*.stem.mp4"))


def list_tracks(data: DataConfig | Path | str, subset: Subset = "train", split: Split = None) -> list[musdb.audio.MultiTrack]:
    """``musdb`` tracks of ``subset``; for ``train``, ``split`` picks the train or valid part.

    ``data`` is a :class:`DataConfig` or a data set folder.
    """
    root = resolve_root(data) if isinstance(data, DataConfig) else Path(data)
    # The synthetic set ships a musdb setup file naming its own validation tracks; MUSDB18 uses
    # musdb's bundled one.
    setup_file = MUSDB_SETUP_NAME if is_synthetic_dataset(root) else None
    split = split if subset == "train" else None
    db = musdb.DB(root=str(root), setup_file=setup_file, is_wav=is_wav_layout(root), subsets=subset, split=split)
    return list(db.tracks)


def track_folder(track: musdb.audio.MultiTrack) -> Path:
    """The folder holding a MUSDB18-HQ track's wavs (musdb's ``track.path`` is its ``mixture.wav``)."""
    path = Path(track.path)
    return path if path.is_dir() else path.parent


def dataset_of(track: musdb.audio.MultiTrack) -> tuple[str, str]:
    """``(data set root, subset)`` a track belongs to (``root/subset/<track>``), the root absolute."""
    folder = Path(track.path) if is_stem_file(track) else track_folder(track)
    return str(folder.parent.parent.resolve()), str(folder.parent.name)


def track_length(track: musdb.audio.MultiTrack) -> tuple[int, int]:
    """``(n_samples, sample_rate)`` of a track without decoding it."""
    if is_stem_file(track):
        return int(round(track.duration * track.rate)), int(track.rate)
    info = sf.info(str(track_folder(track) / "mixture.wav"))
    return info.frames, info.samplerate


def read_stems(
    track: musdb.audio.MultiTrack,
    start: int = 0,
    n_samples: int | None = None,
    stem_names: Sequence[str] = STEM_NAMES,
) -> tuple[np.ndarray, int]:
    """The stems of ``track``, frames ``start`` to ``start + n_samples`` (default: to the end).

    Returns ``(stems, sample_rate)``: float32 ``(len(stem_names), n_channels, n_samples)`` in
    ``stem_names`` order (default: all four, :data:`STEM_NAMES` order), at the track's own rate.
    """
    if is_stem_file(track):
        rate = track.rate
        track.chunk_start = start / rate
        track.chunk_duration = None if n_samples is None else n_samples / rate
        try:
            stems = np.stack([track.targets[name].audio.T for name in stem_names]).astype(np.float32)
        finally:
            track.chunk_start, track.chunk_duration = 0, None
        return stems, int(rate)
    stems = []
    rate = 0
    for name in stem_names:
        path = track_folder(track) / f"{name}.wav"
        try:
            audio, rate = sf.read(path, start=start, frames=-1 if n_samples is None else n_samples, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as error:
            raise TrackError(track, f"{path.name} is not a readable audio file ({error})") from None
        stems.append(audio.T)
    length = min(s.shape[1] for s in stems)
    return np.ascontiguousarray(np.stack([s[:, :length] for s in stems])), int(rate)


# ----------------------------------------------------------------------------------------------
# Reading tracks: the one reader of wav folders and .stem.mp4 files
# ----------------------------------------------------------------------------------------------


@dataclass
class StreamInfo:
    """Header data of one stream of a track (a wav file, or a stream of a ``.stem.mp4``)."""

    name: str  # mixture, drums, bass, other or vocals
    n_samples: int
    sample_rate: int
    n_channels: int


def track_label(track: musdb.audio.MultiTrack) -> str:
    """``subset/name``: unique across a data set (MUSDB18's train and test names never repeat)."""
    subset = getattr(track, "subset", None)
    return f"{subset}/{track.name}" if subset else str(track.name)


def is_stem_file(track: musdb.audio.MultiTrack) -> bool:
    return str(track.path).endswith(".stem.mp4")


def stream_infos(track: musdb.audio.MultiTrack) -> tuple[list[StreamInfo], list[str]]:
    """Length, rate and channels of the five streams, read from headers only.

    Returns ``(infos, problems)``: a stream that is missing or unreadable is left out of
    ``infos`` and described in ``problems``.
    """
    infos: list[StreamInfo] = []
    problems: list[str] = []
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


def iter_track_blocks(track: musdb.audio.MultiTrack, block_samples: int) -> Iterator[np.ndarray]:
    """A track's five streams in consecutive blocks, reading the audio once.

    Yields float32 ``(5, n_channels, <= block_samples)`` arrays in :data:`SOURCE_NAMES` order
    (mixture, drums, bass, other, vocals), up to the shortest stream's end. A wav folder is read
    block by block (memory stays flat); a ``.stem.mp4`` is decoded once, all streams together.
    """
    if is_stem_file(track):
        import stempeg

        audio, _ = stempeg.read_stems(str(track.path), dtype=np.float32, info=track.info, ffmpeg_format=STEM_DECODE_FORMAT)
        audio = np.ascontiguousarray(np.transpose(audio, (0, 2, 1)))  # (5, n, ch) -> (5, ch, n)
        for start in range(0, audio.shape[-1], block_samples):
            yield audio[..., start : start + block_samples]
        return
    folder = track_folder(track)
    files = [sf.SoundFile(str(folder / f"{name}.wav")) for name in SOURCE_NAMES]
    try:
        while True:
            blocks = [f.read(block_samples, dtype="float32", always_2d=True).T for f in files]
            length = min(block.shape[-1] for block in blocks)
            if length == 0:
                return
            yield np.stack([block[:, :length] for block in blocks])
    finally:
        for f in files:
            f.close()


@dataclass
class TrackExcerpt:
    """Part of a track: the mixture file's audio and the four stems, same length and rate."""

    track: str  # subset/name
    start_seconds: float
    sample_rate: int
    mixture: np.ndarray  # float32 (n_channels, n_samples)
    stems: np.ndarray | None  # float32 (n_stems, n_channels, n_samples), STEM_NAMES order; None: no stem files

    def named(self) -> dict[str, np.ndarray]:
        """``{"mixture": ..., "drums": ..., ...}``: each ``(n_channels, n_samples)``."""
        stems = {} if self.stems is None else dict(zip(STEM_NAMES, self.stems))
        return {"mixture": self.mixture, **stems}

    @property
    def n_samples(self) -> int:
        return self.mixture.shape[-1]


def check_equal_lengths(track: musdb.audio.MultiTrack, infos: Sequence[StreamInfo] | None = None) -> None:
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
    track: musdb.audio.MultiTrack,
    start_seconds: float = 0.0,
    duration_seconds: float | None = None,
    *,
    require_stems: bool = True,
) -> TrackExcerpt:
    """Mixture and stems of ``track`` from ``start_seconds`` for ``duration_seconds`` (None: to the end).

    An excerpt running past the end is cut at the end (and may be empty if it starts there).
    One decode for a ``.stem.mp4`` (all five streams at once), one frame-range read per wav.
    With ``require_stems=False`` a track whose stem files are all missing gives ``stems=None``.

    Raises:
        TrackError: a file is missing or unreadable, or the files differ in channel count.
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
        import stempeg

        audio, rate = stempeg.read_stems(
            str(track.path), start=start / rate, duration=None if n_samples is None else n_samples / rate,
            stem_id=0 if mixture_only else None, dtype=np.float32, info=track.info, ffmpeg_format=STEM_DECODE_FORMAT,
        )
        audio = np.atleast_3d(audio) if not mixture_only else audio[None]
        audio = np.ascontiguousarray(np.transpose(audio, (0, 2, 1)))  # (streams, n, ch) -> (streams, ch, n)
        if n_samples is not None:
            audio = audio[..., :n_samples]
    else:
        folder = track_folder(track)
        blocks = []
        for name in names:
            path = folder / f"{name}.wav"
            try:
                block, _ = sf.read(str(path), start=start, frames=-1 if n_samples is None else n_samples, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as error:
                raise TrackError(track, f"{path.name} is not a readable audio file ({error})") from None
            blocks.append(block.T)
        if len({block.shape[0] for block in blocks}) > 1:
            raise TrackError(track, "its files differ in channel count")
        length = min(block.shape[-1] for block in blocks)
        audio = np.stack([block[:, :length] for block in blocks])
    return TrackExcerpt(track_label(track), start / rate, int(rate), audio[0], None if mixture_only else audio[1:])

def read_track(track: musdb.audio.MultiTrack) -> tuple[np.ndarray, np.ndarray, int]:
    """A track's mixture and true stems, whole, at its own rate.

    Returns ``(mixture, stems, sample_rate)``: float32 ``(n_channels, n_samples)`` and
    ``(n_stems, n_channels, n_samples)`` in :data:`STEM_NAMES` order, and Hz.
    """
    excerpt = read_track_excerpt(track)
    return excerpt.mixture, excerpt.stems, excerpt.sample_rate
