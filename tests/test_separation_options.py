"""benchmarks/separation_options.py: each separation option scored on real and synthetic music, with its CPU cost."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from stemunet.config import DataConfig

ROOT = Path(__file__).resolve().parents[1]


def load_benchmark():
    spec = importlib.util.spec_from_file_location("separation_options", ROOT / "benchmarks" / "separation_options.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.usefixtures("one_torch_thread")
def test_every_setting_is_scored_on_each_set_with_its_cpu_cost(tmp_path, monkeypatch, capsys):
    benchmark = load_benchmark()
    monkeypatch.setattr(benchmark, "SYNTHETIC_TEST", DataConfig(synthetic_train_tracks=3, synthetic_test_tracks=1, synthetic_seconds=4.0))
    monkeypatch.delenv("STEMUNET_REAL_VALIDATION", raising=False)
    report = tmp_path / "options.json"
    assert benchmark.main(["pretrained", "--settings", "float32", "float32, flip sign", "float32, shifts 2", "--json", str(report)]) == 0
    results = json.loads(report.read_text())["results"]
    plain, flipped, shifted = (results[name] for name in ("float32", "float32, flip sign", "float32, shifts 2"))
    for result in results.values():
        assert set(result["sets"]) == {"MUSDB18 excerpt", "synthetic v2"}
        assert all(-10 < figures["cSDR"] < 30 and -10 < figures["global SDR"] < 30 for figures in result["sets"].values())
    # The bundled model masks magnitudes: a flipped polarity gives its own separation back, at twice the cost.
    assert flipped["sets"]["MUSDB18 excerpt"]["cSDR"] == pytest.approx(plain["sets"]["MUSDB18 excerpt"]["cSDR"], abs=1e-3)
    assert flipped["cpu_seconds"] > 1.3 * plain["cpu_seconds"] and shifted["cpu_seconds"] > 1.3 * plain["cpu_seconds"]
    assert shifted["sets"]["MUSDB18 excerpt"]["cSDR"] != plain["sets"]["MUSDB18 excerpt"]["cSDR"]
    printed = capsys.readouterr().out
    assert "float32, shifts 2" in printed and "x CPU" in printed
