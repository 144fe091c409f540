"""Design 3 of the synthetic set: each sampled part's SoundFont drawn per song from every installed one.

The tests never depend on which SoundFonts this machine has: the registry's search folders are
pointed at a temporary folder holding a second SoundFont made here from pretty_midi's TimGM6mb.sf2
(its samples' polarity inverted, so it is another file that sounds measurably different), under
the name of a known one.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from stemunet.config import STEM_NAMES, DataConfig
from stemunet.data.synthetic import (SyntheticSpec, generate_synthetic_dataset, read_synthetic_manifest, render_track,
                                     singing, soundfont_registry, synthetic_set_name)
from stemunet.data.synthetic.soundfont import SoundFontError, default_soundfont_path
from stemunet.data.synthetic.soundfont_registry import KNOWN_SOUNDFONTS, available_soundfonts
from stemunet.lab.exploration import ExploreConfig, explore_dataset

V3 = SyntheticSpec(n_train_tracks=2, n_test_tracks=1, track_seconds=2.0, seed=0, version=3)
SECOND = "FluidR3_GM.sf2"  # the known name the test's second SoundFont is installed under
N_SONGS = 6


def _inverted_soundfont(source: Path, target: Path) -> None:
    """``source``'s bytes with every 16-bit sample of its ``smpl`` chunk negated: a valid SoundFont
    with the same presets whose notes come out with inverted polarity."""
    data = bytearray(source.read_bytes())
    assert data[:4] == b"RIFF" and data[8:12] == b"sfbk"
    position = 12
    while position < len(data):
        kind, size = data[position:position + 4], struct.unpack("<I", data[position + 4:position + 8])[0]
        if kind == b"LIST" and data[position + 8:position + 12] == b"sdta":
            inner = position + 12
            while inner < position + 8 + size:
                sub, sub_size = data[inner:inner + 4], struct.unpack("<I", data[inner + 4:inner + 8])[0]
                if sub == b"smpl":
                    samples = np.frombuffer(bytes(data[inner + 8:inner + 8 + sub_size]), dtype="<i2").astype(np.int32)
                    data[inner + 8:inner + 8 + sub_size] = np.clip(-samples, -32768, 32767).astype("<i2").tobytes()
                    target.write_bytes(bytes(data))
                    return
                inner += 8 + sub_size + (sub_size & 1)
        position += 8 + size + (size & 1)
    raise AssertionError(f"{source}: no smpl chunk")


@pytest.fixture(scope="module")
def font_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("soundfonts")
    _inverted_soundfont(default_soundfont_path(), folder / SECOND)
    return folder


@pytest.fixture
def two_fonts(font_folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The registry finds TimGM6mb (pretty_midi) and the test's second SoundFont, nothing else."""
    monkeypatch.setattr(soundfont_registry, "SEARCH_FOLDERS", (str(font_folder),))
    return font_folder


@pytest.fixture(scope="module")
def songs(font_folder: Path) -> dict[str, list]:
    """The first songs of V3 rendered with one SoundFont (TimGM6mb), with two, and as version 2;
    without Sinsy's singer (as where pysinsy is missing: tests/test_synthetic_singer.py covers it)."""
    rendered = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(singing, "_voice_path", lambda: None)
        for pool, folders in (("one", ()), ("two", (str(font_folder),))):
            patch.setattr(soundfont_registry, "SEARCH_FOLDERS", folders)
            rendered[pool] = [render_track(V3, "train", index) for index in range(N_SONGS)]
    rendered["v2"] = [render_track(replace(V3, version=2), "train", index) for index in range(N_SONGS)]
    return rendered


def _sampled(part_info: dict) -> bool:
    return "sampled" in str({key: value for key, value in part_info.items() if key != "soundfont"})


