"""``dataset: folders``: MoisesDB-, Slakh- and plain layouts in tiny data sets; stem assignment,
splits, frame-range reading, chunk data sets, and every bad input refused before training with a
one-line error naming the file, writing nothing into the data folders."""

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from stemunet.config import ConfigError, DataConfig, StemSet
from stemunet.data.chunks import RandomChunkDataset, SequentialChunkDataset
from stemunet.data.folders import FolderTrack, check_folders_dataset, pattern_matches
from stemunet.data.stem_sets import TrackError
from stemunet.data.tracks import (check_dataset, check_equal_lengths, dataset_of, iter_track_blocks, list_tracks,
                                  read_stems, read_track, read_track_excerpt, resolve_root, stream_infos, track_label,
                                  track_length)

RATE = 8000
FOUR_WITH_REST = StemSet.of(["vocals", "drums", "bass", "other"], {"other": ["rest"]})


def noise(seed: int, seconds: float = 1.0, channels: int = 2) -> np.ndarray:
    """Quiet noise ``(channels, n)`` that 16-bit files store exactly enough for sums to hold."""
    return np.random.default_rng(seed).uniform(-0.1, 0.1, (channels, int(seconds * RATE))).astype(np.float32)


def write(path, audio: np.ndarray, rate: int = RATE, subtype: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio.T, rate, subtype=subtype or ("FLOAT" if path.suffix == ".wav" else None))


def make_tracks(root, layout: dict[str, dict[str, np.ndarray]]) -> None:
    """``layout``: {track folder relative to root: {file relative to the track: audio}}."""
    for track, files in layout.items():
        for name, audio in files.items():
            write(root / track / name, audio)


def snapshot(root) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(root.rglob("*"))}


def folders(root, **options) -> DataConfig:
    return DataConfig(dataset="folders", data_root=str(root), **options)


# ---------------------------------------------------------------- the stem_map rule


def test_patterns_match_a_path_component_the_whole_path_or_slakh_metadata():
    from pathlib import PurePosixPath as P

    assert pattern_matches("*vox*", P("lead_vox.wav")) and pattern_matches("*vox*", P("VOX/take1.wav"))
    assert pattern_matches("vocals", P("vocals.wav")) and pattern_matches("vocals", P("vocals/ab12.wav"))
    assert not pattern_matches("vocals", P("backing_vocals.wav"))
    assert pattern_matches("vocals*/**", P("vocals_lead/a/b.flac")) and not pattern_matches("vocals*/**", P("x/vocals/a.wav"))
    assert pattern_matches("stems/S0[0-3].*", P("stems/S02.flac")) and not pattern_matches("stems/S0[0-3].*", P("stems/S04.flac"))
    piano, drums = {"inst_class": "Piano", "program_num": 0, "is_drum": False}, {"inst_class": "Drums", "program_num": 0, "is_drum": True}
    assert pattern_matches("inst_class:piano", P("stems/S00.flac"), piano)
    assert pattern_matches("program:0-7", P("stems/S00.flac"), piano) and not pattern_matches("program:0-7", P("stems/S01.flac"), drums)
    assert pattern_matches("is_drum:true", P("stems/S01.flac"), drums) and not pattern_matches("inst_class:Piano", P("S00.flac"))
    with pytest.raises(ConfigError, match="program:low"):
        pattern_matches("program:low", P("stems/S00.flac"), piano)


# ---------------------------------------------------------------- MoisesDB: nested per-stem folders, split lists


