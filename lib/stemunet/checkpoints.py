"""Checkpoints: the one module that finds, opens, describes and saves them.

**Safe to open.** A checkpoint is a dict written by ``torch.save`` (format
:data:`CHECKPOINT_FORMAT`) that holds only tensors and plain values: str, int, float, bool, None,
and lists, tuples and dicts of them. It is opened with ``torch.load(weights_only=True)``, torch's
restricted unpickler, which builds exactly those and refuses every other Python object *before*
constructing it. A file someone sent you that carries a pickled object whose ``__reduce__`` would
run a command is refused with :class:`CheckpointError` and nothing in it runs. Nothing needs to be
allow-listed: the random generator states that training saves are stored as tensors and tuples
(see :func:`stemunet.training.builders.rng_state`), not as numpy objects.

**Two kinds, one format.**

- A *model checkpoint* (``checkpoints/best.pt``, the bundled ``pretrained`` model, anything
  :func:`save_model` writes): the separator's configuration, its weights, the stem names,
  provenance (library and torch versions, git commit) and a short training summary (epoch,
  validation loss, the training parameters). This is the file a user ships: weights plus
  configuration, no optimiser state.
- A *training checkpoint* (``checkpoints/last.pt``): the same plus what a resume needs
  (:data:`TRAINING_STATE_KEYS`: optimiser, schedule, grad-scaler and random generator states,
  history, counters). Adam keeps two moments per weight, so it is about three times larger.

Both load as separators (:meth:`CheckpointRef.load_separator`); only a training checkpoint can be
resumed from (:func:`read_training_checkpoint`).

**References** (what a user types as ``checkpoint``, ``--checkpoint``, ``runs`` or ``resume_from``):

- a training run folder: its ``checkpoints/best.pt`` (for a resume, ``last.pt``); a run without
  ``best.pt`` is an error naming it, never a silent fall-back to another epoch's weights;
- a checkpoint file;
- ``pretrained``: the model bundled with the package, when this installation has one;
- ``latest``: the newest training run under ``runs/`` that finished (``metrics.json`` says so) and
  has its ``best.pt``; newer runs it skipped are named in a warning;
- ``""``: the default, ``pretrained`` when bundled, else ``latest``.

Relative paths resolve against the working directory (the runner makes them absolute against the
folder the user typed them in before a notebook runs).
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from stemunet import __version__
from stemunet.files import read_mapping, torch_save_atomic
from stemunet.runfolders import git_commit, list_runs, runs_root

if TYPE_CHECKING:
    import pandas as pd

    from stemunet.separation.separator import Separator

CHECKPOINT_FORMAT = "stemunet-checkpoint-v1"
PRETRAINED = "pretrained"
LATEST = "latest"
PRETRAINED_RESOURCE = "pretrained/model.pt"
"""Where the bundled model lies inside the ``stemunet`` package (package data)."""

MODEL_KEYS = ("format", "separator_config", "stem_names", "state_dict")
"""What every checkpoint holds; the rest is provenance and training state."""

TRAINING_STATE_KEYS = ("train_config", "epoch", "global_step", "history", "optimizer_state", "scheduler_state")
"""What a training checkpoint holds beyond a model checkpoint, needed to resume."""

RESUME_ONLY_KEYS = ("optimizer_state", "scheduler_state", "scaler_state", "rng_state", "history", "ema_state")
"""Training state left out of a model checkpoint (the rest of its training summary stays)."""


class CheckpointError(ValueError):
    """A checkpoint file is refused or unusable; the message names the file and the problem."""


class NoTrainingRunError(FileNotFoundError):
    """No checkpoint was given, none is bundled, and no finished training run exists."""


# ----------------------------------------------------------------------------------------------
# Opening and saving files
# ----------------------------------------------------------------------------------------------


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The checkpoint dict in ``path``, opened without running any code from the file.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: the file holds Python objects other than tensors and plain values
            (refused, nothing in it was run), is not a torch file, is not a dict, or is not a
            stemunet checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    check_archive(path)
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        # torch's long message names the object it refused as "GLOBAL module.name"; without one the
        # file is no pickle at all (random bytes, a truncated file), nothing that "could run code".
        named = re.search(r"GLOBAL ([\w.]+)", str(error))
        if named is None:
            raise CheckpointError(f"{path}: not a readable checkpoint (not a file torch.save wrote, or a damaged one)") from None
        raise CheckpointError(
            f"{path}: refused: it holds Python objects other than tensors and plain values, which could "
            f"run code; nothing in it was run (it names {named.group(1)})"
        ) from None
    except Exception as error:  # a truncated, text or other non-torch file
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(error).__name__}: {error})") from None
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{path}: holds a {type(checkpoint).__name__}, not a stemunet checkpoint (a dict)")
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a stemunet checkpoint (format {checkpoint.get('format')!r}, expected {CHECKPOINT_FORMAT!r})")
    missing = [key for key in MODEL_KEYS if key not in checkpoint]
    if missing:
        raise CheckpointError(f"{path}: a stemunet checkpoint without {missing}")
    check_weights_finite(checkpoint, path)
    return checkpoint


def check_archive(path: Path) -> None:
    """:class:`CheckpointError` when the zip archive ``torch.save`` wrote has changed since: every
    member's CRC-32 (recorded by torch when it wrote the file) is checked against its bytes.

    ``torch.load`` reads the members without checking them, so a file damaged on disk or in transfer
    (bytes flipped in the weights) would load as a different model. Files in torch's legacy,
    non-zip format are left to ``torch.load``.
    """
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise CheckpointError(f"{path}: damaged: not a readable archive ({error})") from None
    if damaged is not None:
        raise CheckpointError(f"{path}: damaged: the checksum of {damaged} in it does not match its bytes (changed or "
                              "corrupted after it was written); refused")


def check_weights_finite(checkpoint: dict[str, Any], path: str | Path = "checkpoint") -> None:
    """:class:`CheckpointError` when a weight of ``checkpoint`` holds NaN or infinite values: such a
    model writes NaN stems (-32768 in 16-bit files) and trains to NaN."""
    broken = [key for key, value in checkpoint["state_dict"].items()
              if isinstance(value, torch.Tensor) and value.is_floating_point() and not bool(value.isfinite().all())]  # fmt: skip
    if broken:
        more = f" and {len(broken) - 1} more" if len(broken) > 1 else ""
        raise CheckpointError(f"{path}: weight {broken[0]}{more} holds NaN or infinite values (did its training diverge?); refused")


def read_training_checkpoint(path: str | Path) -> dict[str, Any]:
    """A training checkpoint (``last.pt``) on the CPU, checked to hold what a resume needs."""
    checkpoint = read_checkpoint(path)
    missing = [key for key in TRAINING_STATE_KEYS if key not in checkpoint]
    if missing:
        raise CheckpointError(f"{path}: no training state to resume from (missing {missing}); a model checkpoint (best.pt) can only be separated with")
    return checkpoint


def model_checkpoint(separator: Separator, **extra: Any) -> dict[str, Any]:
    """The checkpoint dict of ``separator``: configuration, weights on the CPU, provenance, ``extra``."""
    return {
        "format": CHECKPOINT_FORMAT,
        "separator_config": separator.config.to_params(),
        "stem_names": list(separator.stem_names),
        "state_dict": {key: value.detach().cpu() for key, value in separator.state_dict().items()},
        "library_version": __version__,
        "torch_version": str(torch.__version__),  # a TorchVersion object would not open safely
        "git_commit": git_commit(),
        **extra,
    }


def model_checkpoint_from_training(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The model checkpoint inside a training checkpoint (or a model checkpoint itself): the dict
    without :data:`RESUME_ONLY_KEYS`, holding the weights' moving average where the run kept one
    (``ema_decay``: the average is the model; the raw weights are for resuming)."""
    model = {key: value for key, value in checkpoint.items() if key not in RESUME_ONLY_KEYS}
    if checkpoint.get("ema_state"):
        model["state_dict"] = checkpoint["ema_state"]["state_dict"]
    return model


