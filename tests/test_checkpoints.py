"""The checkpoint module: references, safe opening, the two kinds of checkpoint."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import torch
import yaml

from stemunet.checkpoints import (CheckpointError, CheckpointRef, NoTrainingRunError, read_checkpoint,
                                  read_training_checkpoint, save_model, save_training)
from stemunet.config import ModelConfig, SeparatorConfig, StftConfig
from stemunet.separation.loading import load_separator
from stemunet.separation.separator import Separator

TINY = SeparatorConfig(StftConfig(n_fft=512, hop_length=128), ModelConfig(base_channels=4, depth=2))


@pytest.fixture(scope="module")
def separator() -> Separator:
    torch.manual_seed(0)
    return Separator(TINY).eval()


def fake_train_run(root: Path, stamp: str, separator: Separator, checkpoints=("best.pt",), finished: bool = True) -> Path:
    run = root / f"{stamp}_train"
    (run / "checkpoints").mkdir(parents=True)
    (run / "parameters.yaml").write_text(yaml.safe_dump({"notebook": "train"}))
    (run / "metrics.json").write_text(json.dumps({"finished": finished}))
    for name in checkpoints:
        save_model(separator, run / "checkpoints" / name)
    return run


class RunsACommand:
    """A pickled object whose unpickling would run a shell command (``__reduce__``)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_checkpoint_that_would_run_code_is_refused_and_the_code_never_runs(tmp_path, separator):
    marker = tmp_path / "payload-ran"
    evil = tmp_path / "evil.pt"
    checkpoint = {**torch.load(save_model(separator, tmp_path / "good.pt"), weights_only=True), "note": RunsACommand(marker)}
    torch.save(checkpoint, evil)
    with pytest.raises(CheckpointError, match=r"evil\.pt: refused: .*nothing in it was run"):
        read_checkpoint(evil)
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_separator(CheckpointRef.resolve(evil), "cpu")
    assert not marker.exists()
    # The same payload through plain pickle (not torch's zip format) is refused too.
    evil.write_bytes(pickle.dumps(RunsACommand(marker)))
    with pytest.raises(CheckpointError, match="evil.pt"):
        read_checkpoint(evil)
    assert not marker.exists()


