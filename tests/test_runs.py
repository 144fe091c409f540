"""The runner: dated run folders, recorded parameters, the failure path, checks before execution.

Most tests execute small stand-in notebooks named ``train`` (so the runner checks their
parameters against TrainConfig) whose parameters cell is the real train notebook's but whose body
only opens the run folder, or raises. One test runs the real train notebook with plain papermill.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from stemunet.run import main
from stemunet.runfolders import list_runs, new_run_dir

ROOT = Path(__file__).resolve().parents[1]
RUN_NAME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d_train(-\d+)?$")


def stand_in_notebook(folder: Path, body: str) -> Path:
    """``folder/train.ipynb``: the train notebook's parameters cell, then ``body``."""
    real = nbformat.read(ROOT / "notebooks" / "train.ipynb", as_version=4)
    parameters = next(cell for cell in real.cells if "parameters" in cell.metadata.get("tags", []))
    notebook = nbformat.v4.new_notebook(cells=[parameters, nbformat.v4.new_code_cell(body)])
    notebook.metadata = real.metadata
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, folder / "train.ipynb")
    return folder


OPEN_RUN = (
    "from stemunet.lab.runs import notebook_config, start_run\n"
    "from stemunet.training.config import TrainConfig\n"
    "config = notebook_config(TrainConfig, globals())\n"
    "run = start_run('train', run_dir, config)\n"
    "run.write_json('done.json', {'epochs': config.epochs})\n"
)


