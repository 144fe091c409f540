"""The pieces a training run is made of, each built by its own function so that a distributed
launcher can wrap the model and shard the data without touching the loops: seeds and RNG
state, the separator, optimiser and schedule, waveform augmentation, the data loaders."""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from stemunet.config import resolve_device
from stemunet.data.augment import WaveformAugmentation
from stemunet.data.chunks import EpochSampler, FreshSyntheticChunks, RandomChunkDataset, SequentialChunkDataset
from stemunet.data.tracks import check_dataset, list_tracks, resolve_root
from stemunet.separation.separator import Separator
from stemunet.training.config import TrainConfig


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (model initialisation uses torch's)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """The global random generators' states, for a checkpoint.

    Only tensors, tuples and numbers, so the checkpoint opens with ``weights_only=True``: NumPy's
    MT19937 key becomes an int64 tensor beside its position and cached Gaussian.
    """
    kind, key, position, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    state = {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(key.astype(np.int64)), int(position), int(has_gauss), float(cached_gaussian)),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    kind, key, position, has_gauss, cached_gaussian = state["numpy"]
    np.random.set_state((kind, np.asarray(key, dtype=np.int64).astype(np.uint32), position, has_gauss, cached_gaussian))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


# ----------------------------------------------------------------------------------------------
# Builders
# ----------------------------------------------------------------------------------------------


def build_separator(config: TrainConfig) -> Separator:
    """A freshly initialised separator for ``config`` (seed the global generator first)."""
    return Separator(config.separator_config)


def build_optimizer(separator: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam at ``learning_rate``; AdamW (decoupled weight decay) when ``weight_decay`` > 0."""
    if config.weight_decay > 0:
        return torch.optim.AdamW(separator.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    return torch.optim.Adam(separator.parameters(), lr=config.learning_rate)


def cosine_factor(step: int, total_steps: int, final_ratio: float) -> float:
    """Learning-rate multiplier at ``step``: 1 at step 0, ``final_ratio`` at ``total_steps``, cosine between."""
    progress = min(1.0, step / max(1, total_steps))
    return final_ratio + (1.0 - final_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int | None = None) -> torch.optim.lr_scheduler.LRScheduler:
    """Cosine decay from ``learning_rate`` to ``final_learning_rate``, stepped once per optimiser step."""
    total_steps = config.epochs * (config.steps_per_epoch if steps_per_epoch is None else steps_per_epoch)
    final_ratio = config.final_learning_rate / config.learning_rate
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: cosine_factor(step, total_steps, final_ratio))


def waveform_augmentation(config: TrainConfig) -> WaveformAugmentation:
    """The waveform-level augmentations ``config`` switches on."""
    return WaveformAugmentation(
        remix=config.augment_remix,
        gain_db=config.gain_db if config.augment_gain else 0.0,
        channel_swap=config.augment_channel_swap,
        flip_sign=config.augment_flip_sign,
        time_mask_seconds=config.time_mask_seconds if config.augment_time_mask else 0.0,
        noise_snr_db=config.noise_snr_db if config.augment_noise else None,
        repitch_probability=config.repitch_probability if config.augment_repitch else 0.0,
        repitch_semitones=config.repitch_semitones if config.augment_repitch else 0,
        repitch_tempo_percent=config.repitch_tempo_percent if config.augment_repitch else 0.0,
    )


@dataclass
class DataLoaders:
    """The training and validation loaders, and which tracks feed them."""

    train: torch.utils.data.DataLoader
    valid: torch.utils.data.DataLoader
    train_tracks: list[str]
    valid_tracks: list[str]
    note: str = ""  # a caveat about the data (no validation split, say), also in metrics.json

    @property
    def train_set(self) -> RandomChunkDataset:
        return self.train.dataset

    def set_epoch(self, epoch: int) -> None:
        self.train.sampler.set_epoch(epoch)
        self.train_set.set_epoch(epoch)

    def summary(self):
        """What feeds training and validation, as a pandas DataFrame (one row per loader)."""
        import pandas as pd

        rows = []
        for name, loader, tracks in (("training", self.train, self.train_tracks), ("validation", self.valid, self.valid_tracks)):
            dataset = loader.dataset
            rows.append({
                "tracks": len(tracks),
                "chunks": len(dataset),
                "chunk_seconds": dataset.chunk_samples / dataset.sample_rate,
                "batches": len(loader),
                "augmentation": ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(dataset.augmentation).items())
                if isinstance(dataset, (RandomChunkDataset, FreshSyntheticChunks)) else "none",
                "track_names": ", ".join(tracks),
            })
        return pd.DataFrame(rows, index=["training", "validation"])