def test_other_pickled_objects_get_a_clear_error(tmp_path):
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match=r"list\.pt: holds a list, not a stemunet checkpoint"):
        read_checkpoint(tmp_path / "list.pt")
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match=r"other\.pt: not a stemunet checkpoint"):
        read_checkpoint(tmp_path / "other.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(CheckpointError, match=r"text\.pt: not a readable checkpoint"):
        read_checkpoint(tmp_path / "text.pt")


def test_model_checkpoints_leave_training_state_out_and_cannot_be_resumed(tmp_path, separator):
    optimizer = torch.optim.Adam(separator.parameters())
    separator(torch.randn(1, 2, 4000)).abs().mean().backward()
    optimizer.step()
    state = {
        "train_config": {"epochs": 1}, "epoch": 1, "global_step": 1, "history": [{"epoch": 1}],
        "optimizer_state": optimizer.state_dict(), "scheduler_state": {"last_epoch": 1}, "best_valid_loss": 0.5,
    }
    model = save_model(separator, tmp_path / "best.pt", **state)
    training = save_training(separator, tmp_path / "last.pt", **state)
    assert "optimizer_state" not in read_checkpoint(model) and read_checkpoint(model)["best_valid_loss"] == 0.5
    assert model.stat().st_size < 0.6 * training.stat().st_size  # Adam's two moments per weight
    assert read_training_checkpoint(training)["optimizer_state"]["state"]
    with pytest.raises(CheckpointError, match="no training state"):
        read_training_checkpoint(model)
    for path in (model, training):
        loaded = load_separator(CheckpointRef.resolve(path), "cpu")
        for name, value in separator.state_dict().items():
            torch.testing.assert_close(loaded.state_dict()[name], value)
    assert CheckpointRef.resolve(training).describe()["kind"] == "training (resumable)"
    assert CheckpointRef.resolve(model).describe()["kind"] == "model"


def test_references_resolve_to_run_folders_files_and_the_newest_finished_run(tmp_path, separator, monkeypatch):
    monkeypatch.setattr("stemunet.checkpoints.pretrained_file", lambda: None)  # "" means latest without a bundled model
    root = tmp_path / "runs"
    with pytest.raises(NoTrainingRunError, match="no finished training run"):
        CheckpointRef.resolve("", runs_dir=root)
    older = fake_train_run(root, "2026-01-01T00-00-00", separator)
    newer = fake_train_run(root, "2026-01-02T00-00-00", separator, checkpoints=("best.pt", "last.pt"))
    fake_train_run(root, "2026-01-03T00-00-00", separator, finished=False)  # interrupted after epoch 1
    fake_train_run(root, "2026-01-04T00-00-00", separator, checkpoints=("last.pt",))  # no best.pt
    for spec in ("", "latest"):
        with pytest.warns(UserWarning, match=r"newer training runs skipped: 2026-01-03T00-00-00_train \(unfinished: still training, or stopped\), "
                                             r"2026-01-04T00-00-00_train \(no checkpoints/best.pt\)"):
            assert CheckpointRef.resolve(spec, runs_dir=root) == CheckpointRef(newer.resolve() / "checkpoints" / "best.pt", newer.resolve(), "latest")
    assert CheckpointRef.resolve(older).file == older.resolve() / "checkpoints" / "best.pt"
    assert CheckpointRef.resolve(newer, resume=True).file.name == "last.pt"
    # A run without best.pt is never silently replaced by its last.pt: named explicitly, it is.
    without_best = root / "2026-01-04T00-00-00_train"
    with pytest.raises(FileNotFoundError, match=r"2026-01-04T00-00-00_train: this training run \(finished\) has no checkpoints/best.pt \(killed while writing it.*\); name .*last.pt"):
        CheckpointRef.resolve(without_best)
    assert CheckpointRef.resolve(without_best / "checkpoints" / "last.pt").label == "2026-01-04T00-00-00_train (last)"
    loose = save_model(separator, tmp_path / "elsewhere" / "model.pt")
    ref = CheckpointRef.resolve(str(loose))
    assert (ref.file, ref.train_run, ref.label) == (loose.resolve(), None, "model.pt")
    assert ref.provenance() == {"checkpoint": str(loose.resolve()), "train_run": ""}
    with pytest.raises(FileNotFoundError, match="missing.pt: no such checkpoint file or training run folder"):
        CheckpointRef.resolve(tmp_path / "missing.pt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="a folder without checkpoints/best.pt; not a training run"):
        CheckpointRef.resolve(tmp_path / "empty")


def test_pretrained_without_a_bundled_model_says_so(monkeypatch):
    monkeypatch.setattr("stemunet.checkpoints.pretrained_file", lambda: None)
    with pytest.raises(FileNotFoundError, match="no bundled model"):
        CheckpointRef.resolve("pretrained")


def test_only_the_checkpoint_module_opens_checkpoint_files():
    library = Path(__file__).resolve().parents[1] / "lib" / "stemunet"
    openers = sorted(path.name for path in library.glob("*.py") if "torch.load(" in path.read_text())
    assert openers == ["checkpoints.py"]
    assert not [path.name for path in library.rglob("*.py") if "weights_only=False" in path.read_text()]


def test_the_bundled_model_is_the_default_and_opens_safely(tmp_path):
    """A user separates a song without training: "" and "pretrained" name the model in the package."""
    for spec in ("", "pretrained"):
        ref = CheckpointRef.resolve(spec, runs_dir=tmp_path / "no-runs")
        assert ref.name == "pretrained" and ref.train_run is None and ref.label == "pretrained"
    checkpoint = read_checkpoint(ref.file)  # weights_only: nothing in it can run
    assert ref.file.stat().st_size <= 10 * 2**20
    assert "optimizer_state" not in checkpoint  # weights and configuration only
    assert checkpoint["recipe"] == "parameters/train_pretrained.yaml" and "synthetic set v2" in checkpoint["training_data"]
    assert checkpoint["train_config"]["base_channels"] == checkpoint["separator_config"]["base_channels"]  # its recipe, recorded
    separator = load_separator(ref, "cpu")
    stems = separator.separate(torch.randn(2, 22050) * 0.1, 22050)
    assert stems.shape == (4, 2, 22050) and torch.isfinite(stems).all()
