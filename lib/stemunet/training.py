"""Training: data loaders, model, optimiser and schedule; the fit / validate loops; checkpoints.

The recipe is the model card's: the U-Net's masks times the mixture magnitude are compared with
the true stem magnitudes under an L1 loss (``loss: l1``; the mixture phase is used only to go back
to waveforms, at separation time). Phase-aware options compare what separation outputs, the
ISTFT of the masked complex mixture, with the stem waveforms (``l1_wave``), or add that to the
magnitude L1 (``l1_mag_wave``, a multi-domain loss as X-UMX's); see :func:`training_loss`. Adam with a cosine decay of the learning rate from
``learning_rate`` to ``final_learning_rate`` over the whole run; gradient clipping; one
validation pass over the validation tracks every epoch.

Everything is built by separate functions (:func:`build_separator`, :func:`build_optimizer`,
:func:`build_scheduler`, :func:`build_data_loaders`) so that a distributed launcher can wrap the
model and shard the data (``EpochSampler(rank=..., world_size=...)``) without touching the loops.

A run folder receives, after every epoch (so an interrupted run keeps them)::

    checkpoints/last.pt   training checkpoint: weights, optimiser, schedule, epoch, RNG, history
    checkpoints/best.pt   model checkpoint of the epoch with the lowest validation loss so far
                          (weights, configuration and training summary; no optimiser state)
    history.csv           epoch, train_loss, valid_loss, learning_rate, seconds
    metrics.json          summary figures (best epoch, losses, time, throughput, data)

Both load as separators (:mod:`stemunet.checkpoints` says how the two kinds differ).
``resume_from`` (a run folder, meaning its ``last.pt``, or a training checkpoint) continues an interrupted run: weights, optimiser, schedule, RNG and history are
restored and training goes on from the next epoch to ``epochs``. Training chunks are drawn from
``(seed, epoch, index)``, so a resumed run sees exactly the data an uninterrupted one would.
``init_from`` (a run folder, a checkpoint file or ``pretrained``) starts a new run from a trained
model's weights instead of random ones: fine-tuning, with its own optimiser, schedule, data and
loss. The model's shape and signal path must be the checkpoint's; its post-filter may differ.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from stemunet.progress import progress_bar

from stemunet.augment import MAX_REPITCH_SEMITONES, MAX_REPITCH_TEMPO_PERCENT, WaveformAugmentation, frequency_mask
from stemunet import distributed
from stemunet.checkpoints import load_separator, save_model, save_training
from stemunet.config import STEM_NAMES, Config, ConfigError, DataConfig, ModelConfig, SeparatorConfig, StftConfig, check_device, require, resolve_device
from stemunet.datasets import (EpochSampler, FreshSyntheticChunks, RandomChunkDataset, SequentialChunkDataset, list_tracks,
                               resolve_root)
from stemunet.files import write_json_atomic, write_text_atomic
from stemunet.model import count_parameters
from stemunet.resume import model_provenance, starting_point, write_best_checkpoint
from stemunet.separator import Separator

HISTORY_COLUMNS = ("epoch", "train_loss", "valid_loss", "learning_rate", "seconds")
LossType = Literal["l1", "mse", "l1_wave", "l1_mag_wave"]
MAGNITUDE_LOSSES = ("l1", "mse", "l1_mag_wave")  # losses with a magnitude term
WAVEFORM_LOSSES = ("l1_wave", "l1_mag_wave")  # losses with a waveform term
LOSS_LABELS = {
    "l1": "L1 loss on magnitudes",
    "mse": "MSE loss on magnitudes",
    "l1_wave": "L1 loss on waveforms (x window norm)",
    "l1_mag_wave": "L1 loss on magnitudes + waveforms",
}


@dataclasses.dataclass(frozen=True)
class TrainConfig(Config):
    """Everything a training run depends on. Flat parameter names; see ``notebooks/train.ipynb``.

    The defaults are the notebook's: a tiny model on the small synthetic set, a minute on a CPU.
    Recipes live in ``parameters/``: ``train.yaml`` our default for MUSDB18-HQ on a GPU,
    ``train_seed_card.yaml`` the model card's, ``train_demo.yaml`` the README's CPU demo.
    """

    stft: StftConfig = StftConfig(sample_rate=16000, n_channels=1, n_fft=1024, hop_length=256)
    model: ModelConfig = ModelConfig(base_channels=8, depth=4, max_frequency=0.0)
    data: DataConfig = DataConfig()

    # Schedule
    epochs: int = 2  # passes of samples_per_epoch random chunks each
    samples_per_epoch: int = 16  # random training chunks per epoch
    batch_size: int = 4  # chunks per optimiser step
    chunk_seconds: float = 2.0  # length of a training chunk
    learning_rate: float = 1e-3  # Adam's initial learning rate (the card's: 1e-4)
    final_learning_rate: float = 1e-5  # reached by a cosine decay at the last step (the card's)
    weight_decay: float = 0.0  # > 0: AdamW's decoupled weight decay
    grad_clip: float = 5.0  # largest global gradient norm; 0 = no clipping
    loss: LossType = "l1"  # l1 or mse: |mask * mixture| against |stem| (magnitudes); l1_wave: L1 of the masked estimates' waveforms; l1_mag_wave: l1 + l1_wave
    stem_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)  # each stem's share of the loss (drums, bass, other, vocals), as Demucs's weights; normalised to sum to the number of stems

    # Augmentation (each switchable; see stemunet.augment for where each acts)
    augment_remix: bool = True  # each stem of a chunk from an independently drawn track
    augment_gain: bool = True  # each stem scaled by a random gain in [-gain_db, +gain_db]
    gain_db: float = 3.0  # range of the random stem gain, dB
    augment_channel_swap: bool = True  # each stereo stem's channels swapped with probability 1/2
    augment_time_mask: bool = False  # one random span silenced in the mixture and every stem
    time_mask_seconds: float = 0.5  # longest silenced span, seconds
    augment_frequency_mask: bool = False  # one random band zeroed in mixture and target spectrograms
    frequency_mask_hz: float = 1000.0  # widest zeroed band, Hz
    augment_noise: bool = False  # white noise added to the mixture (targets stay clean)
    noise_snr_db: float = 30.0  # lowest SNR of that noise (drawn in [this, this + 20] dB)
    augment_repitch: bool = False  # some chunks' stems shifted in pitch and tempo, each stem by its own random amount (Demucs's repitch)
    repitch_probability: float = 0.2  # share of chunks shifted (Demucs's: 0.2)
    repitch_semitones: int = 2  # largest pitch shift: whole semitones drawn in [-this, +this] (Demucs's: 2)
    repitch_tempo_percent: float = 12.0  # largest tempo change, % (drawn uniformly in [-this, +this]; Demucs's: 12)

    # Validation
    valid_chunk_seconds: float = 3.0  # validation tracks are cut into consecutive chunks this long

    # Data pipeline and hardware
    fresh_synthetic: bool = False  # synthetic set only: every training example a newly generated song (never seen twice) instead of a chunk of train/
    cache_audio: bool = True  # decode every track once into RAM (16-bit, at the model's rate)
    num_workers: int = 0  # data loader worker processes; 0 = load in the training process
    cpu_threads: int = 1  # torch's CPU threads during training (1 suits a tiny model); 0 = torch's default, one per core
    device: str = "auto"  # auto (CUDA if available, else CPU), cpu, cuda, cuda:N, mps
    mixed_precision: Literal["auto", "off", "bf16", "fp16"] = "auto"  # CUDA only; auto = bf16 where supported
    channels_last: bool = False  # U-Net in channels-last memory layout (what tensor cores want; try it on GPUs)
    seed: int = 0  # model initialisation, chunk draws and augmentation
    resume_from: str = ""  # a training run folder or checkpoint to continue; "" = start afresh
    init_from: str = ""  # fine-tuning: a trained model (run folder, checkpoint file or "pretrained") whose weights start this run, with a fresh optimiser and schedule; "" = random initialisation

    # Several processes (stemunet.distributed)
    n_processes: int = 1  # processes (GPUs) on this machine, started by torch's elastic launcher; global batch = batch_size x processes
    sync_batchnorm: bool = True  # with several processes: BatchNorm statistics over the global batch (SyncBatchNorm)

    def __post_init__(self) -> None:
        require(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        require(not (self.fresh_synthetic and self.data.musdb_root),
                "fresh_synthetic generates synthetic songs: it needs musdb_root empty (the synthetic set)")
        require(self.samples_per_epoch >= 1, f"samples_per_epoch must be >= 1, got {self.samples_per_epoch}")
        require(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        require(self.chunk_seconds > 0, f"chunk_seconds must be > 0, got {self.chunk_seconds}")
        require(self.learning_rate > 0, f"learning_rate must be > 0, got {self.learning_rate}")
        require(len(self.stem_weights) == len(STEM_NAMES) and all(math.isfinite(w) and w >= 0 for w in self.stem_weights)
                and sum(self.stem_weights) > 0,
                f"stem_weights must be {len(STEM_NAMES)} numbers >= 0 ({', '.join(STEM_NAMES)}), not all 0, got {list(self.stem_weights)}")
        require(
            0 <= self.final_learning_rate <= self.learning_rate,
            f"final_learning_rate must be in [0, learning_rate], got {self.final_learning_rate}",
        )
        require(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")
        require(self.grad_clip >= 0, f"grad_clip must be >= 0, got {self.grad_clip}")
        require(self.gain_db >= 0, f"gain_db must be >= 0, got {self.gain_db}")
        require(self.time_mask_seconds >= 0, f"time_mask_seconds must be >= 0, got {self.time_mask_seconds}")
        require(self.frequency_mask_hz >= 0, f"frequency_mask_hz must be >= 0, got {self.frequency_mask_hz}")
        require(0 < self.repitch_probability <= 1, f"repitch_probability must be in (0, 1], got {self.repitch_probability}")
        require(0 <= self.repitch_semitones <= MAX_REPITCH_SEMITONES,
                f"repitch_semitones must be in 0..{MAX_REPITCH_SEMITONES}, got {self.repitch_semitones}")
        require(0 <= self.repitch_tempo_percent <= MAX_REPITCH_TEMPO_PERCENT,
                f"repitch_tempo_percent must be in [0, {MAX_REPITCH_TEMPO_PERCENT:g}], got {self.repitch_tempo_percent}")
        require(not self.augment_repitch or self.repitch_semitones > 0 or self.repitch_tempo_percent > 0,
                "augment_repitch needs repitch_semitones > 0 or repitch_tempo_percent > 0 (both are 0: nothing would be shifted)")
        require(self.valid_chunk_seconds > 0, f"valid_chunk_seconds must be > 0, got {self.valid_chunk_seconds}")
        require(self.num_workers >= 0, f"num_workers must be >= 0, got {self.num_workers}")
        require(self.cpu_threads >= 0, f"cpu_threads must be >= 0, got {self.cpu_threads}")
        require(self.n_processes >= 1, f"n_processes must be >= 1, got {self.n_processes}")
        check_device(self.device)

    @property
    def separator_config(self) -> SeparatorConfig:
        return SeparatorConfig(stft=self.stft, model=self.model)

    @property
    def loss_label(self) -> str:
        """What the loss compares, for plot axes: ``"L1 loss on magnitudes"``."""
        return LOSS_LABELS[self.loss]

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.samples_per_epoch / self.batch_size)


# ----------------------------------------------------------------------------------------------
# Device, precision, seeding
# ----------------------------------------------------------------------------------------------


def resolve_mixed_precision(setting: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for the U-Net, or ``None`` for full float32.

    Mixed precision is used on CUDA only (on the CPU it would be slower, not faster); ``auto``
    picks bfloat16 where the GPU supports it (no loss scaling needed), else float16.
    """
    if device.type != "cuda" or setting == "off":
        return None
    if setting == "fp16":
        return torch.float16
    if setting == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


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

    Without validation tracks (a folder whose tracks are not in MUSDB18's validation list), the
    training tracks are validated on instead, and :attr:`DataLoaders.note` says so.
    """
    root = resolve_root(config.data, progress=progress)
    train_tracks = list_tracks(root, "train", "train")
    valid_tracks = list_tracks(root, "train", "valid")
    if not train_tracks:
        raise FileNotFoundError(f"{root}: no training tracks in train/")
    note = ""
    if not valid_tracks:
        note = (f"{root} has no validation tracks (MUSDB18's validation split names none of its tracks): "
                "validating on the training tracks, so the validation loss measures fit, not generalisation")
        print(f"warning: {note}")
        valid_tracks = train_tracks
    stft = config.stft
    if config.fresh_synthetic:
        train_set = FreshSyntheticChunks(config.data, config.chunk_seconds, stft.sample_rate, stft.n_channels,
                                         config.samples_per_epoch, seed=config.seed,
                                         augmentation=waveform_augmentation(config))
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
        )
        train_names = [t.name for t in train_tracks]
    valid_set = SequentialChunkDataset(
        valid_tracks, config.valid_chunk_seconds, stft.sample_rate, stft.n_channels, cache=config.cache_audio
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
    """One training chunk, augmented as in training, as ``{"mixture": ..., "drums": ..., ...}``.

    Each value is ``(n_channels, n_samples)`` float32 at the data set's sample rate, ready for
    :func:`stemunet.plots.plot_stems` and ``IPython.display.Audio``. With ``audible``, the first
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
    return {"mixture": mixture, **{name: stem for name, stem in zip(STEM_NAMES, stems)}}


# ----------------------------------------------------------------------------------------------
# Loss and loops
# ----------------------------------------------------------------------------------------------


def training_loss(
    separator: Separator,
    mixture: torch.Tensor,
    stems: torch.Tensor,
    config: TrainConfig,
    *,
    amp_dtype: torch.dtype | None = None,
    mask_generator: torch.Generator | None = None,
    unet: torch.nn.Module | None = None,
) -> torch.Tensor:
    """The training loss of one batch, as ``config.loss`` says.

    * ``l1`` / ``mse``: between masked mixture magnitudes ``|mask * mixture|`` and stem magnitudes.
    * ``l1_wave``: L1 between the waveforms of the masked estimates (ISTFT of ``mask * mixture``
      with the mixture's phase, what separation outputs) and the stem waveforms, so errors that
      only show after overlap-add (frames that disagree, phase leakage between stems) count.
    * ``l1_mag_wave``: ``l1 + l1_wave``, a multi-domain loss as X-UMX's (Sawata et al., ICASSP
      2021: spectrogram MSE + 10 x time-domain SDR loss, with the same network as Open-Unmix).

    The waveform L1 is multiplied by the STFT window's L2 norm (``sqrt(sum w**2)``, 39 for a 4096
    Hann window): by Parseval, that is the gain from a sample's amplitude to a bin's magnitude for
    noise-like signals, so both terms of ``l1_mag_wave`` are on the same scale whatever ``n_fft``
    (neither dominates), and ``l1_wave`` losses read like ``l1`` ones (and meet ``grad_clip``
    alike).

    Args:
        mixture: ``(batch, n_channels, n_samples)`` on the separator's device.
        stems: ``(batch, n_stems, n_channels, n_samples)``.
        amp_dtype: autocast dtype for the U-Net (``None``: float32). STFTs, ISTFTs and the loss
            stay in float32.
        mask_generator: draws the frequency masks; ``None`` applies none (validation). The band
            is zeroed in the complex spectrograms, so waveform targets lose it too.
        unet: the U-Net as wrapped for distributed training, called instead of ``separator.unet``.

    Returns a scalar: the mean over batch, stems, channels and bins and frames (magnitudes) or
    samples (waveforms), each stem weighted by ``config.stem_weights`` (normalised to mean 1, so
    equal weights give the plain mean); ``l1_mag_wave`` sums the two means.
    """
    mixture_spec = separator.stft(mixture)  # complex (batch, n_channels, n_bins, n_frames)
    target_spec = separator.stft(stems)  # complex (batch, n_stems, n_channels, n_bins, n_frames)
    masked_band = mask_generator is not None and config.augment_frequency_mask and config.frequency_mask_hz > 0
    if masked_band:
        max_bins = int(round(config.frequency_mask_hz * config.stft.n_fft / config.stft.sample_rate))
        mixture_spec, target_spec = frequency_mask(mixture_spec, target_spec, mask_generator, max_bins)
    mixture_magnitude = mixture_spec.abs()
    with torch.autocast(device_type=mixture.device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        layout = torch.channels_last if config.channels_last else torch.contiguous_format
        masks = (unet or separator.unet)(mixture_magnitude.contiguous(memory_format=layout))
    masks = masks.float()  # (batch, n_stems, n_channels, n_bins, n_frames)

    weights = torch.tensor(config.stem_weights, device=mixture.device)
    weights = weights * (len(weights) / weights.sum())  # mean 1: equal weights give the plain mean

    def weighted_mean(distances: torch.Tensor) -> torch.Tensor:
        """Mean of ``(batch, n_stems, ...)`` distances, each stem's weighted by its ``stem_weights``."""
        return (distances.mean(dim=(0, *range(2, distances.dim()))) * weights).mean()

    loss = mixture.new_zeros(())
    if config.loss in MAGNITUDE_LOSSES:
        estimate = masks * mixture_magnitude.unsqueeze(1)
        distance = torch.nn.functional.mse_loss if config.loss == "mse" else torch.nn.functional.l1_loss
        loss = loss + weighted_mean(distance(estimate, target_spec.abs(), reduction="none"))
    if config.loss in WAVEFORM_LOSSES:
        n_samples = mixture.shape[-1]
        estimate_wave = separator.istft(masks * mixture_spec.unsqueeze(1), n_samples)
        # ISTFT(STFT(x)) is x: only a zeroed band makes the target differ from the stems.
        target_wave = separator.istft(target_spec, n_samples) if masked_band else stems
        loss = loss + weighted_mean((estimate_wave - target_wave).abs()) * separator.stft.window.norm()
    return loss


def _mask_generator(config: TrainConfig, epoch: int, rank: int = 0) -> torch.Generator:
    # One stream per epoch (and process), so a resumed run masks exactly as an uninterrupted one.
    return torch.Generator().manual_seed(config.seed * 1_000_003 + epoch + 7_919 * rank)


def train_one_epoch(
    separator: Separator,
    loader: torch.utils.data.DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    config: TrainConfig,
    *,
    epoch: int,
    amp_dtype: torch.dtype | None = None,
    scaler: torch.amp.GradScaler | None = None,
    progress: bool = True,
    unet: torch.nn.Module | None = None,
    rank: int = 0,
) -> tuple[float, int]:
    """One pass over ``loader``; returns ``(mean training loss, examples seen)`` of this process.

    The loss mean is weighted by batch size. Raises :class:`FloatingPointError` on a non-finite
    loss (naming the epoch and step) rather than training on. ``unet``: the U-Net as wrapped for
    distributed training (:func:`stemunet.distributed.wrap`), called instead of ``separator.unet``.
    """
    separator.train()
    device = separator.device
    generator = _mask_generator(config, epoch, rank)
    total, count = 0.0, 0
    bar = progress_bar(loader, desc=f"epoch {epoch}", leave=False, disable=not progress, unit="batch")
    for step, (mixture, stems) in enumerate(bar, start=1):
        mixture = mixture.to(device, non_blocking=True)
        stems = stems.to(device, non_blocking=True)
        loss = training_loss(separator, mixture, stems, config, amp_dtype=amp_dtype, mask_generator=generator, unet=unet)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"epoch {epoch}, step {step}: the training loss is {loss.item()}")
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None and scaler.is_enabled():
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(separator.parameters(), config.grad_clip)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(separator.parameters(), config.grad_clip)
            optimizer.step()
        scheduler.step()
        batch = mixture.shape[0]
        total += loss.item() * batch
        count += batch
        bar.set_postfix(loss=f"{total / count:.4f}")
    return total / max(1, count), count


@torch.inference_mode()
def validate(
    separator: Separator,
    loader: torch.utils.data.DataLoader,
    config: TrainConfig,
    *,
    amp_dtype: torch.dtype | None = None,
    progress: bool = True,
) -> float:
    """Mean loss over ``loader`` (weighted by batch size) in eval mode, without augmentation."""
    separator.eval()
    device = separator.device
    total, count = 0.0, 0
    for mixture, stems in progress_bar(loader, desc="validation", leave=False, disable=not progress, unit="batch"):
        mixture = mixture.to(device, non_blocking=True)
        stems = stems.to(device, non_blocking=True)
        loss = training_loss(separator, mixture, stems, config, amp_dtype=amp_dtype)
        total += loss.item() * mixture.shape[0]
        count += mixture.shape[0]
    return total / max(1, count)


# ----------------------------------------------------------------------------------------------
# Checkpoints and resume
# ----------------------------------------------------------------------------------------------


def write_history(path: Path, history: list[dict[str, Any]]) -> Path:
    """``history.csv``: one row per epoch with :data:`HISTORY_COLUMNS`, written atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    return write_text_atomic(path, buffer.getvalue())


def read_history(path: str | Path) -> list[dict[str, float]]:
    """Rows of a ``history.csv``, numbers parsed (``epoch`` as int)."""
    with open(path, newline="") as handle:
        return [
            {key: (int(value) if key == "epoch" else float(value)) for key, value in row.items()}
            for row in csv.DictReader(handle)
        ]


@dataclass
class TrainResult:
    """What :func:`fit` returns: the run folder, per-epoch history and summary metrics."""

    run_dir: Path
    history: list[dict[str, Any]]
    metrics: dict[str, Any]
    separator: Separator = field(repr=False)

    @property
    def best_checkpoint(self) -> Path:
        return self.run_dir / "checkpoints" / "best.pt"

    @property
    def last_checkpoint(self) -> Path:
        return self.run_dir / "checkpoints" / "last.pt"

    @classmethod
    def load(cls, run_dir: str | Path) -> TrainResult:
        """The result of a finished run, from its folder (what distributed training leaves)."""
        run_dir = Path(run_dir)
        metrics = json.loads((run_dir / "metrics.json").read_text())
        return cls(run_dir, read_history(run_dir / "history.csv"), metrics, load_separator(run_dir / "checkpoints" / "last.pt", "cpu"))

    def history_frame(self):
        """The history as a pandas DataFrame indexed by epoch."""
        import pandas as pd

        return pd.DataFrame(self.history, columns=list(HISTORY_COLUMNS)).set_index("epoch")

    def summary_table(self):
        """The headline figures as a one-column pandas DataFrame."""
        import pandas as pd

        keys = [
            "epochs", "best_epoch", "best_valid_loss", "final_train_loss", "final_valid_loss",
            "train_seconds", "train_examples_per_second", "n_parameters", "device", "mixed_precision",
            "n_train_tracks", "n_valid_tracks", "resumed_from",
        ]
        return pd.DataFrame({"value": [self.metrics.get(key) for key in keys]}, index=keys)


def run_path(run: Any) -> Path:
    """The folder of ``run``: a :class:`stemunet.runs.Run` (its ``path``) or a path."""
    return Path(run.path if hasattr(run, "path") else run)


def fit(
    config: TrainConfig,
    run: Any,
    *,
    loaders: DataLoaders | None = None,
    progress: bool = True,
    epoch_callback: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train (or resume) a separator as ``config`` says, writing into the run folder ``run``.

    Args:
        config: the resolved training configuration.
        run: a :class:`stemunet.runs.Run` or a folder path; artefacts go there (module docstring).
        loaders: prebuilt loaders for ``config`` (the notebook builds them to show examples
            first); ``None`` builds them.
        epoch_callback: called with each epoch's history row after that epoch's files are
            written; raising from it interrupts training (tests use it to simulate a crash).

    Returns the :class:`TrainResult`; the separator in it holds the *last* epoch's weights
    (``checkpoints/best.pt`` the best epoch's).

    This trains in this process. Inside a process group (torchrun, or the processes that
    :func:`stemunet.train.fit` starts for ``n_processes`` > 1) every process calls this; rank 0
    validates and writes, the others wait. Outside one, ``n_processes`` > 1 is refused: start
    those processes with :func:`stemunet.train.fit`.
    """
    if config.n_processes > 1 and not distributed.current().distributed:
        raise ConfigError(f"n_processes={config.n_processes}: start the processes with stemunet.train.fit "
                          "(or torchrun -m stemunet.train); stemunet.training.fit trains in this process")
    threads = torch.get_num_threads()
    if config.cpu_threads > 0:
        torch.set_num_threads(config.cpu_threads)
    try:
        return _fit(config, run, loaders=loaders, progress=progress, epoch_callback=epoch_callback)
    finally:
        torch.set_num_threads(threads)


@dataclass
class _Trainee:
    """What one process trains with: the separator (``unet`` is its U-Net as called in training,
    wrapped for distributed training), data, optimiser, schedule and gradient scaler."""

    separator: Separator
    loaders: DataLoaders
    unet: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    device: torch.device
    amp_dtype: torch.dtype | None


@dataclass
class _Tally:
    """What a run has done so far (restored on resume): the history rows, counters, the best epoch."""

    history: list[dict[str, Any]] = field(default_factory=list)
    start_epoch: int = 0
    global_step: int = 0
    best_valid_loss: float = math.inf
    best_epoch: int = 0
    train_seconds: float = 0.0
    examples_seen: int = 0

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any]) -> _Tally:
        return cls(
            history=list(checkpoint["history"]),
            start_epoch=int(checkpoint["epoch"]),
            global_step=int(checkpoint["global_step"]),
            best_valid_loss=float(checkpoint.get("best_valid_loss", math.inf)),
            best_epoch=int(checkpoint.get("best_epoch", 0)),
            train_seconds=float(checkpoint.get("train_seconds", 0.0)),
            examples_seen=int(checkpoint.get("examples_seen", 0)),
        )

    def metrics(self) -> dict[str, Any]:
        """The figures of metrics.json that change every epoch."""
        last = self.history[-1] if self.history else {}
        return dict(
            epochs=len(self.history),
            best_epoch=self.best_epoch,
            best_valid_loss=self.best_valid_loss if self.best_epoch else None,
            final_train_loss=last.get("train_loss"),
            final_valid_loss=last.get("valid_loss"),
            train_seconds=round(self.train_seconds, 2),
            examples_seen=self.examples_seen,
            train_examples_per_second=round(self.examples_seen / self.train_seconds, 2) if self.train_seconds else None,
        )