def test_the_registry_finds_known_sf2_files_only_with_their_licences(tmp_path: Path) -> None:
    (tmp_path / "MuseScore_General_Full.sf3").write_bytes(b"compressed: not used")
    (tmp_path / "Unknown.sf2").write_bytes(b"not a known SoundFont")
    found = available_soundfonts((str(tmp_path),))
    assert [font.name for font in found] == ["TimGM6mb"]  # pretty_midi's, wherever the folders point
    shutil.copyfile(default_soundfont_path(), tmp_path / "MuseScore_General.sf2")
    found = available_soundfonts((str(tmp_path / "elsewhere"), str(tmp_path)))
    assert [(font.name, font.path.name, font.licence) for font in found] == [
        ("TimGM6mb", "TimGM6mb.sf2", "GPL-2.0"), ("MuseScore_General", "MuseScore_General.sf2", "MIT (parts public domain or CC0)")]
    assert {known.name for known in KNOWN_SOUNDFONTS} == {"TimGM6mb", "FluidR3_GM", "MuseScore_General"}


def test_v3_draws_each_sampled_parts_soundfont_from_the_installed_ones_and_names_it(songs) -> None:
    licences = {"TimGM6mb.sf2": "GPL-2.0", SECOND: "MIT"}
    used = []
    for _, info in songs["two"]:
        for part in ("drums", "bass", "other"):
            if _sampled(info[part]):
                assert info[part]["soundfont"] == {"file": info[part]["soundfont"]["file"],
                                                   "licence": licences[info[part]["soundfont"]["file"]]}
                used.append(info[part]["soundfont"]["file"])
            else:
                assert "soundfont" not in info[part], (part, info[part])  # an additive part names none
    assert set(used) == set(licences), used  # both SoundFonts play, across a few songs
    assert "soundfont" not in str([info for _, info in songs["v2"]])  # v2's manifest is as it was


def test_v3_with_one_soundfont_is_v2_and_another_soundfont_changes_only_what_it_plays(songs) -> None:
    for (stems_one, info_one), (stems_v2, info_v2) in zip(songs["one"], songs["v2"]):
        for stem in STEM_NAMES:  # the SoundFont draw perturbs no other draw of design 2
            assert np.array_equal(stems_one[stem], stems_v2[stem]), stem
        assert {part: {k: v for k, v in info.items() if k not in ("soundfont", "singer")} if isinstance(info, dict) else info
                for part, info in info_one.items()} == info_v2
    for (_, info_two), (_, info_v2) in zip(songs["two"], songs["v2"]):
        # Every part sampled or additive as in v2, on the same programs (the second SoundFont has
        # TimGM6mb's preset names): the SoundFont draw took nothing from the other streams.
        assert {part: {k: v for k, v in info_two[part].items() if k not in ("soundfont", "singer")}
                for part in ("drums", "bass", "other", "vocals")} == \
            {part: info_v2[part] for part in ("drums", "bass", "other", "vocals")}
    songs_with_second = 0
    for (stems_one, _), (stems_two, info_two) in zip(songs["one"], songs["two"]):
        parts_from_second = [part for part in ("drums", "bass", "other")
                             if info_two[part].get("soundfont", {}).get("file") == SECOND]
        songs_with_second += bool(parts_from_second)
        for part in parts_from_second:  # really played from the second file
            assert not np.allclose(stems_one[part], stems_two[part], atol=1e-3), part
        if not parts_from_second:
            for stem in STEM_NAMES:
                assert np.array_equal(stems_one[stem], stems_two[stem]), stem
    assert 0 < songs_with_second < N_SONGS  # both cases were checked


