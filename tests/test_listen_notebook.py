"""listen.ipynb through Papermill with its demo parameters and a tiny untrained training run."""

from __future__ import annotations

import json
from pathlib import Path

import soundfile as sf
import yaml

from stemunet.checkpoints import save_model
from stemunet.config import ModelConfig, SeparatorConfig, StftConfig
from stemunet.lab.runner import execute_notebook
from stemunet.lab.runs import load_parameter_file
from stemunet.separation.separator import Separator

ROOT = Path(__file__).resolve().parents[1]


def test_listen_notebook_compares_a_training_run_with_the_reference(tmp_path):
    train_run = tmp_path / "runs" / "2026-01-01T00-00-00_train"
    save_model(Separator(SeparatorConfig(StftConfig(n_fft=512, hop_length=128), ModelConfig(base_channels=4, depth=2))),
        train_run / "checkpoints" / "best.pt"
    )
    params = {
        **load_parameter_file(ROOT / "parameters" / "listen_demo.yaml"),
        "synthetic_train_tracks": 2, "synthetic_test_tracks": 1, "synthetic_seconds": 3.0,
        "runs": [str(train_run)], "start_seconds": 0.0, "duration_seconds": 2.0, "device": "cpu",
        "wiener_iterations": 1, "mask_power": 0.5,
    }
    run = execute_notebook("listen", params, runs_dir=tmp_path / "runs", progress=False)
    assert (run / "listen.ipynb").stat().st_size < 2_000_000  # a research team keeps hundreds of runs
    comparison = json.loads((run / "comparison.json").read_text())
    assert comparison["players"] == ["mixture", "reference vocals", "vocals estimate: model (2026-01-01 00:00)"]
    assert comparison["runs"][0]["sdr_db"] is None  # never evaluated
    assert comparison["runs"][0]["postfilter"] == {"wiener_iterations": 1, "mask_power": 0.5, "shifts": 0, "flip_channels": False, "flip_sign": False, "precision": "auto"}
    excerpts = sorted((run / "excerpts").glob("*.wav"))
    assert len(excerpts) == 3 and all(sf.info(str(p)).frames == 2 * 44100 for p in excerpts)
    assert (run / "comparison.png").stat().st_size > 10_000
    record = yaml.safe_load((run / "parameters.yaml").read_text())
    assert record["compared"] == [{
        "label": "model (2026-01-01 00:00)",
        "checkpoint": str(train_run / "checkpoints" / "best.pt"),
        "train_run": str(train_run),
    }]
