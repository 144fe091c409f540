"""Dated run folders and the Papermill runner.

Every executed notebook gets one folder, sortable by time::

    runs/2026-11-25T14-30-12_train/
      train.ipynb          the executed notebook (written by the runner)
      parameters.yaml      resolved parameters, git commit, library versions
      ...                  whatever the notebook produced (metrics.json, figures, checkpoints/)

:func:`execute_notebook` (``python -m stemunet.run``) creates the folder and passes it to the
notebook as its ``run_dir`` parameter. A notebook run by plain ``papermill`` with an empty
``run_dir`` creates its own folder through :func:`start_run`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import os
import platform
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from stemunet.config import Config, ConfigError, DuplicateKeyError, load_yaml
from stemunet.files import write_json_atomic, write_text_atomic
from stemunet.runfolders import git_commit, list_runs, project_root, runs_root  # noqa: F401 (part of this module's API)

RUN_TIME_FORMAT = "%Y-%m-%dT%H-%M-%S"

# Which config class checks each notebook's parameters (imported lazily: importing the training
# stack to run the explore notebook would only cost time).
NOTEBOOK_CONFIGS: dict[str, str] = {
    "explore": "stemunet.exploration:ExploreConfig",
    "train": "stemunet.training:TrainConfig",
    "evaluate": "stemunet.evaluation:EvaluateConfig",
    "separate": "stemunet.separate:SeparateConfig",
    "listen": "stemunet.widgets:ListenConfig",
}

# Parameters every notebook has that are not part of its config.
RUNNER_PARAMETERS = ("run_dir",)

PATH_PARAMETERS = ("musdb_root", "synthetic_soundfont", "checkpoint", "resume_from", "init_from", "output_dir", "inputs", "runs")
"""Parameters naming files or folders (``inputs`` and ``runs`` are lists of them). The runner makes
them absolute against the folder the user ran it from, since the notebook's kernel runs in
``notebooks/``."""

PATH_KEYWORDS = ("", "pretrained", "latest")
"""Values of path parameters that are not paths (see :mod:`stemunet.checkpoints`)."""

CHECKPOINT_PARAMETERS = ("checkpoint", "runs")
"""Parameters naming checkpoints (``runs`` a list of them). The runner pins ``latest`` and ``""``
to the checkpoint they name now (:func:`pin_checkpoint_parameters`), so an executed notebook run
again uses the same model."""

COMMAND_VARIABLE = "STEMUNET_COMMAND"
"""Environment variable through which the runner tells the notebook's kernel the user's command."""




def notebooks_root() -> Path:
    root = project_root()
    if root is None:
        raise FileNotFoundError("no notebooks/ folder at or above the working directory; run from the project")
    return root / "notebooks"


def new_run_dir(notebook: str, root: Path | None = None, now: dt.datetime | None = None) -> Path:
    """Create and return ``<root>/<time>_<notebook>``; a second run in the same second gets ``-2``."""
    root = runs_root() if root is None else Path(root)
    where = f"runs folder {root}" + (" ($STEMUNET_RUNS)" if os.environ.get("STEMUNET_RUNS") else "")
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{where}: is a file, not a folder; point STEMUNET_RUNS at a folder")
    if root.is_symlink() and not root.exists():
        raise ConfigError(f"{where}: a link to a missing folder ({os.readlink(root)}); create it or point STEMUNET_RUNS elsewhere")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # read-only, permission denied, a file above it, /proc
        raise ConfigError(f"{where}: cannot create run folders there ({error.strerror or error})") from None
    stamp = (now or dt.datetime.now()).strftime(RUN_TIME_FORMAT)
    for attempt in range(1, 1000):
        suffix = "" if attempt == 1 else f"-{attempt}"
        path = root / f"{stamp}_{notebook}{suffix}"
        try:
            path.mkdir()  # atomic: of two racing runs exactly one creates a given name
            return path
        except FileExistsError:
            continue
        except OSError as error:
            raise ConfigError(f"{where}: cannot create run folders there ({error.strerror or error})") from None
    raise RuntimeError(f"could not create a run folder for {notebook} in {root}")


RUN_FILES = ("parameters.yaml", "metrics.json", "history.csv", "checkpoints")
"""What a run folder holds once a run has started in it: such a folder is never written over."""


def check_new_run_dir(path: str | Path) -> Path:
    """``path`` as a folder a new run may write into: missing or holding no run.

    Raises :class:`ConfigError` for a file, and for a folder that holds a run (finished or not:
    continuing one is ``resume_from``, which writes a new run folder).
    """
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"run folder {path}: is a file, not a folder")
    held = [name for name in RUN_FILES if (path / name).exists()]
    if held:
        raise ConfigError(
            f"run folder {path}: holds a run already ({', '.join(held)}); a run is never written over "
            f"(continue it with -p resume_from {path}, or name a new folder)"
        )
    return path


def discard_unstarted_run(path: str | Path, *, created: bool) -> None:
    """Remove what :func:`start_run` wrote into ``path`` for a run that stopped before its first
    checkpoint (bad data, a resume that cannot be), so no empty run folder stays behind: the
    folder itself when this process ``created`` it, else only our files."""
    import shutil

    path = Path(path)
    if (path / "checkpoints" / "last.pt").exists() or (path / "checkpoints" / "best.pt").exists():
        return
    if created:
        shutil.rmtree(path, ignore_errors=True)
        return
    (path / "parameters.yaml").unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        (path / "checkpoints").rmdir()




def user_command() -> str | None:
    """The command the user typed: the runner's (passed to the kernel in :data:`COMMAND_VARIABLE`),
    or this process's own; ``None`` inside a kernel started some other way (plain Papermill, Jupyter)."""
    if os.environ.get(COMMAND_VARIABLE):
        return os.environ[COMMAND_VARIABLE]
    if "ipykernel" in Path(sys.argv[0]).name:
        return None
    return shlex.join(sys.argv)


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("stemunet", "torch", "torchaudio", "numpy", "musdb", "museval", "papermill"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


@dataclass
class Run:
    """A run folder as the notebook sees it."""

    path: Path
    notebook: str
    parameters: dict[str, Any] = field(default_factory=dict)

    def file(self, name: str) -> Path:
        """Path of an artefact inside the run folder (parent folders created)."""
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def save_figure(self, figure: Any, name: str) -> Path:
        """Save a matplotlib figure as PNG (150 dpi) in the run folder."""
        path = self.file(name)
        figure.savefig(path, dpi=150, bbox_inches="tight")
        return path

    def write_json(self, name: str, data: Any) -> Path:
        return write_json_atomic(self.file(name), data)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"


def notebook_config(config_class: type[Config], namespace: Mapping[str, Any]) -> Config:
    """Build a notebook's config from its parameter variables (pass ``globals()``).

    Values are type-checked by :meth:`Config.from_params`; a parameter the notebook lacks is a
    :class:`KeyError` naming it (the parameters cell and the config disagree). Path parameters
    come back absolute (:func:`resolve_path_parameters`), so ``parameters.yaml`` records where they are.
    """
    missing = [name for name in config_class.parameter_names() if name not in namespace]
    if missing:
        raise KeyError(f"the notebook's parameters cell lacks {missing} of {config_class.__name__}")
    # Relative paths resolve against the kernel's folder: the user's own under plain Papermill (which
    # starts the kernel where it was called) and JupyterLab's notebooks/; the runner passes them absolute.
    values = resolve_path_parameters({name: namespace[name] for name in config_class.parameter_names()})
    return config_class.from_params(values)


def start_run(notebook: str, run_dir: str | Path = "", config: Config | None = None, **provenance: Any) -> Run:
    """Open the run folder a notebook writes into, and record its resolved parameters.

    Args:
        notebook: the notebook's name (``train``), used in a new folder's name.
        run_dir: the folder the runner created; empty creates a new dated one.
        config: the notebook's resolved configuration, written to ``parameters.yaml``.
        provenance: more entries for ``parameters.yaml`` (the checkpoint a run used, say).
    """
    path = Path(run_dir).expanduser() if run_dir else new_run_dir(notebook)
    if (path / "parameters.yaml").is_file():
        # An executed run notebook run again (Run All in JupyterLab, papermill on it): its folder
        # is a record and stays as it is; the new run goes beside it and says which one it repeats.
        provenance = {"reexecutes": str(path.resolve()), **provenance}
        path = new_run_dir(notebook, path.parent)
        print(f"{run_dir} is a finished run and stays as it was; this run writes to {path}")
    elif run_dir:
        path = check_new_run_dir(path)  # a file, or a folder holding part of a run: refused
    path.mkdir(parents=True, exist_ok=True)
    parameters = config.to_params() if config is not None else {}
    record = {
        "notebook": notebook,
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "parameters": parameters,
        **provenance,
        "git_commit": git_commit(),
        "versions": library_versions(),
        "command": user_command(),
    }
    write_text_atomic(path / "parameters.yaml", yaml.safe_dump(record, sort_keys=False))
    return Run(path=path, notebook=notebook, parameters=parameters)


def notebook_config_class(notebook: str) -> type[Config]:
    """The config class that checks ``notebook``'s parameters."""
    if notebook not in NOTEBOOK_CONFIGS:
        raise KeyError(f"unknown notebook {notebook!r}; known: {sorted(NOTEBOOK_CONFIGS)}")
    module_name, class_name = NOTEBOOK_CONFIGS[notebook].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def parse_value(text: str, name: str = "") -> Any:
    """A ``-p NAME VALUE`` value: YAML scalars and lists (``3``, ``true``, ``[1, 2]``), numbers like ``1e-4``.

    Raises :class:`ConfigError` naming the parameter for a value YAML cannot read (``[vocals``).
    """
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as error:
        problem = str(getattr(error, "problem", None) or error).strip()
        raise ConfigError(f"parameter {name or text!r}: cannot read {text!r} ({problem}); quote lists as '[a, b]'") from None
    if isinstance(value, str):
        try:
            return float(value)  # YAML 1.1 reads 1e-4 as a string
        except ValueError:
            return value
    return "" if value is None else value


def load_parameter_file(path: str | Path) -> dict[str, Any]:
    """The parameters in a YAML file; :class:`ConfigError` naming the file (and line) if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such parameter file")
    try:
        values = load_yaml(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (expected YAML parameters)") from None
    except DuplicateKeyError as error:  # the last would win silently
        raise ConfigError(f"{path}, line {error.line}: parameter {error.key!r} is set twice (first on line {error.first_line}); keep one") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = str(getattr(error, "problem", None) or "not valid YAML").strip()
        raise ConfigError(f"{path}{where}: {problem} (expected YAML parameters, NAME: VALUE per line)") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of parameter names to values")
    return values


def add_parameter_arguments(parser: Any) -> None:
    """``-f FILE`` (repeatable) and ``-p NAME VALUE`` (repeatable), as ``stemunet.run`` and ``stemunet.train`` take them."""
    parser.add_argument("-f", "--parameters-file", action="append", default=[], help="YAML parameter file (repeatable; later wins)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"), help="one parameter (wins over files)")


def parameters_from_arguments(args: Any) -> dict[str, Any]:
    """The parameters :func:`add_parameter_arguments`'s options name: files in order, then ``-p`` values.

    Raises :class:`ConfigError` (or :class:`FileNotFoundError`) naming the file or parameter.
    """
    parameters: dict[str, Any] = {}
    for path in args.parameters_file:
        parameters.update(load_parameter_file(path))
    parameters.update({name: parse_value(value, name) for name, value in args.parameter})
    return parameters


def resolve_path_parameters(parameters: Mapping[str, Any], base: Path | None = None) -> dict[str, Any]:
    """``parameters`` with every path-valued one (:data:`PATH_PARAMETERS`) made absolute against ``base``
    (default: the working directory), ``~`` expanded; keywords such as ``pretrained`` stay as they are."""
    base = Path.cwd() if base is None else Path(base)

    def absolute(value: Any) -> Any:
        if not isinstance(value, str) or value.strip() in PATH_KEYWORDS:
            return value
        return os.path.normpath(os.path.join(base, os.path.expanduser(value)))

    resolved = dict(parameters)
    for name in PATH_PARAMETERS:
        if name in resolved:
            value = resolved[name]
            resolved[name] = [absolute(v) for v in value] if isinstance(value, (list, tuple)) else absolute(value)
    return resolved


def check_parameters(notebook_path: Path, notebook: str, parameters: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` for a parameter the notebook does not have or of a wrong type."""
    import papermill

    declared = papermill.inspect_notebook(str(notebook_path))
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ConfigError(f"{notebook_path}: unknown parameter(s) {unknown}; valid names: {sorted(declared)}")
    config_params = {k: v for k, v in parameters.items() if k not in RUNNER_PARAMETERS}
    notebook_config_class(notebook).from_params(config_params)


def pin_checkpoint_parameters(notebook_path: Path, parameters: dict[str, Any]) -> dict[str, Any]:
    """``parameters`` with every checkpoint reference (:data:`CHECKPOINT_PARAMETERS`, given or the
    notebook's default) that is ``latest`` or ``""`` replaced by what it names now: the absolute
    training run folder, or ``pretrained``. Raises :class:`FileNotFoundError` (saying what to
    train) when ``latest`` finds no finished run, before anything runs."""
    import ast

    import papermill

    from stemunet.checkpoints import LATEST, CheckpointRef

    declared = papermill.inspect_notebook(str(notebook_path))
    pinned = dict(parameters)
    for name in CHECKPOINT_PARAMETERS:
        if name not in declared:
            continue
        value = pinned[name] if name in pinned else ast.literal_eval(declared[name]["default"])
        if isinstance(value, (list, tuple)):
            entries = [str(v) for v in value] or [""]  # an empty list compares the default checkpoint
            if any(entry.strip() in ("", LATEST) for entry in entries):
                pinned[name] = [CheckpointRef.resolve(entry).pinned() if entry.strip() in ("", LATEST) else entry for entry in entries]
        elif isinstance(value, str) and value.strip() in ("", LATEST):
            pinned[name] = CheckpointRef.resolve(value).pinned()
    return pinned


DATA_FROM_CHECKPOINT = ("evaluate",)
"""Notebooks that, given neither ``musdb_root`` nor any ``synthetic_*`` parameter, read the
synthetic set their checkpoint was trained on (:func:`data_from_checkpoint`), not the notebook's
small default set."""


def data_from_checkpoint(notebook: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """``parameters`` plus the synthetic set the (pinned) ``checkpoint`` was trained on, as recorded
    in the checkpoint, for the notebooks of :data:`DATA_FROM_CHECKPOINT` when the user named no data
    (``musdb_root`` empty, no ``synthetic_*``); unchanged otherwise, or when the checkpoint records
    no synthetic set."""
    from stemunet.checkpoints import CheckpointRef

    named_data = parameters.get("musdb_root") or any(name.startswith("synthetic_") for name in parameters)
    if notebook not in DATA_FROM_CHECKPOINT or named_data or "checkpoint" not in parameters:
        return parameters
    recorded = CheckpointRef.resolve(parameters["checkpoint"]).training_data()
    if not recorded or recorded.get("musdb_root"):
        return parameters
    return {**parameters, **{name: value for name, value in recorded.items() if name.startswith("synthetic_")}}


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def freeze_widgets(path: str | Path) -> int:
    """Replace every widget in an executed notebook by its saved note, and drop the widget state.

    A saved widget's controls need a kernel: opened without one they show "disconnected" marks and
    do nothing. In their place the notebook keeps one line (the widget's ``text/plain``, which
    says to run the notebook: see :meth:`stemunet.widgets.ListeningWidget.saved_note`); the figures
    and embedded players beside it hold the saved selection. Returns how many were replaced.
    """
    import html

    import nbformat

    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    replaced = 0
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data:
                note = str(data.get("text/plain") or "An interactive widget: run the notebook to use it.").strip()
                output["data"] = {"text/plain": note, "text/html": f"<p class='stemunet-saved-widget'><i>{html.escape(note)}</i></p>"}
                replaced += 1
    if replaced or "widgets" in notebook.metadata:
        notebook.metadata.pop("widgets", None)
        nbformat.write(notebook, path)
    return replaced


def sign_notebook(path: str | Path) -> None:
    """Sign an executed notebook (nbformat's notary, this user's key), so that it opens trusted for
    the user who ran it: widgets, players and HTML outputs render on first view in JupyterLab."""
    import nbformat
    from nbformat.sign import NotebookNotary

    path = Path(path)
    if path.is_file():
        NotebookNotary().sign(nbformat.read(path, as_version=4))


def keep_as_record(path: str | Path) -> None:
    """Make an executed run notebook read-only: run again in JupyterLab, its outputs go to a new run
    folder (:func:`start_run`), and autosave, which skips files it cannot write, leaves this one
    as it was executed. "Save As" keeps a copy with the new outputs."""
    path = Path(path)
    if path.is_file():
        path.chmod(path.stat().st_mode & ~0o222)


@contextlib.contextmanager
def _quiet_after_ctrl_c():
    """While inside (in the main thread), Ctrl-C first silences the reports of the cell it cut short.

    Papermill kills the kernel as the ``KeyboardInterrupt`` unwinds, while the cut-short cell's
    asyncio task is still pending in the event loop: if that task wakes during the cleanup it logs
    "Kernel died while waiting for execute reply" (papermill's logger), and when it is collected,
    whenever that is, asyncio logs its exception. Both are about the kernel we killed on purpose,
    so after Ctrl-C those two loggers stay quiet (for the rest of the process: the collection may
    come later); without Ctrl-C nothing changes.
    """
    import logging
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupted(signum: int, frame: Any) -> None:
        for name in ("papermill", "asyncio"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def execute_notebook(
    notebook: str,
    parameters: dict[str, Any] | None = None,
    *,
    runs_dir: Path | None = None,
    notebooks_dir: Path | None = None,
    progress: bool = True,
) -> Path:
    """Execute ``notebooks/<notebook>.ipynb`` into a new run folder and return the folder.

    Parameters are checked before anything runs. A failing notebook is still saved in the run
    folder and re-raised as ``papermill.PapermillExecutionError``.
    """
    import papermill

    notebooks_dir = notebooks_root() if notebooks_dir is None else Path(notebooks_dir)
    source = notebooks_dir / f"{notebook}.ipynb"
    if not source.is_file():
        available = sorted(p.stem for p in notebooks_dir.glob("*.ipynb"))
        raise FileNotFoundError(f"{source}: no such notebook; available: {available}")
    # The kernel runs in notebooks/: paths the user typed are made absolute against where they typed them.
    parameters = resolve_path_parameters(parameters or {})
    check_parameters(source, notebook, parameters)
    # Recorded in the executed notebook as what they name today: run again, it uses the same model.
    parameters = pin_checkpoint_parameters(source, parameters)
    parameters = data_from_checkpoint(notebook, parameters)
    run_dir = new_run_dir(notebook, runs_dir)
    parameters["run_dir"] = str(run_dir.resolve())
    try:
        with _quiet_after_ctrl_c():
            papermill.execute_notebook(
                str(source),
                str(run_dir / f"{notebook}.ipynb"),
                parameters=parameters,
                progress_bar=progress,
                cwd=str(notebooks_dir),
                kernel_name="python3",
                # The kernel's own warnings (e.g. that it talks over local TCP) are not the user's business.
                extra_arguments=["--IPKernelApp.log_level=ERROR"],
                # Once the notebook has ended (or Ctrl-C cut it short) the kernel and its children are
                # killed at once: a graceful shutdown of a kernel still in a cell made it print a
                # traceback of its closed sockets over the user's terminal.
                shutdown_kernel="immediate",
            )
    except papermill.PapermillExecutionError as error:
        error.run_dir = run_dir  # the caller reports where the failed notebook is
        freeze_widgets(run_dir / f"{notebook}.ipynb")
        sign_notebook(run_dir / f"{notebook}.ipynb")
        raise
    except KeyboardInterrupt as interrupt:
        interrupt.run_dir = run_dir  # the caller says where the partial run is
        raise
    except Exception:
        # The kernel never ran the notebook (it could not start, say): no run folder stays behind.
        if not any(name.exists() for name in (run_dir / "parameters.yaml", run_dir / "checkpoints")):
            import shutil

            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    freeze_widgets(run_dir / f"{notebook}.ipynb")
    sign_notebook(run_dir / f"{notebook}.ipynb")
    keep_as_record(run_dir / f"{notebook}.ipynb")
    return run_dir
