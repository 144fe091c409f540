"""Where a training run begins: the checkpoint it resumes (``resume_from``) or the model whose weights
it starts from (``init_from``), opened and checked before anything slow starts or any process is
launched, and how a resumed run gets the ``best.pt`` its history calls best.

Only :mod:`stemunet.training` (the loop) and :mod:`stemunet.train` (the launcher) use it; it imports
checkpoints and configuration, never the loop: ``config`` below is a
:class:`stemunet.training.config.TrainConfig`, read for its parameters only.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stemunet.checkpoints import (CheckpointError, CheckpointRef, check_stem_names, model_checkpoint_from_training,
                                  read_checkpoint, read_training_checkpoint)
from stemunet.config import ConfigError, SeparatorConfig
from stemunet.files import atomic_path, torch_save_atomic


def _differences(saved: dict[str, Any], wanted: dict[str, Any]) -> str:
    """``wanted``'s values that ``saved`` (a checkpoint's separator configuration) does not have, in
    words; "" if none. Settings added since the checkpoint was written count as their defaults."""
    saved = SeparatorConfig.from_params(saved).to_params()
    return ", ".join(f"{name}: checkpoint {saved.get(name)!r}, now {value!r}" for name, value in wanted.items() if saved.get(name) != value)


@dataclass(frozen=True)
class StartingPoint:
    """What a run begins from: a training checkpoint to resume (``resume_from``) or a model whose
    weights it starts with (``init_from``), opened and checked; all ``None`` for a fresh run."""

    checkpoint: dict[str, Any] | None = None
    resume_path: Path | None = None
    initial: dict[str, Any] | None = None
    initial_path: Path | None = None
    best: str = ""
    """What the resumed run's ``best.pt`` becomes (:func:`_best_checkpoint_plan`): ``"copy"`` the
    resumed run's, ``"last"`` written from ``last.pt``'s weights, ``"anew"`` chosen again from the
    epochs this run trains, ``""`` none yet (no epoch validated)."""


def starting_point(config: Any, world_size: int) -> StartingPoint:
    """Open and check ``config``'s ``resume_from`` or ``init_from`` for a run of ``world_size``
    processes, before anything slow starts (and before :func:`stemunet.training.launch.fit` starts processes).

    Raises:
        ConfigError: the checkpoint's model, process count or ``init_from`` do not fit this run.
        FileNotFoundError, CheckpointError: the checkpoint is missing, damaged or refused.
    """
    if config.resume_from:
        resume_path = CheckpointRef.resolve(config.resume_from, resume=True).file
        checkpoint = read_training_checkpoint(resume_path)
        _check_resumable(checkpoint, config, resume_path, world_size)
        best = _best_checkpoint_plan(checkpoint, resume_path, config)
        return StartingPoint(checkpoint, resume_path, best=best)  # a resumed run has its own weights already
    if config.init_from:
        initial_path = CheckpointRef.resolve(config.init_from).file
        initial = read_checkpoint(initial_path)
        _check_initialisable(initial, config, initial_path)
        return StartingPoint(initial=initial, initial_path=initial_path)
    return StartingPoint()


def _check_resumable(checkpoint: dict[str, Any], config: Any, path: Path, world: int) -> None:
    """The checkpoint's model must be the one ``config`` describes; report other changes."""
    details = _differences(checkpoint["separator_config"], config.separator_config.to_params())
    if details:
        raise ConfigError(f"resume_from {path}: the model differs from the checkpoint's ({details})")
    check_stem_names(checkpoint, config.model.stems, path)
    began_from = (checkpoint.get("train_config") or {}).get("init_from", "")
    if config.init_from and not _same_checkpoint(config.init_from, began_from):
        raise ConfigError(
            f"init_from {config.init_from!r} with resume_from {path}: a resumed run continues that checkpoint's "
            f"weights (it began from {began_from or 'random weights'!s}); leave init_from empty or as the run had it"
        )
    saved_world = int(checkpoint.get("world_size", 1))
    if saved_world != world:
        raise ConfigError(
            f"resume_from {path}: it was trained by {saved_world} process(es), this run has {world}; resume with "
            f"the same number (n_processes: {saved_world}, or torchrun --nproc_per_node {saved_world}), since the "
            "data split and the global batch depend on it"
        )
    changed = {
        name: (value, config.to_params().get(name))
        for name, value in checkpoint["train_config"].items()
        if name not in ("resume_from", "n_processes") and config.to_params().get(name) != value
    }
    if changed:
        details = ", ".join(f"{name}: {old!r} -> {new!r}" for name, (old, new) in changed.items())
        print(f"note: resuming with parameters changed since {path}: {details}")


