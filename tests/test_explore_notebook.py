"""explore.ipynb through Papermill with its demo parameters (small overrides keep it fast)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml

from stemunet.lab.runner import execute_notebook
from stemunet.lab.runs import load_parameter_file

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"synthetic_train_tracks": 2, "synthetic_test_tracks": 1, "synthetic_seconds": 3.0, "listen_seconds": 2.0}


def test_explore_notebook_reports_the_synthetic_set(tmp_path):
    params = {**load_parameter_file(ROOT / "parameters" / "explore_demo.yaml"), **SMALL}
    run = execute_notebook("explore", params, runs_dir=tmp_path, progress=False)
    assert (run / "explore.ipynb").stat().st_size < 2_000_000  # a research team keeps hundreds of runs
    assert (run / "explore.ipynb").is_file()
    for figure in ("loudness.png", "silent_share.png", "average_spectra.png", "track_spectrograms.png"):
        assert (run / figure).stat().st_size > 10_000, figure
    summary = json.loads((run / "summary.json").read_text())
    assert summary["synthetic"] and summary["n_tracks"] == 3 and summary["n_problems"] == 0
    assert summary["tracks_per_split"] == {"train": 1, "valid": 1, "test": 1}
    assert 0 < summary["silent_share"]["vocals"] < 1
    assert summary["residual_db_max"] < -100
    assert len(pd.read_csv(run / "spectra.csv").columns) == 6  # frequency and five sources
    record = yaml.safe_load((run / "parameters.yaml").read_text())
    assert record["parameters"]["synthetic_seconds"] == 3.0 and Path(record["data_root"]).is_dir()
    # Something to listen to without a kernel: players of the excerpt, each linking its file in the run folder.
    import re

    saved = (run / "explore.ipynb").read_text()
    links = re.findall(r"href='([^']*)'", saved)
    assert saved.count("<audio") >= 5 and links and all((run / link).is_file() for link in links)