def build_data_loaders(config: TrainConfig, *, rank: int = 0, world_size: int = 1, progress: bool = True) -> DataLoaders:
    """Training and validation loaders for ``config``'s data set (generated first if synthetic).

    Training: ``samples_per_epoch`` random, augmented chunks per epoch (of which this process
    takes every ``world_size``-th, from ``rank``), in batches of ``batch_size``. Validation: every
    validation track cut into consecutive ``valid_chunk_seconds`` chunks, unaugmented.
    Batches are ``(mixture, stems)``: ``(batch, n_channels, n_samples)`` and ``(batch, n_stems,
    n_channels, n_samples)``.

    Batches' stems are the model's ``stems`` (:class:`stemunet.config.StemSet`), made from the data
    set's own stems. A data set without validation tracks is refused, saying how to give some:
    validating on the training tracks would measure fit, not generalisation.
    """
    stems = config.model.stem_set
    root = resolve_root(config.data, progress=progress, stems=stems)
    warnings = check_dataset(config.data, stems, progress=progress)  # every bad track, before anything trains
    for warning in warnings:
        print(f"warning: {warning}")
    train_tracks = list_tracks(config.data, "train", "train", stems=stems)
    valid_tracks = list_tracks(config.data, "train", "valid", stems=stems)
    if not train_tracks:
        raise FileNotFoundError(f"{root}: no training tracks in train/")
    if not valid_tracks:
        raise FileNotFoundError(
            f"{root}: no validation tracks (MUSDB18's validation split names none of its tracks); read it as a folders "
            "data set to give some: dataset: folders, data_root: this folder, valid_root: a folder of track folders")
    note = "; ".join(warnings)
    stft = config.stft
    if config.fresh_synthetic:
        train_set = FreshSyntheticChunks(config.data, config.chunk_seconds, stft.sample_rate, stft.n_channels,
                                         config.samples_per_epoch, seed=config.seed,
                                         augmentation=waveform_augmentation(config), stems=config.model.stem_set)
        train_names = [f"{config.samples_per_epoch} new songs of {config.chunk_seconds:g} s per epoch"]
    else:
        train_set = RandomChunkDataset(
            train_tracks,
            config.chunk_seconds,
            stft.sample_rate,
            stft.n_channels,
            config.samples_per_epoch,
            seed=config.seed,
            cache=config.cache_audio,
            augmentation=waveform_augmentation(config),
            stems=config.model.stem_set,
        )
        train_names = [t.name for t in train_tracks]
    valid_set = SequentialChunkDataset(
        valid_tracks, config.valid_chunk_seconds, stft.sample_rate, stft.n_channels, cache=config.cache_audio,
        stems=config.model.stem_set,
    )
    device = resolve_device(config.device)
    loader_options: dict[str, Any] = {
        "num_workers": config.num_workers,
        "pin_memory": device.type == "cuda",
        "persistent_workers": config.num_workers > 0,
    }
    train = torch.utils.data.DataLoader(
        train_set,
        batch_size=config.batch_size,
        sampler=EpochSampler(len(train_set), rank=rank, world_size=world_size),
        drop_last=False,
        **loader_options,
    )
    valid = torch.utils.data.DataLoader(valid_set, batch_size=config.batch_size, shuffle=False, **loader_options)
    return DataLoaders(train, valid, train_names, [t.name for t in valid_tracks], note)


def training_example(dataset: RandomChunkDataset, index: int = 0, epoch: int = 0, *, audible: bool = True, tries: int = 64) -> dict[str, torch.Tensor]:
    """One training chunk, augmented as in training, as ``{"mixture": ..., <stem>: ..., ...}`` (the data set's stems).

    Each value is ``(n_channels, n_samples)`` float32 at the data set's sample rate, ready for
    :func:`stemunet.lab.plots.plot_stems` and ``IPython.display.Audio``. With ``audible``, the first
    item from ``index`` on (of up to ``tries``) in which every stem is above -60 dBFS RMS is
    returned (songs have stretches without vocals, and a silent stem shows nothing); if none is,
    item ``index`` itself.
    """
    for candidate in range(index, index + (tries if audible else 1)):
        mixture, stems = dataset[(epoch, candidate)]
        if not audible or bool((stems.pow(2).mean(dim=(1, 2)).sqrt() > 1e-3).all()):
            break
    else:
        mixture, stems = dataset[(epoch, index)]
    return {"mixture": mixture, **{name: stem for name, stem in zip(dataset.stems.names, stems)}}