def save_model(separator: Separator, path: str | Path, **summary: Any) -> Path:
    """Write a model checkpoint atomically; training-only state in ``summary`` is left out."""
    return torch_save_atomic(model_checkpoint_from_training(model_checkpoint(separator, **summary)), path)


def save_training(separator: Separator, path: str | Path, **state: Any) -> Path:
    """Write a training checkpoint atomically: the model plus ``state`` (:data:`TRAINING_STATE_KEYS` and more)."""
    missing = [key for key in TRAINING_STATE_KEYS if key not in state]
    if missing:
        raise ValueError(f"a training checkpoint needs {missing}")
    return torch_save_atomic(model_checkpoint(separator, **state), path)


def check_stem_names(checkpoint: dict[str, Any], stems: Sequence[str], path: str | Path = "checkpoint") -> None:
    """:class:`CheckpointError` unless ``checkpoint`` declares exactly ``stems``, in that order (the
    model's output masks follow the order: another order would write each stem under another name)."""
    declared = list(checkpoint["stem_names"])
    if declared != list(stems):
        raise CheckpointError(f"{path}: declares the stems {declared}, but its model separates {list(stems)}; refused")


# ----------------------------------------------------------------------------------------------
# References: what a user names
# ----------------------------------------------------------------------------------------------


