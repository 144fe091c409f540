"""The synthetic sets stay byte-identical: a small set of each design version is regenerated and
its files' digest compared with the digest the generator gave when these constants were recorded.

A change that alters the audio on purpose must bump ``FORMAT_VERSION`` (cached sets are keyed on
it) and record the new digests here; a refactor must leave them as they are. The constants were
recorded with this project's pinned numpy/scipy; another numpy or scipy may round differently.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from stemunet.synthetic import SyntheticSpec, generate_synthetic_dataset, read_synthetic_manifest

# 2 train + 1 test songs of 2 s, seed 0: the v2 set holds sampled and additive drums, basses and
# other parts (asserted below), so both renderers of every part are covered.
SMALL = {1: SyntheticSpec(n_train_tracks=2, n_test_tracks=1, track_seconds=2.0, seed=0, version=1),
         2: SyntheticSpec(n_train_tracks=2, n_test_tracks=1, track_seconds=2.0, seed=0, version=2)}
DIGESTS = {
    1: "980e9100cba80cce38d9adfaec56e3f0438b22b63dd93ca7d2fb90ba9a69ab2d",
    2: "6fadfd9f67a3f877d5c60f6361819e90da449aa4495b53496f5952e01383572a",
}


def set_digest(root: Path) -> str:
    """sha256 over every file of ``root``: its relative path and the sha256 of its bytes, in path order."""
    combined = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            combined.update(path.relative_to(root).as_posix().encode() + b"\0")
            combined.update(hashlib.sha256(path.read_bytes()).digest())
    return combined.hexdigest()


@pytest.mark.parametrize("version", sorted(SMALL))
def test_generated_sets_are_byte_identical_to_the_recorded_ones(version: int, tmp_path: Path) -> None:
    root = generate_synthetic_dataset(tmp_path / f"v{version}", SMALL[version], progress=False)
    assert len([p for p in root.rglob("*") if p.is_file()]) == 3 * 5 + 2  # songs x (mixture + 4 stems), manifest, setup
    if version == 2:
        info = read_synthetic_manifest(root)["track_info"].values()
        for part in ("drums", "bass", "other"):
            assert {"sampled" in str(song[part]) for song in info} == {True, False}, part
    assert set_digest(root) == DIGESTS[version]
