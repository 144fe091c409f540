"""The training and validation chunk data sets: random excerpts of tracks with augmentation
(:class:`RandomChunkDataset`), songs rendered fresh for every epoch
(:class:`FreshSyntheticChunks`), fixed consecutive chunks for validation
(:class:`SequentialChunkDataset`), and the epoch sampler that shards them across processes.

Each takes a :class:`~stemunet.config.StemSet` (default: MUSDB18's four stems): its items' stems
are the stem set's targets, in its order, built by :func:`stemunet.data.stem_sets.build_targets`
whatever the tracks are (MUSDB18, the synthetic set, folder tracks, songs rendered on the fly)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from stemunet.audio import match_channels, resample
from stemunet.config import STEM_NAMES, DataConfig, StemSet
from stemunet.data.augment import (StemShift, WaveformAugmentation, apply_waveform_augmentation, draw_repitch,
                                   repitch_source_samples, repitch_stems)
from stemunet.data.stem_sets import build_targets
from stemunet.data.synthetic import SyntheticSpec, render_track
from stemunet.data.tracks import Track, check_equal_lengths, check_track_stems, needs_family_stems, read_stems, track_length


@dataclass
class _TrackSource:
    track: Track
    n_samples: int  # at the track's rate
    rate: int
    cached: torch.Tensor | None = None  # int16 (n_targets, n_channels, n_samples) at the model rate


class _ChunkSource(torch.utils.data.Dataset):
    """Tracks read at the model's rate and channel count, from the files or a RAM cache, as the
    targets of ``stems``."""

    def __init__(self, tracks: list[Track], sample_rate: int, n_channels: int, cache: bool, stems: StemSet = StemSet()):
        if not tracks:
            raise ValueError("no tracks to draw chunks from")
        for track in tracks:  # as evaluation does: before any chunk is drawn (in a loader worker)
            check_equal_lengths(track)
            check_track_stems(track, stems)
        self.sample_rate = sample_rate
        self.n_channels = n_channels
        self.stems = stems
        self.sources = [_TrackSource(t, *track_length(t)) for t in tracks]
        if cache:
            for source in self.sources:
                stems_audio, rate = read_stems(source.track, stems=stems)
                audio = self._to_model_format(torch.from_numpy(stems_audio), rate)
                source.cached = (audio.clamp(-1, 1) * 32767).round().to(torch.int16)

    def _to_model_format(self, stems: torch.Tensor, rate: int) -> torch.Tensor:
        stems = resample(stems.contiguous(), rate, self.sample_rate)
        return torch.stack([match_channels(s, self.n_channels, downmix=True) for s in stems])

    def model_length(self, source: _TrackSource) -> int:
        """Length of a track in samples at the model's rate."""
        if source.cached is not None:
            return source.cached.shape[-1]
        return int(round(source.n_samples * self.sample_rate / source.rate))

    def read_span(self, source: _TrackSource, start: int, length: int, stem_indices: Sequence[int] | None = None) -> torch.Tensor:
        """Samples ``start`` to ``start + length`` (model rate) of a track's targets, zero-padded past its end.

        Returns ``(n_targets, n_channels, length)`` float32 (``n_targets`` = ``len(stem_indices)``,
        indices into the stem set's names; default all of them).
        """
        indices = list(range(len(self.stems))) if stem_indices is None else list(stem_indices)
        if source.cached is not None:
            chunk = source.cached[indices, :, start : start + length].to(torch.float32).mul_(1 / 32767)
        else:
            # Read the same time span at the file's rate (one sample more, so rounding never
            # leaves the resampled chunk short) and resample it.
            file_start = int(np.floor(start * source.rate / self.sample_rate))
            file_length = int(np.ceil(length * source.rate / self.sample_rate)) + 1
            names = [self.stems.names[i] for i in indices]
            stems, rate = read_stems(source.track, file_start, file_length, stem_names=names, stems=self.stems)
            chunk = self._to_model_format(torch.from_numpy(stems), rate)
        chunk = chunk[..., :length]
        if chunk.shape[-1] < length:
            chunk = torch.nn.functional.pad(chunk, (0, length - chunk.shape[-1]))
        return chunk