def model_provenance(checkpoint: dict[str, Any], path: Path) -> dict[str, Any]:
    """What a model checkpoint says of its own making (file, recipe, data, training summary, commit,
    and the model it was itself fine-tuned from): the ``initial_model`` of a run fine-tuned from it."""
    keys = ("recipe", "training_data", "training_summary", "trained_commit", "git_commit", "train_config", "initial_model")
    provenance = {"file": str(path), **{key: checkpoint[key] for key in keys if checkpoint.get(key) is not None}}
    if "training_summary" not in provenance and "epoch" in checkpoint:  # a run's checkpoint, not a bundled model
        provenance["training_summary"] = {"epochs": checkpoint["epoch"], **{key: checkpoint.get(key) for key in (
            "best_epoch", "best_valid_loss", "train_seconds", "examples_seen")}}
    return provenance


def _same_checkpoint(named: str, other: str) -> bool:
    """Whether two checkpoint references (run folders, files, ``pretrained``) name the same file."""
    if named == other or not named or not other:  # "" (random weights) is no file
        return named == other
    try:
        return CheckpointRef.resolve(named).file.resolve() == CheckpointRef.resolve(other).file.resolve()
    except (FileNotFoundError, ValueError):
        return False


def _check_initialisable(checkpoint: dict[str, Any], config: Any, path: Path) -> None:
    """``init_from``'s model must have this run's STFT, U-Net and stems (the post-filter may differ)."""
    declared = SeparatorConfig.from_params(checkpoint["separator_config"]).model.stems
    check_stem_names(checkpoint, declared, path)  # the file agrees with itself
    if list(declared) != list(config.model.stems):
        raise ConfigError(f"init_from {path}: its model separates {list(declared)}, this run trains {list(config.model.stems)}; "
                          "fine-tune from a model with the same stems, in the same order (or train from scratch)")
    # stem_sources says how this run's data makes the stems: fine-tuning on other data may make them otherwise.
    wanted = {name: value for name, value in {**config.stft.to_params(), **config.model.to_params()}.items() if name != "stem_sources"}
    details = _differences(checkpoint["separator_config"], wanted)
    if details:
        raise ConfigError(f"init_from {path}: the model differs from the checkpoint's ({details})")


def _best_checkpoint_plan(checkpoint: dict[str, Any], resume_path: Path, config: Any) -> str:
    """How a resumed run gets the ``best.pt`` of the best epoch its ``last.pt`` records (read-only:
    decided before anything is written or any process starts; see :attr:`StartingPoint.best`).

    Each epoch writes ``last.pt`` first, then ``best.pt`` when the epoch improved, so a kill between
    the two (or during the ``best.pt`` write) leaves a ``last.pt`` whose best epoch is its own epoch
    and an older or missing ``best.pt``: ``best.pt`` is written again from ``last.pt``. Otherwise the
    best epoch lies before the interruption and the ``best.pt`` beside ``last.pt`` must hold it.

    Raises:
        CheckpointError: the run's own ``best.pt`` is missing or holds another epoch (names it).
        ConfigError: a ``last.pt`` copied out of its run, without its ``best.pt``, with no epoch
            left to train (no best model could be chosen).
    """
    best_epoch, epoch = checkpoint.get("best_epoch") or 0, checkpoint.get("epoch")
    if not best_epoch:  # no epoch has had a finite validation loss yet
        return ""
    if best_epoch == epoch:
        return "last"
    beside = resume_path.parent / "best.pt"
    held = read_checkpoint(beside).get("epoch") if beside.is_file() else None
    if held == best_epoch:
        return "copy"
    found = f"holds epoch {held}" if beside.is_file() else "is missing"
    if resume_path.name == "last.pt" and resume_path.parent.name == "checkpoints":  # in its run folder, as training wrote it
        raise CheckpointError(f"{beside}: {found}, but {resume_path.name} records epoch {best_epoch} as the best; "
                              "this run's best model is lost (start a new run, or init_from its last.pt)")
    if epoch >= config.epochs:
        raise ConfigError(f"resume_from {resume_path}: no epoch left to train (epochs: {config.epochs}) and the best epoch's "
                          f"model ({best_epoch}) is not beside it; raise epochs, or separate with the file itself")
    print(f"note: resume_from {resume_path}: the best epoch's model ({best_epoch}) is not beside it ({beside} {found}); "
          "this run chooses its best.pt among the epochs it trains")
    return "anew"


def write_best_checkpoint(start: StartingPoint, best_path: Path) -> None:
    """Give the resumed run its ``best.pt`` as :func:`_best_checkpoint_plan` decided (``"anew"``: the
    loop forgets the recorded best, nothing is written)."""
    if start.best == "last":
        torch_save_atomic(model_checkpoint_from_training(start.checkpoint), best_path)
    elif start.best == "copy":
        previous = start.resume_path.parent / "best.pt"
        if previous.resolve() != best_path.resolve():
            with atomic_path(best_path) as temporary:
                shutil.copyfile(previous, temporary)
