"""Distributed training on CPUs: two gloo processes (torchrun, and the elastic launcher the notebook uses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from stemunet.checkpoints import read_checkpoint, read_training_checkpoint
from stemunet.config import ConfigError
from stemunet.training.config import TrainConfig
from stemunet.training.distributed import CrossProcessBatchNorm2d
from stemunet.training.launch import fit

ROOT = Path(__file__).resolve().parents[1]

# Seconds-long runs: a tiny synthetic set and model; 8 chunks per epoch, 2 epochs.
TINY = {
    "synthetic_train_tracks": 3, "synthetic_test_tracks": 1, "synthetic_seconds": 3.0,
    "sample_rate": 8000, "n_channels": 1, "n_fft": 256, "hop_length": 64, "base_channels": 4, "depth": 2,
    "max_frequency": 0.0, "epochs": 2, "samples_per_epoch": 8, "chunk_seconds": 1.0, "valid_chunk_seconds": 1.5,
    "learning_rate": 1e-3, "device": "cpu", "cpu_threads": 1,
    # A constant learning rate: a finished 1-epoch run then holds exactly the state of a 2-epoch run
    # killed after its first epoch (a decaying schedule would have ended early).
    "final_learning_rate": 1e-3,
    # float32 on every host: the weights of two processes and of one are compared to 2e-5
    # (auto would be bfloat16 on CPUs that have it natively: tests/test_precision.py).
    "mixed_precision": "off",
}  # fmt: skip


def weights(path: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(path)["state_dict"]


def assert_same_weights(a: Path, b: Path, atol: float = 2e-5) -> None:
    first, second = weights(a), weights(b)
    assert first.keys() == second.keys()
    for name in first:
        torch.testing.assert_close(first[name].float(), second[name].float(), atol=atol, rtol=1e-4, msg=lambda m, name=name: f"{name}: {m}")


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory) -> Path:
    """2 epochs on 2 processes with a batch of 2 each (the train notebook's n_processes path)."""
    run = tmp_path_factory.mktemp("runs") / "two_processes"
    fit(TrainConfig.from_params({**TINY, "batch_size": 2, "n_processes": 2}), run, progress=False)
    return run


def test_two_processes_with_batch_b_train_the_weights_one_process_with_batch_2b_does(two_process_run, tmp_path):
    one = fit(TrainConfig.from_params({**TINY, "batch_size": 4}), tmp_path / "one", progress=False)
    assert one.metrics["global_batch_size"] == 4 and one.metrics["world_size"] == 1
    metrics = json.loads((two_process_run / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["global_batch_size"] == 4 and metrics["sync_batchnorm"]
    assert metrics["examples_seen"] == one.metrics["examples_seen"] == 16  # each chunk once, shared by the processes
    assert_same_weights(two_process_run / "checkpoints" / "last.pt", one.last_checkpoint)


def test_torchrun_writes_one_complete_run_folder_and_a_killed_run_resumes(two_process_run, tmp_path):
    runs = tmp_path / "runs"
    env = {**os.environ, "STEMUNET_RUNS": str(runs), "OMP_NUM_THREADS": "1"}
    arguments = [f"-p {name} {value}" for name, value in {**TINY, "batch_size": 2, "epochs": 1}.items()]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "stemunet.train",
               *" ".join(arguments).split()]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    assert [p.name for p in runs.iterdir()] == [run_dir.name]  # rank 1 wrote nothing of its own
    for name in ("parameters.yaml", "history.csv", "metrics.json", "loss_curves.png", "checkpoints/best.pt", "checkpoints/last.pt"):
        assert (run_dir / name).is_file(), name
    record = yaml.safe_load((run_dir / "parameters.yaml").read_text())
    assert record["world_size"] == 2 and record["launched_by"].startswith("python -m stemunet.train")
    assert read_training_checkpoint(run_dir / "checkpoints" / "last.pt")["epoch"] == 1  # "killed" after epoch 1

    # Resuming on 2 processes finishes what the uninterrupted 2-process run did.
    resumed = fit(TrainConfig.from_params({**TINY, "batch_size": 2, "n_processes": 2, "resume_from": str(run_dir)}), tmp_path / "resumed", progress=False)
    assert [row["epoch"] for row in resumed.history] == [1, 2]
    assert_same_weights(tmp_path / "resumed" / "checkpoints" / "last.pt", two_process_run / "checkpoints" / "last.pt")

    # Another number of processes would split the data and the batch differently: refused.
    with pytest.raises(ConfigError, match="trained by 2 process"):
        fit(TrainConfig.from_params({**TINY, "batch_size": 2, "resume_from": str(run_dir)}), tmp_path / "other", progress=False)


def test_cross_process_batchnorm_is_batchnorm_in_one_process():
    torch.manual_seed(0)
    plain = torch.nn.BatchNorm2d(3)
    crossed = CrossProcessBatchNorm2d(3)
    crossed.load_state_dict(plain.state_dict())
    x = torch.randn(4, 3, 5, 6)
    torch.testing.assert_close(crossed(x), plain(x))
    assert set(crossed.state_dict()) == set(plain.state_dict())


def test_training_fit_trains_in_this_process_and_leaves_launching_to_the_entry_point(tmp_path):
    from stemunet.training import fit as one_process

    with pytest.raises(ConfigError, match="stemunet.training.launch.fit"):
        one_process.fit(TrainConfig.from_params({**TINY, "batch_size": 2, "n_processes": 2}), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


# Issue 20: an epoch that does not divide evenly between the processes hung; killed launchers left workers.


def test_every_process_gets_the_same_number_of_items_whatever_the_epoch_size():
    from stemunet.data.chunks import EpochSampler

    for n_items in (1, 3, 5, 8):
        for world_size in (2, 3):
            shares = [[index for _, index in EpochSampler(n_items, rank=rank, world_size=world_size)] for rank in range(world_size)]
            assert len({len(share) for share in shares}) == 1, (n_items, world_size, shares)
            assert sorted({index for share in shares for index in share}) == list(range(n_items))
            assert [len(EpochSampler(n_items, rank=rank, world_size=world_size)) for rank in range(world_size)] == [len(shares[0])] * world_size


def test_torchrun_with_an_odd_epoch_finishes_and_prints_only_the_run_folder(tmp_path):
    env = {**os.environ, "STEMUNET_RUNS": str(tmp_path / "runs"), "OMP_NUM_THREADS": "1"}
    parameters = {**TINY, "epochs": 1, "samples_per_epoch": 3, "batch_size": 1}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "stemunet.train",
               *(part for name, value in parameters.items() for part in ("-p", name, str(value)))]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and Path(lines[0]).is_dir(), result.stdout  # no "[Gloo] Rank ..." lines before it


def test_workers_do_not_outlive_a_killed_launcher(tmp_path):
    import signal
    import time

    env = {**os.environ, "STEMUNET_RUNS": str(tmp_path / "runs"), "OMP_NUM_THREADS": "1"}
    parameters = {**TINY, "epochs": 1000}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "stemunet.train",
               *(part for name, value in parameters.items() for part in ("-p", name, str(value)))]  # fmt: skip
    launcher = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def workers() -> list[int]:
        found = []
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
            except OSError:
                continue
            if fields.get("PPid", "").strip() == str(launcher.pid):
                found.append(int(status.parent.name))
        return found

    try:
        deadline = time.monotonic() + 180
        while not list((tmp_path / "runs").glob("*/parameters.yaml")) and time.monotonic() < deadline:
            time.sleep(0.5)  # until rank 0 has made the run folder: both workers are in the process group
        started = workers()
        assert len(started) == 2, "the workers never started"
        launcher.send_signal(signal.SIGKILL)
        launcher.wait(timeout=30)
        deadline = time.monotonic() + 30
        while any(Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text() for pid in started) and time.monotonic() < deadline:
            time.sleep(0.5)
        survivors = [pid for pid in started if Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()]
        assert not survivors, f"workers {survivors} outlived their launcher"
    finally:
        launcher.kill()
