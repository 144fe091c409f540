"""The source notebooks as files: what JupyterLab would rewrite on opening is stored as it writes it."""

from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_source_notebooks_store_the_language_info_their_kernel_reports(path):
    """JupyterLab replaces ``language_info`` with the kernel's as soon as the kernel connects; a
    notebook storing less (``{"name": "python"}``) turns modified and autosave rewrites a tracked
    file. Only the patch level of Python may differ between machines (the browser test opens the
    notebooks with this machine's kernel)."""
    from ipykernel.ipkernel import IPythonKernel

    stored = dict(nbformat.read(path, as_version=4).metadata["language_info"])
    reported = dict(IPythonKernel.language_info)
    stored_version, reported_version = stored.pop("version", ""), reported.pop("version")
    assert stored == reported
    assert stored_version.split(".")[:2] == reported_version.split(".")[:2]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_source_notebooks_are_stored_without_outputs_or_counts(path):
    """Outputs or execution counts in a source notebook would be rewritten by the first run."""
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)  # cell ids present: JupyterLab would otherwise add them
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: cell {cell.id} holds outputs"


@pytest.mark.parametrize(("name", "parameter"), [("evaluate", "checkpoint"), ("listen", "runs")])
def test_the_introduction_says_what_an_empty_model_parameter_means_as_its_help_does(name, parameter):
    """An empty ``checkpoint`` / ``runs`` means the bundled model (``pretrained``), as the parameter's
    own help says; the introduction once said "the newest training run"."""
    import papermill

    assert "pretrained" in papermill.inspect_notebook(ROOT / "notebooks" / f"{name}.ipynb")[parameter]["help"]
    introduction = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4).cells[0].source
    assert "(`pretrained`)" in introduction or "empty for `pretrained`" in introduction, introduction
    assert "empty for the newest training run" not in introduction and "nothing but the newest training run" not in introduction


def test_make_lab_starts_jupyterlab_as_root_too():
    """``jupyter lab`` refuses to start as root without ``--allow-root`` (a container, this project's CI)."""
    import os
    import subprocess

    command = subprocess.run(["make", "-n", "lab"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    assert command.startswith(".venv/bin/jupyter lab")
    flags = subprocess.run(["sh", "-c", command.replace(".venv/bin/jupyter lab", "echo", 1)], capture_output=True, text=True, check=True).stdout.split()
    assert flags == (["--allow-root"] if os.getuid() == 0 else [])
