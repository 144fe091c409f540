"""A separator from a checkpoint: rebuilt from its configuration and weights
(:func:`separator_from_checkpoint`), or read from a file or a :class:`CheckpointRef`, checked
and moved to a device (:func:`load_separator`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from stemunet.checkpoints import (CheckpointError, CheckpointRef, check_stem_names, check_weights_finite,
                                  model_checkpoint_from_training, read_checkpoint)
from stemunet.config import PostFilterChoice, SeparatorConfig, resolve_device
from stemunet.separation.separator import Separator


def separator_from_checkpoint(checkpoint: dict[str, Any], path: str | Path = "checkpoint") -> Separator:
    """Rebuild the separator a checkpoint dict describes, in eval mode on the CPU."""
    try:
        separator = Separator(SeparatorConfig.from_params(checkpoint["separator_config"]))
        separator.load_state_dict(model_checkpoint_from_training(checkpoint)["state_dict"])  # a training checkpoint's average, if kept
    except (ValueError, KeyError, TypeError, RuntimeError) as error:
        raise CheckpointError(f"{path}: its configuration and weights do not make a separator ({error})") from None
    check_weights_finite(model_checkpoint_from_training(checkpoint), path)  # the weights used; an in-memory dict has not passed read_checkpoint
    check_stem_names(checkpoint, separator.stem_names, path)
    return separator.eval()


def load_separator(checkpoint: str | Path | CheckpointRef, device: str | torch.device = "auto",
                   postfilter: PostFilterChoice = PostFilterChoice()) -> Separator:
    """The separator in ``checkpoint``, in eval mode on ``device`` (``auto``, ``cpu``, ``cuda``...).

    ``checkpoint``: what a user names (``pretrained``, ``latest``, a training run folder, a
    checkpoint file: :meth:`CheckpointRef.resolve`), or a :class:`CheckpointRef` already resolved.

    ``postfilter``: a run's post-filter settings over the ones the checkpoint carries (its own
    default: -1 keeps the model's). Its ``checkpoint_file`` attribute is the file's absolute path:
    the separation records which model wrote each stem (:func:`stemunet.separation.outputs.model_identity`).
    """
    path = (checkpoint if isinstance(checkpoint, CheckpointRef) else CheckpointRef.resolve(checkpoint)).file
    device = device if isinstance(device, torch.device) else resolve_device(device)
    separator = separator_from_checkpoint(read_checkpoint(path), path).to(device).use_postfilter(postfilter)
    separator.checkpoint_file = Path(path).resolve()
    return separator
