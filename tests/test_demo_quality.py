"""benchmarks/demo_quality.py: trains the demo recipe (made tiny here), scores it against MIX and
says whether every stem clears the margin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = ["-p", "synthetic_train_tracks", "2", "-p", "synthetic_test_tracks", "1", "-p", "synthetic_seconds", "3.0",
        "-p", "base_channels", "4", "-p", "depth", "2", "-p", "epochs", "1", "-p", "samples_per_epoch", "2",
        "-p", "batch_size", "2", "-p", "chunk_seconds", "1.0", "-p", "valid_chunk_seconds", "2.0"]


def run_benchmark(*arguments: str, runs: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "STEMUNET_RUNS": str(runs), "PYTHONPATH": str(ROOT / "lib")}
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "demo_quality.py"), "--jobs", "1", *arguments],
                          env=env, capture_output=True, text=True, timeout=600)


def test_the_verdict_wants_every_stem_at_least_the_margin_over_mix(tmp_path):
    trained = run_benchmark(*TINY, "--margin", "-100", runs=tmp_path / "runs")
    assert trained.returncode == 0, trained.stderr
    assert "(target: at least -100 dB on every stem): meets the target" in trained.stdout, trained.stdout
    run_dir = next((tmp_path / "runs").glob("*_train"))
    # The same model against a margin no 1-epoch model reaches.
    rescored = run_benchmark("--run-dir", str(run_dir), "--margin", "100", runs=tmp_path / "runs")
    assert rescored.returncode == 0, rescored.stderr
    assert "(target: at least 100 dB on every stem): MISSES the target" in rescored.stdout, rescored.stdout
    model, mix = (next(line for line in rescored.stdout.splitlines() if line.startswith(name)) for name in ("model ", "MIX "))
    assert len(model.split()) == len(mix.split()) == 6  # four stems and their mean
