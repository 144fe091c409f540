"""What a training run depends on: :class:`TrainConfig` (flat parameter names, checked when
built), the loss names, and the mixed-precision choice."""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import torch

from stemunet.config import Config, DataConfig, ModelConfig, SeparatorConfig, StftConfig, check_device, require
from stemunet.data.augment import MAX_REPITCH_SEMITONES, MAX_REPITCH_TEMPO_PERCENT
from stemunet.precision import autocast_dtype

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
    stem_weights: tuple[float, ...] = ()  # each stem's share of the loss, in the order of stems, as Demucs's weights; normalised to sum to the number of stems; empty = equal
    accumulate_steps: int = 1  # optimiser step every N batches on their summed gradients (MSST, MDX-Net): effective batch batch_size x N (x processes)
    ema_decay: float = 0.0  # > 0 (e.g. 0.999): a moving average of the weights, updated every optimiser step, is what validation, best.pt and the result use (Demucs' ema); 0 = off

    # Augmentation (each switchable; see stemunet.data.augment for where each acts)
    augment_remix: bool = True  # each stem of a chunk from an independently drawn track
    augment_gain: bool = True  # each stem scaled by a random gain in [-gain_db, +gain_db]
    gain_db: float = 3.0  # range of the random stem gain, dB
    augment_channel_swap: bool = True  # each stereo stem's channels swapped with probability 1/2
    augment_flip_sign: bool = False  # each stem's polarity flipped with probability 1/2 (Demucs' FlipSign)
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
    valid_every: int = 1  # every N epochs (and the last) the validation tracks are also separated and scored by global SDR; 0 = the loss only
    valid_seconds: float = 0.0  # seconds of each validation track (from its start) scored by SDR; 0 = whole tracks
    select_by: Literal["loss", "sdr"] = "loss"  # what best.pt keeps: the epoch of the lowest validation loss, or of the highest validation SDR

    # Data pipeline and hardware
    fresh_synthetic: bool = False  # synthetic set only: every training example a newly generated song (never seen twice) instead of a chunk of train/
    cache_audio: bool = True  # decode every track once into RAM (16-bit, at the model's rate)
    num_workers: int = 0  # data loader worker processes; 0 = load in the training process
    cpu_threads: int = 1  # torch's CPU threads during training (1 suits a tiny model); 0 = torch's default, one per core
    device: str = "auto"  # auto (CUDA if available, else CPU), cpu, cuda, cuda:N, mps
    mixed_precision: Literal["auto", "off", "bf16", "fp16"] = "auto"  # the U-Net's arithmetic; auto = bf16 on GPUs and on CPUs that compute it natively (AVX-512 BF16, AMX), fp16 on older GPUs, else float32
    channels_last: bool = False  # U-Net in channels-last memory layout (what tensor cores and oneDNN's bf16 kernels want); on with bf16 on a CPU
    seed: int = 0  # model initialisation, chunk draws and augmentation
    resume_from: str = ""  # a training run folder or checkpoint to continue; "" = start afresh
    init_from: str = ""  # fine-tuning: a trained model (run folder, checkpoint file or "pretrained") whose weights start this run, with a fresh optimiser and schedule; "" = random initialisation

    # Several processes (stemunet.training.distributed)
    n_processes: int = 1  # processes (GPUs) on this machine, started by torch's elastic launcher; global batch = batch_size x processes
    sync_batchnorm: bool = True  # with several processes: BatchNorm statistics over the global batch (SyncBatchNorm)

    def __post_init__(self) -> None:
        require(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        require(not (self.fresh_synthetic and (self.data.musdb_root or self.data.dataset != "musdb")),
                "fresh_synthetic generates synthetic songs: it needs dataset musdb with musdb_root empty (the synthetic set)")
        require(self.samples_per_epoch >= 1, f"samples_per_epoch must be >= 1, got {self.samples_per_epoch}")
        require(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        require(self.chunk_seconds > 0, f"chunk_seconds must be > 0, got {self.chunk_seconds}")
        require(self.learning_rate > 0, f"learning_rate must be > 0, got {self.learning_rate}")
        stems = self.model.stems
        require(not self.stem_weights or (len(self.stem_weights) == len(stems) and all(math.isfinite(w) and w >= 0 for w in self.stem_weights)
                and sum(self.stem_weights) > 0),
                f"stem_weights must be empty (equal) or {len(stems)} numbers >= 0 ({', '.join(stems)}), not all 0, got {list(self.stem_weights)}")
        require(self.data.dataset == "musdb" or bool(self.data.data_root),
                "dataset folders needs data_root: the folder of your track folders (train/, valid/, test/ or split_lists)")
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
        require(self.valid_every >= 0, f"valid_every must be >= 0, got {self.valid_every}")
        require(self.valid_seconds >= 0, f"valid_seconds must be >= 0, got {self.valid_seconds}")
        require(self.select_by != "sdr" or self.valid_every > 0, "select_by: sdr needs valid_every >= 1 (the SDR is what picks best.pt)")
        require(self.accumulate_steps >= 1, f"accumulate_steps must be >= 1, got {self.accumulate_steps}")
        require(0 <= self.ema_decay < 1, f"ema_decay must be in [0, 1), got {self.ema_decay}")
        require(self.num_workers >= 0, f"num_workers must be >= 0, got {self.num_workers}")
        require(self.cpu_threads >= 0, f"cpu_threads must be >= 0, got {self.cpu_threads}")
        require(self.n_processes >= 1, f"n_processes must be >= 1, got {self.n_processes}")
        check_device(self.device)

    @property
    def loss_weights(self) -> tuple[float, ...]:
        """Each stem's weight in the loss, in the order of ``stems`` (``stem_weights``, or all 1)."""
        return self.stem_weights or (1.0,) * len(self.model.stems)

    def uses_channels_last(self, amp_dtype: torch.dtype | None, device: torch.device) -> bool:
        """Channels-last layout: when asked, and always for bfloat16 on a CPU (oneDNN's fast bf16
        convolutions want it; float32 keeps the layout it was trained with)."""
        return self.channels_last or (amp_dtype == torch.bfloat16 and device.type == "cpu")

    @property
    def separator_config(self) -> SeparatorConfig:
        return SeparatorConfig(stft=self.stft, model=self.model)

    @property
    def loss_label(self) -> str:
        """What the loss compares, for plot axes: ``"L1 loss on magnitudes"``."""
        return LOSS_LABELS[self.loss]

    @property
    def steps_per_epoch(self) -> int:
        """Optimiser steps per epoch (one every ``accumulate_steps`` batches) in one process."""
        return math.ceil(math.ceil(self.samples_per_epoch / self.batch_size) / self.accumulate_steps)

    def validates_sdr(self, epoch: int) -> bool:
        """Whether ``epoch`` ends with the validation SDR (every ``valid_every`` epochs, and the last)."""
        return self.valid_every > 0 and (epoch % self.valid_every == 0 or epoch == self.epochs)


# ----------------------------------------------------------------------------------------------
# Device, precision, seeding
# ----------------------------------------------------------------------------------------------


def resolve_mixed_precision(setting: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for the U-Net in training, or ``None`` for full float32
    (:func:`stemunet.precision.autocast_dtype`: ``auto`` is bfloat16 on CUDA GPUs and CPUs that
    compute it natively, float16 on older GPUs, float32 elsewhere)."""
    return autocast_dtype(setting, device)
