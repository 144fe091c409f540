"""benchmarks/gpu_check.sh, the one-go check of the CUDA path: its CPU side runs (``--smoke``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_script_runs_every_step_in_smoke_mode(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path)}
    result = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--smoke"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    out = result.stdout
    for step in ("== 1. tests marked cuda", "== 2. training", "== 3. training throughput", "== 4. separation speed", "== 5. BSSEval"):
        assert step in out, step
    assert "skipped" in out  # without a GPU the cuda tests are reported, not silently absent
    assert "examples/s" in out and "x real time" in out and "stemunet.evaluation.bsseval (numpy)" in out
    assert (tmp_path / "train" / "checkpoints" / "best.pt").is_file()
    assert out.rstrip().endswith("gpu_check: done")
