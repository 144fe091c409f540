"""A notebook's run record: its dated folder (:func:`start_run`), its ``parameters.yaml``
(resolved parameters, git commit, library versions, the command that ran it), and the parameter
files and values a user passes (``-f``, ``-p``), checked against the notebook's configuration.

Every executed notebook gets one folder, sortable by time::

    runs/2026-11-25T14-30-12_train/
      train.ipynb          the executed notebook (written by the runner)
      parameters.yaml      resolved parameters, git commit, library versions
      ...                  whatever the notebook produced (metrics.json, figures, checkpoints/)

The runner (:mod:`stemunet.lab.runner`, ``python -m stemunet.run``) creates the folder and passes
it to the notebook as its ``run_dir`` parameter. A notebook run by plain ``papermill`` with an
empty ``run_dir`` creates its own folder through :func:`start_run`.
"""

from __future__ import annotations

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
from stemunet.runfolders import check_new_run_dir, git_commit, list_runs, new_run_dir, project_root, runs_root  # noqa: F401 (part of this module's API)

# Which config class checks each notebook's parameters (imported lazily: importing the training
# stack to run the explore notebook would only cost time).
NOTEBOOK_CONFIGS: dict[str, str] = {
    "explore": "stemunet.lab.exploration:ExploreConfig",
    "train": "stemunet.training.config:TrainConfig",
    "evaluate": "stemunet.evaluation.evaluate:EvaluateConfig",
    "separate": "stemunet.separation.config:SeparateConfig",
    "listen": "stemunet.lab.widgets:ListenConfig",
}

# Parameters every notebook has that are not part of its config.
RUNNER_PARAMETERS = ("run_dir",)

PATH_PARAMETERS = ("musdb_root", "data_root", "valid_root", "split_lists", "synthetic_soundfont", "checkpoint", "resume_from", "init_from",
                   "output_dir", "inputs", "runs")
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
    notebook_folder: Path | None = None
    """Where the notebook now executing is saved, which links in its outputs are relative to: the
    run folder the runner made, the folder of a run notebook being run again, or (a source notebook
    in JupyterLab, plain Papermill) the kernel's working folder. ``None``: the run folder."""

    @property
    def links_from(self) -> Path:
        return self.notebook_folder or self.path

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
    # JupyterLab runs a notebook's kernel in the notebook's folder; the runner saves the executed
    # notebook in the folder it made.
    notebook_folder = path.resolve() if run_dir else Path.cwd()
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
    return Run(path=path, notebook=notebook, parameters=parameters, notebook_folder=notebook_folder)


def short_path(value: Any, base: str | Path | None = None) -> Any:
    """An absolute path (``str`` or ``Path``) as a narrow table shows it: relative to ``base`` when
    inside it, else ``.../`` and its last two parts; any other value as it is."""
    if not isinstance(value, (str, Path)) or not os.path.isabs(value) or str(value).count("/") <= 2:
        return value
    if base is not None and Path(value).is_relative_to(Path(base)) and Path(value) != Path(base):
        return str(Path(value).relative_to(Path(base)))
    return ".../" + "/".join(Path(value).parts[-2:])


def short_paths(table: Any, base: str | Path | None = None) -> Any:
    """A pandas table with every absolute path in its cells shortened (:func:`short_path`): what a
    notebook shows of a table of files, whose full paths the run's records keep."""
    return table.map(lambda value: short_path(value, base))


def _short(value: Any) -> str:
    """A parameter's value for a narrow table: an absolute path (in a list too) as its last two parts."""
    if isinstance(value, (tuple, list)):
        return str([short_path(entry) for entry in value])
    return str(short_path(value))


def changed_parameters(config: Config) -> Any:
    """What this run sets away from the notebook's defaults, as a narrow table (parameter, value,
    default): the part of the configuration a reader needs, where printing the whole object would
    bury it (``parameters.yaml`` in the run folder keeps every value, paths in full)."""
    import pandas as pd

    defaults = type(config).from_params({}).to_params()
    rows = [{"parameter": name, "value": _short(value), "default": _short(defaults.get(name))}
            for name, value in config.to_params().items() if value != defaults.get(name)]
    table = pd.DataFrame(rows or [{"parameter": "(none)", "value": "every parameter at its default", "default": ""}])
    return table.set_index("parameter")


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
            if isinstance(value, Mapping):  # split_lists: {subset: list file}
                resolved[name] = {key: absolute(v) for key, v in value.items()}
            else:
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
