"""notebooks/separate.ipynb through Papermill with the demo's parameter file, on a tiny fake training run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import soundfile as sf
import yaml

from stemunet.checkpoints import save_model
from stemunet.config import ModelConfig, SeparatorConfig, StftConfig
from stemunet.lab.runner import execute_notebook
from stemunet.lab.runs import load_parameter_file
from stemunet.separation.separator import Separator

ROOT = Path(__file__).resolve().parents[1]


def test_separate_notebook_with_the_demo_parameters_separates_the_newest_training_runs_test_tracks(tmp_path, monkeypatch):
    # A fake training run, the newest (only) one in this test's runs folder: checkpoint latest finds it.
    runs = tmp_path / "runs"
    train_run = runs / "2026-01-01T00-00-00_train"
    (train_run / "checkpoints").mkdir(parents=True)
    config = SeparatorConfig(StftConfig(sample_rate=22050, n_channels=1, n_fft=512, hop_length=128), ModelConfig(base_channels=4, depth=2))
    save_model(Separator(config), train_run / "checkpoints" / "best.pt")
    (train_run / "parameters.yaml").write_text(yaml.safe_dump({"notebook": "train"}))
    (train_run / "metrics.json").write_text(json.dumps({"finished": True}))
    monkeypatch.setenv("STEMUNET_RUNS", str(runs))  # the notebook's kernel inherits it

    parameters = load_parameter_file(ROOT / "parameters" / "separate_demo.yaml")
    assert parameters["checkpoint"] == "latest" and parameters["inputs"] == []
    # The small synthetic set every notebook test shares (generated once per session).
    parameters.update(synthetic_train_tracks=4, synthetic_test_tracks=2, synthetic_seconds=6.0, two_stems=True, wiener_iterations=2, mask_power=0.75)
    run_dir = execute_notebook("separate", parameters, runs_dir=runs, progress=False)
    assert (run_dir / "separate.ipynb").stat().st_size < 2_000_000  # a research team keeps hundreds of runs

    recorded = yaml.safe_load((run_dir / "parameters.yaml").read_text())
    assert recorded["train_run"] == str(train_run.resolve())
    assert recorded["checkpoint"] == str(train_run.resolve() / "checkpoints" / "best.pt")
    summary = pd.read_csv(run_dir / "summary.csv")
    assert summary.track.tolist() == ["test_000", "test_001"] and (summary.status == "ok").all()
    for track in summary.track:
        for stem in ("vocals", "accompaniment"):
            info = sf.info(run_dir / "stems" / track / f"{stem}.wav")
            assert (info.samplerate, info.channels, info.frames) == (44100, 2, 6 * 44100)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["n_separated"] == 2 and metrics["n_failed"] == 0 and metrics["audio_seconds"] == 12.0
    assert metrics["postfilter"] == {"wiener_iterations": 2, "mask_power": 0.75, "shifts": 0, "flip_channels": False, "flip_sign": False, "precision": "auto"}
    assert (run_dir / "stems.png").stat().st_size > 10_000
    assert (run_dir / "separate.ipynb").is_file()
    shown = (run_dir / "separate.ipynb").read_text()
    assert "PosixPath(" not in shown, "a cell shows a return value nobody asked for"
