"""What a run folder keeps of a training: ``history.csv`` (one row an epoch) and the result
(:class:`TrainResult`: history, metrics, checkpoints) read back from a folder."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stemunet.files import write_text_atomic
from stemunet.separation.loading import load_separator
from stemunet.separation.separator import Separator

HISTORY_COLUMNS = ("epoch", "train_loss", "valid_loss", "valid_sdr", "learning_rate", "seconds")


# ----------------------------------------------------------------------------------------------
# Checkpoints and resume
# ----------------------------------------------------------------------------------------------


def write_history(path: Path, history: list[dict[str, Any]]) -> Path:
    """``history.csv``: one row per epoch with :data:`HISTORY_COLUMNS`, written atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_COLUMNS, restval="nan", extrasaction="ignore", lineterminator="\n")
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
    """The folder of ``run``: a :class:`stemunet.lab.runs.Run` (its ``path``) or a path."""
    return Path(run.path if hasattr(run, "path") else run)