def test_a_v3_set_is_deterministic_has_v2s_layout_and_names_its_soundfonts(two_fonts: Path, tmp_path: Path) -> None:
    first = generate_synthetic_dataset(tmp_path / "a", V3, progress=False)
    second = generate_synthetic_dataset(tmp_path / "b", V3, progress=False)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    for path in files:
        assert (first / path).read_bytes() == (second / path).read_bytes(), path
    v2 = generate_synthetic_dataset(tmp_path / "v2", replace(V3, version=2), progress=False)
    assert files == sorted(p.relative_to(v2) for p in v2.rglob("*") if p.is_file())
    for folder in sorted(p.parent for p in first.rglob("mixture.wav")):
        stems = sum(sf.read(folder / f"{stem}.wav", dtype="float64")[0] for stem in STEM_NAMES)
        assert np.max(np.abs(sf.read(folder / "mixture.wav", dtype="float64")[0] - stems)) < 1e-7, folder
    manifest = read_synthetic_manifest(first)
    assert [(font["file"], font["licence"], font["sha256"]) for font in manifest["samples"]["soundfonts"]] == [
        ("TimGM6mb.sf2", "GPL-2.0", hashlib.sha256(default_soundfont_path().read_bytes()).hexdigest()),
        (SECOND, "MIT", hashlib.sha256((two_fonts / SECOND).read_bytes()).hexdigest())]
    named = {part["soundfont"]["file"] for song in manifest["track_info"].values() for part in song.values()
             if isinstance(part, dict) and "soundfont" in part}
    assert named and named <= {"TimGM6mb.sf2", SECOND}
    # The explore notebook's table of how the songs were made names each sampled part's SoundFont.
    songs = explore_dataset(ExploreConfig(data=DataConfig(musdb_root=str(first))), progress=False).synthetic_songs()
    for (_, track), row in songs.iterrows():
        for part in ("drums", "bass", "other"):
            font = manifest["track_info"][track][part].get("soundfont")
            assert row[part].endswith(f" ({Path(font['file']).stem})") if font else not row[part].endswith(")"), (track, part, row[part])


def test_the_installed_soundfonts_key_the_v3_cache(two_fonts: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    name = synthetic_set_name(V3)
    assert name not in (synthetic_set_name(replace(V3, version=2)), synthetic_set_name(replace(V3, seed=1)))
    assert synthetic_set_name(V3) == name
    monkeypatch.setattr(soundfont_registry, "SEARCH_FOLDERS", ())  # another machine, TimGM6mb only
    assert synthetic_set_name(V3) != name
    edited = tmp_path / "edited"
    edited.mkdir()
    shutil.copyfile(two_fonts / SECOND, edited / SECOND)
    monkeypatch.setattr(soundfont_registry, "SEARCH_FOLDERS", (str(edited),))
    assert synthetic_set_name(V3) == name  # the same bytes, found elsewhere: the same set
    with open(edited / SECOND, "ab") as handle:
        handle.write(b"\0" * 4)
    assert synthetic_set_name(V3) != name  # the same name, other bytes: another set


def test_v3_without_any_soundfont_says_how_in_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def no_pretty_midi() -> Path:
        raise SoundFontError("pretty_midi is not installed")

    monkeypatch.setattr(soundfont_registry, "SEARCH_FOLDERS", ())
    monkeypatch.setattr(soundfont_registry, "default_soundfont_path", no_pretty_midi)
    with pytest.raises(SoundFontError, match="v3 found no SoundFont: install") as error:
        generate_synthetic_dataset(tmp_path / "set", V3, progress=False)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "set").exists()  # refused before any work


def test_v3_draws_also_from_the_users_own_soundfont(two_fonts: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    own = tmp_path / "mine.sf2"
    shutil.copyfile(two_fonts / SECOND, own)
    monkeypatch.setattr(soundfont_registry, "SEARCH_FOLDERS", ())
    pool = soundfont_registry.soundfont_pool(str(own))
    assert [(font.path.name, font.licence) for font in pool] == [("TimGM6mb.sf2", "GPL-2.0"), ("mine.sf2", "unknown (the user's own file)")]
    assert len(soundfont_registry.soundfont_pool(str(default_soundfont_path()))) == 1  # an installed one is not drawn twice
    with pytest.raises(SoundFontError, match="missing.sf2: no such"):
        soundfont_registry.soundfont_pool(str(tmp_path / "missing.sf2"))


def test_a_model_bundled_from_a_v3_run_says_its_samples_came_from_several_soundfonts() -> None:
    import importlib.util

    script = Path(__file__).resolve().parents[1] / "scripts" / "bundle_pretrained.py"
    module_spec = importlib.util.spec_from_file_location("bundle_pretrained", script)
    bundle = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(bundle)
    assert "from TimGM6mb.sf2" in bundle.training_data({"synthetic_version": 2, "synthetic_soundfont": ""})
    v3 = bundle.training_data({"synthetic_version": 3, "synthetic_soundfont": ""})
    assert v3.startswith("stemunet synthetic set v3") and "installed General MIDI SoundFonts" in v3 and "TimGM6mb" not in v3