@pytest.fixture(scope="module")
def moises(tmp_path_factory):
    """MoisesDB's layout (``<track uuid>/<stem>/<file uuid>.wav``, two vocal takes summed) with no
    splits of its own: split lists name the tracks."""
    base = tmp_path_factory.mktemp("moises")
    root = base / "moisesdb"
    audio = {"0a1b": {"vocals/9f2e.wav": noise(1), "vocals/77c1.wav": noise(2), "drums/5d0a.wav": noise(3),
                      "bass/e4b7.wav": noise(4), "guitar/c3d2.wav": noise(5)},
             "1c2d": {"vocals/aa01.wav": noise(6, 1.5), "drums/bb02.wav": noise(7, 1.5), "bass/cc03.wav": noise(8, 1.5)},
             "2e3f": {"vocals/dd04.wav": noise(9), "drums/ee05.wav": noise(10), "bass/ff06.wav": noise(11)}}
    make_tracks(root, audio)
    (root / "0a1b" / "data.json").write_text("{}")  # MoisesDB's metadata: not audio, ignored
    (base / "train.txt").write_text("# MoisesDB training tracks\n0a1b\n\n1c2d\n")
    (base / "valid.txt").write_text("2e3f\n")
    return folders(root, split_lists={"train": str(base / "train.txt"), "valid": str(base / "valid.txt")}), audio


def test_moisesdb_layout_nested_stem_folders_are_stems_and_their_files_are_summed(moises):
    data, audio = moises
    train = list_tracks(data, "train", "train")
    assert [t.name for t in train] == ["0a1b", "1c2d"] and [t.name for t in list_tracks(data, "train", "valid")] == ["2e3f"]
    assert isinstance(train[0], FolderTrack) and set(train[0].stem_names) == {"vocals", "drums", "bass", "guitar"}
    assert list_tracks(data, "test") == []
    targets, rate = read_stems(train[0], stems=FOUR_WITH_REST)
    files = audio["0a1b"]
    assert rate == RATE and targets.shape == (4, 2, RATE)
    np.testing.assert_allclose(targets[0], files["vocals/9f2e.wav"] + files["vocals/77c1.wav"], atol=1e-7)
    np.testing.assert_array_equal(targets[1], files["drums/5d0a.wav"])
    np.testing.assert_allclose(targets[3], files["guitar/c3d2.wav"], atol=1e-7)  # the rest: the guitar
    assert check_folders_dataset(data, FOUR_WITH_REST) == []


def test_moisesdb_with_a_stem_map_and_a_catch_all(moises):
    data, audio = moises
    mapped = data.replace(stem_map={"vocals*/**": "vocals", "*drum*": "drums"}, unmatched_files="other")
    track = list_tracks(mapped, "train", "train")[0]
    assert set(track.stem_names) == {"vocals", "drums", "other"}
    other, _ = read_stems(track, stem_names=["other"], stems=StemSet.of(["vocals", "other"]))
    np.testing.assert_allclose(other[0], audio["0a1b"]["bass/e4b7.wav"] + audio["0a1b"]["guitar/c3d2.wav"], atol=1e-7)


def test_reading_a_frame_range_equals_slicing_the_whole(moises):
    data, _ = moises
    track = list_tracks(data, "train", "train")[1]
    whole, _ = read_stems(track, stems=FOUR_WITH_REST)
    part, _ = read_stems(track, 3000, 5000, stems=FOUR_WITH_REST)
    np.testing.assert_array_equal(part, whole[..., 3000:8000])
    mixture, stems, _ = read_track(track, FOUR_WITH_REST)
    excerpt = read_track_excerpt(track, 0.5, 0.25, stems=FOUR_WITH_REST)
    np.testing.assert_array_equal(excerpt.mixture, mixture[:, 4000:6000])
    np.testing.assert_array_equal(excerpt.stems, stems[..., 4000:6000])
    blocks = np.concatenate(list(iter_track_blocks(track, 5000, FOUR_WITH_REST)), axis=-1)
    np.testing.assert_array_equal(blocks[0], mixture)
    np.testing.assert_allclose(blocks[1:], stems, atol=1e-7)
    np.testing.assert_allclose(mixture, stems.sum(axis=0), atol=1e-6)  # no mixture file: the sum of the stems