def run_cli(*args: str, runs: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "STEMUNET_RUNS": str(runs)}
    return subprocess.run(
        [sys.executable, "-m", "stemunet.run", *args, "--no-progress"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


def test_runner_executes_into_a_dated_folder_and_prints_it_last(tmp_path):
    notebooks = stand_in_notebook(tmp_path / "notebooks", OPEN_RUN)
    result = run_cli("train", "--notebooks-dir", str(notebooks), "-p", "epochs", "7", runs=tmp_path / "runs")
    assert result.returncode == 0, result.stderr
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    assert run_dir.parent == tmp_path / "runs" and RUN_NAME.match(run_dir.name)
    executed = nbformat.read(run_dir / "train.ipynb", as_version=4)
    assert executed.metadata["papermill"]["parameters"]["epochs"] == 7
    assert any("injected-parameters" in cell.metadata.get("tags", []) for cell in executed.cells)
    record = yaml.safe_load((run_dir / "parameters.yaml").read_text())
    assert record["parameters"]["epochs"] == 7
    assert "git_commit" in record and record["versions"]["torch"]
    assert (run_dir / "done.json").is_file()
    # Signed for this user, so JupyterLab opens it trusted (widgets and players render), and quiet.
    from nbformat.sign import NotebookNotary

    assert NotebookNotary().check_signature(nbformat.read(run_dir / "train.ipynb", as_version=4))
    assert "Kernel is running over TCP" not in result.stderr


def test_two_runs_started_in_the_same_second_get_different_folders(tmp_path):
    now = dt.datetime(2026, 11, 25, 14, 30, 12)
    first, second = new_run_dir("train", tmp_path, now), new_run_dir("train", tmp_path, now)
    assert first != second and first.is_dir() and second.is_dir()
    assert list_runs("train", tmp_path) == [first, second]


def test_failing_notebook_exits_nonzero_and_keeps_the_failed_notebook(tmp_path):
    notebooks = stand_in_notebook(tmp_path / "notebooks", "raise ValueError('the training data is unusable')")
    result = run_cli("train", "--notebooks-dir", str(notebooks), runs=tmp_path / "runs")
    assert result.returncode == 1
    assert "the training data is unusable" in result.stderr
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    saved = (run_dir / "train.ipynb").read_text()
    assert "ValueError" in saved and "the training data is unusable" in saved


@pytest.mark.parametrize(
    "args, named",
    [
        (["-p", "epoch", "3"], "epoch"),  # unknown name
        (["-p", "epochs", "three"], "epochs"),  # wrong type
        (["-p", "augment_remix", "1"], "augment_remix"),  # an int is not a bool
    ],
)
def test_bad_parameters_exit_2_before_anything_runs(tmp_path, monkeypatch, capsys, args, named):
    monkeypatch.setenv("STEMUNET_RUNS", str(tmp_path / "runs"))
    notebooks = stand_in_notebook(tmp_path / "notebooks", "raise AssertionError('must not run')")
    assert main(["train", "--notebooks-dir", str(notebooks), *args, "--no-progress"]) == 2
    assert named in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_bad_parameter_file_value_exits_2_naming_the_parameter(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STEMUNET_RUNS", str(tmp_path / "runs"))
    notebooks = stand_in_notebook(tmp_path / "notebooks", "raise AssertionError('must not run')")
    parameters = tmp_path / "bad.yaml"
    parameters.write_text("epochs: 3\nbatch_size: [4]\n")
    assert main(["train", "--notebooks-dir", str(notebooks), "-f", str(parameters), "--no-progress"]) == 2
    assert "batch_size" in capsys.readouterr().err


def test_unknown_notebook_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STEMUNET_RUNS", str(tmp_path / "runs"))
    assert main(["trian", "--no-progress"]) == 2
    assert "trian" in capsys.readouterr().err


def test_plain_papermill_run_makes_its_own_dated_run_folder(tmp_path):
    env = {**os.environ, "STEMUNET_RUNS": str(tmp_path / "runs")}
    small = {
        # the suite's shared synthetic set and a model that trains in seconds
        "synthetic_train_tracks": 4, "synthetic_test_tracks": 2, "synthetic_seconds": 6.0,
        "sample_rate": 8000, "n_fft": 256, "hop_length": 64, "base_channels": 4, "depth": 2,
        "epochs": 1, "samples_per_epoch": 4, "batch_size": 4, "chunk_seconds": 1.0, "valid_chunk_seconds": 3.0,
        "cpu_threads": 1,
    }
    overrides = [arg for name, value in small.items() for arg in ("-p", name, str(value))]
    result = subprocess.run(
        [sys.executable, "-m", "papermill", "notebooks/train.ipynb", str(tmp_path / "out.ipynb"),
         "-f", "parameters/train_demo.yaml", *overrides, "--no-progress-bar", "--cwd", "notebooks"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = list_runs("train", tmp_path / "runs")
    assert len(runs) == 1 and RUN_NAME.match(runs[0].name)
    for name in ("parameters.yaml", "history.csv", "metrics.json", "loss_curves.png", "checkpoints/best.pt"):
        assert (runs[0] / name).is_file(), name
    assert yaml.safe_load((runs[0] / "parameters.yaml").read_text())["parameters"]["sample_rate"] == 8000


def test_relative_paths_resolve_against_the_folder_the_user_ran_from(tmp_path):
    """The kernel runs in notebooks/: without the runner's resolution these pointed inside it."""
    here = tmp_path / "here"
    (here / "data").mkdir(parents=True)
    notebooks = stand_in_notebook(tmp_path / "notebooks", OPEN_RUN + "run.write_json('paths.json', {'musdb_root': config.data.musdb_root, 'resume_from': config.resume_from, 'init_from': config.init_from})\n")
    env = {**os.environ, "STEMUNET_RUNS": str(tmp_path / "runs")}
    result = subprocess.run(
        [sys.executable, "-m", "stemunet.run", "train", "--notebooks-dir", str(notebooks), "--no-progress",
         "-p", "musdb_root", "data", "-p", "resume_from", "runs/earlier_train", "-p", "init_from", "models/start.pt"],
        cwd=here, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    seen = yaml.safe_load((run_dir / "paths.json").read_text())
    assert seen == {"musdb_root": str(here / "data"), "resume_from": str(here / "runs" / "earlier_train"),
                    "init_from": str(here / "models" / "start.pt")}
    record = yaml.safe_load((run_dir / "parameters.yaml").read_text())
    assert record["parameters"]["musdb_root"] == str(here / "data")
    assert record["command"].startswith("python -m stemunet.run train --notebooks-dir")  # the user's, not the kernel's


def test_path_keywords_and_lists_are_resolved_as_paths_or_left_alone(tmp_path):
    from stemunet.lab.runs import resolve_path_parameters

    resolved = resolve_path_parameters(
        {"checkpoint": "pretrained", "runs": ["latest", "runs/a_train", str(tmp_path / "b.pt")], "inputs": ["songs/*.wav"], "epochs": 3,
         "synthetic_soundfont": "fonts/big.sf2"},
        base=tmp_path,
    )
    assert resolved == {
        "synthetic_soundfont": str(tmp_path / "fonts" / "big.sf2"),  # a user's SoundFont, where they typed it
        "checkpoint": "pretrained",
        "runs": ["latest", str(tmp_path / "runs" / "a_train"), str(tmp_path / "b.pt")],
        "inputs": [str(tmp_path / "songs" / "*.wav")],
        "epochs": 3,
    }


@pytest.mark.parametrize(
    "content, expected",
    [
        ("samples_per_epoch: [16\n", r"bad\.yaml, line 2: .*expected YAML parameters"),
        (b"\x00\x01\xff\xfe binary", r"bad\.yaml: not a text file"),
        ("epochs: 3\nbatch_size: 2\nepochs: 30\n", r"bad\.yaml, line 3: parameter 'epochs' is set twice \(first on line 1\); keep one"),
    ],
    ids=["malformed YAML", "binary file", "a key set twice"],
)
def test_an_unreadable_parameter_file_is_one_line_exit_2_and_no_run_folder(tmp_path, monkeypatch, capsys, content, expected):
    monkeypatch.setenv("STEMUNET_RUNS", str(tmp_path / "runs"))
    notebooks = stand_in_notebook(tmp_path / "notebooks", "raise AssertionError('must not run')")
    parameters = tmp_path / "bad.yaml"
    parameters.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert main(["train", "--notebooks-dir", str(notebooks), "-f", str(parameters), "--no-progress"]) == 2
    error = capsys.readouterr().err
    assert re.search(expected, error) and len(error.strip().splitlines()) == 1, error
    assert not (tmp_path / "runs").exists()


def test_an_unreadable_parameter_value_names_the_parameter(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STEMUNET_RUNS", str(tmp_path / "runs"))
    notebooks = stand_in_notebook(tmp_path / "notebooks", "raise AssertionError('must not run')")
    assert main(["train", "--notebooks-dir", str(notebooks), "-p", "epochs", "[3", "--no-progress"]) == 2
    error = capsys.readouterr().err
    assert "parameter 'epochs'" in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_ctrl_c_names_the_partial_run_and_how_to_continue_it(tmp_path):
    import signal
    import time

    body = OPEN_RUN + "import time\n(run.path / 'started').touch()\ntime.sleep(600)\n"
    notebooks = stand_in_notebook(tmp_path / "notebooks", body)
    runs = tmp_path / "runs"
    env = {**os.environ, "STEMUNET_RUNS": str(runs)}
    command = [sys.executable, "-m", "stemunet.run", "train", "--notebooks-dir", str(notebooks), "--no-progress"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 180
    while not list(runs.glob("*/started")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert list(runs.glob("*/started")), "the notebook never started"
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group, the kernel too
    _, stderr = process.communicate(timeout=120)
    run_dir = list_runs("train", runs)[0]
    assert process.returncode == 130, stderr
    # One line: neither the runner's traceback nor the kernel's (its closed sockets) nor nbclient's.
    assert stderr.strip().splitlines() == [
        f"interrupted; the partial run is in {run_dir} (continue it: python -m stemunet.run train ... -p resume_from {run_dir})"], stderr


def test_ctrl_c_silences_the_reports_of_the_cut_short_cell_before_the_cleanup_can_log_them(request):
    # The run above passes most times either way: the cut-short cell's task logs "Kernel died while
    # waiting for execute reply" only when it wakes during papermill's cleanup (about 1 run in 30).
    # So the order is checked here: the loggers are quiet as the interrupt is raised, before any cleanup.
    import logging
    import signal
    import time

    from stemunet.lab.runner import _quiet_after_ctrl_c

    for name in ("papermill", "asyncio"):  # as they were, after the test (setLevel clears the loggers' caches)
        request.addfinalizer(lambda logger=logging.getLogger(name), level=logging.getLogger(name).level: logger.setLevel(level))
        logging.getLogger(name).setLevel(logging.NOTSET)
    before = signal.getsignal(signal.SIGINT)
    with _quiet_after_ctrl_c():  # no Ctrl-C: nothing changes
        pass
    assert logging.getLogger("papermill").level == logging.NOTSET and signal.getsignal(signal.SIGINT) is before
    levels_at_the_interrupt = {}
    with pytest.raises(KeyboardInterrupt):
        with _quiet_after_ctrl_c():
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)  # the handler raises before this returns
            finally:  # where papermill's cleanup runs: already quiet
                levels_at_the_interrupt = {name: logging.getLogger(name).level for name in ("papermill", "asyncio")}
    assert levels_at_the_interrupt == {"papermill": logging.CRITICAL, "asyncio": logging.CRITICAL}
    assert signal.getsignal(signal.SIGINT) is before  # the runner's own handler is put back


def test_a_runner_whose_kernel_cannot_start_leaves_no_run_folder(tmp_path, monkeypatch):
    import papermill

    def no_kernel(*args, **kwargs):
        raise RuntimeError("Kernel died before replying to kernel_info")

    monkeypatch.setenv("STEMUNET_RUNS", str(tmp_path / "runs"))
    monkeypatch.setattr(papermill, "execute_notebook", no_kernel)
    notebooks = stand_in_notebook(tmp_path / "notebooks", OPEN_RUN)
    with pytest.raises(RuntimeError, match="Kernel died"):
        main(["train", "--notebooks-dir", str(notebooks), "--no-progress"])
    assert not list((tmp_path / "runs").iterdir())


def test_notebooks_show_what_the_run_changed_not_the_whole_configuration():
    from stemunet.lab.runs import changed_parameters
    from stemunet.training.config import TrainConfig

    table = changed_parameters(TrainConfig.from_params({"epochs": 5, "musdb_root": "/data/sets/musdb18hq"}))
    assert set(table.index) == {"musdb_root", "epochs"}
    assert table.loc["epochs", "value"] == "5" and table.loc["epochs", "default"] == "2"
    assert table.loc["musdb_root", "value"] == ".../sets/musdb18hq"  # a path, shortened; parameters.yaml has it whole
    assert list(changed_parameters(TrainConfig.from_params({})).index) == ["(none)"]
    for notebook in ("explore", "train", "evaluate", "separate", "listen"):
        source = (ROOT / "notebooks" / f"{notebook}.ipynb").read_text()
        assert "changed_parameters(config)" in source and '"config"\n' not in source
