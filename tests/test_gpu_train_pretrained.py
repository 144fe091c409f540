"""benchmarks/gpu_train_pretrained.sh, the next bundled model's GPU run: its CPU side at toy size (``--smoke``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(out: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable, "SMOKE_BUDGET_SECONDS": "3"}
    return subprocess.run(["bash", "benchmarks/gpu_train_pretrained.sh", str(out), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_the_gpu_run_probes_fits_its_budget_and_leaves_a_model_with_its_record(tmp_path):
    from stemunet.separation.loading import load_separator

    out = tmp_path / "next_model"
    result = _run(out, "--smoke")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    expected = max(1, int(3 * summary["probe_examples_per_second"] // 8))  # the budget at the probe's rate, in epochs of 8
    assert summary["epochs"] == expected and summary["examples_seen"] == 8 * expected
    record = json.loads((out / "training_record" / "metrics.json").read_text())
    assert record["epochs"] == expected and (out / "training_record" / "history.csv").is_file()
    separator = load_separator(out / "model.pt", "cpu")
    assert separator.config.model.base_channels == 4 and separator.stem_names == ("drums", "bass", "other", "vocals")
    assert result.stdout.rstrip().endswith(f"gpu_train_pretrained: done; model in {out}/model.pt")


def test_the_gpu_run_never_writes_into_a_folder_that_holds_something(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    result = _run(tmp_path, "--smoke")
    assert result.returncode == 2 and "is not empty" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
    assert _run(Path("")).returncode == 2  # no OUT: usage