class RandomChunkDataset(_ChunkSource):
    """Random fixed-length chunks of random tracks, as ``(mixture, stems)`` at the model's format.

    Item ``i`` of epoch ``e`` draws from a generator seeded by ``(seed, e, i)``, so an epoch is
    reproducible whatever the number of loader workers, and a resumed run sees the same chunks
    as an uninterrupted one. Index the set with ``i`` (the epoch set by :meth:`set_epoch`) or
    with ``(e, i)`` (what :class:`EpochSampler` yields: loader workers then need no
    ``set_epoch``, which would not reach persistent workers' copies of the set).

    ``augmentation`` (default: none) picks the waveform-level augmentations; with remixing, each
    stem comes from its own randomly drawn track and start. The mixture is the sum of the
    returned stems, plus noise when noise augmentation is on.

    Items: ``mixture`` ``(n_channels, chunk_samples)`` and ``stems`` ``(n_targets, n_channels,
    chunk_samples)`` (``stems``' targets, in its order), float32, at ``sample_rate``.
    """

    def __init__(
        self,
        tracks: list[Track],
        chunk_seconds: float,
        sample_rate: int,
        n_channels: int,
        samples_per_epoch: int,
        *,
        seed: int = 0,
        cache: bool = False,
        augmentation: WaveformAugmentation = WaveformAugmentation(),
        stems: StemSet = StemSet(),
    ):
        super().__init__(tracks, sample_rate, n_channels, cache, stems)
        self.chunk_seconds = chunk_seconds
        self.samples_per_epoch = samples_per_epoch
        self.seed = seed
        self.epoch = 0
        self.augmentation = augmentation
        self.chunk_samples = int(round(chunk_seconds * sample_rate))

    def set_epoch(self, epoch: int) -> None:
        """Draw different chunks in each epoch (call before iterating)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.samples_per_epoch

    def generator(self, index: int, epoch: int | None = None) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch if epoch is None else epoch, index])

    def read_chunk(self, source: _TrackSource, rng: np.random.Generator, stem_indices: Sequence[int] | None = None,
                   length: int | None = None) -> torch.Tensor:
        """A random chunk of one track, ``(n_targets, n_channels, length)`` at the model rate.

        ``length`` defaults to ``chunk_samples`` (longer for a chunk whose pitch and tempo will be
        shifted). Tracks shorter than that are zero-padded at the end. The start is drawn at the
        model's rate over the track's length, so the cached and the file-reading paths draw the
        same chunk (when the model's rate differs from the file's, the file path's may lie up to
        one file sample off, as its start is rounded to a file sample before resampling).
        """
        length = self.chunk_samples if length is None else length
        start = int(rng.integers(0, max(1, self.model_length(source) - length + 1)))
        return self.read_span(source, start, length, stem_indices)

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, index = item if isinstance(item, tuple) else (None, item)
        rng = self.generator(index, epoch)
        # The item's first draws (none when repitching is off): whether and how each stem's pitch
        # and tempo are shifted, which sets how much source audio to read.
        shifts = draw_repitch(rng, self.augmentation, len(self.stems))
        length = None if shifts is None else repitch_source_samples(self.chunk_samples, shifts, self.sample_rate)
        if self.augmentation.remix:
            # Every target from its own track and start: new combinations the data set never had.
            chunks = []
            for stem_index in range(len(self.stems)):
                source = self.sources[int(rng.integers(len(self.sources)))]
                chunks.append(self.read_chunk(source, rng, [stem_index], length))
            stems = torch.cat(chunks, dim=0)
        else:
            source = self.sources[int(rng.integers(len(self.sources)))]
            stems = self.read_chunk(source, rng, length=length)
        if shifts is not None:
            stems = repitch_stems(stems, shifts, self.sample_rate, self.chunk_samples)
        mixture, stems = apply_waveform_augmentation(stems, rng, self.augmentation, self.sample_rate)
        return mixture, stems


class FreshSyntheticChunks(torch.utils.data.Dataset):
    """Training examples that are each a newly generated synthetic song, one chunk long.

    Instead of chunks of a fixed folder of songs, item ``i`` of epoch ``e`` is the song
    ``render_track(spec, "train", e * samples_per_epoch + i)`` of a spec ``chunk_seconds`` long
    (at least 1 s, then cut to the chunk), rendered directly at the model's rate: a run never
    sees the same song twice, and reproduces its songs from ``seed`` whatever the number of loader
    workers (items are indexed ``(epoch, i)`` by :class:`EpochSampler`, like
    :class:`RandomChunkDataset`). The songs follow ``data``'s design version and SoundFont;
    ``seed`` (the training seed) makes them other songs than the folder's.

    Items: ``mixture`` ``(n_channels, chunk_samples)`` and ``stems`` ``(n_targets, n_channels,
    chunk_samples)`` (``stems``' targets, built from the song's four stems and instrument families
    as from a synthetic track's files), float32, at ``sample_rate``; ``augmentation`` applies as
    for folder chunks (remixing does not: every song is new anyway).
    """

    def __init__(self, data: DataConfig, chunk_seconds: float, sample_rate: int, n_channels: int,
                 samples_per_epoch: int, *, seed: int = 0,
                 augmentation: WaveformAugmentation = WaveformAugmentation(), stems: StemSet = StemSet()) -> None:
        self.chunk_samples = int(round(chunk_seconds * sample_rate))
        song_seconds = max(1.0, chunk_seconds)
        if augmentation.repitch:
            # Songs long enough for the fastest tempo a stem may be shifted to.
            fastest = StemShift(tempo_percent=augmentation.repitch_tempo_percent)
            song_seconds = max(song_seconds, repitch_source_samples(self.chunk_samples, [fastest], sample_rate) / sample_rate)
        self.spec = SyntheticSpec(n_train_tracks=1, n_test_tracks=0, track_seconds=song_seconds, seed=seed,
                                  sample_rate=sample_rate, version=data.synthetic_version,
                                  soundfont=data.synthetic_soundfont,
                                  family_stems=needs_family_stems(stems))
        self.sample_rate = sample_rate
        self.n_channels = n_channels
        self.chunk_seconds = chunk_seconds
        self.samples_per_epoch = samples_per_epoch
        self.seed = seed
        self.epoch = 0
        self.augmentation = dataclasses.replace(augmentation, remix=False)
        self.stems = stems

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.samples_per_epoch

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, index = item if isinstance(item, tuple) else (self.epoch, item)
        song, _ = render_track(self.spec, "train", epoch * self.samples_per_epoch + index)
        rng = np.random.default_rng([self.seed, epoch, index])
        shifts = draw_repitch(rng, self.augmentation, len(self.stems))
        length = self.chunk_samples if shifts is None else repitch_source_samples(self.chunk_samples, shifts, self.sample_rate)
        # {stream: (n_samples, 2)} -> targets (n_targets, 2, length); the synthetic set's base stems are the four.
        streams = {name: audio[:length].T for name, audio in song.items()}
        targets = build_targets(streams, STEM_NAMES, self.stems, track=f"fresh song {epoch * self.samples_per_epoch + index}")
        stems = torch.from_numpy(targets)
        if self.n_channels == 1:
            stems = stems.mean(dim=1, keepdim=True)
        if shifts is not None:
            stems = repitch_stems(stems, shifts, self.sample_rate, self.chunk_samples)
        return apply_waveform_augmentation(stems.contiguous(), rng, self.augmentation, self.sample_rate)


class EpochSampler(torch.utils.data.Sampler):
    """Yields ``(epoch, index)`` for the items of one epoch of a :class:`RandomChunkDataset`.

    Call :meth:`set_epoch` before each epoch. The epoch travels with every index, so persistent
    loader workers draw the right chunks. ``rank``/``world_size`` split an epoch's items between
    processes (item ``i`` goes to rank ``i % world_size``), for distributed training. As torch's
    ``DistributedSampler`` does, an epoch whose items do not divide evenly is padded with its first
    items, so every process gets the same number of items, hence of batches: a process with one
    batch more would wait forever in its gradient all-reduce for the others.
    """

    def __init__(self, n_items: int, *, rank: int = 0, world_size: int = 1):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in 0..{world_size - 1}, got {rank}")
        self.n_items = n_items
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _indices(self) -> range | list[int]:
        total = -(-self.n_items // self.world_size) * self.world_size  # the next multiple of world_size
        indices = [index % self.n_items for index in range(total)] if self.n_items else []
        return indices[self.rank : total : self.world_size]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return ((self.epoch, index) for index in self._indices())

    def __len__(self) -> int:
        return len(self._indices())


class SequentialChunkDataset(_ChunkSource):
    """Every track cut into consecutive chunks of ``chunk_seconds``, for validation.

    Deterministic and without augmentation: every sample of every track is seen. A track's last
    chunk is moved back to end at the track's end (so it overlaps its neighbour rather than
    holding padding); a track shorter than a chunk is zero-padded. Items are ``(mixture,
    stems)`` as in :class:`RandomChunkDataset`: the mixture is the sum of the targets.
    """

    def __init__(
        self,
        tracks: list[Track],
        chunk_seconds: float,
        sample_rate: int,
        n_channels: int,
        *,
        cache: bool = False,
        stems: StemSet = StemSet(),
    ):
        super().__init__(tracks, sample_rate, n_channels, cache, stems)
        self.chunk_samples = int(round(chunk_seconds * sample_rate))
        self.items: list[tuple[int, int]] = []  # (source index, start sample at the model rate)
        for number, source in enumerate(self.sources):
            length = self.model_length(source)
            starts = list(range(0, max(1, length - self.chunk_samples + 1), self.chunk_samples))
            if length > self.chunk_samples and starts[-1] + self.chunk_samples < length:
                starts.append(length - self.chunk_samples)
            self.items.extend((number, start) for start in starts)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        number, start = self.items[index]
        stems = self.read_span(self.sources[number], start, self.chunk_samples)
        return stems.sum(dim=0), stems
