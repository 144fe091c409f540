"""benchmarks/real_transfer.py: a checkpoint scored on the real MUSDB18 excerpt stempeg ships."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

from stemunet.checkpoints import save_model
from stemunet.config import ModelConfig, SeparatorConfig, StftConfig
from stemunet.separation.separator import Separator

ROOT = Path(__file__).resolve().parents[1]


def test_real_transfer_prints_model_mix_irm1_and_the_models_share(tmp_path):
    torch.manual_seed(0)
    checkpoint = save_model(Separator(SeparatorConfig(StftConfig(sample_rate=22050, n_channels=1, n_fft=512, hop_length=128), ModelConfig(base_channels=4, depth=2))), tmp_path / "tiny.pt")
    result = subprocess.run([sys.executable, "benchmarks/real_transfer.py", str(checkpoint), "--device", "cpu"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {line.split()[0]: [float(v) for v in line.split()[-6:]] for line in result.stdout.splitlines() if line.startswith(("model", "MIX", "IRM1"))}
    assert set(rows) == {"model", "MIX", "IRM1"}
    assert all(irm1 > mix for irm1, mix in zip(rows["IRM1"], rows["MIX"]))  # the ceiling above the floor, per stem
    assert "share of IRM1" in result.stdout and "Falcon 69" in result.stdout