def test_a_folder_track_answers_what_the_library_asks_of_a_track(moises):
    data, _ = moises
    track = list_tracks(data, "train", "train")[1]
    assert track_length(track) == (12000, RATE)
    infos, problems = stream_infos(track)
    assert problems == [] and infos[0].name == "mixture" and {i.name for i in infos[1:]} == {"vocals", "drums", "bass"}
    check_equal_lengths(track)
    assert track_label(track) == "train/1c2d" and dataset_of(track) == (str(resolve_root(data).resolve()), "train")
    assert track.path == str(track.folder)


def test_chunk_data_sets_of_folder_tracks_have_one_row_per_target(moises):
    data, _ = moises
    tracks = list_tracks(data, "train", "train")
    for cache in (False, True):
        dataset = RandomChunkDataset(tracks, 0.5, RATE, 2, 4, seed=1, cache=cache, stems=FOUR_WITH_REST)
        mixture, stems = dataset[(0, 2)]
        assert stems.shape == (4, 2, 4000)
        torch.testing.assert_close(mixture, stems.sum(dim=0))
    sequential = SequentialChunkDataset(list_tracks(data, "train", "valid"), 0.5, 16000, 1, stems=StemSet.of(["vocals", "rest"], {"rest": ["rest"]}))
    assert sequential[0][1].shape == (2, 1, 8000) and len(sequential) == 2


# ---------------------------------------------------------------- Slakh: stems/Sxx.flac, metadata.yaml, mix.flac, valid_root


@pytest.fixture(scope="module")
def slakh(tmp_path_factory):
    base = tmp_path_factory.mktemp("slakh")
    instruments = {"S00": {"inst_class": "Piano", "program_num": 0, "is_drum": False},
                   "S01": {"inst_class": "Bass", "program_num": 33, "is_drum": False},
                   "S02": {"inst_class": "Drums", "program_num": 0, "is_drum": True},
                   "S03": {"inst_class": "Guitar", "program_num": 30, "is_drum": False}}
    for split, track, seed in (("train", "Track00001", 0), ("train", "Track00002", 10), ("validation", "Track01501", 20)):
        folder = base / "slakh2100" / split / track
        stems = [noise(seed + i) for i in range(4)]
        for name, audio in zip(instruments, stems):
            write(folder / "stems" / f"{name}.flac", audio, subtype="PCM_24")
        read = [sf.read(folder / "stems" / f"{name}.flac", dtype="float64")[0].T for name in instruments]
        write(folder / "mix.flac", np.sum(read, axis=0), subtype="PCM_24")
        (folder / "MIDI").mkdir()
        (folder / "MIDI" / "S00.mid").write_bytes(b"MThd")
        (folder / "metadata.yaml").write_text(yaml.safe_dump({"audio_dir": "stems", "stems": {
            **instruments, "S04": {"inst_class": "Strings", "program_num": 48, "is_drum": False, "audio_rendered": False}}}))
    stem_map = {"inst_class:Piano": "piano", "program:32-39": "bass", "is_drum:true": "drums"}
    return folders(base / "slakh2100", stem_map=stem_map, unmatched_files="other", valid_root=str(base / "slakh2100" / "validation"))


def test_slakh_layout_stems_by_metadata_and_its_mix_is_the_mixture(slakh):
    train = list_tracks(slakh, "train", "train")
    assert [t.name for t in train] == ["Track00001", "Track00002"]
    assert [t.name for t in list_tracks(slakh, "train", "valid")] == ["Track01501"]
    track = train[0]
    assert {stem: [p.name for p in paths] for stem, paths in track.files.items()} == {
        "piano": ["S00.flac"], "bass": ["S01.flac"], "drums": ["S02.flac"], "other": ["S03.flac"]}
    assert track.mixture_file.name == "mix.flac"
    mixture, stems, rate = read_track(track, StemSet.of(["piano", "bass", "drums", "other"]))
    np.testing.assert_array_equal(mixture, sf.read(track.folder / "mix.flac", dtype="float32", always_2d=True)[0].T)
    np.testing.assert_allclose(mixture, stems.sum(axis=0), atol=1e-5)
    assert check_folders_dataset(slakh, StemSet.of(["piano", "bass", "drums", "other"])) == []
    part, _ = read_stems(track, 2500, 1000, stems=StemSet.of(["piano", "bass", "drums", "other"]))
    np.testing.assert_array_equal(part, stems[..., 2500:3500])
    # program ranges never take a drum kit, whatever its program number
    by_program = slakh.replace(stem_map={"program:0-7": "piano", "program:32-39": "bass", "is_drum:true": "drums"})
    assert [p.name for p in list_tracks(by_program, "train", "train")[0].files["piano"]] == ["S00.flac"]


