"""train.ipynb through the runner with parameters/train_demo.yaml (made small): its artefacts."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

from stemunet.lab.runner import execute_notebook
from stemunet.lab.runs import load_parameter_file
from stemunet.separation.loading import load_separator
from stemunet.training.history import HISTORY_COLUMNS, read_history

ROOT = Path(__file__).resolve().parents[1]

# The demo recipe, cut to seconds: the suite's shared synthetic set, a small model, two epochs.
SMALL = {
    "synthetic_train_tracks": 4,
    "synthetic_test_tracks": 2,
    "synthetic_seconds": 6.0,
    "sample_rate": 8000,
    "n_fft": 256,
    "hop_length": 64,
    "base_channels": 4,
    "depth": 3,
    "epochs": 2,
    "samples_per_epoch": 8,
    "batch_size": 4,
    "chunk_seconds": 1.0,
    "valid_chunk_seconds": 3.0,
    "cpu_threads": 1,  # a tiny model: one thread is fastest
}


def test_train_notebook_with_the_demo_parameters_leaves_a_complete_run_folder(tmp_path):
    parameters = {**load_parameter_file(ROOT / "parameters" / "train_demo.yaml"), **SMALL}
    run_dir = execute_notebook("train", parameters, runs_dir=tmp_path, progress=False)
    assert (run_dir / "train.ipynb").stat().st_size < 2_000_000  # a research team keeps hundreds of runs

    assert (run_dir / "train.ipynb").is_file() and (run_dir / "parameters.yaml").is_file()
    history = read_history(run_dir / "history.csv")
    assert [row["epoch"] for row in history] == [1, 2] and set(history[0]) == set(HISTORY_COLUMNS)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["finished"] and metrics["epochs"] == 2
    assert (run_dir / "loss_curves.png").stat().st_size > 1000
    for name in ("best.pt", "last.pt"):
        separator = load_separator(run_dir / "checkpoints" / name, "cpu")
        assert separator.sample_rate == 8000 and separator.n_channels == 1
    executed = nbformat.read(run_dir / "train.ipynb", as_version=4)
    outputs = [output for cell in executed.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    assert not [output for output in outputs if output.get("output_type") == "error"]


def test_train_notebook_with_two_processes_trains_through_the_elastic_launcher(tmp_path):
    parameters = {**load_parameter_file(ROOT / "parameters" / "train_demo.yaml"), **SMALL, "batch_size": 2, "n_processes": 2}
    run_dir = execute_notebook("train", parameters, runs_dir=tmp_path, progress=False)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["finished"] and metrics["world_size"] == 2 and metrics["global_batch_size"] == 4
    assert [row["epoch"] for row in read_history(run_dir / "history.csv")] == [1, 2]
    assert (run_dir / "loss_curves.png").stat().st_size > 1000  # the notebook shows the run the workers wrote
    executed = nbformat.read(run_dir / "train.ipynb", as_version=4)
    outputs = [output for cell in executed.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    assert not [output for output in outputs if output.get("output_type") == "error"]
