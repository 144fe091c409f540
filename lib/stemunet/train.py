"""``python -m stemunet.train [-f parameters/X.yaml] [-p NAME VALUE]...``: training without a notebook.

The Python entry point is :func:`stemunet.training.launch.fit`; this module is the command line.

Made for launchers: under ``torchrun`` every process runs this module, joins the process group
(NCCL on GPUs, gloo on CPUs; :mod:`stemunet.training.distributed`) and trains its share; rank 0 makes the
same dated run folder the train notebook makes (``parameters.yaml``, ``history.csv``,
``metrics.json``, ``loss_curves.png``, ``checkpoints/``), the other ranks write nothing. Rank 0
prints the folder as its last line, like ``python -m stemunet.run``. Exits 2 for bad parameters
(checked before anything runs).

Examples::

    python -m stemunet.train -f parameters/train_demo.yaml                        # one process
    torchrun --nproc_per_node 8 -m stemunet.train -f parameters/train.yaml        # 8 GPUs
    torchrun --nnodes 2 --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint node0:29500 \\
        --rdzv_id my-run -m stemunet.train -f parameters/train.yaml -p musdb_root /data/musdb18hq
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from stemunet.config import ConfigError
from stemunet.training import distributed
from stemunet.training.config import TrainConfig
from stemunet.training.launch import fit


def main(argv: list[str] | None = None) -> int:
    distributed.die_with_launcher()  # first: a launcher killed from here on takes this worker with it
    from stemunet.data.tracks import TrackError
    from stemunet.lab.runs import add_parameter_arguments, parameters_from_arguments, resolve_path_parameters, start_run
    from stemunet.runfolders import check_new_run_dir, discard_unstarted_run

    parser = argparse.ArgumentParser(prog="python -m stemunet.train", description=__doc__.splitlines()[0])
    add_parameter_arguments(parser)
    parser.add_argument("--run-dir", default="", help="write into this folder instead of a new dated one under runs/")
    args = parser.parse_args(argv)
    try:
        config = TrainConfig.from_params(resolve_path_parameters(parameters_from_arguments(args)))
        if args.run_dir:
            check_new_run_dir(args.run_dir)  # a folder holding a run is never written over
    except (ConfigError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    group = distributed.init_from_environment()
    try:
        if group.distributed:
            config = config.replace(n_processes=1)  # already launched: every process trains
        run_dir = None
        command = shlex.join(["python", "-m", "stemunet.train", *(sys.argv[1:] if argv is None else argv)])
        if group.is_main:
            created = not (args.run_dir and Path(args.run_dir).expanduser().exists())
            try:
                run_dir = start_run("train", args.run_dir, config, world_size=group.world_size, launched_by=command).path
            except ConfigError as error:  # no place for the run folder
                print(f"error: {error}", file=sys.stderr)
        run_dir = distributed.broadcast(str(run_dir) if run_dir else None)
        if run_dir is None:  # every process stops, not only rank 0
            return 2
        try:
            result = fit(config, run_dir, progress=group.is_main)
        except (ConfigError, FileNotFoundError, TrackError, ValueError) as error:  # a resume that cannot be, no data, ...
            if group.is_main:
                discard_unstarted_run(run_dir, created=created)
                print(f"error: {error}", file=sys.stderr)
            return 2
        except OSError as error:  # a full disk, a folder that became unwritable: what was kept, and how to go on
            if group.is_main:
                discard_unstarted_run(run_dir, created=created)
                kept = Path(run_dir) / "checkpoints" / "last.pt"
                more = f"; the partial run is in {run_dir} (continue it: {command} -p resume_from {run_dir})" if kept.exists() else ""
                print(f"error: {error.strerror if error.filename is None and error.strerror else error}{more}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            if group.is_main:
                if (Path(run_dir) / "checkpoints" / "last.pt").exists():
                    print(f"interrupted; the partial run is in {run_dir} (continue it: {command} -p resume_from {run_dir})", file=sys.stderr)
                else:
                    discard_unstarted_run(run_dir, created=created)
                    print("interrupted before the first epoch ended; nothing was kept", file=sys.stderr)
            return 130
        if group.is_main:
            from stemunet.lab.plots import plot_loss_curves

            figure = plot_loss_curves(result.history, best_epoch=result.metrics["best_epoch"], ylabel=config.loss_label)
            figure.savefig(f"{run_dir}/loss_curves.png", dpi=150, bbox_inches="tight")
            print(run_dir)
    finally:
        distributed.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
