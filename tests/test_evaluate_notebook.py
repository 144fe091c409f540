"""notebooks/evaluate.ipynb through Papermill with the demo's parameter file (cut to one short excerpt, model only)."""

from __future__ import annotations

import json
from pathlib import Path

import museval
import nbformat
import pandas as pd
import pytest
import yaml

from stemunet.checkpoints import save_model
from stemunet.config import ModelConfig, SeparatorConfig, StftConfig
from stemunet.lab.runner import execute_notebook
from stemunet.lab.runs import load_parameter_file
from stemunet.separation.separator import Separator

ROOT = Path(__file__).resolve().parents[1]
SMALL_DATA = {"musdb_root": "", "synthetic_train_tracks": 4, "synthetic_test_tracks": 2, "synthetic_seconds": 6.0}


@pytest.fixture
def tiny_train_run(tmp_path) -> Path:
    """A fake training run holding an untrained tiny separator as its best checkpoint."""
    config = SeparatorConfig(StftConfig(n_fft=512, hop_length=128), ModelConfig(base_channels=4, depth=2))
    run = tmp_path / "2026-01-01T00-00-00_train"
    (run / "checkpoints").mkdir(parents=True)
    # Trained (it says) on the small synthetic set every notebook test shares (generated once per session).
    save_model(Separator(config), run / "checkpoints" / "best.pt", train_config={**SMALL_DATA, "synthetic_seed": 0, "synthetic_version": 2, "epochs": 1})
    (run / "parameters.yaml").write_text(yaml.safe_dump({"notebook": "train", "parameters": {**config.to_params(), "epochs": 1}}))
    return run


def test_evaluate_notebook_with_the_demo_parameters_writes_scores_tables_and_figures(tiny_train_run, tmp_path):
    parameters = load_parameter_file(ROOT / "parameters" / "evaluate_demo.yaml")
    # No data named: the runner reads the set the checkpoint was trained on from the checkpoint.
    parameters = {name: value for name, value in parameters.items() if name != "musdb_root" and not name.startswith("synthetic_")}
    parameters.update(
        checkpoint=str(tiny_train_run),
        max_tracks=1, max_seconds=2.0,
        baselines=False,  # museval is the cost; the baselines' path is tested in test_evaluation.py and by nbval
        wiener_iterations=1, mask_power=0.5,
    )
    run_dir = execute_notebook("evaluate", parameters, runs_dir=tmp_path / "runs", progress=False)
    assert (run_dir / "evaluate.ipynb").stat().st_size < 2_000_000  # a research team keeps hundreds of runs

    assert (run_dir / "evaluate.ipynb").is_file()
    recorded = yaml.safe_load((run_dir / "parameters.yaml").read_text())
    assert recorded["train_run"] == str(tiny_train_run.resolve())
    assert recorded["checkpoint"] == str(tiny_train_run.resolve() / "checkpoints" / "best.pt")
    assert recorded["parameters"]["max_seconds"] == 2.0
    assert {name: recorded["parameters"][name] for name in SMALL_DATA} == SMALL_DATA
    printed = "".join(o.get("text", "") for cell in nbformat.read(run_dir / "evaluate.ipynb", as_version=4).cells for o in cell.get("outputs", []))
    assert "Scoring the test tracks of the synthetic set v2 (seed 0: 4 train and 2 test tracks of 6 s): the set this checkpoint was trained on." in printed

    (model_scores,) = sorted((run_dir / "scores").glob("*.json"))
    frames = museval.json2df(json.loads(model_scores.read_text()), model_scores.stem)
    assert len(frames) > 0
    table = pd.read_csv(run_dir / "track_scores.csv")
    assert list(table.columns) == ["method", "track", "stem", "metric", "value"]
    assert set(table["method"]) == {"model"} and set(table["track"]) == {model_scores.stem}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics) == {"model", "about"} and metrics["model"]["all"]["SDR"]["n_tracks"] == 1
    assert metrics["about"]["n_tracks"] == 1 and metrics["about"]["data"] == "synthetic"
    assert metrics["about"]["postfilter"] == {"wiener_iterations": 1, "mask_power": 0.5, "shifts": 0, "flip_channels": False, "flip_sign": False,
                                              "precision": "auto"}
    for figure in ("score_boxes.png", "track_scores.png"):
        assert (run_dir / figure).stat().st_size > 10_000
