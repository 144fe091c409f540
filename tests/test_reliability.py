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
from stemunet.separation.separator import Separator

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


def test_the_summary_never_replaces_the_model_the_output_folder_or_a_future_track_folder(tmp_path, tiny_checkpoint, capsys):
    model = Path(__import__("shutil").copyfile(tiny_checkpoint, tmp_path / "model.pt"))
    before = model.read_bytes()
    song = write_noise(tmp_path / "song.wav")
    for summary, message in ((model, "exists and is not a CSV file"), (tmp_path / "out", "is a folder"),
                             (tmp_path / "out" / "song", "the output folder")):
        assert separate(song, "-o", tmp_path / "out", "--summary", summary, checkpoint=model) == 2
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and f"--summary {summary}: {message}" in error, error
    assert model.read_bytes() == before and not (tmp_path / "out").exists()


def test_a_summary_in_a_new_output_folder_or_under_home_is_written_where_it_was_checked(tmp_path, tiny_checkpoint, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "home").mkdir()
    song = write_noise(tmp_path / "song.wav")
    assert separate(song, "-o", tmp_path / "new", "--summary", tmp_path / "new" / "summary.csv", checkpoint=tiny_checkpoint) == 0
    assert (tmp_path / "new" / "summary.csv").read_text().startswith("input,")
    assert separate(song, "-o", tmp_path / "other", "--summary", "~/summary.csv", checkpoint=tiny_checkpoint) == 0
    assert (tmp_path / "home" / "summary.csv").is_file() and not (tmp_path / "~").exists()


# ---------------------------------------------------------------- a killed training


class Killed(Exception):
    """Stands in for SIGKILL at a chosen moment of a checkpoint write."""


@pytest.fixture(scope="module")
def train_config():
    from test_training import TINY

    from stemunet.training.config import TrainConfig

    return TrainConfig.from_params(TINY)


def kill_when_saving_best_at(monkeypatch, epoch: int) -> list[int]:
    """Make the ``best.pt`` write of ``epoch`` die before anything reaches the file; the epochs whose
    best.pt was asked for are appended to the returned list."""
    import stemunet.training.fit

    asked: list[int] = []
    real = stemunet.checkpoints.save_model

    def save_model(separator, path, **state):
        asked.append(state["epoch"])
        if state["epoch"] == epoch:
            raise Killed
        return real(separator, path, **state)

    monkeypatch.setattr(stemunet.training.fit, "save_model", save_model)
    return asked


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("killed_epoch", [1, 2], ids=["during the first best.pt", "between last.pt and best.pt"])
def test_a_run_killed_while_writing_best_resumes_to_a_best_pt_that_matches_its_history(tmp_path, train_config, monkeypatch, killed_epoch):
    from stemunet.checkpoints import CheckpointRef, read_checkpoint, read_training_checkpoint
    from stemunet.training.fit import fit

    config = train_config.replace(epochs=killed_epoch)
    asked = kill_when_saving_best_at(monkeypatch, killed_epoch)
    with pytest.raises(Killed):
        fit(config, tmp_path / "killed", progress=False)
    assert asked[-1] == killed_epoch, "the tiny run must improve at every epoch for this test to kill its best.pt write"
    monkeypatch.undo()
    last = read_training_checkpoint(tmp_path / "killed" / "checkpoints" / "last.pt")
    assert last["epoch"] == last["best_epoch"] == killed_epoch
    if killed_epoch == 1:  # no best.pt at all: never silently replaced by last.pt
        assert not (tmp_path / "killed" / "checkpoints" / "best.pt").exists()
        with pytest.raises(FileNotFoundError, match="has no checkpoints/best.pt"):
            CheckpointRef.resolve(tmp_path / "killed")
    else:  # epoch 1's best.pt is left, while last.pt says epoch 2 is the best: the resume must replace it
        assert read_checkpoint(tmp_path / "killed" / "checkpoints" / "best.pt")["epoch"] == 1

    resumed = fit(config.replace(resume_from=str(tmp_path / "killed")), tmp_path / "resumed", progress=False)  # no epochs left
    best = read_checkpoint(tmp_path / "resumed" / "checkpoints" / "best.pt")
    assert resumed.metrics["finished"] and resumed.metrics["best_epoch"] == best["epoch"] == killed_epoch
    for name, value in last["state_dict"].items():
        torch.testing.assert_close(best["state_dict"][name], value, msg=name)


