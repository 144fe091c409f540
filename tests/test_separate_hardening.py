"""The separation CLI with inputs a careless or hostile world provides (each case failed before)."""

from __future__ import annotations

import json
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

from stemunet.checkpoints import CheckpointError, CheckpointRef, read_checkpoint, save_model
from stemunet.config import ModelConfig, SeparatorConfig, StftConfig
from stemunet.separate import main
from stemunet.separation.batch import separate_files
from stemunet.separation.config import SeparateConfig
from stemunet.separation.inputs import discover_inputs
from stemunet.separation.separator import Separator
from stemunet.separation.summary import check_all_separated, summary_text

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


def test_two_stems_over_an_earlier_four_stem_result_delete_nothing_it_was_not_asked_to_write(tmp_path, checkpoint, capsys):
    source = write_noise(tmp_path / "song.wav")
    out = tmp_path / "out"
    assert cli(source, "-o", out, checkpoint=checkpoint) == 0
    assert cli(source, "-o", out, "--two-stems", "--overwrite", checkpoint=checkpoint) == 0
    assert sorted(p.name for p in (out / "song").iterdir()) == [
        "accompaniment.wav", "bass.wav", "drums.wav", "other.wav", "source.json", "vocals.wav"]  # fmt: skip
    assert "kept beside them" not in capsys.readouterr().out  # same input, same model: nothing to warn of


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


def default_signals() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_an_interrupted_separation_leaves_no_scratch_files_and_no_traceback(tmp_path, checkpoint, signum, status):
    source = write_noise(tmp_path / "long.wav", n_samples=16000 * 240)  # four minutes: seconds to separate
    out = tmp_path / "out"
    command = [sys.executable, "-m", "stemunet.separate", str(source), "-o", str(out), "--checkpoint", str(checkpoint),
               "--segment-seconds", "0.5", "--batch-segments", "1", "-q"]  # fmt: skip
    # As from a terminal: SIGINT and SIGTERM neither ignored nor blocked, whatever an earlier test in
    # this worker process left in its signal mask (a child inherits both across exec, and a blocked
    # SIGINT would let the separation finish unbothered).
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_signals)
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


# Issue 20: each case below failed before.


