"""One epoch of training and one validation pass (:func:`train_one_epoch`, :func:`validate`)."""

from __future__ import annotations

import torch

from stemunet.progress import progress_bar
from stemunet.separation.separator import Separator
from stemunet.training.config import TrainConfig
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
) -> tuple[float, int]:
    """One pass over ``loader``; returns ``(mean training loss, examples seen)`` of this process.

    The loss mean is weighted by batch size. Raises :class:`FloatingPointError` on a non-finite
    loss (naming the epoch and step) rather than training on. ``unet``: the U-Net as wrapped for
    distributed training (:func:`stemunet.training.distributed.wrap`), called instead of ``separator.unet``.
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