# ---------------------------------------------------------------- plain folders: sub-folder splits, formats


@pytest.fixture
def plain(tmp_path):
    root = tmp_path / "plain"
    layout = {}
    for split, names in (("train", ["one", "two"]), ("valid", ["three"]), ("test", ["four"])):
        for number, name in enumerate(names):
            layout[f"{split}/{name}"] = {"vocals.wav": noise(number), "drums.flac": noise(number + 10),
                                         "bass.aiff": noise(number + 20), "other.wav": noise(number + 30)}
    make_tracks(root, layout)
    return root


def test_plain_folders_split_by_sub_folders_list_files_and_valid_root(plain, tmp_path):
    data = folders(plain)
    assert resolve_root(data) == plain
    assert [t.name for t in list_tracks(data, "train", "train")] == ["one", "two"]
    assert [t.name for t in list_tracks(data, "train")] == ["one", "two", "three"]
    assert [(t.name, t.subset) for t in list_tracks(data, "test")] == [("four", "test")]
    assert list_tracks(data, "train", "train")[0].stem_names == ("bass", "drums", "other", "vocals")
    assert check_dataset(data) == []
    (tmp_path / "valid.txt").write_text("# held out\ntrain/two\n")
    listed = data.replace(split_lists={"valid": str(tmp_path / "valid.txt")})
    assert [t.name for t in list_tracks(listed, "train", "valid")] == ["two"]
    with pytest.raises(ConfigError, match="both a train and a valid track"):
        check_folders_dataset(listed)
    overridden = data.replace(valid_root=str(plain / "test"))
    assert [t.name for t in list_tracks(overridden, "train", "valid")] == ["four"]
    with pytest.raises(ConfigError, match=r"split_lists: \['validation'\]"):
        list_tracks(data.replace(split_lists={"validation": "x.txt"}), "train")


def test_no_validation_tracks_is_an_error_saying_how_to_give_them(plain):
    import shutil

    shutil.rmtree(plain / "valid")
    with pytest.raises(ConfigError, match=r"no validation tracks.*valid.*valid_root.*split_lists"):
        list_tracks(folders(plain), "train", "valid")
    with pytest.raises(ConfigError, match="no validation tracks"):
        check_folders_dataset(folders(plain))


