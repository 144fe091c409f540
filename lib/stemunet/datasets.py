"""Multitrack data sets: MUSDB18-HQ, MUSDB18 and the embedded synthetic set, through ``musdb``.

Tracks are listed with ``musdb.DB`` so the official train/valid split of MUSDB18 applies; the
synthetic set lists its own validation tracks in its manifest. Training reads random chunks:
only the frames a chunk needs are decoded (soundfile frame ranges for wav folders), or, with
``cache=True``, every track is decoded once into RAM as 16-bit audio at the model's rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import musdb
import numpy as np
import soundfile as sf
import torch

from stemunet.audio import AudioError, match_channels, resample
from stemunet.config import STEM_NAMES, DataConfig
from stemunet.synthetic import SyntheticSpec, ensure_synthetic_dataset, is_synthetic_dataset, read_synthetic_manifest

Subset = Literal["train", "test"]
Split = Literal["train", "valid"] | None


def synthetic_spec(data: DataConfig) -> SyntheticSpec:
    """The synthetic set that ``data`` describes."""
    return SyntheticSpec(
        n_train_tracks=data.synthetic_train_tracks,
        n_test_tracks=data.synthetic_test_tracks,
        track_seconds=data.synthetic_seconds,
        seed=data.synthetic_seed,
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


def is_wav_layout(root: Path) -> bool:
    """MUSDB18-HQ (one folder of wavs per track) rather than MUSDB18 (``.stem.mp4`` files)."""
    return not any(root.glob("*/*.stem.mp4"))


def list_tracks(data: DataConfig | Path | str, subset: Subset = "train", split: Split = None) -> list[musdb.audio.MultiTrack]:
    """``musdb`` tracks of ``subset``; for ``train``, ``split`` picks the train or valid part.

    ``data`` is a :class:`DataConfig` or a data set folder.
    """
    root = resolve_root(data) if isinstance(data, DataConfig) else Path(data)
    synthetic = is_synthetic_dataset(root)
    # musdb knows only MUSDB18's own validation track names; the synthetic set lists its own.
    musdb_split = None if synthetic else (split if subset == "train" else None)
    db = musdb.DB(root=str(root), is_wav=is_wav_layout(root), subsets=subset, split=musdb_split)
    tracks = list(db.tracks)
    if synthetic and subset == "train" and split is not None:
        valid = set(read_synthetic_manifest(root)["validation_tracks"])
        tracks = [t for t in tracks if (t.name in valid) == (split == "valid")]
    return tracks


def track_length(track: musdb.audio.MultiTrack) -> tuple[int, int]:
    """``(n_samples, sample_rate)`` of a track without decoding it."""
    if track.path.endswith(".stem.mp4"):
        return int(round(track.duration * track.rate)), int(track.rate)
    info = sf.info(str(Path(track.path) / "mixture.wav"))
    return info.frames, info.samplerate


def read_stems(track: musdb.audio.MultiTrack, start: int = 0, n_samples: int | None = None) -> tuple[np.ndarray, int]:
    """The four stems of ``track``, frames ``start`` to ``start + n_samples`` (default: to the end).

    Returns ``(stems, sample_rate)``: float32 ``(n_stems, n_channels, n_samples)`` in
    :data:`STEM_NAMES` order, at the track's own rate.
    """
    if track.path.endswith(".stem.mp4"):
        rate = track.rate
        track.chunk_start = start / rate
        track.chunk_duration = None if n_samples is None else n_samples / rate
        try:
            stems = np.stack([track.targets[name].audio.T for name in STEM_NAMES]).astype(np.float32)
        finally:
            track.chunk_start, track.chunk_duration = 0, None
        return stems, int(rate)
    stems = []
    rate = 0
    for name in STEM_NAMES:
        path = Path(track.path) / f"{name}.wav"
        try:
            audio, rate = sf.read(path, start=start, frames=-1 if n_samples is None else n_samples, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as error:
            raise AudioError(path, f"not a readable audio file ({error})") from error
        stems.append(audio.T)
    length = min(s.shape[1] for s in stems)
    return np.stack([s[:, :length] for s in stems]), int(rate)


@dataclass
class _TrackSource:
    track: musdb.audio.MultiTrack
    n_samples: int  # at the track's rate
    rate: int
    cached: torch.Tensor | None = None  # int16 (n_stems, n_channels, n_samples) at the model rate


class RandomChunkDataset(torch.utils.data.Dataset):
    """Random fixed-length chunks of random tracks, as ``(mixture, stems)`` at the model's format.

    Item ``i`` draws from a generator seeded by ``(seed, epoch, i)``, so an epoch is reproducible
    whatever the number of loader workers. The mixture is the sum of the returned stems.

    Items: ``mixture`` ``(n_channels, chunk_samples)`` and ``stems`` ``(n_stems, n_channels,
    chunk_samples)``, float32, at ``sample_rate``.
    """

    def __init__(
        self,
        tracks: list[musdb.audio.MultiTrack],
        chunk_seconds: float,
        sample_rate: int,
        n_channels: int,
        samples_per_epoch: int,
        *,
        seed: int = 0,
        cache: bool = False,
    ):
        if not tracks:
            raise ValueError("no tracks to draw chunks from")
        self.chunk_seconds = chunk_seconds
        self.sample_rate = sample_rate
        self.n_channels = n_channels
        self.samples_per_epoch = samples_per_epoch
        self.seed = seed
        self.epoch = 0
        self.chunk_samples = int(round(chunk_seconds * sample_rate))
        self.sources = [_TrackSource(t, *track_length(t)) for t in tracks]
        if cache:
            for source in self.sources:
                stems, rate = read_stems(source.track)
                audio = self._to_model_format(torch.from_numpy(stems), rate)
                source.cached = (audio.clamp(-1, 1) * 32767).round().to(torch.int16)

    def set_epoch(self, epoch: int) -> None:
        """Draw different chunks in each epoch (call before iterating)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.samples_per_epoch

    def _to_model_format(self, stems: torch.Tensor, rate: int) -> torch.Tensor:
        stems = resample(stems, rate, self.sample_rate)
        return torch.stack([match_channels(s, self.n_channels, downmix=True) for s in stems])

    def generator(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, index])

    def read_chunk(self, source: _TrackSource, rng: np.random.Generator) -> torch.Tensor:
        """A random chunk of one track, ``(n_stems, n_channels, chunk_samples)`` at the model rate."""
        if source.cached is not None:
            total = source.cached.shape[-1]
            start = int(rng.integers(0, max(1, total - self.chunk_samples + 1)))
            chunk = source.cached[..., start : start + self.chunk_samples].float() / 32767
        else:
            file_chunk = int(np.ceil(self.chunk_seconds * source.rate))
            start = int(rng.integers(0, max(1, source.n_samples - file_chunk + 1)))
            stems, rate = read_stems(source.track, start, file_chunk)
            chunk = self._to_model_format(torch.from_numpy(stems), rate)
        # Tracks shorter than a chunk are zero-padded at the end.
        chunk = chunk[..., : self.chunk_samples]
        if chunk.shape[-1] < self.chunk_samples:
            chunk = torch.nn.functional.pad(chunk, (0, self.chunk_samples - chunk.shape[-1]))
        return chunk

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = self.generator(index)
        source = self.sources[int(rng.integers(len(self.sources)))]
        stems = self.read_chunk(source, rng)
        return stems.sum(dim=0), stems
