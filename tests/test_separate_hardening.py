"""The separation CLI with inputs a careless or hostile world provides (each case failed before)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from stemunet.checkpoints import save_model
from stemunet.config import ModelConfig, SeparatorConfig, StftConfig
from stemunet.separate import main
from stemunet.separator import Separator

TINY = SeparatorConfig(StftConfig(n_fft=512, hop_length=128), ModelConfig(base_channels=4, depth=2))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return save_model(Separator(TINY), tmp_path_factory.mktemp("model") / "tiny.pt")


def write_noise(path: Path, n_samples: int = 8000, rate: int = 16000, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.2 * np.random.default_rng(seed).standard_normal((n_samples, 2))).astype(np.float32), rate, format="WAV")
    return path


def cli(*args, checkpoint: Path) -> int:
    return main([*map(str, args), "--checkpoint", str(checkpoint), "--segment-seconds", "0.5", "-q"])


def test_a_file_named_dots_cannot_write_outside_the_output_folder(tmp_path, checkpoint):
    source = write_noise(tmp_path / "in" / "...wav")
    out = tmp_path / "out" / "sub"
    assert cli(source, "-o", out, checkpoint=checkpoint) == 0
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.wav") if p != source)
    assert written and all(out in (tmp_path / p).parents for p in written), written
    assert not (tmp_path / "out" / "drums.wav").exists()


def test_an_input_is_never_written_over_even_with_overwrite(tmp_path, checkpoint, capsys):
    out = tmp_path / "out"
    source = write_noise(out / "drums" / "drums.wav")  # track "drums" writes out/drums/drums.wav: itself
    before = source.read_bytes()
    assert cli(source, "-o", out, "--overwrite", checkpoint=checkpoint) == 1
    assert source.read_bytes() == before
    assert "is one of the inputs" in capsys.readouterr().out


def test_two_stems_over_an_earlier_four_stem_result_leaves_one_consistent_result(tmp_path, checkpoint):
    source = write_noise(tmp_path / "song.wav")
    out = tmp_path / "out"
    assert cli(source, "-o", out, checkpoint=checkpoint) == 0
    assert cli(source, "-o", out, "--two-stems", "--overwrite", checkpoint=checkpoint) == 0
    assert sorted(p.name for p in (out / "song").iterdir()) == ["accompaniment.wav", "source.json", "vocals.wav"]


def test_stems_of_another_input_with_the_same_name_are_not_taken_for_this_ones(tmp_path, checkpoint, capsys):
    first = write_noise(tmp_path / "a" / "song.wav", seed=1)
    second = write_noise(tmp_path / "b" / "song.wav", seed=2)
    out = tmp_path / "out"
    assert cli(first, "-o", out, checkpoint=checkpoint) == 0
    assert cli(first, "-o", out, checkpoint=checkpoint) == 0  # the same input again: skipped
    assert "skipped" in capsys.readouterr().out
    assert cli(second, "-o", out, checkpoint=checkpoint) == 1
    printed = capsys.readouterr().out
    assert "stems of another input" in printed and str(first.resolve()) in printed


def test_stale_scratch_files_of_a_killed_run_are_removed_on_the_next(tmp_path, checkpoint):
    source = write_noise(tmp_path / "song.wav")
    stale = tmp_path / "out" / "song" / ".drums.wav.x1y2z3.float.part"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"\0" * 1000)
    assert cli(source, "-o", tmp_path / "out", checkpoint=checkpoint) == 0
    assert not stale.exists() and not list((tmp_path / "out").rglob("*.part"))


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_an_interrupted_separation_leaves_no_scratch_files_and_no_traceback(tmp_path, checkpoint, signum, status):
    source = write_noise(tmp_path / "long.wav", n_samples=16000 * 240)  # four minutes: seconds to separate
    out = tmp_path / "out"
    command = [sys.executable, "-m", "stemunet.separate", str(source), "-o", str(out), "--checkpoint", str(checkpoint),
               "--segment-seconds", "0.5", "--batch-segments", "1", "-q"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(out.rglob("*.part")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert list(out.rglob("*.part")), "the separation never started writing"
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == status, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    assert not list(out.rglob("*.part")) and not (out / "long").exists()


@pytest.mark.parametrize(
    "option, message",
    [
        (["--segment-seconds", "inf"], r"segment_seconds must be a number in \(0, 600\]"),
        (["--segment-seconds", "0.01"], r"segment_seconds 0.01 is out of range for this model: use 0.0464 to 600 s"),
        (["--summary", "FOLDER"], r"--summary .*: is a folder"),
        (["--summary", "MISSING/s.csv"], r"--summary .*: the folder .* does not exist"),
    ],
)
def test_bad_options_are_one_line_errors_before_any_work(tmp_path, checkpoint, capsys, option, message):
    source = write_noise(tmp_path / "song.wav")
    option = [part.replace("FOLDER", str(tmp_path)).replace("MISSING", str(tmp_path / "missing")) for part in option]
    assert main([str(source), "-o", str(tmp_path / "out"), "--checkpoint", str(checkpoint), *option, "-q"]) == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1 and __import__("re").search(message, error), error
    assert not (tmp_path / "out").exists()


def test_a_full_disk_is_blamed_on_the_output_not_the_input(tmp_path, checkpoint, capsys, monkeypatch):
    import shutil
    from collections import namedtuple

    source = write_noise(tmp_path / "in" / "x.wav")

    def no_space(self, data):
        raise sf.LibsndfileError(0, prefix="System error.")

    monkeypatch.setattr(sf.SoundFile, "write", no_space)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: namedtuple("usage", "total used free")(100, 100, 0))
    assert cli(source, "-o", tmp_path / "out", checkpoint=checkpoint) == 1
    printed = capsys.readouterr().out
    assert "the output could not be written (no space left on device)" in printed and "in/x.wav:" not in printed


def test_a_checkpoint_that_would_run_code_is_refused_by_the_cli(tmp_path, checkpoint, capsys):
    marker = tmp_path / "payload-ran"

    class RunsACommand:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pt"
    torch.save({**torch.load(checkpoint, weights_only=True), "note": RunsACommand()}, evil)
    source = write_noise(tmp_path / "song.wav")
    assert main([str(source), "-o", str(tmp_path / "out"), "--checkpoint", str(evil), "-q"]) == 2
    assert "evil.pt: refused" in capsys.readouterr().err
    assert not marker.exists()