@pytest.mark.usefixtures("one_torch_thread")
def test_a_resume_whose_earlier_best_pt_is_missing_or_another_epoch_is_refused_naming_it(tmp_path, train_config):
    from stemunet.checkpoints import CheckpointError, read_training_checkpoint
    from stemunet.training.fit import fit

    fit(train_config, tmp_path / "run", progress=False)
    last_path = tmp_path / "run" / "checkpoints" / "last.pt"
    last = read_training_checkpoint(last_path)
    torch.save({**last, "best_epoch": 1}, last_path)  # epoch 1 the best, epoch 2's best.pt on disk
    config = train_config.replace(resume_from=str(tmp_path / "run"))
    with pytest.raises(CheckpointError, match=r"best.pt: holds epoch 2, but last.pt records epoch 1 as the best"):
        fit(config, tmp_path / "resumed", progress=False)
    (tmp_path / "run" / "checkpoints" / "best.pt").unlink()
    with pytest.raises(CheckpointError, match=r"best.pt: is missing, but last.pt records epoch 1 as the best"):
        fit(config, tmp_path / "resumed-again", progress=False)


# ---------------------------------------------------------------- damaged or poisoned checkpoints


def xor_bytes(path: Path, n_bytes: int = 2000) -> Path:
    """Flip every bit of up to ``n_bytes`` inside the largest weight tensor's bytes of ``path``, and
    nothing of the archive's headers: ``torch.load`` reads such a file without a word (the weights
    are simply other numbers), only the archive's CRC-32 of that member tells."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        member = max((info for info in archive.infolist() if "/data/" in info.filename), key=lambda info: info.file_size)  # a tensor
    data = bytearray(path.read_bytes())
    name_length, extra_length = int.from_bytes(data[member.header_offset + 26 : member.header_offset + 28], "little"), \
        int.from_bytes(data[member.header_offset + 28 : member.header_offset + 30], "little")
    start = member.header_offset + 30 + name_length + extra_length  # the member's stored bytes
    end = start + min(n_bytes, member.file_size)
    data[start:end] = bytes(b ^ 0xFF for b in data[start:end])
    path.write_bytes(bytes(data))
    return path


def nan_weights(path: Path, destination: Path) -> Path:
    checkpoint = torch.load(path, weights_only=True)
    first = next(iter(checkpoint["state_dict"]))
    checkpoint["state_dict"][first] = torch.full_like(checkpoint["state_dict"][first], float("nan"))
    torch.save(checkpoint, destination)
    return destination


def test_a_damaged_checkpoint_is_refused_by_the_separation_cli_in_one_line(tmp_path, tiny_checkpoint, capsys):
    damaged = xor_bytes(Path(__import__("shutil").copyfile(tiny_checkpoint, tmp_path / "damaged.pt")))
    song = write_noise(tmp_path / "song.wav")
    assert separate(song, "-o", tmp_path / "out", checkpoint=damaged) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "damaged.pt: damaged" in error, error
    assert not (tmp_path / "out").exists()


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("damage", ["xor", "nan"])
def test_init_from_and_resume_from_refuse_a_damaged_or_nan_checkpoint_before_training(tmp_path, train_config, damage):
    from stemunet.checkpoints import CheckpointError
    from stemunet.training.fit import fit

    source = fit(train_config.replace(epochs=1), tmp_path / "run", progress=False).last_checkpoint
    bad = xor_bytes(Path(__import__("shutil").copyfile(source, tmp_path / "bad.pt"))) if damage == "xor" else nan_weights(source, tmp_path / "bad.pt")
    expected = "bad.pt: damaged" if damage == "xor" else "bad.pt: weight .* holds NaN or infinite values"
    for option in ("init_from", "resume_from"):
        with pytest.raises(CheckpointError, match=expected):
            fit(train_config.replace(**{option: str(bad)}), tmp_path / option, progress=False)
        assert not (tmp_path / option / "checkpoints").exists()


def test_a_checkpoint_declaring_other_stems_is_refused(tmp_path, tiny_checkpoint):
    from stemunet.checkpoints import CheckpointError
    from stemunet.separation.loading import load_separator

    checkpoint = torch.load(tiny_checkpoint, weights_only=True)
    torch.save({**checkpoint, "stem_names": ["a", "b"]}, tmp_path / "ab.pt")
    with pytest.raises(CheckpointError, match=r"ab.pt: declares the stems \['a', 'b'\], but its model separates"):
        load_separator(tmp_path / "ab.pt", "cpu")


# ---------------------------------------------------------------- messages that say what happened


def test_a_weight_in_exponent_notation_is_a_number_in_a_yaml_file_and_on_the_command_line(tmp_path):
    import yaml

    from stemunet.lab.runs import parse_value
    from stemunet.training.config import TrainConfig

    from_file = yaml.safe_load("stem_weights: [1e-3, 1, 1, 1]\nlearning_rate: 1e-3\n")
    assert from_file["stem_weights"][0] == "1e-3"  # YAML 1.1 reads it as a string
    for params in (from_file, {"stem_weights": parse_value("[1e-3,1,1,1]", "stem_weights"), "learning_rate": parse_value("1e-3")}):
        config = TrainConfig.from_params(params)
        assert config.stem_weights == (0.001, 1.0, 1.0, 1.0) and config.learning_rate == 0.001
    with pytest.raises(ValueError, match=r"stem_weights\[0\]': expected a number, got 'one'"):
        TrainConfig.from_params({"stem_weights": ["one", 1, 1, 1]})


@pytest.mark.usefixtures("one_torch_thread")
def test_resume_refuses_another_init_from_and_another_process_count_in_one_line_leaving_no_run(tmp_path, train_config, capsys, monkeypatch):
    import stemunet.train
    import stemunet.training.launch
    from stemunet.config import ConfigError
    from stemunet.training.fit import fit

    fit(train_config.replace(epochs=1), tmp_path / "run", progress=False)
    with pytest.raises(ConfigError, match=r"init_from 'pretrained' with resume_from .*last.pt: a resumed run continues"):
        fit(train_config.replace(resume_from=str(tmp_path / "run"), init_from="pretrained"), tmp_path / "a", progress=False)
    monkeypatch.setattr(stemunet.training.launch, "launch", lambda *args: pytest.fail("processes started for a resume that cannot be"))
    monkeypatch.setenv("STEMUNET_RUNS", str(tmp_path / "runs"))
    params = [item for name, value in {**__import__("test_training").TINY, "epochs": 2}.items() for item in ("-p", name, str(value))]
    status = stemunet.train.main([*params, "-p", "n_processes", "2", "-p", "resume_from", str(tmp_path / "run")])
    error = capsys.readouterr().err.strip()
    assert status == 2 and len(error.splitlines()) == 1 and "it was trained by 1 process(es), this run has 2" in error, error
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.usefixtures("one_torch_thread")
def test_a_disk_that_fills_up_during_training_is_one_line_saying_so(tmp_path, capsys, monkeypatch):
    """torch's zip writer reports a full disk as ``unexpected pos N vs M``; the user reads which file
    and that the disk is full, and where the partial run is."""
    import shutil

    import stemunet.files
    import stemunet.train

    real_save = torch.save
    saves = []

    def save_until_the_disk_is_full(obj, file, *args, **kwargs):
        saves.append(file)
        if len(saves) == 3:  # epoch 1's last.pt and best.pt are written; epoch 2's last.pt fills the disk
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 4288 vs 4176")
        return real_save(obj, file, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_until_the_disk_is_full)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 4096, 4096))
    monkeypatch.setenv("STEMUNET_RUNS", str(tmp_path / "runs"))
    params = [item for name, value in __import__("test_training").TINY.items() for item in ("-p", name, str(value))]
    assert stemunet.train.main(params) == 1
    printed = capsys.readouterr().err
    assert "Traceback" not in printed and "unexpected pos" not in printed, printed
    error = printed.strip().splitlines()[-1]
    assert "last.pt: not written: no space left on device" in error and "the partial run is in" in error and "resume_from" in error, error


@pytest.mark.parametrize("where", ["a file", "under a file", "under /proc"])
def test_a_runs_folder_that_cannot_hold_runs_is_one_line_from_the_runner_and_the_trainer(tmp_path, capsys, monkeypatch, where):
    import stemunet.run
    import stemunet.train

    (tmp_path / "file").write_text("not a folder")
    runs = {"a file": tmp_path / "file", "under a file": tmp_path / "file" / "runs", "under /proc": Path("/proc/stemunet-runs")}[where]
    monkeypatch.setenv("STEMUNET_RUNS", str(runs))
    monkeypatch.chdir(Path(__file__).parent.parent)  # the runner finds notebooks/ from here
    for main, args in ((stemunet.train.main, ["-p", "epochs", "1"]), (stemunet.run.main, ["explore", "--no-progress"])):
        assert main(args) == 2
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and error.startswith(f"error: runs folder {runs} ($STEMUNET_RUNS): "), error


# ---------------------------------------------------------------- the real-validation scripts


@pytest.fixture
def build_script(monkeypatch):
    """``scripts/build_real_validation.py`` as a module, its mapping two fake songs (the real one needs ten)."""
    import importlib.util

    from test_real_validation import fake_song

    spec = importlib.util.spec_from_file_location("build_real_validation", Path(__file__).parent.parent / "scripts" / "build_real_validation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "load_mapping", lambda path: [fake_song("A", "One"), fake_song("B", "Two")])
    return module


def test_the_builder_refuses_a_file_as_its_output_a_bad_length_and_render_without_lmms_in_one_line(tmp_path, build_script, capsys, monkeypatch):
    (tmp_path / "file").write_text("mine")
    monkeypatch.setenv("PATH", str(tmp_path))  # no lmms
    for arguments, message in (
        ([str(tmp_path / "file")], "file: is a file; name a new folder"),
        ([str(tmp_path / "out"), "--seconds", "-5"], "--seconds -5: the excerpt length must be"),
        ([str(tmp_path / "out"), "--seconds", "nan"], "--seconds nan: the excerpt length must be"),
        ([str(tmp_path / "out"), "--render"], "--render needs lmms on the PATH"),
    ):
        assert build_script.main([*arguments, "--renders", str(tmp_path / "renders")]) == 2
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and message in error, error
    assert (tmp_path / "file").read_text() == "mine" and not (tmp_path / "out").exists()


def test_a_build_with_a_missing_render_freezes_nothing_and_the_retry_builds_the_whole_set(tmp_path, build_script, capsys):
    from test_real_validation import fake_song, render_fake_song

    for song in (fake_song("A", "One"), fake_song("B", "Two")):
        render_fake_song(tmp_path / "renders" / song.render_folder, seconds=10.0, bass_from=1.0)
    lost = tmp_path / "renders" / fake_song("B", "Two").render_folder / "3_bass.wav"
    kept = lost.read_bytes()
    lost.unlink()
    arguments = [str(tmp_path / "out"), "--renders", str(tmp_path / "renders"), "--seconds", "6", "--projects", str(tmp_path / "none")]
    assert build_script.main(arguments) == 1
    assert "nothing was written to" in capsys.readouterr().err and not (tmp_path / "out").exists()
    lost.write_bytes(kept)
    assert build_script.main(arguments) == 0
    assert (tmp_path / "out" / "sha256.txt").is_file() and len(list((tmp_path / "out" / "test").iterdir())) == 2


def test_a_binary_manifest_is_one_line_naming_it(tmp_path):
    from stemunet.data.real_validation import ManifestError, verify_copy

    (tmp_path / "set" / "test").mkdir(parents=True)
    (tmp_path / "binary").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ManifestError, match=r"binary: not a sha256sum list \(a binary file\)"):
        verify_copy(tmp_path / "set", tmp_path / "binary")


# ---------------------------------------------------------------- separation messages


def test_a_hot_input_s_rescaling_is_printed_for_its_track(tmp_path, tiny_checkpoint, capsys):
    song = tmp_path / "hot.wav"
    sf.write(song, (5.0 * np.random.default_rng(0).standard_normal((8000, 2))).astype(np.float32), 16000, subtype="FLOAT")
    assert separate(song, "-o", tmp_path / "out", checkpoint=tiny_checkpoint) == 0
    printed = capsys.readouterr().out
    line = next(line for line in printed.splitlines() if line.lstrip().startswith("hot"))
    assert "stems scaled by 0.0" in line and "dB): their peak" in line and "pcm16 full scale" in line, printed


def test_a_pipe_or_a_device_is_named_as_such_not_as_an_empty_file(tmp_path, tiny_checkpoint, capsys):
    import os

    os.mkfifo(tmp_path / "pipe.wav")
    assert separate(tmp_path / "pipe.wav", "/dev/zero", "-o", tmp_path / "out", checkpoint=tiny_checkpoint) == 1
    printed = capsys.readouterr().out
    for name in ("pipe.wav", "/dev/zero"):
        assert f"{name}: not a regular file (a pipe, device or socket)" in printed, printed
    assert "empty" not in printed


def test_when_every_input_failed_the_notebook_s_message_gives_each_reason(tmp_path, tiny_checkpoint):
    from stemunet.separation.batch import separate_files
    from stemunet.separation.config import SeparateConfig
    from stemunet.separation.inputs import discover_inputs
    from stemunet.separation.loading import load_separator
    from stemunet.separation.summary import first_separated

    (tmp_path / "garbage.wav").write_bytes(np.random.default_rng(0).bytes(4000))
    inputs = discover_inputs([str(tmp_path / "garbage.wav"), str(tmp_path / "missing.wav")])
    summary = separate_files(inputs, load_separator(tiny_checkpoint, "cpu"), SeparateConfig(output_dir=str(tmp_path / "out")), tmp_path / "out", progress=False)
    with pytest.raises(ValueError, match=r"no input was separated \(2 failed\): .*garbage.wav: not a readable audio file.*; .*missing.wav: no such file"):
        first_separated(summary)


# ---------------------------------------------------------------- found by a hostile pass over the fixes


@pytest.mark.usefixtures("one_torch_thread")
def test_init_from_and_resume_from_refuse_a_checkpoint_whose_stems_are_in_another_order(tmp_path, train_config):
    from stemunet.checkpoints import CheckpointError
    from stemunet.training.fit import fit

    last = fit(train_config.replace(epochs=1), tmp_path / "run", progress=False).last_checkpoint
    checkpoint = torch.load(last, weights_only=True)
    torch.save({**checkpoint, "stem_names": ["vocals", "drums", "bass", "other"]}, tmp_path / "reordered.pt")
    for option in ("init_from", "resume_from"):
        with pytest.raises(CheckpointError, match=r"reordered.pt: declares the stems \['vocals', 'drums', 'bass', 'other'\]"):
            fit(train_config.replace(**{option: str(tmp_path / "reordered.pt")}), tmp_path / option, progress=False)


@pytest.mark.usefixtures("one_torch_thread")
def test_a_copied_last_pt_resumes_choosing_its_best_anew_and_a_run_that_never_validated_resumes(tmp_path, train_config, capsys):
    from stemunet.checkpoints import read_checkpoint, read_training_checkpoint
    from stemunet.config import ConfigError
    from stemunet.training.fit import fit

    fit(train_config.replace(epochs=2), tmp_path / "run", progress=False)
    last = read_training_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    (tmp_path / "backup").mkdir()
    torch.save({**last, "best_epoch": 1}, tmp_path / "backup" / "epoch2.pt")  # copied out of its run, without best.pt
    resumed = fit(train_config.replace(epochs=3, resume_from=str(tmp_path / "backup" / "epoch2.pt")), tmp_path / "resumed", progress=False)
    assert "this run chooses its best.pt among the epochs it trains" in capsys.readouterr().out
    assert resumed.metrics["best_epoch"] == 3 == read_checkpoint(tmp_path / "resumed" / "checkpoints" / "best.pt")["epoch"]
    with pytest.raises(ConfigError, match="no epoch left to train"):
        fit(train_config.replace(epochs=2, resume_from=str(tmp_path / "backup" / "epoch2.pt")), tmp_path / "none-left", progress=False)
    # No epoch ever validated to a finite loss (best_epoch 0): nothing to carry over, nothing refused.
    torch.save({**last, "best_epoch": 0, "best_valid_loss": float("inf")}, tmp_path / "run" / "checkpoints" / "last.pt")
    (tmp_path / "run" / "checkpoints" / "best.pt").unlink()
    again = fit(train_config.replace(epochs=3, resume_from=str(tmp_path / "run")), tmp_path / "again", progress=False)
    assert again.metrics["best_epoch"] == 3 and (tmp_path / "again" / "checkpoints" / "best.pt").is_file()


@pytest.mark.usefixtures("one_torch_thread")
def test_a_lost_best_pt_is_refused_before_any_process_starts(tmp_path, train_config, monkeypatch):
    import stemunet.train
    import stemunet.training.launch
    from stemunet.checkpoints import CheckpointError, read_training_checkpoint
    from stemunet.training.fit import fit

    fit(train_config, tmp_path / "run", progress=False)
    last_path = tmp_path / "run" / "checkpoints" / "last.pt"
    torch.save({**read_training_checkpoint(last_path), "best_epoch": 1}, last_path)
    (tmp_path / "run" / "checkpoints" / "best.pt").unlink()
    monkeypatch.setattr(stemunet.training.launch, "launch", lambda *args: pytest.fail("processes started for a resume that cannot be"))
    with pytest.raises(CheckpointError, match="best.pt: is missing, but last.pt records epoch 1"):
        stemunet.training.launch.fit(train_config.replace(epochs=3, resume_from=str(tmp_path / "run")), tmp_path / "resumed", progress=False)
    assert not (tmp_path / "resumed").exists()


def test_a_runs_folder_that_links_to_a_missing_folder_is_one_line(tmp_path, capsys, monkeypatch):
    import stemunet.train

    (tmp_path / "runs").symlink_to(tmp_path / "gone")
    monkeypatch.setenv("STEMUNET_RUNS", str(tmp_path / "runs"))
    assert stemunet.train.main(["-p", "epochs", "1"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "a link to a missing folder" in error, error


def test_the_inputs_table_does_not_wait_on_a_pipe(tmp_path):
    import os
    import threading

    from stemunet.separation.inputs import discover_inputs, inputs_table

    os.mkfifo(tmp_path / "pipe.wav")
    tables = []
    reader = threading.Thread(target=lambda: tables.append(inputs_table(discover_inputs([str(tmp_path / "pipe.wav")]))), daemon=True)
    reader.start()
    reader.join(timeout=20)
    assert tables, "inputs_table blocked on a pipe"
    assert tables[0].iloc[0]["sample_rate"] is None
