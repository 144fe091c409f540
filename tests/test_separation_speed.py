"""benchmarks/separation_speed.py: a candidate checkpoint timed beside the bundled model."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "separation_speed.py"
OLD_CHECKPOINT = ROOT / "tests" / "data" / "checkpoints_before_layout" / "best.pt"


def _run(*arguments: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *arguments], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_a_checkpoint_typed_relative_to_where_it_was_typed_is_timed_beside_the_bundled_model(tmp_path):
    report = tmp_path / "speed.json"
    relative = Path("..") / OLD_CHECKPOINT.relative_to(ROOT)  # from tests/, not from the repository root
    done = _run("--seconds", "4", "--methods", "pretrained", "checkpoint", "--checkpoint", str(relative),
                "--threads", "1", "--json", str(report), cwd=ROOT / "tests")
    assert done.returncode == 0, done.stderr
    results = {row["method"]: row for row in json.loads(report.read_text())}
    assert set(results) == {"pretrained", "checkpoint"}
    for row in results.values():
        assert "error" not in row, row
        assert row["seconds_audio"] == pytest.approx(4.0, abs=0.01) and row["x_realtime"] > 0
    # The two methods time two different models: the bundled one and the checkpoint's own U-Net.
    from stemunet.checkpoints import CheckpointRef
    from stemunet.model import count_parameters
    from stemunet.separation.loading import load_separator

    for method, reference in (("pretrained", "pretrained"), ("checkpoint", str(OLD_CHECKPOINT))):
        expected = count_parameters(load_separator(CheckpointRef.resolve(reference), "cpu")) / 1e6
        assert results[method]["parameters_m"] == pytest.approx(expected, rel=1e-6), method
    assert results["checkpoint"]["parameters_m"] != pytest.approx(results["pretrained"]["parameters_m"], abs=1e-4)
    assert "| checkpoint |" in done.stdout


@pytest.mark.parametrize("arguments", [("--methods", "checkpoint"), ("--memory-check", "--memory-method", "checkpoint")])
def test_the_checkpoint_method_without_a_checkpoint_is_refused_in_one_line(arguments):
    done = _run(*arguments)
    assert done.returncode == 2
    assert "the checkpoint method needs --checkpoint" in done.stderr.strip().splitlines()[-1]
