"""The synthetic set's instrument-family stems (``SyntheticSpec.family_stems``): one stem per family
of the "other" part beside the four, each its instrument's own sound, summing to ``other``; the
four stems and the mixture as without them.

Songs of the spec below (2 s, seed 0, design 2) that the tests lean on (asserted where used):
train_002 plays two *sampled* families (a pad and a piano, each rendered alone from the part's
SoundFont) through a chain with saturation; train_003 plays one family only.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from stemunet.config import STEM_NAMES
from stemunet.data.synthetic import (FAMILY_NAMES, MANIFEST_NAME, SyntheticSpec, generate_synthetic_dataset, production,
                                     read_synthetic_manifest, render_track, synthetic_set_name)
from stemunet.data.synthetic.other import _GM_OTHER, ADDITIVE_FAMILY, PROGRAM_FAMILY
from stemunet.data.synthetic.soundfont import PartSampler, default_soundfont_path

FAMILIES = SyntheticSpec(n_train_tracks=4, n_test_tracks=1, track_seconds=2.0, seed=0, family_stems=True)
PLAIN = replace(FAMILIES, family_stems=False)


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("synthetic-families")
    return {"families": generate_synthetic_dataset(folder / "families", FAMILIES, progress=False),
            "plain": generate_synthetic_dataset(folder / "plain", PLAIN, progress=False)}


def _track_folders(root: Path) -> list[Path]:
    return sorted(p for subset in ("train", "test") for p in (root / subset).iterdir())


def _read(path: Path) -> np.ndarray:
    return sf.read(path, dtype="float64", always_2d=True)[0]


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(audio, dtype=np.float64) ** 2)))


def test_every_track_holds_every_family_as_a_stem_of_the_same_format(sets) -> None:
    root = sets["families"]
    expected = {f"{name}.wav" for name in ("mixture", *STEM_NAMES, *FAMILY_NAMES)}
    folders = _track_folders(root)
    assert len(folders) == 5
    for folder in folders:
        assert {p.name for p in folder.iterdir()} == expected, folder
        for name in FAMILY_NAMES:
            info = sf.info(str(folder / f"{name}.wav"))
            assert (info.samplerate, info.channels, info.frames, info.subtype) == (44100, 2, FAMILIES.n_samples, "FLOAT")
    manifest = read_synthetic_manifest(root)
    assert manifest["family_stems"] == list(FAMILY_NAMES)
    assert manifest["stems"] == list(STEM_NAMES) and manifest["spec"]["family_stems"] is True
    assert "family_stems" not in read_synthetic_manifest(sets["plain"])  # a set without them is as it was
    assert "family_stems" not in read_synthetic_manifest(sets["plain"])["spec"]


def test_the_families_sum_to_other(sets) -> None:
    for folder in _track_folders(sets["families"]):
        other = _read(folder / "other.wav")
        total = sum(_read(folder / f"{name}.wav") for name in FAMILY_NAMES)
        assert np.max(np.abs(other - total)) <= 1e-6, folder.name


def test_the_families_the_manifest_names_play_and_the_others_are_silent(sets) -> None:
    track_info = read_synthetic_manifest(sets["families"])["track_info"]
    n_played = []
    for folder in _track_folders(sets["families"]):
        played = set(track_info[folder.name]["other"]["families"].values())
        assert played and played <= set(FAMILY_NAMES)
        other_rms = _rms(_read(folder / "other.wav"))
        for name in FAMILY_NAMES:
            audio = _read(folder / f"{name}.wav")
            if name in played:
                assert _rms(audio) > 10 ** (-40 / 20) * other_rms, (folder.name, name)  # within 40 dB of other
            else:
                assert not audio.any(), (folder.name, name)  # digital silence
        n_played.append(len(played))
    assert 1 in n_played and max(n_played) >= 2, n_played  # one family is other itself; two split it


def test_the_four_stems_and_the_mixture_are_those_of_the_set_without_families(sets) -> None:
    for folder in _track_folders(sets["plain"]):
        twin = sets["families"] / folder.relative_to(sets["plain"])
        for name in ("mixture", *STEM_NAMES):
            assert (twin / f"{name}.wav").read_bytes() == (folder / f"{name}.wav").read_bytes(), (folder.name, name)
    assert (sets["families"] / "musdb_setup.yaml").read_bytes() == (sets["plain"] / "musdb_setup.yaml").read_bytes()
    plain_info = read_synthetic_manifest(sets["plain"])["track_info"]
    for name, info in read_synthetic_manifest(sets["families"])["track_info"].items():
        info["other"].pop("families")
        assert info == plain_info[name]  # the same songs, with their families named


@pytest.mark.parametrize("version", [1, 2])
def test_render_track_returns_the_families_beside_the_four_stems(version: int) -> None:
    spec = replace(FAMILIES, version=version)
    stems, info = render_track(spec, "train", 2)
    plain, plain_info = render_track(replace(spec, family_stems=False), "train", 2)
    assert set(stems) == {*STEM_NAMES, *FAMILY_NAMES} and set(plain) == set(STEM_NAMES)
    for name in STEM_NAMES:
        np.testing.assert_array_equal(stems[name], plain[name])
    for name in FAMILY_NAMES:
        assert stems[name].shape == (spec.n_samples, 2) and stems[name].dtype == np.float32
    total = sum(stems[name].astype(np.float64) for name in FAMILY_NAMES)
    assert np.max(np.abs(stems["other"] - total)) <= 1e-6
    played = set(info["other"]["families"].values())
    assert len(played) == 2 and "families" not in plain_info["other"]
    if version == 2:  # two sampled families, each rendered alone, through a saturator
        assert info["other"]["families"] == {"pad": "pads", "keys": "piano"}
        assert all(kind.startswith("sampled") for kind in info["other"]["instruments"].values())
        assert "saturation" in info["production"]["other"]
    # Each family is its own instrument, not a share of other: neither is a multiple of other
    # (least squares leaves most of it), and they differ from each other.
    other = stems["other"].astype(np.float64).ravel()
    for name in played:
        family = stems[name].astype(np.float64).ravel()
        scale = family @ other / (other @ other)
        assert _rms(family - scale * other) > 0.2 * _rms(family), name
    first, second = (stems[name].astype(np.float64).ravel() for name in sorted(played))
    assert abs(first @ second) / np.sqrt((first @ first) * (second @ second)) < 0.5


def test_a_song_of_one_family_gives_it_all_of_other() -> None:
    stems, info = render_track(FAMILIES, "train", 3)
    (family,) = set(info["other"]["families"].values())
    np.testing.assert_array_equal(stems[family], stems["other"])
    assert not any(stems[name].any() for name in FAMILY_NAMES if name != family)


def test_a_set_without_the_family_files_is_not_taken_for_one_with_them(tmp_path: Path) -> None:
    small = replace(FAMILIES, n_train_tracks=1, n_test_tracks=0, track_seconds=1.0)
    assert synthetic_set_name(small) != synthetic_set_name(replace(small, family_stems=False))  # another cache entry
    old = generate_synthetic_dataset(tmp_path / "old", replace(small, family_stems=False), progress=False)
    with pytest.raises(ValueError, match="different or incomplete"):
        generate_synthetic_dataset(old, small, progress=False)
    # A set whose manifest says it has them but which lacks a family file is incomplete too.
    new = generate_synthetic_dataset(tmp_path / "new", small, progress=False)
    assert generate_synthetic_dataset(new, small, progress=False) == new  # complete: reused
    (new / "train" / "train_000" / "brass.wav").unlink()
    with pytest.raises(ValueError, match="different or incomplete"):
        generate_synthetic_dataset(new, small, progress=False)
    assert json.loads((new / MANIFEST_NAME).read_text())["family_stems"] == list(FAMILY_NAMES)


def test_every_role_and_program_of_other_is_one_family() -> None:
    programs = {program for choices in _GM_OTHER.values() for program in choices} | {0}  # 0: a SoundFont's fallback
    assert programs <= set(PROGRAM_FAMILY)
    assert set(ADDITIVE_FAMILY) == set(_GM_OTHER)
    assert set(PROGRAM_FAMILY.values()) | set(ADDITIVE_FAMILY.values()) == set(FAMILY_NAMES)
    assert len(set(FAMILY_NAMES)) == len(FAMILY_NAMES) and not set(FAMILY_NAMES) & {*STEM_NAMES, "mixture"}
    with pytest.raises(ValueError, match="family_stems"):
        SyntheticSpec(family_stems="yes")


def test_the_production_chain_keeps_the_parts_summing_to_the_stem_and_the_stem_as_it_was() -> None:
    rate, rng = 22050, np.random.default_rng(0)
    t = np.arange(rate) / rate
    parts = np.stack([np.stack([0.5 * np.sin(2 * np.pi * 220 * t)] * 2),
                      np.stack([0.3 * np.sign(np.sin(2 * np.pi * 3 * t)) * rng.standard_normal(rate)] * 2)])
    stem = parts.sum(axis=0)
    processes = [lambda x, r, **kw: production.equalise(x, rate, r, high_pass_hz=(60.0, 80.0), **kw),
                 lambda x, r, **kw: production.compress(x, rate, r, **kw),
                 lambda x, r, **kw: production.saturate(x, r, **kw),
                 lambda x, r, **kw: production.tempo_delay(x, rate, 0.25, r, **kw)]
    for seed, process in enumerate(processes):
        alone, together, its_parts = stem.copy(), stem.copy(), parts.copy()
        process(alone, np.random.default_rng(seed))
        process(together, np.random.default_rng(seed), parts=its_parts)
        np.testing.assert_array_equal(together, alone)
        assert np.max(np.abs(its_parts.sum(axis=0) - together)) < 1e-12, seed
        stem, parts = together, its_parts
    # The saturator's share keeps each part's own waveform: the sine stays (mostly) a sine.
    sine = parts[0, 0, rate // 2:]
    spectrum = np.abs(np.fft.rfft(sine * np.hanning(sine.size)))
    assert np.argmax(spectrum) == round(220 * sine.size / rate)


def test_the_sampler_renders_one_instrument_as_it_sounds_in_the_part() -> None:
    rate = 22050
    sampler = PartSampler(default_soundfont_path(), rate, rate)
    piano, strings = sampler.instrument(0, pan=-0.5), sampler.instrument(48, pan=0.5)
    notes = np.random.default_rng(1)
    for k in range(40):
        sampler.note([piano, strings][k % 2], int(notes.integers(0, rate)), int(notes.integers(500, 8000)),
                     int(notes.integers(48, 72)), float(notes.uniform(0.3, 1.0)))
    whole = sampler.render()
    alone = [sampler.render([piano]), sampler.render([strings])]
    assert all(_rms(part) > 0.01 for part in alone)
    assert np.max(np.abs(whole - alone[0] - alone[1])) < 1e-5
    np.testing.assert_array_equal(sampler.render(), whole)  # rendering again gives the same samples
