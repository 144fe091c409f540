"""The synthetic sets do not change by accident: a small set of each design version is regenerated
and compared with the fingerprints recorded when the design was last changed on purpose.

The comparison (``synthetic_fingerprints``) holds on any x86-64 host and with any numpy/scipy build
that rounds in the last bits differently (a byte digest of the float32 audio did not: the v2 set's
digest differed between hosts), while the sabotage tests below show that it still fails for a
change of one sample, a gain change of 0.01 dB, a sample dropped, or an edited manifest.

A change that alters the audio on purpose must bump ``FORMAT_VERSION`` (cached sets are keyed on it)
and record new fingerprints (``python tests/synthetic_fingerprints.py``); a refactor leaves them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from synthetic_fingerprints import RECORDED, differences, set_fingerprint

from stemunet.data.synthetic import SyntheticSpec, generate_synthetic_dataset, read_synthetic_manifest

# 2 train + 1 test songs of 2 s, seed 0: the v2 set holds sampled and additive drums, basses and
# other parts (asserted below), so both renderers of every part are covered.
SMALL = {1: SyntheticSpec(n_train_tracks=2, n_test_tracks=1, track_seconds=2.0, seed=0, version=1),
         2: SyntheticSpec(n_train_tracks=2, n_test_tracks=1, track_seconds=2.0, seed=0, version=2)}


@pytest.fixture(scope="module")
def generated_sets(tmp_path_factory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("synthetic-layout")
    return {version: generate_synthetic_dataset(folder / f"v{version}", spec, progress=False) for version, spec in SMALL.items()}


@pytest.fixture(scope="module")
def recorded() -> dict[str, dict]:
    return json.loads(RECORDED.read_text())


@pytest.mark.parametrize("version", sorted(SMALL))
def test_generated_sets_match_the_recorded_fingerprints(version: int, generated_sets, recorded) -> None:
    root = generated_sets[version]
    assert len([p for p in root.rglob("*") if p.is_file()]) == 3 * 5 + 2  # songs x (mixture + 4 stems), manifest, setup
    if version == 2:
        info = read_synthetic_manifest(root)["track_info"].values()
        for part in ("drums", "bass", "other"):
            assert {"sampled" in str(song[part]) for song in info} == {True, False}, part
    assert differences(set_fingerprint(root), recorded[str(version)]) == []


def _sabotaged_copy(root: Path, destination: Path, name: str, change) -> Path:
    """A copy of the set ``root`` whose file ``name`` (relative) was rewritten by ``change(audio)``."""
    copy = shutil.copytree(root, destination)
    audio, rate = sf.read(copy / name, dtype="float32", always_2d=True)
    sf.write(copy / name, change(audio.copy()), rate, subtype="FLOAT")
    return copy


def _one_sample_moved(audio: np.ndarray) -> np.ndarray:
    audio[12345, 0] += 0.005  # -46 dBFS at one sample of one channel
    return audio


@pytest.mark.parametrize(
    "change, expected",
    [
        (_one_sample_moved, "samples changed"),
        (lambda audio: audio * np.float32(10 ** (0.01 / 20)), "RMS of 100 ms window"),  # +0.01 dB
        (lambda audio: audio[:-1], "samples 88199 instead of 88200"),
    ],
    ids=["one sample", "gain 0.01 dB", "one sample shorter"],
)
def test_the_fingerprints_catch_a_one_sample_change_a_small_gain_and_a_dropped_sample(generated_sets, recorded, tmp_path, change, expected) -> None:
    root = generated_sets[2]
    name = "train/train_001/bass.wav"
    assert differences(set_fingerprint(root), recorded["2"]) == []
    problems = differences(set_fingerprint(_sabotaged_copy(root, tmp_path / "copy", name, change)), recorded["2"])
    assert problems and all(problem.startswith(f"{name}: ") for problem in problems), problems
    assert any(problem.startswith(f"{name}: {expected}") for problem in problems), problems


def test_the_fingerprints_catch_an_edited_manifest_and_a_missing_file(generated_sets, recorded, tmp_path) -> None:
    copy = shutil.copytree(generated_sets[1], tmp_path / "copy")
    manifest = copy / "stemunet_synthetic.json"
    manifest.write_text(manifest.read_text().replace('"bpm": ', '"bpm": 1'))
    (copy / "test" / "test_000" / "vocals.wav").unlink()
    assert differences(set_fingerprint(copy), recorded["1"]) == ["test/test_000/vocals.wav: missing", "stemunet_synthetic.json: bytes differ"]


def test_the_fingerprints_let_last_bit_rounding_of_every_sample_pass(generated_sets, recorded, tmp_path) -> None:
    """What another CPU's rounding does to float32 audio: every sample of every file moved by up to
    two units in the last place. The fingerprints must not see it."""
    rng = np.random.default_rng(0)
    copy = shutil.copytree(generated_sets[2], tmp_path / "copy")
    for path in copy.rglob("*.wav"):
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
        ulps = rng.integers(-2, 3, size=audio.shape).astype(np.float32)
        sf.write(path, audio + ulps * np.spacing(audio), rate, subtype="FLOAT")
    assert differences(set_fingerprint(copy), recorded["2"]) == []
