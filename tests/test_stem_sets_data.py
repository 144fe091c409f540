"""Stem sets on the data: targets summed, the rest, two stems from four, six from the synthetic
set's families; every reader and chunk data set giving the stem set's targets in its order."""

import numpy as np
import pytest
import soundfile as sf
import torch

from stemunet.config import STEM_NAMES, DataConfig, StemSet
from stemunet.data.augment import WaveformAugmentation
from stemunet.data.chunks import FreshSyntheticChunks, RandomChunkDataset, SequentialChunkDataset
from stemunet.data.stem_sets import TrackError, build_targets, sources_needed
from stemunet.data.tracks import (check_dataset, iter_track_blocks, list_tracks, missing_stems, read_stems, read_track,
                                  read_track_excerpt)

RATE = 8000
FAMILIES = ("guitar", "piano")
SIX = StemSet.of(["drums", "bass", "guitar", "piano", "other", "vocals"], {"other": ["rest"]})
TWO = StemSet.of(["vocals", "accompaniment"], {"accompaniment": ["rest"]})


def streams_of(rng: np.random.Generator, n: int = 1000) -> dict[str, np.ndarray]:
    """The synthetic set's streams: the four, with other = guitar + piano + a remainder."""
    streams = {name: rng.uniform(-0.2, 0.2, (2, n)).astype(np.float32) for name in ("drums", "bass", "vocals", *FAMILIES)}
    remainder = rng.uniform(-0.2, 0.2, (2, n)).astype(np.float32)
    streams["other"] = (streams["guitar"] + streams["piano"] + remainder).astype(np.float32)
    return streams


# ---------------------------------------------------------------- the pure target builder


def test_the_default_stem_set_reads_the_four_stems_exactly(rng):
    streams = streams_of(rng)
    targets = build_targets(streams, STEM_NAMES)
    assert targets.dtype == np.float32 and targets.shape == (4, 2, 1000)
    for target, name in zip(targets, STEM_NAMES):
        np.testing.assert_array_equal(target, streams[name])


def test_a_target_made_of_sources_is_their_sum(rng):
    streams = streams_of(rng)
    stems = StemSet.of(["rhythm", "vocals", "other"], {"rhythm": ["drums", "bass"]})
    targets = build_targets(streams, STEM_NAMES, stems)
    np.testing.assert_allclose(targets[0], streams["drums"] + streams["bass"], atol=1e-7)
    np.testing.assert_array_equal(targets[1], streams["vocals"])


def test_two_stems_from_four_the_rest_is_the_accompaniment(rng):
    streams = streams_of(rng)
    vocals, accompaniment = build_targets(streams, STEM_NAMES, TWO)
    np.testing.assert_array_equal(vocals, streams["vocals"])
    expected = streams["drums"].astype(np.float64) + streams["bass"] + streams["other"]
    np.testing.assert_allclose(accompaniment, expected, atol=1e-7)


def test_six_stems_from_the_synthetic_families_the_rest_is_other_minus_the_families(rng):
    streams = streams_of(rng)
    targets = build_targets(streams, STEM_NAMES, SIX)
    named = dict(zip(SIX.names, targets))
    for name in ("drums", "bass", "guitar", "piano", "vocals"):
        np.testing.assert_array_equal(named[name], streams[name])
    np.testing.assert_allclose(named["other"], streams["other"] - streams["guitar"] - streams["piano"], atol=1e-6)
    # The six still sum to the mixture of the four base stems.
    np.testing.assert_allclose(targets.sum(axis=0), sum(streams[name] for name in STEM_NAMES), atol=1e-6)


