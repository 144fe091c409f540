"""A whole training run in this process (:func:`fit`): build, train and validate epoch by epoch,
save checkpoints and history after every epoch, resume where a run stopped.

The recipe is the model card's: the U-Net's masks times the mixture magnitude are compared with
the true stem magnitudes under an L1 loss (``loss: l1``; the mixture phase is used only to go back
to waveforms, at separation time). Phase-aware options compare what separation outputs, the
ISTFT of the masked complex mixture, with the stem waveforms (``l1_wave``), or add that to the
magnitude L1 (``l1_mag_wave``, a multi-domain loss as X-UMX's); see :func:`training_loss`. Adam with a cosine decay of the learning rate from
``learning_rate`` to ``final_learning_rate`` over the whole run; gradient clipping; one
validation pass over the validation tracks every epoch.

Everything is built by separate functions (:mod:`stemunet.training.builders`) so that a distributed launcher can wrap the
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

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from stemunet.checkpoints import model_checkpoint_from_training, save_model, save_training
from stemunet.config import ConfigError, resolve_device
from stemunet.data.tracks import resolve_root
from stemunet.files import write_json_atomic
from stemunet.model import count_parameters
from stemunet.progress import progress_bar
from stemunet.separation.separator import Separator
from stemunet.training import distributed
from stemunet.training.builders import (DataLoaders, build_data_loaders, build_optimizer, build_scheduler,
                                        build_separator, rng_state, seed_everything, set_rng_state)
from stemunet.training.config import TrainConfig, resolve_mixed_precision
from stemunet.training.ema import WeightAverage
from stemunet.training.history import TrainResult, run_path, write_history
from stemunet.training.loop import train_one_epoch, validate, validation_sdr
from stemunet.training.resume import model_provenance, starting_point, write_best_checkpoint


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
        run: a :class:`stemunet.lab.runs.Run` or a folder path; artefacts go there (module docstring).
        loaders: prebuilt loaders for ``config`` (the notebook builds them to show examples
            first); ``None`` builds them.
        epoch_callback: called with each epoch's history row after that epoch's files are
            written; raising from it interrupts training (tests use it to simulate a crash).

    Returns the :class:`TrainResult`; the separator in it holds the *last* epoch's weights
    (``checkpoints/best.pt`` the best epoch's).

    This trains in this process. Inside a process group (torchrun, or the processes that
    :func:`stemunet.training.launch.fit` starts for ``n_processes`` > 1) every process calls this; rank 0
    validates and writes, the others wait. Outside one, ``n_processes`` > 1 is refused: start
    those processes with :func:`stemunet.training.launch.fit`.
    """
    if config.n_processes > 1 and not distributed.current().distributed:
        raise ConfigError(f"n_processes={config.n_processes}: start the processes with stemunet.training.launch.fit "
                          "(or torchrun -m stemunet.train); stemunet.training.fit.fit trains in this process")
    threads = torch.get_num_threads()
    if config.cpu_threads > 0:
        torch.set_num_threads(config.cpu_threads)
    try:
        return _fit(config, run, loaders=loaders, progress=progress, epoch_callback=epoch_callback)
    finally:
        torch.set_num_threads(threads)


def _finite(value: Any) -> bool:
    return value is not None and math.isfinite(value)


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
    average: WeightAverage | None = None  # ema_decay > 0, in the process that validates

    @property
    def model(self) -> Separator:
        """What is validated, kept as best.pt and returned: the weights' average, or the weights."""
        return self.average.module if self.average is not None else self.separator


@dataclass
class _Tally:
    """What a run has done so far (restored on resume): the history rows, counters, the best epoch."""

    history: list[dict[str, Any]] = field(default_factory=list)
    start_epoch: int = 0
    global_step: int = 0
    best_valid_loss: float = math.inf
    best_valid_sdr: float = -math.inf
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
            best_valid_sdr=float(checkpoint.get("best_valid_sdr", -math.inf)),
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
            best_valid_sdr=self.best_valid_sdr if self.best_epoch and math.isfinite(self.best_valid_sdr) else None,
            final_train_loss=last.get("train_loss"),
            final_valid_loss=last.get("valid_loss"),
            final_valid_sdr=next((row["valid_sdr"] for row in reversed(self.history) if _finite(row.get("valid_sdr"))), None),
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
        # The model the checkpoint holds (a training checkpoint's weights' average, if it kept one),
        # copied into float32 (the bundled model stores float16).
        trainee.separator.load_state_dict(model_checkpoint_from_training(initial)["state_dict"])
    tally = _Tally()
    if checkpoint is not None:
        tally = _restore(trainee, checkpoint)
        if writes:
            write_best_checkpoint(start, checkpoints / "best.pt")
        if start.best == "anew":  # a copied last.pt without its best.pt: the best is chosen among this run's epochs
            tally.best_valid_loss, tally.best_valid_sdr, tally.best_epoch = math.inf, -math.inf, 0
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
    return TrainResult(run_dir=run_dir, history=tally.history, metrics=metrics, separator=trainee.model.eval())