def _fit(
    config: TrainConfig,
    run: Any,
    *,
    loaders: DataLoaders | None,
    progress: bool,
    epoch_callback: Callable[[dict[str, Any]], None] | None,
) -> TrainResult:
    run_dir = run_path(run)
    checkpoints = run_dir / "checkpoints"
    group = distributed.current()
    writes = group.is_main  # rank 0 validates and writes; the others train and wait
    device = distributed.device_for(group, resolve_device(config.device))
    amp_dtype = resolve_mixed_precision(config.mixed_precision, device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # chunk sizes are fixed: let cuDNN pick its fastest kernels

    # Check what would stop a resume before the slow part (loading and caching audio).
    start = starting_point(config, group.world_size)
    checkpoint, resume_path, initial, initial_path = start.checkpoint, start.resume_path, start.initial, start.initial_path
    if writes:  # only once what it starts from is known to be sound: a refused start leaves no folder
        checkpoints.mkdir(parents=True, exist_ok=True)

    trainee = _build_trainee(config, group, device, amp_dtype, loaders, progress)
    if initial is not None:
        trainee.separator.load_state_dict(initial["state_dict"])  # copied into float32 (the bundled model stores float16)
    tally = _Tally()
    if checkpoint is not None:
        tally = _restore(trainee, checkpoint)
        if writes:
            write_best_checkpoint(start, checkpoints / "best.pt")
        if start.best == "anew":  # a copied last.pt without its best.pt: the best is chosen among this run's epochs
            tally.best_valid_loss, tally.best_epoch = math.inf, 0
    metrics = _first_metrics(config, trainee, group, tally, resume_path, initial_path)
    # Where the weights began (fine-tuning), kept in every checkpoint so a resumed run still knows.
    metrics["initial_model"] = checkpoint.get("initial_model") if checkpoint is not None else (
        model_provenance(initial, initial_path) if initial is not None else None)

    progress = progress and writes
    epochs = progress_bar(range(tally.start_epoch + 1, config.epochs + 1), desc="training", unit="epoch", disable=not progress,
                  initial=tally.start_epoch, total=config.epochs)
    for epoch in epochs:
        began = time.perf_counter()
        train_loss = _train_epoch(trainee, config, group, tally, epoch, began, progress)
        if not writes:
            distributed.wait_for_all()  # while rank 0 validates and writes this epoch's files
            continue
        record = _validate_and_save(trainee, config, group, tally, metrics, run_dir, epoch, began, train_loss, progress)
        epochs.set_postfix(train=f"{train_loss:.4f}", valid=f"{record['valid_loss']:.4f}", best=tally.best_epoch)
        distributed.wait_for_all()
        if epoch_callback is not None:
            epoch_callback(record)
    epochs.close()

    if writes:
        metrics.update(tally.metrics())
        metrics["finished"] = True
        write_history(run_dir / "history.csv", tally.history)
        write_json_atomic(run_dir / "metrics.json", metrics)
    return TrainResult(run_dir=run_dir, history=tally.history, metrics=metrics, separator=trainee.separator.eval())


def _build_trainee(config: TrainConfig, group: distributed.ProcessGroup, device: torch.device,
                   amp_dtype: torch.dtype | None, loaders: DataLoaders | None, progress: bool) -> _Trainee:
    """Seed, build the separator and its data (unless ``loaders`` are given, in one process), and
    what trains it, on ``device``."""
    seed_everything(config.seed)
    separator = build_separator(config)
    if group.distributed:
        if group.is_main:
            resolve_root(config.data, progress=progress)  # generate the synthetic set once, not in every process
        distributed.wait_for_all()
    if loaders is None or group.distributed:
        loaders = build_data_loaders(config, rank=group.rank, world_size=group.world_size, progress=progress and group.is_main)
    separator.to(device)
    if config.channels_last:
        separator.unet.to(memory_format=torch.channels_last)
    unet = distributed.wrap(separator.unet, group, sync_batchnorm=config.sync_batchnorm)
    optimizer = build_optimizer(separator, config)
    steps_per_epoch = len(loaders.train)
    scheduler = build_scheduler(optimizer, config, steps_per_epoch)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    return _Trainee(separator, loaders, unet, optimizer, scheduler, scaler, device, amp_dtype)


def _restore(trainee: _Trainee, checkpoint: dict[str, Any]) -> _Tally:
    """Put a training checkpoint's weights, optimiser, schedule, scaler and RNG states back; its tally."""
    trainee.separator.load_state_dict(checkpoint["state_dict"])
    trainee.optimizer.load_state_dict(checkpoint["optimizer_state"])
    trainee.scheduler.load_state_dict(checkpoint["scheduler_state"])
    if checkpoint.get("scaler_state") and trainee.scaler.is_enabled():
        trainee.scaler.load_state_dict(checkpoint["scaler_state"])
    if checkpoint.get("rng_state"):
        set_rng_state(checkpoint["rng_state"])
    return _Tally.from_checkpoint(checkpoint)


def _first_metrics(config: TrainConfig, trainee: _Trainee, group: distributed.ProcessGroup, tally: _Tally,
                   resume_path: Path | None, initial_path: Path | None) -> dict[str, Any]:
    """metrics.json's figures known before the first epoch (the rest: :meth:`_Tally.metrics`)."""
    loaders, amp_dtype = trainee.loaders, trainee.amp_dtype
    return {
        "epochs": tally.start_epoch,
        "epochs_planned": config.epochs,
        "finished": False,
        "n_parameters": count_parameters(trainee.separator),
        "device": str(trainee.device),
        "cpu_threads": torch.get_num_threads(),
        "mixed_precision": str(amp_dtype).removeprefix("torch.") if amp_dtype is not None else "off",
        "n_train_tracks": len(loaders.train_tracks),
        "n_valid_tracks": len(loaders.valid_tracks),
        "train_tracks": loaders.train_tracks,
        "valid_tracks": loaders.valid_tracks,
        "data_note": loaders.note,
        "resumed_from": str(resume_path) if resume_path is not None else "",
        "initialised_from": str(initial_path) if initial_path is not None else config.init_from,  # a resumed run: as first given
        "world_size": group.world_size,
        "global_batch_size": config.batch_size * group.world_size,
        "sync_batchnorm": config.sync_batchnorm and group.distributed,
    }


def _train_epoch(trainee: _Trainee, config: TrainConfig, group: distributed.ProcessGroup, tally: _Tally,
                 epoch: int, began: float, progress: bool) -> float:
    """One epoch of training in every process; the mean loss over the global batch (the tally counts it)."""
    loaders = trainee.loaders
    loaders.set_epoch(epoch)
    train_loss, seen = train_one_epoch(
        trainee.separator, loaders.train, trainee.optimizer, trainee.scheduler, config,
        epoch=epoch, amp_dtype=trainee.amp_dtype, scaler=trainee.scaler, progress=progress, unet=trainee.unet,
        rank=group.rank,
    )
    loss_sum, seen = distributed.sum_over_processes(train_loss * seen, seen)  # over the global batch
    train_loss, seen = loss_sum / max(seen, 1), int(seen)
    tally.train_seconds += time.perf_counter() - began
    tally.examples_seen += seen
    tally.global_step += len(loaders.train)
    return train_loss


def _validate_and_save(trainee: _Trainee, config: TrainConfig, group: distributed.ProcessGroup, tally: _Tally,
                       metrics: dict[str, Any], run_dir: Path, epoch: int, began: float, train_loss: float,
                       progress: bool) -> dict[str, Any]:
    """Rank 0 after an epoch: validate, then write last.pt (and best.pt if it improved),
    history.csv and metrics.json. Returns the epoch's history row."""
    separator, optimizer, scaler = trainee.separator, trainee.optimizer, trainee.scaler
    valid_loss = validate(separator, trainee.loaders.valid, config, amp_dtype=trainee.amp_dtype, progress=progress)
    record = {
        "epoch": epoch,
        "train_loss": train_loss,
        "valid_loss": valid_loss,
        "learning_rate": optimizer.param_groups[0]["lr"],
        "seconds": round(time.perf_counter() - began, 3),
    }
    tally.history.append(record)
    improved = valid_loss < tally.best_valid_loss
    if improved:
        tally.best_valid_loss, tally.best_epoch = valid_loss, epoch
    metrics.update(tally.metrics())
    state = {
        "train_config": config.to_params(),
        "epoch": epoch,
        "global_step": tally.global_step,
        "valid_loss": valid_loss,
        "best_valid_loss": tally.best_valid_loss,
        "best_epoch": tally.best_epoch,
        "history": list(tally.history),
        "train_seconds": tally.train_seconds,
        "examples_seen": tally.examples_seen,
        "optimizer_state": optimizer.state_dict(),
        "scheduler_state": trainee.scheduler.state_dict(),
        "scaler_state": scaler.state_dict() if scaler.is_enabled() else None,
        "rng_state": rng_state(),
        "world_size": group.world_size,
        "initial_model": metrics.get("initial_model"),
    }
    checkpoints = run_dir / "checkpoints"
    save_training(separator, checkpoints / "last.pt", **state)
    if improved:
        save_model(separator, checkpoints / "best.pt", **state)
    write_history(run_dir / "history.csv", tally.history)
    write_json_atomic(run_dir / "metrics.json", metrics)
    return record
