"""benchmarks/synthetic_ablation.py: one recipe trained on two synthetic designs, both models scored (on the
real-music validation set too, when one is named)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import torch
from test_real_validation import fake_song, render_fake_song

from stemunet.checkpoints import read_checkpoint
from stemunet.data.real_validation import MANIFEST_NAME, build_validation_set

ROOT = Path(__file__).resolve().parents[1]
TINY = {"synthetic_train_tracks": 3, "synthetic_test_tracks": 1, "synthetic_seconds": 2.0, "base_channels": 4, "depth": 2,
        "epochs": 1, "samples_per_epoch": 4, "batch_size": 2, "chunk_seconds": 1.0, "valid_chunk_seconds": 2.0}


def test_ablation_trains_on_both_designs_and_scores_both_models_on_every_data_set(tmp_path):
    # v1 against v3 (--versions): two designs that differ the most, the default's v1 and the newest.
    overrides = [arg for name, value in TINY.items() for arg in ("-p", name, str(value))]
    command = [sys.executable, "benchmarks/synthetic_ablation.py", "--out", str(tmp_path), "--versions", "1", "3", *overrides]
    environment = {name: value for name, value in os.environ.items() if name != "STEMUNET_REAL_VALIDATION"}
    song = fake_song()  # a real-music validation set of one fake LMMS song, with its manifest
    render_fake_song(tmp_path / "renders" / song.render_folder, seconds=10.0, bass_from=1.0)
    build_validation_set([song], tmp_path / "renders", tmp_path / "lmms", seconds=8.0)
    validation = ["--validation-root", str(tmp_path / "lmms"), "--manifest", str(tmp_path / "lmms" / MANIFEST_NAME)]
    result = subprocess.run([*command, *validation], cwd=ROOT, capture_output=True, text=True, timeout=600, env=environment)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "v1" / "checkpoints" / "best.pt").is_file() and (tmp_path / "v3" / "checkpoints" / "best.pt").is_file()
    rows = [line for line in result.stdout.splitlines() if line.startswith(("LMMS validation", "real excerpt", "synthetic v"))]
    for data in ("LMMS validation", "real excerpt", "synthetic v1 test", "synthetic v3 test"):
        methods = [line[22:44].strip() for line in rows if line.startswith(data)]
        assert methods == ["model trained on v1", "model trained on v3", "MIX", "IRM1"], (data, methods)
    # Each design trained its own model: same recipe and seed, other songs, other weights.
    weights = [read_checkpoint(tmp_path / f"v{version}" / "checkpoints" / "best.pt")["state_dict"] for version in (1, 3)]
    assert any(not torch.equal(weights[0][name], weights[1][name]) for name in weights[0])
    scores = [float(value) for line in rows if not line.startswith("LMMS") for value in line[44:].split()]
    assert len(scores) == 12 * 6 and all(math.isfinite(value) for value in scores)  # (LMMS: no vocals, nan)
    # Finished runs are reused: a second call trains nothing; without a validation set none is scored.
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, env=environment)
    assert again.returncode == 0 and "training on" not in again.stderr and "LMMS validation" not in again.stdout
    # A copy that differs from its manifest is refused in one line, before any work.
    (tmp_path / "lmms" / "test" / "Fake - Song" / "bass.wav").write_bytes(b"altered")
    refused = subprocess.run([*command, *validation], cwd=ROOT, capture_output=True, text=True, timeout=600, env=environment)
    assert refused.returncode == 2 and "bass.wav: sha256 differs" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    # The same design twice is no comparison: refused in one line before any work.
    same = subprocess.run([*command[:4], "--versions", "2", "2"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert same.returncode == 2 and "two different designs, got 2 twice" in same.stderr
