"""scripts/bundle_pretrained.py: what a bundled model says of its making, fine-tuned stages included."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from stemunet.checkpoints import read_checkpoint
from stemunet.training.config import TrainConfig
from stemunet.training.fit import fit

ROOT = Path(__file__).resolve().parents[1]
TINY = {"synthetic_train_tracks": 3, "synthetic_test_tracks": 1, "synthetic_seconds": 3.0, "sample_rate": 8000, "n_channels": 1,
        "n_fft": 256, "hop_length": 64, "base_channels": 4, "depth": 2, "max_frequency": 0.0, "epochs": 1, "samples_per_epoch": 4,
        "batch_size": 4, "chunk_seconds": 1.0, "valid_chunk_seconds": 1.5, "device": "cpu"}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _bundle_module():
    spec = importlib.util.spec_from_file_location("bundle_pretrained", ROOT / "scripts" / "bundle_pretrained.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_card_names_each_soundfont_and_the_voice_with_licences():
    samples = {"singer": {"name": "NIT SONG070 F001", "licence": "CC BY 3.0", "file": "v.htsvoice"},
               "soundfonts": [{"file": "TimGM6mb.sf2", "licence": "GPL-2.0"}, {"file": "FluidR3_GM.sf2", "licence": "MIT"}]}
    words = _bundle_module().samples_in_words(samples)
    assert words == ("sampled instruments from TimGM6mb.sf2 (GPL-2.0) and FluidR3_GM.sf2 (MIT); "
                     "sung parts by the NIT SONG070 F001 singing voice (CC BY 3.0)")
    assert _bundle_module().samples_used({**TINY, "synthetic_version": 2}) == {}  # v2 names its one font in training_data


def test_a_fine_tuned_run_bundles_with_the_record_of_the_model_it_began_from(tmp_path):
    first = fit(TrainConfig.from_params(TINY), tmp_path / "stage1", progress=False)
    fit(TrainConfig.from_params({**TINY, "init_from": str(first.run_dir), "learning_rate": 3e-4}), tmp_path / "stage2", progress=False)
    target = tmp_path / "model.pt"
    done = subprocess.run([sys.executable, "scripts/bundle_pretrained.py", str(tmp_path / "stage2"), "--recipe",
                           "parameters/train_pretrained.yaml", "--output", str(target)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    bundled = read_checkpoint(target)
    assert bundled["recipe"] == "parameters/train_pretrained.yaml" and bundled["train_config"]["learning_rate"] == 3e-4
    began = bundled["initial_model"]
    assert began["file"] == f"{first.run_dir.name}/checkpoints/best.pt"  # no path of this machine in a shipped model
    assert began["train_config"]["learning_rate"] == 1e-3 and began["training_summary"]["epochs"] == 1
    assert all(value.dtype == torch.float16 for value in bundled["state_dict"].values() if value.is_floating_point())


def test_a_shipped_record_names_files_as_the_repository_does():
    module = _bundle_module()
    inside = {"file": str(ROOT / "lib" / "stemunet" / "pretrained" / "model.pt"),
              "initial_model": {"file": "/home/someone/runs/2026-01-01T00-00-00_train/checkpoints/best.pt"}}
    shown = module.without_machine_paths(inside)
    assert shown["file"] == "lib/stemunet/pretrained/model.pt"
    assert shown["initial_model"] == {"file": "2026-01-01T00-00-00_train/checkpoints/best.pt", "initial_model": None}


def test_a_run_that_did_not_record_its_start_reads_it_from_the_file_it_names(tmp_path):
    first = fit(TrainConfig.from_params(TINY), tmp_path / "stage1", progress=False)
    module = _bundle_module()
    recorded = {"file": "somewhere", "recipe": "r.yaml"}
    assert module.initial_model({"initial_model": recorded, "train_config": {"init_from": "x"}}, {}) == recorded
    assert module.initial_model({"train_config": {"init_from": ""}}, {}) is None
    read = module.initial_model({"train_config": {"init_from": str(first.run_dir)}}, {})
    assert read["file"].endswith("best.pt") and read["training_summary"]["epochs"] == 1
