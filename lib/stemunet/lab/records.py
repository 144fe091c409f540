"""Executed run notebooks are records: JupyterLab refuses to save over one, for every user.

The runner writes each executed notebook read-only (:func:`stemunet.lab.runner.keep_as_record`),
but root ignores the read-only bit, and JupyterLab's Ctrl-S and autosave would then write the
re-run outputs over the record. So this module is a Jupyter server extension, enabled by the
configuration stemunet installs (``etc/jupyter/jupyter_server_config.d/stemunet.json`` in the
environment: the server reads only ``jpserver_extensions`` from that folder, so a plain
``pre_save_hook`` setting there would be ignored), that registers a contents-manager pre-save hook,
:func:`refuse_saving_records`, refusing any save of a notebook that is the executed record of a run folder, with a message saying
to use "Save Notebook As". Re-running the notebook still works: its outputs go to a new run folder
(:func:`stemunet.lab.runs.start_run` prints where).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

RUN_RECORD_FILE = "parameters.yaml"


def is_run_record(path: str | Path) -> bool:
    """Whether ``path`` is the executed notebook of a run folder: ``<time>_<notebook>/<notebook>.ipynb``
    beside the run's ``parameters.yaml``."""
    path = Path(path)
    folder = path.parent
    return (path.suffix == ".ipynb" and "_" in folder.name and folder.name.split("_", 1)[1].split("-")[0] == path.stem
            and (folder / RUN_RECORD_FILE).is_file())


def refuse_saving_records(model: dict[str, Any], path: str, contents_manager: Any, **kwargs: Any) -> None:
    """A Jupyter contents-manager ``pre_save_hook``: refuse (HTTP 403, shown by JupyterLab as the save
    error) to save a notebook over an executed run record; anything else saves as usual."""
    if model.get("type") != "notebook":
        return
    root = Path(getattr(contents_manager, "root_dir", "") or ".")
    if is_run_record(root / path.lstrip("/")):
        from tornado.web import HTTPError

        raise HTTPError(403, f"{path} is the record of a finished run and is kept as it ran: use File > Save Notebook As... "
                             "to keep a copy with your changes (Run All already wrote its outputs to a new run folder)")


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """How jupyter_server finds this extension (``jpserver_extensions`` names this module)."""
    return [{"module": "stemunet.lab.records"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Register :func:`refuse_saving_records` with the server's contents manager."""
    serverapp.contents_manager.register_pre_save_hook(refuse_saving_records)