def test_a_rest_that_is_only_the_float32_rounding_of_its_parts_is_digital_silence(rng):
    streams = streams_of(rng)
    streams["other"] = (streams["guitar"] + streams["piano"]).astype(np.float32)  # no remainder: other is all families
    rounded = streams["other"].astype(np.float64) - streams["guitar"] - streams["piano"]
    assert 0 < np.abs(rounded).max() < 1e-7  # float32 crumbs, which BSSEval would score as a reference
    named = dict(zip(SIX.names, build_targets(streams, STEM_NAMES, SIX)))
    assert not named["other"].any()  # silent: left out of the scores, as a silent stem is
    quiet = rng.uniform(-1e-4, 1e-4, streams["other"].shape).astype(np.float32)  # a real, quiet remainder (-80 dBFS) stays
    streams["other"] = (streams["guitar"] + streams["piano"] + quiet).astype(np.float32)
    other = dict(zip(SIX.names, build_targets(streams, STEM_NAMES, SIX)))["other"]
    assert np.mean(other != 0) > 0.99 and np.allclose(other, quiet, atol=1e-7)


def test_a_missing_stream_names_the_track_and_the_stem_unless_silence_is_allowed(rng):
    streams = streams_of(rng)
    del streams["piano"]
    with pytest.raises(TrackError, match=r"train/song: has no 'piano' stem"):
        build_targets(streams, STEM_NAMES, SIX, track="train/song")
    targets = build_targets(streams, STEM_NAMES, SIX, track="train/song", allow_missing=True)
    assert not targets[SIX.names.index("piano")].any()
    # The missing piano stays inside the rest.
    np.testing.assert_allclose(targets[SIX.names.index("other")], streams["other"] - streams["guitar"], atol=1e-6)


def test_only_the_asked_targets_are_built_and_only_their_sources_needed(rng):
    streams = streams_of(rng)
    assert sources_needed(SIX, STEM_NAMES, [2]) == ("guitar",)
    assert set(sources_needed(SIX, STEM_NAMES, [4])) == {*STEM_NAMES, *FAMILIES}
    assert sources_needed(TWO, STEM_NAMES, [0]) == ("vocals",)
    only = build_targets({"guitar": streams["guitar"]}, STEM_NAMES, SIX, targets=[2])
    np.testing.assert_array_equal(only[0], streams["guitar"])


# ---------------------------------------------------------------- a MUSDB18-HQ-like folder with families


def write_track(folder, streams: dict[str, np.ndarray]) -> None:
    folder.mkdir(parents=True)
    for name, audio in streams.items():
        sf.write(folder / f"{name}.wav", audio.T, RATE, subtype="FLOAT")
    mixture = np.sum([streams[name] for name in STEM_NAMES], axis=0, dtype=np.float64).astype(np.float32)
    sf.write(folder / "mixture.wav", mixture.T, RATE, subtype="FLOAT")


@pytest.fixture(scope="module")
def hq_root(tmp_path_factory):
    """A MUSDB18-HQ-like folder whose tracks also hold guitar.wav and piano.wav (the synthetic
    set's layout); test/c has no piano.wav."""
    rng = np.random.default_rng(5)
    root = tmp_path_factory.mktemp("hq")
    songs = {}
    for subset, name, seconds in (("train", "a", 1.5), ("train", "b", 1.0), ("test", "c", 1.0)):
        songs[name] = streams_of(rng, int(seconds * RATE))
        streams = dict(songs[name])
        if name == "c":
            del streams["piano"]
        write_track(root / subset / name, streams)
    return root, songs


def test_read_stems_gives_the_stem_sets_targets_from_the_family_wavs(hq_root):
    root, songs = hq_root
    track = next(t for t in list_tracks(root, "train") if t.name == "a")
    targets, rate = read_stems(track, 100, 500, stems=SIX)
    expected = build_targets({k: v[:, 100:600] for k, v in songs["a"].items()}, STEM_NAMES, SIX)
    assert rate == RATE and targets.shape == (6, 2, 500)
    np.testing.assert_allclose(targets, expected, atol=1e-7)
    four, _ = read_stems(track, 100, 500)
    np.testing.assert_array_equal(four, np.stack([songs["a"][name][:, 100:600] for name in STEM_NAMES]))
    vocals_only, _ = read_stems(track, stem_names=["accompaniment"], stems=TWO)
    np.testing.assert_allclose(vocals_only[0], songs["a"]["drums"] + songs["a"]["bass"] + songs["a"]["other"], atol=1e-6)