def pretrained_file() -> Path | None:
    """The bundled model's file, or ``None`` when this installation has none."""
    resource = resources.files("stemunet").joinpath(PRETRAINED_RESOURCE)
    return Path(str(resource)) if resource.is_file() else None


def run_finished(run: Path) -> bool:
    """Whether a training run folder's ``metrics.json`` says it ran all its epochs."""
    return bool(read_mapping(run / "metrics.json").get("finished"))


@dataclass(frozen=True)
class CheckpointRef:
    """A resolved checkpoint: its file, and the training run folder it belongs to (if any).

    ``name`` is what the user named (``pretrained``, ``latest``, a path) for messages.
    """

    file: Path
    train_run: Path | None = None
    name: str = ""

    @classmethod
    def resolve(cls, spec: str | Path = "", *, runs_dir: Path | None = None, resume: bool = False) -> CheckpointRef:
        """Find the checkpoint ``spec`` names (see the module docstring), before anything is loaded.

        Args:
            spec: a run folder, a file, ``pretrained``, ``latest`` or ``""``.
            runs_dir: where ``latest`` looks (default :func:`stemunet.runfolders.runs_root`).
            resume: pick a run folder's ``last.pt`` (the training checkpoint) instead of ``best.pt``.

        Raises:
            NoTrainingRunError: ``latest`` (or ``""`` without a bundled model) finds no finished run.
            FileNotFoundError: ``spec`` names nothing usable; the message says what is missing.
        """
        text = str(spec).strip()
        if text == PRETRAINED or (text == "" and not resume and pretrained_file() is not None):
            file = pretrained_file()
            if file is None:
                raise FileNotFoundError(
                    "checkpoint 'pretrained': this installation has no bundled model; "
                    "name a training run folder or checkpoint file, or 'latest'"
                )
            return cls(file, None, PRETRAINED)
        if text in ("", LATEST):
            return cls._latest(runs_dir, explicit=text == LATEST)
        path = Path(text).expanduser().resolve()
        if path.is_dir():
            name = "last.pt" if resume else "best.pt"
            if (path / "checkpoints" / name).is_file():
                return cls(path / "checkpoints" / name, path, text)
            if not resume and (path / "checkpoints" / "last.pt").is_file():
                # Never another model in its place: a run whose best.pt is missing was killed while
                # writing it, or damaged; its last.pt is a different epoch's weights.
                state = "finished" if run_finished(path) else "did not finish"
                raise FileNotFoundError(
                    f"{path}: this training run ({state}) has no checkpoints/best.pt (killed while writing it, or no epoch "
                    f"had a finite validation loss); name {path / 'checkpoints' / 'last.pt'} to use its latest epoch's "
                    "weights, or resume it (resume_from) to write its best.pt again"
                )
            raise FileNotFoundError(f"{path}: a folder without checkpoints/{name}; not a training run")
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such checkpoint file or training run folder")
        run = path.parent.parent
        from_run = path.parent.name == "checkpoints" and (run / "parameters.yaml").is_file()
        return cls(path, run if from_run else None, text)

    @classmethod
    def _latest(cls, runs_dir: Path | None, *, explicit: bool = True) -> CheckpointRef:
        root = runs_root() if runs_dir is None else Path(runs_dir)
        runs = list_runs("train", root)
        finished = [run for run in runs if run_finished(run) and (run / "checkpoints" / "best.pt").is_file()]
        if not finished:
            unfinished = f" ({len(runs)} training run(s) there did not finish)" if runs else ""
            # Asked for by name, 'latest' means a run whatever is bundled; by default, it is the fallback
            # of an installation without a bundled model.
            fallback = "pretrained (the bundled model), " if explicit and pretrained_file() is not None else ""
            bundled = "" if explicit else " and no bundled model"
            raise NoTrainingRunError(
                f"checkpoint {LATEST!r}: no finished training run in {root}{unfinished}{bundled}; train one "
                f"(python -m stemunet.run train -f parameters/train_demo.yaml) or name {fallback}a training run "
                "folder or checkpoint file"
            )
        run = finished[-1].resolve()
        skipped = [f"{newer.name} ({'no checkpoints/best.pt' if run_finished(newer) else 'unfinished: still training, or stopped'})"
                   for newer in runs[runs.index(finished[-1]) + 1 :]]
        if skipped:
            warnings.warn(f"checkpoint {LATEST!r} is {run.name}; newer training runs skipped: {', '.join(skipped)}", stacklevel=3)
        return cls(run / "checkpoints" / "best.pt", run, LATEST)

    def training_data(self) -> dict[str, Any]:
        """The data set parameters (:class:`~stemunet.config.DataConfig`'s names) recorded in the
        checkpoint's training configuration; empty when it records none (a model from elsewhere)."""
        from stemunet.config import DataConfig

        recorded = self.read().get("train_config") or {}
        return {name: recorded[name] for name in DataConfig.parameter_names() if name in recorded}

    def pinned(self) -> str:
        """A reference that names this same checkpoint tomorrow: the absolute run folder (its
        ``best.pt`` is what ``latest`` picked) or file, or ``pretrained``; never ``latest`` or ``""``,
        whose meaning changes as new runs finish."""
        if self.name == PRETRAINED:
            return PRETRAINED
        if self.train_run is not None and self.file == self.train_run / "checkpoints" / "best.pt":
            return str(self.train_run)
        return str(self.file)

    @property
    def label(self) -> str:
        """A short name for tables: the run folder's name (with the file when not ``best.pt``), else the file's."""
        if self.name == PRETRAINED:
            return PRETRAINED
        if self.train_run is None:
            return self.file.name
        return self.train_run.name + ("" if self.file.name == "best.pt" else f" ({self.file.stem})")

    def provenance(self) -> dict[str, str]:
        """The ``checkpoint`` and ``train_run`` entries of a run's ``parameters.yaml``."""
        return {"checkpoint": str(self.file), "train_run": str(self.train_run or "")}

    def read(self) -> dict[str, Any]:
        """The checkpoint dict, opened safely (:func:`read_checkpoint`)."""
        return read_checkpoint(self.file)

    def training_summary(self, keys: tuple[str, ...] = (), metric_keys: tuple[str, ...] = ()) -> dict[str, Any]:
        """Parameters (``keys``) and figures (``metric_keys``) of the training behind the checkpoint.

        From the training run's ``parameters.yaml`` and ``metrics.json``; for a file outside a
        run folder, from the configuration and summary stored in the checkpoint itself.
        """
        summary: dict[str, Any] = {"train_run": self.train_run.name if self.train_run else self.label}
        if self.train_run is not None:
            parameters = read_mapping(self.train_run / "parameters.yaml").get("parameters") or {}
            metrics = read_mapping(self.train_run / "metrics.json")
        else:
            stored = self.read()
            parameters = {**stored.get("separator_config", {}), **(stored.get("train_config") or {})}
            metrics = {"best_epoch": stored.get("best_epoch"), "best_valid_loss": stored.get("best_valid_loss")}
        summary.update({key: parameters[key] for key in keys if key in parameters})
        summary.update({key: metrics[key] for key in metric_keys if metrics.get(key) is not None})
        return summary

    def describe(self) -> pd.Series:
        """What the checkpoint holds: file, training run, size, model configuration, provenance."""
        import pandas as pd

        checkpoint = self.read()
        statistics = ("running_mean", "running_var", "num_batches_tracked")
        n_parameters = sum(value.numel() for key, value in checkpoint["state_dict"].items() if not key.endswith(statistics))
        info: dict[str, Any] = {
            "checkpoint": str(self.file),
            "training run": str(self.train_run) if self.train_run else f"(none: {'the bundled model' if self.name == PRETRAINED else 'a checkpoint file from elsewhere'})",
            "kind": "training (resumable)" if all(key in checkpoint for key in TRAINING_STATE_KEYS) else "model",
            "parameters": f"{n_parameters / 1e6:.2f} M",
        }
        info.update(checkpoint["separator_config"])
        for key, value in checkpoint.items():
            if key not in MODEL_KEYS and isinstance(value, (str, int, float, bool)):
                info[key] = value
        return pd.Series(info, name="checkpoint", dtype=object)
