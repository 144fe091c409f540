"""The live widget's cell runs again on its own after the parameters and setup cells (what a
user does who opens an executed run notebook and wants the controls back), and the runner saves
the widget as one line saying so, without its dead controls."""

from __future__ import annotations

from pathlib import Path

import nbformat
import papermill
import pytest

from stemunet.lab.runner import freeze_widgets

ROOT = Path(__file__).resolve().parents[1]
SMALL_DATA = {"synthetic_train_tracks": 2, "synthetic_test_tracks": 1, "synthetic_seconds": 3.0}


def parameters_setup_and_widget(notebook: str, widget_source: str) -> nbformat.NotebookNode:
    """The notebook cut to its parameters cell, the setup cell after it and the widget's cell."""
    source = nbformat.read(ROOT / "notebooks" / f"{notebook}.ipynb", as_version=4)
    code = [cell for cell in source.cells if cell.cell_type == "code"]
    parameters = next(i for i, cell in enumerate(code) if "parameters" in cell.metadata.get("tags", []))
    (widget,) = [cell for cell in code if cell.source.strip() == widget_source]
    cut = nbformat.v4.new_notebook(cells=[code[parameters], code[parameters + 1], widget])
    cut.metadata = source.metadata
    return cut


@pytest.mark.parametrize(
    "notebook, widget_source, parameters",
    [
        ("explore", "StemPlayer.from_config(config)", {"subsets": ["test"], "listen_seconds": 1.0}),
        ("listen", "comparison", {"runs": ["pretrained"], "duration_seconds": 1.0, "device": "cpu"}),
    ],
)
def test_the_widget_cell_runs_after_the_parameters_and_setup_cells_alone(notebook, widget_source, parameters, tmp_path, monkeypatch):
    monkeypatch.setenv("STEMUNET_RUNS", str(tmp_path / "runs"))
    cut = tmp_path / f"{notebook}.ipynb"
    nbformat.write(parameters_setup_and_widget(notebook, widget_source), cut)
    executed = tmp_path / "executed.ipynb"
    papermill.execute_notebook(str(cut), str(executed), parameters={**SMALL_DATA, **parameters}, cwd=str(tmp_path),
                               kernel_name="python3", progress_bar=False)  # fmt: skip
    outputs = nbformat.read(executed, as_version=4).cells[-1].outputs
    assert any("application/vnd.jupyter.widget-view+json" in output.get("data", {}) for output in outputs)

    # Saved by the runner: one line in place of the controls, and no widget state left.
    assert freeze_widgets(executed) == 1
    saved = nbformat.read(executed, as_version=4)
    (output,) = saved.cells[-1].outputs
    assert set(output.data) == {"text/plain", "text/html"} and output.data["text/plain"].startswith("Live player (")
    assert "Run the notebook (Run All)" in output.data["text/html"] and "widgets" not in saved.metadata
