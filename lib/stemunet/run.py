"""``python -m stemunet.run NOTEBOOK [-f parameters/X.yaml] [-p NAME VALUE]...``

Executes ``notebooks/NOTEBOOK.ipynb`` through Papermill into a new dated folder under ``runs/``
and prints that folder as the last line. Exits 1 if the notebook failed (the failed notebook is
in the folder, with the error) and 2 for bad parameters (checked before anything runs).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from stemunet.config import ConfigError
from stemunet.lab.runner import execute_notebook
from stemunet.lab.runs import COMMAND_VARIABLE, add_parameter_arguments, parameters_from_arguments


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stemunet.run", description=__doc__.splitlines()[0])
    parser.add_argument("notebook", help="notebook name in notebooks/ (explore, train, evaluate, separate, listen)")
    add_parameter_arguments(parser)
    parser.add_argument("--no-progress", action="store_true", help="hide Papermill's progress bar")
    parser.add_argument("--notebooks-dir", type=Path, default=None, help="folder holding NOTEBOOK.ipynb (default: the project's notebooks/)")
    args = parser.parse_args(argv)
    notebook = args.notebook.removesuffix(".ipynb").split("/")[-1]

    import papermill

    try:
        parameters = parameters_from_arguments(args)
        # The kernel inherits the environment: it records the user's command, not its own.
        os.environ[COMMAND_VARIABLE] = shlex.join(["python", "-m", "stemunet.run", *(sys.argv[1:] if argv is None else argv)])
        run_dir = execute_notebook(notebook, parameters, progress=not args.no_progress, notebooks_dir=args.notebooks_dir)
    except (ConfigError, FileNotFoundError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        # (execute_notebook silenced the reports of the cell cut short: this line is the only one)
        run_dir = getattr(interrupt, "run_dir", None)
        where = f"; the partial run is in {run_dir}" if run_dir else ""
        resume = f" (continue it: python -m stemunet.run train ... -p resume_from {run_dir})" if run_dir and notebook == "train" else ""
        print(f"interrupted{where}{resume}", file=sys.stderr)
        return 130
    except papermill.PapermillExecutionError as error:
        print(f"error: notebook {notebook} failed: {error.ename}: {error.evalue}", file=sys.stderr)
        print(f"the failed notebook, with the error, is in {error.run_dir}", file=sys.stderr)
        print(error.run_dir)
        return 1
    finally:
        os.environ.pop(COMMAND_VARIABLE, None)
    print(run_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
