"""Executing a notebook as a run (behind ``python -m stemunet.run``): parameters pinned to the
checkpoint they name, Papermill in the run folder, and the executed notebook kept as a
record: widgets frozen to playable HTML, signed so it opens trusted, read-only."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from stemunet.lab.runs import CHECKPOINT_PARAMETERS, check_parameters, resolve_path_parameters
from stemunet.runfolders import git_commit, list_runs, new_run_dir, notebooks_root, project_root, runs_root  # noqa: F401 (part of this module's API)


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

    named_data = (parameters.get("musdb_root") or parameters.get("dataset", "musdb") != "musdb"
                  or any(name.startswith("synthetic_") for name in parameters))
    if notebook not in DATA_FROM_CHECKPOINT or named_data or "checkpoint" not in parameters:
        return parameters
    recorded = CheckpointRef.resolve(parameters["checkpoint"]).training_data()
    if not recorded or recorded.get("musdb_root") or recorded.get("dataset", "musdb") != "musdb":
        return parameters
    return {**parameters, **{name: value for name, value in recorded.items() if name.startswith("synthetic_")}}


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def freeze_widgets(path: str | Path) -> int:
    """Replace every widget in an executed notebook by its saved note, and drop the widget state.

    A saved widget's controls need a kernel: opened without one they show "disconnected" marks and
    do nothing. In their place the notebook keeps one line (the widget's ``text/plain``, which
    says to run the notebook: see :meth:`stemunet.lab.widgets.ListeningWidget.saved_note`); the figures
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