def test_a_wav_track_lacking_a_family_is_refused_naming_the_track_and_the_file(hq_root, tmp_path):
    root, _ = hq_root
    track = list_tracks(root, "test")[0]
    assert missing_stems(track, SIX) == ["piano"] and missing_stems(track) == []
    with pytest.raises(TrackError, match=r"test/c: has no piano\.wav"):
        read_stems(track, stems=SIX)
    with pytest.raises(TrackError, match=r"test/c: has no piano\.wav"):
        SequentialChunkDataset([track], 0.5, RATE, 2, stems=SIX)
    (tmp_path / "test").mkdir()
    (tmp_path / "train").symlink_to(root / "test", target_is_directory=True)  # c as a training track
    with pytest.raises(TrackError, match="piano"):
        check_dataset(DataConfig(musdb_root=str(tmp_path)), SIX)
    assert check_dataset(DataConfig(musdb_root=str(root)), SIX) == []


def test_excerpt_whole_track_and_blocks_follow_the_stem_set(hq_root):
    root, songs = hq_root
    track = next(t for t in list_tracks(root, "train") if t.name == "b")
    excerpt = read_track_excerpt(track, 0.25, 0.5, stems=SIX)
    assert excerpt.stem_names == SIX.names and excerpt.stems.shape == (6, 2, 4000)
    assert list(excerpt.named()) == ["mixture", *SIX.names]
    np.testing.assert_allclose(excerpt.named()["guitar"], songs["b"]["guitar"][:, 2000:6000])
    np.testing.assert_allclose(excerpt.stems.sum(axis=0), excerpt.mixture, atol=1e-6)
    mixture, targets, _ = read_track(track, TWO)
    blocks = list(iter_track_blocks(track, 3000, TWO))
    assert [block.shape for block in blocks] == [(3, 2, 3000), (3, 2, 3000), (3, 2, 2000)]
    whole = np.concatenate(blocks, axis=-1)
    np.testing.assert_array_equal(whole[0], mixture)
    np.testing.assert_allclose(whole[1:], targets, atol=1e-7)
    # The default stem set: the five streams, as before.
    assert next(iter_track_blocks(track, 3000)).shape == (5, 2, 3000)
    assert read_track_excerpt(track, 0.0, 0.5).stem_names == STEM_NAMES


def test_a_stem_mp4_offers_only_the_four(real_musdb_root):
    track = list_tracks(real_musdb_root, "test")[0]
    with pytest.raises(TrackError, match="has no guitar stem: a .stem.mp4 holds only drums, bass, other, vocals"):
        read_stems(track, 0, 1000, stems=SIX)
    four, _ = read_stems(track, 0, 44100)
    two, _ = read_stems(track, 0, 44100, stems=TWO)
    np.testing.assert_array_equal(two[0], four[3])
    np.testing.assert_allclose(two[1], four[:3].sum(axis=0), atol=1e-6)


# ---------------------------------------------------------------- chunk data sets


def test_random_and_sequential_chunks_have_one_row_per_target(hq_root):
    root, _ = hq_root
    tracks = list_tracks(root, "train")
    repitch = WaveformAugmentation(repitch_probability=1.0, repitch_semitones=2, repitch_tempo_percent=10.0)
    for cache in (False, True):
        dataset = RandomChunkDataset(tracks, 0.5, RATE, 2, 3, seed=2, cache=cache, stems=SIX, augmentation=repitch)
        mixture, stems = dataset[(0, 1)]
        assert stems.shape == (6, 2, 4000) and mixture.shape == (2, 4000)
        torch.testing.assert_close(mixture, stems.sum(dim=0))
    remixed = RandomChunkDataset(tracks, 0.5, RATE, 1, 2, stems=TWO, augmentation=WaveformAugmentation(remix=True))
    assert remixed[0][1].shape == (2, 1, 4000)
    sequential = SequentialChunkDataset(tracks, 0.5, RATE, 2, stems=TWO)
    mixture, stems = sequential[0]
    assert stems.shape == (2, 2, 4000)
    four = SequentialChunkDataset(tracks, 0.5, RATE, 2)
    torch.testing.assert_close(stems[1], four[0][1][:3].sum(dim=0), atol=1e-6, rtol=0)
    torch.testing.assert_close(stems[0], four[0][1][3])