def _build_trainee(config: TrainConfig, group: distributed.ProcessGroup, device: torch.device,
                   amp_dtype: torch.dtype | None, loaders: DataLoaders | None, progress: bool) -> _Trainee:
    """Seed, build the separator and its data (unless ``loaders`` are given, in one process), and
    what trains it, on ``device``."""
    seed_everything(config.seed)
    separator = build_separator(config)
    if group.distributed:
        if group.is_main:
            resolve_root(config.data, progress=progress, stems=config.model.stem_set)  # generate the synthetic set once, not in every process
        distributed.wait_for_all()
    if loaders is None or group.distributed:
        loaders = build_data_loaders(config, rank=group.rank, world_size=group.world_size, progress=progress and group.is_main)
    separator.to(device)
    if config.uses_channels_last(amp_dtype, device):
        separator.unet.to(memory_format=torch.channels_last)
    unet = distributed.wrap(separator.unet, group, sync_batchnorm=config.sync_batchnorm)
    optimizer = build_optimizer(separator, config)
    steps_per_epoch = math.ceil(len(loaders.train) / config.accumulate_steps)  # optimiser steps
    scheduler = build_scheduler(optimizer, config, steps_per_epoch)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    # The process that validates and writes keeps the weights' average (the others would hold the same).
    average = WeightAverage(separator, config.ema_decay) if config.ema_decay > 0 and group.is_main else None
    return _Trainee(separator, loaders, unet, optimizer, scheduler, scaler, device, amp_dtype, average)


def _restore(trainee: _Trainee, checkpoint: dict[str, Any]) -> _Tally:
    """Put a training checkpoint's weights, optimiser, schedule, scaler and RNG states back; its tally."""
    trainee.separator.load_state_dict(checkpoint["state_dict"])
    if trainee.average is not None:
        if checkpoint.get("ema_state"):
            trainee.average.load(checkpoint["ema_state"])
        else:  # a run that did not average before: the average starts from the weights it resumes with
            trainee.average.update(trainee.separator)
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
        rank=group.rank, average=trainee.average,
    )
    loss_sum, seen = distributed.sum_over_processes(train_loss * seen, seen)  # over the global batch
    train_loss, seen = loss_sum / max(seen, 1), int(seen)
    tally.train_seconds += time.perf_counter() - began
    tally.examples_seen += seen
    tally.global_step += math.ceil(len(loaders.train) / config.accumulate_steps)
    return train_loss


def _validate_and_save(trainee: _Trainee, config: TrainConfig, group: distributed.ProcessGroup, tally: _Tally,
                       metrics: dict[str, Any], run_dir: Path, epoch: int, began: float, train_loss: float,
                       progress: bool) -> dict[str, Any]:
    """Rank 0 after an epoch: validate, then write last.pt (and best.pt if it improved),
    history.csv and metrics.json. Returns the epoch's history row."""
    separator, optimizer, scaler, model = trainee.separator, trainee.optimizer, trainee.scaler, trainee.model
    valid_loss = validate(model, trainee.loaders.valid, config, amp_dtype=trainee.amp_dtype, progress=progress)
    valid_sdr = (validation_sdr(model, trainee.loaders.valid.dataset, config.valid_seconds, progress=progress)
                 if config.validates_sdr(epoch) else math.nan)
    record = {
        "epoch": epoch,
        "train_loss": train_loss,
        "valid_loss": valid_loss,
        "valid_sdr": valid_sdr,
        "learning_rate": optimizer.param_groups[0]["lr"],
        "seconds": round(time.perf_counter() - began, 3),
    }
    tally.history.append(record)
    if config.select_by == "sdr":
        improved = _finite(valid_sdr) and valid_sdr > tally.best_valid_sdr
    else:
        improved = valid_loss < tally.best_valid_loss
    if improved:
        tally.best_valid_loss, tally.best_epoch = valid_loss, epoch
        tally.best_valid_sdr = valid_sdr if _finite(valid_sdr) else -math.inf
    metrics.update(tally.metrics())
    state = {
        "train_config": config.to_params(),
        "epoch": epoch,
        "global_step": tally.global_step,
        "valid_loss": valid_loss,
        "best_valid_loss": tally.best_valid_loss,
        "best_valid_sdr": tally.best_valid_sdr,
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
        "ema_state": trainee.average.state() if trainee.average is not None else None,
    }
    checkpoints = run_dir / "checkpoints"
    save_training(separator, checkpoints / "last.pt", **state)
    if improved:
        save_model(model, checkpoints / "best.pt", **state)
    write_history(run_dir / "history.csv", tally.history)
    write_json_atomic(run_dir / "metrics.json", metrics)
    return record