def test_fewer_stems_with_overwrite_keep_the_others_and_record_which_model_wrote_each(tmp_path, checkpoint, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # -o relative: source.json still records absolute paths
    source = write_noise(tmp_path / "song.wav")
    torch.manual_seed(1)
    other_model = save_model(Separator(TINY), tmp_path / "other.pt")
    assert cli("song.wav", "-o", "out", checkpoint=checkpoint) == 0
    assert cli("song.wav", "-o", "out", "--stems", "vocals", "--overwrite", checkpoint=other_model) == 0
    folder = tmp_path / "out" / "song"
    assert sorted(p.name for p in folder.iterdir()) == ["bass.wav", "drums.wav", "other.wav", "source.json", "vocals.wav"]
    printed = capsys.readouterr()
    assert "1 separated" in printed.err
    assert f"kept beside them: drums.wav, bass.wav, other.wav from another model ({checkpoint.resolve()})" in printed.out
    record = json.loads((folder / "source.json").read_text())
    assert record["stems"]["vocals.wav"]["checkpoint"] == str(other_model.resolve())
    assert record["stems"]["drums.wav"]["checkpoint"] == str(checkpoint.resolve())
    assert record["input"] == str(source.resolve()) and sorted(record["outputs"]) == sorted(str(p.resolve()) for p in folder.glob("*.wav"))
    assert all(Path(entry["file"]).is_absolute() for entry in record["stems"].values())


def test_folders_inside_the_output_folder_are_searched_unless_they_hold_its_outputs(tmp_path, checkpoint):
    library = tmp_path / "lib"
    first = write_noise(library / "artist" / "cd1" / "a.wav")
    nested = write_noise(library / "artist" / "cd1" / "bonus" / "c.wav", seed=1)
    assert cli(library / "artist" / "cd1", "-o", library, checkpoint=checkpoint) == 0
    assert (library / "a" / "vocals.wav").is_file() and (library / "c" / "vocals.wav").is_file()
    # The stems just written (lib/a, lib/c) are not taken for inputs; the user's folders still are.
    assert [item.path for item in discover_inputs([str(library)], exclude=library)] == [first, nested]
    assert [item.path for item in discover_inputs([str(library / "artist")], exclude=library)] == [first, nested]  # only nested files


def test_a_nan_weight_is_refused_on_loading_and_stems_that_are_not_finite_fail_the_input(tmp_path, checkpoint, capsys):
    stored = torch.load(checkpoint, weights_only=True)
    weight = next(key for key, value in stored["state_dict"].items() if value.is_floating_point() and "weight" in key)
    stored["state_dict"][weight].view(-1)[0] = float("nan")
    torch.save(stored, tmp_path / "nan.pt")
    source = write_noise(tmp_path / "song.wav")
    assert cli(source, "-o", tmp_path / "out", checkpoint=tmp_path / "nan.pt") == 2
    assert f"weight {weight} holds NaN or infinite values" in capsys.readouterr().err
    separator = Separator(TINY)
    with torch.no_grad():
        dict(separator.named_parameters())[weight].view(-1)[0] = float("nan")
    config = SeparateConfig.from_params({"segment_seconds": 0.5})
    summary = separate_files([source], separator, config, tmp_path / "out", progress=False)
    assert summary.status.tolist() == ["failed"] and "stems hold NaN or infinite samples" in summary.error[0]
    assert not (tmp_path / "out" / "song").exists()


def test_a_wav_shorter_than_its_header_says_is_noted_in_its_row(tmp_path, checkpoint):
    whole = write_noise(tmp_path / "whole.wav", n_samples=16000).read_bytes()
    (tmp_path / "cut.wav").write_bytes(whole[: len(whole) // 2])
    assert cli(tmp_path / "cut.wav", "-o", tmp_path / "out", "--summary", tmp_path / "s.csv", checkpoint=checkpoint) == 0
    row = __import__("pandas").read_csv(tmp_path / "s.csv").iloc[0]
    assert row.status == "ok" and row.note.startswith("truncated: its header declares 1.00 s, the file holds 0.50 s"), row.note


@pytest.mark.parametrize(
    "output, summary, message",
    [
        ("", "", "-o is empty"),
        ("FILE", "", "is a file, not a folder"),
        ("/proc/stemunet-nope/out", "", "-o /proc/stemunet-nope/out: cannot write stems there"),
        ("OUT", "/proc/nope.csv", "--summary /proc/nope.csv: cannot be written in /proc"),
    ],
)
def test_an_unwritable_output_folder_or_summary_is_one_line_before_the_model_loads(tmp_path, capsys, output, summary, message):
    source = write_noise(tmp_path / "song.wav")
    (tmp_path / "FILE").write_text("not a folder")
    output = output.replace("FILE", str(tmp_path / "FILE")).replace("OUT", str(tmp_path / "out"))
    options = ["--summary", summary] if summary else []
    # A checkpoint that does not exist: had the model been looked for first, the error would name it.
    assert main([str(source), "-o", output, *options, "--checkpoint", str(tmp_path / "missing.pt"), "-q"]) == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1 and message in error, error
    assert not (tmp_path / "out").exists()


def test_scratch_files_of_a_process_still_running_are_left_alone(tmp_path, checkpoint):
    source = write_noise(tmp_path / "song.wav")
    folder = tmp_path / "out" / "song"
    folder.mkdir(parents=True)
    theirs = folder / f".drums.wav.{os.getppid()}.abc123.part"  # another live command writing this track
    crashed = folder / ".drums.wav.4194305.xyz789.part"  # above Linux's largest pid: its writer is gone
    theirs.write_bytes(b"\0" * 100)
    crashed.write_bytes(b"\0" * 100)
    assert cli(source, "-o", tmp_path / "out", checkpoint=checkpoint) == 0
    assert theirs.exists() and not crashed.exists()


def test_messages_name_the_real_cause(tmp_path, checkpoint, capsys):
    garbage = tmp_path / "noise.wav"
    garbage.write_bytes(np.random.default_rng(0).bytes(4000))
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "song").symlink_to(tmp_path / "elsewhere")
    song = write_noise(tmp_path / "song.wav")
    assert cli(garbage, song, "-o", tmp_path / "out", checkpoint=checkpoint) == 1
    printed = capsys.readouterr().out
    assert "noise.wav: not a readable audio file" in printed and "ffmpeg" not in printed
    assert "out/song in the output folder is a symbolic link to" in printed and "rename the input" not in printed
    assert not list((tmp_path / "elsewhere").iterdir())
    (tmp_path / "random.pt").write_bytes(np.random.default_rng(1).bytes(5000))
    with pytest.raises(CheckpointError, match="random.pt: not a readable checkpoint") as refused:
        read_checkpoint(tmp_path / "random.pt")
    assert "run code" not in str(refused.value)
    with pytest.raises(FileNotFoundError, match="checkpoint 'latest': no finished training run") as none:
        CheckpointRef.resolve("latest", runs_dir=tmp_path / "no-runs")
    assert "no bundled model" not in str(none.value) and "pretrained (the bundled model)" in str(none.value)


def test_the_summary_prints_each_path_once_and_pads_no_message(tmp_path, checkpoint):
    short = write_noise(tmp_path / "ok.wav")
    missing = tmp_path / ("a-very-long-name-" * 12 + ".wav")
    summary = separate_files(discover_inputs([str(short), str(missing)]), Separator(TINY), SeparateConfig.from_params({"segment_seconds": 0.5}), tmp_path / "out", progress=False)
    with pytest.raises(RuntimeError) as failed:
        check_all_separated(summary)
    assert str(failed.value).count(str(missing)) == 1
    lines = summary_text(summary).splitlines()
    assert len(lines) == 3 and lines[1].split()[:2] == ["ok", "ok"] and len(lines[1]) < 60 and lines[2].endswith("no such file or folder")


def test_an_input_that_looks_like_an_option_gets_a_hint(tmp_path, checkpoint, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_noise(tmp_path / "-dash.wav")
    write_noise(tmp_path / "song.wav")
    for argv, hint in [
        (["-dash.wav", "-o", "out"], "-dash.wav begins with '-', so it was read as an option: put -- before the inputs"),
        (["-o", "out", "--stems", "vocals", "song.wav"], "--stems took song.wav as stem names: put the inputs before --stems, or end its list with --"),
    ]:
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 2 and hint in capsys.readouterr().err
    options = ["-o", "out", "--checkpoint", str(checkpoint), "--segment-seconds", "0.5", "-q", "--stems", "vocals"]
    assert main([*options, "--", "-dash.wav", "song.wav"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").glob("*/vocals.wav")) == ["vocals.wav", "vocals.wav"]


def test_help_and_usage_errors_load_neither_torch_nor_pandas(tmp_path):
    script = (
        "import sys\n"
        "from stemunet.separate import main\n"
        "status = main(['song.wav', '-o', '', '-q'])\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(status, sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'torchaudio', 'pandas'}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.stdout.strip().endswith("2 []"), result.stdout + result.stderr
    assert "usage: python -m stemunet.separate" in result.stdout