def test_fresh_songs_build_the_stem_sets_targets_from_the_rendered_families(monkeypatch):
    rng = np.random.default_rng(0)

    def render(spec, subset, index):  # what render_track gives with per-family stems: {stem: (n, 2)}
        return {name: audio.T.copy() for name, audio in streams_of(rng, spec.n_samples).items()}, {}

    monkeypatch.setattr("stemunet.data.chunks.render_track", render)
    dataset = FreshSyntheticChunks(DataConfig(), 0.5, RATE, 2, 2, stems=SIX)
    mixture, stems = dataset[(0, 0)]
    assert stems.shape == (6, 2, 4000)
    torch.testing.assert_close(mixture, stems.sum(dim=0))
    mono = FreshSyntheticChunks(DataConfig(), 0.5, RATE, 1, 2, stems=TWO,
                                augmentation=WaveformAugmentation(repitch_probability=1.0, repitch_semitones=1))
    assert mono[(0, 1)][1].shape == (2, 1, 4000)


def test_fresh_songs_of_the_real_renderer_give_vocals_and_accompaniment():
    four = FreshSyntheticChunks(DataConfig(synthetic_version=1), 1.0, RATE, 2, 1)
    two = FreshSyntheticChunks(DataConfig(synthetic_version=1), 1.0, RATE, 2, 1, stems=TWO)
    _, stems4 = four[(0, 0)]
    _, stems2 = two[(0, 0)]
    torch.testing.assert_close(stems2[0], stems4[3])
    torch.testing.assert_close(stems2[1], stems4[:3].sum(dim=0), atol=1e-6, rtol=0)


def test_a_stem_set_of_families_asks_the_synthetic_set_and_fresh_songs_for_them():
    from stemunet.data.tracks import synthetic_spec

    assert not synthetic_spec(DataConfig()).family_stems and not synthetic_spec(DataConfig(), TWO).family_stems
    assert synthetic_spec(DataConfig(), SIX).family_stems
    six = FreshSyntheticChunks(DataConfig(synthetic_version=1), 1.0, RATE, 2, 1, stems=SIX)
    four = FreshSyntheticChunks(DataConfig(synthetic_version=1), 1.0, RATE, 2, 1)
    assert six.spec.family_stems and not four.spec.family_stems
    mixture, stems = six[(0, 0)]
    assert stems.shape == (6, 2, RATE)
    torch.testing.assert_close(mixture, four[(0, 0)][0], atol=1e-5, rtol=0)  # the same song, cut differently


def test_a_synthetic_set_listed_for_six_stems_holds_the_families_the_plain_one_says_how_to_get_them():
    data = DataConfig(synthetic_train_tracks=2, synthetic_test_tracks=1, synthetic_seconds=1.0, synthetic_version=1)
    with_families = list_tracks(data, "test", stems=SIX)[0]
    mixture, six, _ = read_track(with_families, SIX)
    _, four, _ = read_track(with_families)
    np.testing.assert_allclose(six.sum(axis=0), four.sum(axis=0), atol=1e-5)
    np.testing.assert_allclose(six.sum(axis=0), mixture, atol=1e-5)
    plain = list_tracks(data, "test")[0]
    assert plain.path != with_families.path
    np.testing.assert_array_equal(read_track(plain)[1], four)  # the four stems are the same in both sets
    with pytest.raises(TrackError, match=r"has no guitar\.wav .*stems="):
        read_track(plain, SIX)
