"""Reliability III: nothing of the user's is written over, a killed training never leaves a wrong
model, a damaged checkpoint never loads. Each case here failed before it was fixed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from stemunet.checkpoints import save_model
from stemunet.config import ModelConfig, SeparatorConfig, StftConfig
from stemunet.separate import main as separate_main
from stemunet.separator import Separator

TINY = SeparatorConfig(StftConfig(n_fft=512, hop_length=128), ModelConfig(base_channels=4, depth=2))


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return save_model(Separator(TINY), tmp_path_factory.mktemp("model") / "tiny.pt")


def write_noise(path: Path, n_samples: int = 8000, rate: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.2 * np.random.default_rng(0).standard_normal((n_samples, 2))).astype(np.float32), rate)
    return path


def separate(*args, checkpoint: Path) -> int:
    return separate_main([*map(str, args), "--checkpoint", str(checkpoint), "--segment-seconds", "0.5", "-q"])


def test_the_summary_is_never_written_over_an_input(tmp_path, tiny_checkpoint, capsys):
    song = write_noise(tmp_path / "x.wav")
    before = song.read_bytes()
    assert separate(song, "-o", tmp_path / "out", "--summary", song, checkpoint=tiny_checkpoint) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "x.wav: is one of the inputs" in error, error
    assert song.read_bytes() == before and not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["song/drums.wav", "song/source.json", "song/notes.csv"])
def test_the_summary_is_never_written_into_a_track_folder_of_the_output(tmp_path, tiny_checkpoint, capsys, name):
    song = write_noise(tmp_path / "song.wav")
    out = tmp_path / "out"
    assert separate(song, "-o", out, checkpoint=tiny_checkpoint) == 0
    written = {path: path.read_bytes() for path in (out / "song").iterdir()}
    capsys.readouterr()
    assert separate(song, "-o", out, "--overwrite", "--summary", out / name, checkpoint=tiny_checkpoint) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and f"--summary {out / name}:" in error, error
    assert {path: path.read_bytes() for path in (out / "song").iterdir()} == written


def test_a_summary_beside_the_stems_folder_is_still_written(tmp_path, tiny_checkpoint):
    song = write_noise(tmp_path / "song.wav")
    (tmp_path / "out").mkdir()
    assert separate(song, "-o", tmp_path / "out", "--summary", tmp_path / "out" / "summary.csv", checkpoint=tiny_checkpoint) == 0
    assert (tmp_path / "out" / "summary.csv").read_text().startswith("input,")
