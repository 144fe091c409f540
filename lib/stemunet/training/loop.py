"""One epoch of training (:func:`train_one_epoch`, with gradient accumulation and the weights'
moving average) and the validation passes: the loss (:func:`validate`) and the global SDR of the
validation tracks (:func:`validation_sdr`)."""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from stemunet.data.chunks import SequentialChunkDataset
from stemunet.evaluation.metrics import global_sdr
from stemunet.progress import progress_bar
from stemunet.separation.separator import Separator
from stemunet.training.config import TrainConfig
from stemunet.training.ema import WeightAverage
from stemunet.training.losses import training_loss


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
    average: WeightAverage | None = None,
) -> tuple[float, int]:
    """One pass over ``loader``; returns ``(mean training loss, examples seen)`` of this process.

    The optimiser steps every ``config.accumulate_steps`` batches (and after the epoch's last),
    on the sum of their gradients, each batch's loss divided by that count: a step over ``k``
    batches of ``b`` chunks is a step over one batch of ``k * b``. Under distributed training the
    gradients are all-reduced only on the batch that steps (DDP's ``no_sync`` on the others).
    ``average``: the weights' moving average, updated after every optimiser step.

    The loss mean is weighted by batch size. Raises :class:`FloatingPointError` on a non-finite
    loss (naming the epoch and step) rather than training on. ``unet``: the U-Net as wrapped for
    distributed training (:func:`stemunet.training.distributed.wrap`), called instead of ``separator.unet``.
    """
    separator.train()
    device = separator.device
    generator = _mask_generator(config, epoch, rank)
    total, count = 0.0, 0
    accumulate = config.accumulate_steps
    last_step = len(loader)
    bar = progress_bar(loader, desc=f"epoch {epoch}", leave=False, disable=not progress, unit="batch")
    optimizer.zero_grad(set_to_none=True)
    for step, (mixture, stems) in enumerate(bar, start=1):
        mixture = mixture.to(device, non_blocking=True)
        stems = stems.to(device, non_blocking=True)
        steps_now = step % accumulate == 0 or step == last_step
        # A last group shorter than accumulate_steps divides by its own size: every batch counts alike.
        group_size = accumulate if step <= last_step - last_step % accumulate else last_step % accumulate
        syncing = contextlib.nullcontext() if steps_now or not hasattr(unet, "no_sync") else unet.no_sync()
        with syncing:
            loss = training_loss(separator, mixture, stems, config, amp_dtype=amp_dtype, mask_generator=generator, unet=unet)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"epoch {epoch}, step {step}: the training loss is {loss.item()}")
            scaled = loss / group_size
            (scaler.scale(scaled) if scaler is not None and scaler.is_enabled() else scaled).backward()
        if steps_now:
            _optimiser_step(separator, optimizer, scaler, config.grad_clip)
            scheduler.step()
            if average is not None:
                average.update(separator)
        batch = mixture.shape[0]
        total += loss.item() * batch
        count += batch
        bar.set_postfix(loss=f"{total / count:.4f}")
    return total / max(1, count), count


def _optimiser_step(separator: Separator, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None,
                    grad_clip: float) -> None:
    """Clip the (accumulated) gradients, step, and clear them."""
    scaling = scaler is not None and scaler.is_enabled()
    if scaling:
        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(separator.parameters(), grad_clip)
    if scaling:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)


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


@torch.inference_mode()
def validation_sdr(separator: Separator, dataset: SequentialChunkDataset, seconds: float = 0.0, *, progress: bool = True) -> float:
    """The global SDR of the validation tracks, as a user would get it: each track (its first
    ``seconds``, or whole with 0) separated by :meth:`Separator.separate` at the model's rate,
    its global SDR per stem (:func:`stemunet.evaluation.metrics.global_sdr`; stems silent over the
    scored span left out), averaged over stems, then over tracks (the MDX/SDX challenges' figure), dB."""
    separator.eval()
    rate = dataset.sample_rate
    scores = []
    for source in progress_bar(dataset.sources, desc="validation SDR", leave=False, disable=not progress, unit="track"):
        length = dataset.model_length(source)
        if seconds > 0:
            length = min(length, int(round(seconds * rate)))
        stems = dataset.read_span(source, 0, length)  # (n_stems, n_channels, n_samples)
        estimates = separator.separate(stems.sum(dim=0).to(separator.device), rate).cpu()
        audible = stems.abs().amax(dim=(1, 2)) > 0
        if audible.any():
            scores.append(float(global_sdr(stems[audible].numpy(), estimates[audible].numpy()).mean()))
    return float(np.mean(scores)) if scores else float("nan")
