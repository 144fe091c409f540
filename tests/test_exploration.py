"""Data set statistics and checks of stemunet.lab.exploration, on synthetic, real and broken data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from stemunet.config import ConfigError, DataConfig
from stemunet.data.synthetic import SyntheticSpec, generate_synthetic_dataset, read_synthetic_manifest
from stemunet.data.tracks import SOURCE_NAMES, list_tracks, read_track_excerpt
from stemunet.lab.exploration import ExploreConfig, explore_dataset
from stemunet.lab.track_analysis import (FLOOR_DB, frame_rms_db, power_spectrum_sum, residual_db, silent_share,
                                         spectrum_frequencies)

RATE = 44100
SPEC = SyntheticSpec(n_train_tracks=2, n_test_tracks=1, track_seconds=4.0, seed=3)


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory) -> Path:
    return generate_synthetic_dataset(tmp_path_factory.mktemp("synthetic") / "set", SPEC, progress=False)


@pytest.fixture(scope="module")
def synthetic_exploration(synthetic_root):
    return explore_dataset(ExploreConfig(data=DataConfig(musdb_root=str(synthetic_root))), progress=False)


@pytest.fixture
def copied_root(synthetic_root, tmp_path) -> Path:
    """A private copy of the synthetic set, to break."""
    return Path(shutil.copytree(synthetic_root, tmp_path / "copy"))


def explore(root: Path, **params):
    return explore_dataset(ExploreConfig.from_params({"musdb_root": str(root), **params}), progress=False)


# -- signal statistics ----------------------------------------------------------------------------


def test_frame_rms_of_a_full_scale_sine_is_minus_3_dbfs():
    t = np.arange(RATE) / RATE
    sine = np.stack([np.sin(2 * np.pi * 1000 * t)] * 2)  # 100 whole periods per frame
    levels = frame_rms_db(sine, 4410)
    assert levels.shape == (10,)
    np.testing.assert_allclose(levels, 20 * np.log10(np.sqrt(0.5)), atol=1e-3)


def test_frame_rms_floors_digital_silence_and_drops_a_partial_frame():
    levels = frame_rms_db(np.zeros((2, 1000)), 300)
    assert levels.shape == (3,)
    assert np.all(levels == FLOOR_DB)


def test_silent_share_counts_frames_below_the_threshold():
    assert silent_share(np.array([-70.0, -61.0, -59.0, -10.0]), -60.0) == 0.5
    assert np.isnan(silent_share(np.zeros(0)))


def test_average_spectrum_of_a_full_scale_sine_peaks_at_0_db_at_its_frequency():
    frequency = 1000.0
    t = np.arange(RATE) / RATE
    power, n_frames = power_spectrum_sum(np.sin(2 * np.pi * frequency * t)[None])
    mean_db = 10 * np.log10(power / n_frames)
    frequencies = spectrum_frequencies(RATE)
    assert abs(frequencies[np.argmax(mean_db)] - frequency) < RATE / 4096
    assert abs(mean_db.max()) < 1.5  # the Hann window's scalloping loss at most


def test_residual_db_is_relative_to_the_mixture_and_handles_silence():
    assert residual_db(1.0, 100.0) == pytest.approx(-20.0)
    assert residual_db(0.0, 1.0) == float("-inf")
    assert residual_db(1.0, 0.0) == float("inf")
    assert np.isnan(residual_db(0.0, 0.0))


# -- the synthetic set ---------------------------------------------------------------------------


def test_track_table_gives_subset_split_duration_rate_and_channels(synthetic_exploration):
    tracks = synthetic_exploration.tracks
    assert list(tracks.columns) == ["subset", "split", "track", "duration_seconds", "sample_rate", "n_channels", "format", "analysed"]
    assert list(tracks["track"]) == ["train_000", "train_001", "test_000"]
    # The manifest names the last train track as validation.
    assert list(tracks["split"]) == ["train", "valid", "test"]
    assert (tracks["duration_seconds"] == 4.0).all()
    assert (tracks["sample_rate"] == 44100).all() and (tracks["n_channels"] == 2).all()
    assert (tracks["format"] == "wav").all() and tracks["analysed"].all()
    assert synthetic_exploration.synthetic
    assert synthetic_exploration.problems.empty


def test_vocals_are_silent_part_of_the_time_and_shares_are_fractions(synthetic_exploration):
    summary = synthetic_exploration.loudness_summary()
    assert list(summary.index) == list(SOURCE_NAMES)
    assert summary["silent_share"].between(0, 1).all()
    # The generator leaves vocals out of 20-40 % of every song (intro and/or break).
    assert summary.loc["vocals", "silent_share"] > 0.1
    assert summary.loc["mixture", "silent_share"] < summary.loc["vocals", "silent_share"]
    per_track = synthetic_exploration.per_track("silent_share")
    assert (per_track["vocals"] > 0).all()
    # 100 ms frames: 40 per 4 s track and source.
    assert all(levels.size == 3 * 40 for levels in synthetic_exploration.frame_db.values())
    assert summary["active_median_db"].between(-60, 0).all()


def test_average_spectra_have_one_curve_per_source_on_a_shared_frequency_axis(synthetic_exploration):
    spectra = synthetic_exploration.spectra
    assert list(spectra.columns) == list(SOURCE_NAMES)
    assert spectra.shape == (2049, 5)
    assert spectra.index[0] == 0 and spectra.index[-1] == pytest.approx(RATE / 2)
    assert np.isfinite(spectra.to_numpy()).all()
    bands = synthetic_exploration.band_energy()
    np.testing.assert_allclose(bands.sum(axis=1), 100.0)
    # Bass lives below 250 Hz, vocals above it: the shares say so.
    assert bands.loc["bass"].iloc[:2].sum() > 50 and bands.loc["vocals"].iloc[2:].sum() > 50


def test_synthetic_mixture_is_the_sum_of_its_stems(synthetic_exploration):
    checks = synthetic_exploration.checks
    assert len(checks) == 3
    assert checks[["files_present", "lengths_agree", "rates_agree", "channels_agree"]].all().all()
    assert (checks["residual_db"] < -100).all()
    assert (checks["mixture_peak_db"] < 0).all()


def test_max_tracks_limits_what_is_analysed_not_what_is_listed(synthetic_root):
    exploration = explore(synthetic_root, max_tracks=1, subsets=["train"])
    assert list(exploration.tracks["analysed"]) == [True, False]
    assert set(exploration.loudness["track"]) == {"train_000"}
    assert len(exploration.checks) == 1


def test_excerpt_has_the_requested_length_and_the_files_samples(synthetic_root):
    track = list_tracks(synthetic_root, "test")[0]
    excerpt = read_track_excerpt(track, 1.0, 2.0)
    assert excerpt.mixture.shape == (2, 2 * RATE) and excerpt.stems.shape == (4, 2, 2 * RATE)
    vocals, _ = sf.read(Path(track.path).parent / "vocals.wav", start=RATE, frames=2 * RATE, dtype="float32")
    np.testing.assert_array_equal(excerpt.stems[3], vocals.T)
    assert list(excerpt.named()) == list(SOURCE_NAMES)
    # Past the end it is cut at the end.
    assert read_track_excerpt(track, 3.0, 5.0).n_samples == RATE


def test_save_writes_tables_and_a_summary(synthetic_exploration, tmp_path):
    paths = synthetic_exploration.save(tmp_path)
    assert {p.name for p in paths} == {"tracks.csv", "loudness.csv", "checks.csv", "problems.csv", "spectra.csv", "summary.json"}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["n_tracks"] == 3 and summary["n_problems"] == 0
    assert summary["silent_share"]["vocals"] > 0.1


# -- the real MUSDB18 excerpt --------------------------------------------------------------------


def test_real_musdb18_excerpt_is_listed_analysed_and_its_residual_is_finite(real_musdb_root):
    exploration = explore(real_musdb_root)
    tracks = exploration.tracks
    assert list(tracks["subset"]) == ["train", "test"]
    assert list(tracks["split"]) == ["train", "test"]  # not one of musdb's validation tracks
    assert (tracks["format"] == "stem.mp4").all()
    assert tracks["duration_seconds"].between(5.5, 6.5).all()
    assert exploration.problems.empty
    residuals = exploration.checks["residual_db"]
    # A mastered, AAC-coded mixture: not the sum of its stems, but not unrelated to it either.
    assert np.isfinite(residuals).all() and residuals.between(-60, 0).all()
    assert np.isfinite(exploration.spectra.to_numpy()).all()
    assert exploration.loudness_summary()["silent_share"].between(0, 1).all()
    excerpt = exploration.excerpt("", 1.0, 2.0)
    assert excerpt.stems.shape == (4, 2, 2 * RATE)
    assert exploration.synthetic_songs().empty  # how a real song was made is not ours to say


def test_synthetic_songs_say_which_instruments_were_sampled_and_how_each_stem_was_produced(synthetic_exploration, synthetic_root):
    songs = synthetic_exploration.synthetic_songs()
    assert list(songs.index) == [("train", "train_000"), ("train", "train_001"), ("test", "test_000")]
    manifest = read_synthetic_manifest(synthetic_root)
    for (_, track), row in songs.iterrows():
        info = manifest["track_info"][track]
        assert row["drums"] == info["drums"]["instrument"].removeprefix("sampled: ") and row["bass"] == info["bass"]["timbre"]
        assert row["bpm"] == info["bpm"]
    described = " ".join(songs[["drums", "bass", "other"]].to_numpy().ravel())
    assert "additive" in described and any(i["drums"]["instrument"].startswith("sampled: ") for i in manifest["track_info"].values())
    # How each stem was mixed, in a table of its own (one 13-column table overflowed a notebook).
    production = synthetic_exploration.synthetic_production()
    assert list(production.index) == list(songs.index) and len(songs.columns) <= 6 and len(production.columns) <= 6
    for (_, track), row in production.iterrows():
        produced = manifest["track_info"][track]["production"]
        assert row["eq"] == " ".join(s[0].upper() for s in ("drums", "bass", "other", "vocals") if "eq" in produced.get(s, {}))
        assert row["bus compressor"] == ("yes" if "bus_compressor" in produced else "no")


# -- bad data ------------------------------------------------------------------------------------


def test_missing_folder_says_which_folder_and_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no such folder.*musdb_root"):
        explore(tmp_path / "nowhere")


def test_missing_subset_folder_is_a_problem_not_a_crash(copied_root):
    shutil.rmtree(copied_root / "test")
    exploration = explore(copied_root)
    assert list(exploration.problems["subset"]) == ["test"]
    assert "no test/ folder" in exploration.problems["problem"].iloc[0]
    assert len(exploration.checks) == 2  # the train tracks were still analysed


def test_track_missing_a_stem_is_listed_and_the_others_analysed(copied_root):
    (copied_root / "train" / "train_001" / "vocals.wav").unlink()
    exploration = explore(copied_root)
    problems = exploration.problems
    assert list(problems["track"]) == ["train_001"]
    assert "missing vocals.wav" in problems["problem"].iloc[0]
    checks = exploration.checks.set_index("track")
    assert not checks.loc["train_001", "files_present"]
    assert np.isnan(checks.loc["train_001", "residual_db"])
    assert checks.loc[["train_000", "test_000"], "residual_db"].lt(-100).all()
    assert "train_001" not in [t.name for t in exploration.musdb_tracks]
    assert not exploration.tracks.set_index("track").loc["train_001", "analysed"]


def test_mismatched_lengths_are_listed_and_analysed_over_the_common_part(copied_root):
    path = copied_root / "test" / "test_000" / "drums.wav"
    audio, rate = sf.read(path, dtype="float32")
    sf.write(path, audio[: 3 * rate], rate, subtype="FLOAT")
    exploration = explore(copied_root)
    assert list(exploration.problems["track"]) == ["test_000"]
    assert "lengths differ" in exploration.problems["problem"].iloc[0]
    assert "drums 132300" in exploration.problems["problem"].iloc[0]
    check = exploration.checks.set_index("track").loc["test_000"]
    assert not check["lengths_agree"] and check["rates_agree"]
    # Analysed over the first 3 s that every file has: 30 frames, and there the sum still holds.
    assert check["residual_db"] < -100
    assert all(levels.size == 40 + 40 + 30 for levels in exploration.frame_db.values())
    with pytest.raises(ValueError, match="no usable track 'test_000'"):
        exploration.find_track("test_000")


def test_unreadable_stem_file_is_listed_not_fatal(copied_root):
    (copied_root / "train" / "train_000" / "bass.wav").write_bytes(b"not audio at all")
    exploration = explore(copied_root)
    assert list(exploration.problems["track"]) == ["train_000"]
    assert "bass.wav is not a readable audio file" in exploration.problems["problem"].iloc[0]
    assert len(exploration.loudness) == 2 * len(SOURCE_NAMES)


def test_config_rejects_an_unknown_subset_and_negative_max_tracks():
    with pytest.raises(ConfigError, match="valid"):
        ExploreConfig.from_params({"subsets": ["train", "valid"]})
    with pytest.raises(ConfigError, match="max_tracks"):
        ExploreConfig.from_params({"max_tracks": -1})
