"""A run folder is a record: the runner pins ``latest`` to the run it names, and an executed run
notebook run again writes a new dated folder that names the run it repeats, never into the old one."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import nbformat
import papermill
import pytest
import yaml

from stemunet.checkpoints import save_model
from stemunet.config import ModelConfig, SeparatorConfig, StftConfig
from stemunet.lab.runner import execute_notebook, pin_checkpoint_parameters
from stemunet.runfolders import list_runs
from stemunet.separation.separator import Separator

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def folder_digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative name) with the SHA-256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def fake_train_run(runs: Path, name: str) -> Path:
    """A finished training run holding a tiny untrained separator."""
    run = runs / name
    config = SeparatorConfig(StftConfig(n_fft=512, hop_length=128), ModelConfig(base_channels=4, depth=2))
    save_model(Separator(config), run / "checkpoints" / "best.pt")
    (run / "parameters.yaml").write_text(yaml.safe_dump({"notebook": "train", "parameters": config.to_params()}))
    (run / "metrics.json").write_text(json.dumps({"finished": True}))
    return run.resolve()


@pytest.fixture
def runs(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("STEMUNET_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"


def test_latest_and_empty_are_pinned_to_the_run_they_name_now(runs, monkeypatch):
    older = fake_train_run(runs, "2026-01-01T00-00-00_train")
    newer = fake_train_run(runs, "2026-01-02T00-00-00_train")
    separate, listen = NOTEBOOKS / "separate.ipynb", NOTEBOOKS / "listen.ipynb"
    assert pin_checkpoint_parameters(separate, {"checkpoint": "latest"})["checkpoint"] == str(newer)
    assert pin_checkpoint_parameters(separate, {"checkpoint": str(older)})["checkpoint"] == str(older)
    assert pin_checkpoint_parameters(listen, {"runs": ["latest", str(older), "pretrained"]})["runs"] == [str(newer), str(older), "pretrained"]
    # Not given: the notebook's default (""), the bundled model when there is one, else the newest run.
    assert pin_checkpoint_parameters(separate, {})["checkpoint"] == "pretrained"
    monkeypatch.setattr("stemunet.checkpoints.pretrained_file", lambda: None)
    assert pin_checkpoint_parameters(separate, {})["checkpoint"] == str(newer)
    assert pin_checkpoint_parameters(listen, {"runs": []})["runs"] == [str(newer)]
    # Notebooks without checkpoint parameters are left alone.
    assert pin_checkpoint_parameters(NOTEBOOKS / "explore.ipynb", {"track": "x"}) == {"track": "x"}


def test_latest_without_a_finished_run_fails_before_a_run_folder_is_made(runs, monkeypatch):
    monkeypatch.setattr("stemunet.checkpoints.pretrained_file", lambda: None)
    with pytest.raises(FileNotFoundError, match="no finished training run"):
        execute_notebook("separate", {"checkpoint": "latest"}, runs_dir=runs, progress=False)
    assert list_runs(root=runs) == []


def test_reexecuting_a_run_notebook_leaves_its_folder_byte_identical_and_names_it_in_a_new_run(runs, tmp_path):
    """The issue's case: Run All on an executed listen notebook after a newer training run finished."""
    first = fake_train_run(runs, "2026-01-01T00-00-00_train")
    parameters = {
        "synthetic_train_tracks": 2, "synthetic_test_tracks": 1, "synthetic_seconds": 3.0,
        "runs": ["latest"], "start_seconds": 0.0, "duration_seconds": 1.0, "device": "cpu",
    }  # fmt: skip
    listen_run = execute_notebook("listen", parameters, runs_dir=runs, progress=False)
    executed = nbformat.read(listen_run / "listen.ipynb", as_version=4)
    assert executed.metadata["papermill"]["parameters"]["runs"] == [str(first)]  # latest, pinned
    before = folder_digest(listen_run)
    assert (listen_run / "listen.ipynb").stat().st_mode & 0o222 == 0  # read-only: JupyterLab's autosave skips it
    fake_train_run(runs, "2026-01-02T00-00-00_train")  # a newer run, which "latest" would now pick

    # What JupyterLab's Run All does: the executed notebook as it is, its kernel in the run folder.
    papermill.execute_notebook(str(listen_run / "listen.ipynb"), str(tmp_path / "again.ipynb"), cwd=str(listen_run),
                               kernel_name="python3", progress_bar=False)  # fmt: skip
    assert folder_digest(listen_run) == before
    (again,) = [run for run in list_runs("listen", runs) if run != listen_run]
    record = yaml.safe_load((again / "parameters.yaml").read_text())
    assert record["reexecutes"] == str(listen_run.resolve())
    assert [entry["train_run"] for entry in record["compared"]] == [str(first)]
    assert (again / "comparison.json").is_file() and len(list((again / "excerpts").glob("*.wav"))) == 3
    assert os.path.commonpath([again, runs]) == str(runs)


def test_evaluate_without_named_data_scores_the_set_the_checkpoint_was_trained_on(runs):
    from stemunet.evaluation.evaluate import EvaluateConfig, describe_data
    from stemunet.lab.runner import data_from_checkpoint

    run = fake_train_run(runs, "2026-01-01T00-00-00_train")
    trained_on = {"musdb_root": "", "synthetic_train_tracks": 16, "synthetic_test_tracks": 4, "synthetic_seconds": 12.0,
                  "synthetic_seed": 3, "synthetic_version": 2, "synthetic_soundfont": ""}  # fmt: skip
    save_model(Separator(SeparatorConfig(StftConfig(n_fft=512, hop_length=128), ModelConfig(base_channels=4, depth=2))),
               run / "checkpoints" / "best.pt", train_config={**trained_on, "epochs": 3})
    picked = data_from_checkpoint("evaluate", {"checkpoint": str(run), "max_seconds": 2.0})
    assert picked == {"checkpoint": str(run), "max_seconds": 2.0, **{k: v for k, v in trained_on.items() if k.startswith("synthetic_")}}
    # Data the user named is theirs; other notebooks are left alone.
    for named in ({"synthetic_seed": 0}, {"musdb_root": "/data/musdb18hq"}):
        assert data_from_checkpoint("evaluate", {"checkpoint": str(run), **named}) == {"checkpoint": str(run), **named}
    assert data_from_checkpoint("separate", {"checkpoint": str(run)}) == {"checkpoint": str(run)}

    same = EvaluateConfig.from_params({k: v for k, v in picked.items()})
    assert describe_data(same, trained_on) == (
        "Scoring the test tracks of the synthetic set v2 (seed 3: 16 train and 4 test tracks of 12 s): the set this checkpoint was trained on."
    )
    assert describe_data(EvaluateConfig(), trained_on).endswith(
        "; this checkpoint was trained on another: the synthetic set v2 (seed 3: 16 train and 4 test tracks of 12 s)."
    )
    assert describe_data(EvaluateConfig(), {}).endswith("the checkpoint does not record the data it was trained on.")