def test_missing_folders_and_list_files_are_named(tmp_path, plain):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        resolve_root(folders(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="data_root"):
        resolve_root(DataConfig(dataset="folders"))
    with pytest.raises(FileNotFoundError, match="elsewhere"):
        resolve_root(folders(plain, valid_root=str(tmp_path / "elsewhere")))
    (tmp_path / "train.txt").write_text("train/one\ntrain/gone\n")
    with pytest.raises(FileNotFoundError, match=r"train\.txt, line 2: .*gone"):
        list_tracks(folders(plain, split_lists={"train": str(tmp_path / "train.txt")}), "train", "train")


# ---------------------------------------------------------------- bad input: refused up front, nothing written


def refused(plain, data, error, match, stems=StemSet()):
    """``check_folders_dataset`` raises ``error`` matching ``match`` in one line, writing nothing."""
    before = snapshot(plain)
    with pytest.raises(error, match=match) as raised:
        check_folders_dataset(data, stems)
    assert "\n" not in str(raised.value)
    assert snapshot(plain) == before
    return str(raised.value)


def test_a_track_lacking_a_stem_is_silence_with_a_warning_or_refused(plain):
    (plain / "train" / "two" / "bass.aiff").unlink()
    before = snapshot(plain)
    warnings = check_folders_dataset(folders(plain))
    assert len(warnings) == 1 and "train/two" in warnings[0] and "bass" in warnings[0]
    track = list_tracks(folders(plain), "train", "train")[1]
    stems, _ = read_stems(track)
    assert not stems[1].any() and stems[0].any()  # bass is silence
    assert snapshot(plain) == before
    message = refused(plain, folders(plain, require_all_stems=True), TrackError, r"train/two: has no bass stem")
    assert "require_all_stems" in message
    with pytest.raises(TrackError, match="has no bass stem"):
        read_stems(list_tracks(folders(plain, require_all_stems=True), "train", "train")[1])


@pytest.mark.parametrize("change, match", [
    ("length", r"train/one: vocals\.wav and bass\.aiff differ in length \(12000 vs 8000 samples\)"),
    ("rate", r"train/one: vocals\.wav and bass\.aiff differ in sample rate \(16000 vs 8000 Hz\)"),
    ("channels", r"train/one: vocals\.wav and bass\.aiff differ in channel count \(1 vs 2 channels\)"),
])
def test_stems_of_different_length_rate_or_channels_are_refused_naming_both_files(plain, change, match):
    audio = {"length": noise(0, 1.5), "rate": noise(0, 2.0), "channels": noise(0, 1.0, channels=1)}[change]
    write(plain / "train" / "one" / "vocals.wav", audio, rate=16000 if change == "rate" else RATE)
    refused(plain, folders(plain), TrackError, match)


def test_a_given_mixture_that_is_not_the_sum_is_refused_in_db_unless_mixture_is_sum(plain):
    folder = plain / "valid" / "three"
    stems = [sf.read(path, dtype="float32", always_2d=True)[0].T for path in sorted(folder.iterdir())]
    write(folder / "mixture.wav", 0.9 * np.sum(stems, axis=0))  # a gain: residual 0.1 / 0.9 of it, -19.1 dB
    message = refused(plain, folders(plain), TrackError, r"valid/three: mixture\.wav is not the sum of the track's stems")
    assert "-19.1 dB" in message and "mixture: sum" in message
    assert check_folders_dataset(folders(plain, mixture="sum")) == []
    track = list_tracks(folders(plain, mixture="sum"), "train", "valid")[0]
    assert track.mixture_file is None
    mixture, targets, _ = read_track(track)
    np.testing.assert_allclose(mixture, targets.sum(axis=0), atol=1e-6)


def test_a_stem_map_pattern_matching_nothing_is_refused_naming_it(plain):
    data = folders(plain, stem_map={"vocals": "vocals", "drum*": "drums", "bass": "bass", "other": "other", "*vox*": "vocals"})
    refused(plain, data, ConfigError, r"stem_map: the pattern '\*vox\*' \(-> vocals\) matches no file")


def test_a_file_matching_two_stems_or_none_is_refused_naming_it(plain):
    two = folders(plain, stem_map={"vocals": "vocals", "drum*": "drums", "bass": "bass", "other": "other", "*o*": "other"})
    refused(plain, two, TrackError, r"train/one: vocals\.wav matches the stem_map patterns of two stems \('vocals' -> vocals, '\*o\*' -> other\)")
    none = folders(plain, stem_map={"vocals": "vocals", "drum*": "drums", "bass": "bass"})
    message = refused(plain, none, TrackError, r"train/one: other\.wav matches no stem_map pattern")
    assert "unmatched_files" in message
    caught = folders(plain, stem_map={"vocals": "vocals", "drum*": "drums", "bass": "bass"}, unmatched_files="rest_of_it")
    assert list_tracks(caught, "train", "train")[0].stem_names == ("bass", "drums", "rest_of_it", "vocals")
