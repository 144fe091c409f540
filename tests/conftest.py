"""Shared fixtures. Runs and cached data sets go to temporary folders, never the user's."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

# Set before any test (and any notebook kernel nbval starts, which inherits the environment).
# Under pytest-xdist the controller sets them before it starts its workers, which inherit them:
# the workers share one cache (a synthetic set is generated once; concurrent generation is safe)
# and each has its own runs folder (a test's "latest" never sees another worker's run).
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="stemunet-tests-"))
os.environ.setdefault("STEMUNET_RUNS", str(_SESSION_DIR / "runs"))
os.environ.setdefault("STEMUNET_CACHE", str(_SESSION_DIR / "cache"))
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER:
    os.environ["STEMUNET_RUNS"] = str(Path(os.environ["STEMUNET_RUNS"]) / _WORKER)
# Workers share the cores: two workers of one thread each on 2 cores, not four threads fighting.
# STEMUNET_TEST_TORCH_THREADS sets it (README's host-independence checks run with 1 and 2).
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
torch.set_num_threads(int(os.environ.get("STEMUNET_TEST_TORCH_THREADS", 0)) or max(1, min(2, os.cpu_count() or 1) // _WORKERS))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def example_stem_path() -> Path:
    """The real 6 s MUSDB18 excerpt that ships inside the stempeg wheel."""
    import stempeg

    path = Path(stempeg.example_stem_path())
    assert path.is_file(), f"stempeg's example stem file is missing: {path}"
    return path


@pytest.fixture(scope="session")
def real_musdb_root(tmp_path_factory, example_stem_path) -> Path:
    """A MUSDB18 (stem.mp4) folder holding the stempeg excerpt as one train and one test track."""
    root = tmp_path_factory.mktemp("musdb18")
    for subset in ("train", "test"):
        (root / subset).mkdir()
        (root / subset / example_stem_path.name).symlink_to(example_stem_path)
    return root


@pytest.fixture
def one_torch_thread():
    """Torch on one thread for the test: tiny models and tensors run fastest so, and are immune to
    a busy machine's thread contention."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
