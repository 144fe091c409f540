"""The training entry point from Python: :func:`fit` trains in this process, or, for
``n_processes`` > 1, in that many processes started by torch's elastic launcher (:func:`launch`).
:mod:`stemunet.training.fit` holds what one process does, :mod:`stemunet.training.distributed` the
process-group helpers; ``python -m stemunet.train`` (:mod:`stemunet.train`) is its command line.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stemunet.training import distributed, resume
from stemunet.training.builders import DataLoaders
from stemunet.training.config import TrainConfig
from stemunet.training.fit import fit as fit_in_this_process
from stemunet.training.history import TrainResult, run_path


def fit(
    config: TrainConfig,
    run: Any,
    *,
    loaders: DataLoaders | None = None,
    progress: bool = True,
    epoch_callback: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train (or resume) a separator as ``config`` says, writing into the run folder ``run``
    (arguments and result: :func:`stemunet.training.fit.fit`).

    With ``n_processes`` > 1 (and no process group yet) the training runs in that many processes
    started by torch's elastic launcher (:func:`launch`), and the result is read back from the run
    folder (``loaders`` and ``epoch_callback`` are not used then: each process builds its own).
    Otherwise it trains in this process (:func:`stemunet.training.fit.fit`).
    """
    if config.n_processes > 1 and not distributed.current().distributed:
        resume.starting_point(config, config.n_processes)  # a resume that cannot be: one line here, not one per process
        run_dir = run_path(run)
        launch(config.to_params(), run_dir, config.n_processes)
        return TrainResult.load(run_dir)
    return fit_in_this_process(config, run, loaders=loaders, progress=progress, epoch_callback=epoch_callback)


def launch(parameters: dict[str, Any], run_dir: str | Path, n_processes: int) -> None:
    """Train with ``n_processes`` processes on this machine through torch's elastic launcher.

    Each worker builds ``TrainConfig.from_params(parameters)`` and trains into ``run_dir`` (rank 0
    writes). Returns when all have finished; raises if any failed (torch's ``ChildFailedError``
    names the rank and its error).
    """
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=n_processes,
        run_id=f"stemunet-{uuid.uuid4().hex[:8]}",
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",
        max_restarts=0,
        monitor_interval=0.5,
    )
    elastic_launch(config, _worker)(dict(parameters), str(run_dir))


def _worker(parameters: dict[str, Any], run_dir: str) -> None:
    """One process of :func:`launch` (module level, so the launcher can start it in a fresh interpreter)."""
    group = distributed.init_from_environment()
    try:
        fit_in_this_process(TrainConfig.from_params(parameters), run_dir, progress=group.is_main)
    finally:
        distributed.close()
