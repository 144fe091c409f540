"""``dataset: folders`` end to end: a MoisesDB-like and a Slakh-like data set (made here) train a
model with their own stems, which is then evaluated on their test tracks and separates them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from stemunet.config import ConfigError
from stemunet.evaluation.evaluate import EvaluateConfig, evaluate, evaluation_tracks
from stemunet.separation.batch import separate_files
from stemunet.separation.config import SeparateConfig
from stemunet.separation.inputs import resolve_inputs
from stemunet.separation.loading import load_separator
from stemunet.training.config import TrainConfig
from stemunet.training.fit import fit

RATE = 8000
MODEL = {"sample_rate": RATE, "n_channels": 1, "n_fft": 256, "hop_length": 64, "base_channels": 4, "depth": 2,
         "max_frequency": 0.0}
TRAIN = {**MODEL, "epochs": 1, "samples_per_epoch": 4, "batch_size": 2, "chunk_seconds": 1.0, "valid_chunk_seconds": 1.0,
         "device": "cpu", "mixed_precision": "off", "cache_audio": False}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tone(seed: int, seconds: float = 2.0) -> np.ndarray:
    """A stereo note with some noise ``(2, n)``: each stem audible and distinct."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    note = 0.2 * np.sin(2 * np.pi * rng.uniform(60, 2000) * t) + rng.uniform(-0.02, 0.02, t.size)
    return np.stack([note, note * 0.8]).astype(np.float32)


def write(path, audio: np.ndarray, subtype: str = "FLOAT") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio.T, RATE, subtype=subtype)


@pytest.fixture(scope="module")
def moisesdb(tmp_path_factory):
    """MoisesDB's layout: ``<uuid>/<stem>/<uuid>.wav``, a stem of several files, metadata beside;
    train/valid/test named by list files."""
    root = tmp_path_factory.mktemp("moisesdb")
    for number, track in enumerate(["a1", "b2", "c3", "d4"]):
        write(root / track / "vocals" / f"{track}1.wav", tone(10 * number))
        write(root / track / "vocals" / f"{track}2.wav", tone(10 * number + 1) * 0.5)  # a second take: summed
        write(root / track / "guitar" / f"{track}3.wav", tone(10 * number + 2))
        write(root / track / "drums" / f"{track}4.wav", tone(10 * number + 3))
        (root / track / "data.json").write_text("{}")
    for split, tracks in (("train", "a1\nb2\n"), ("valid", "c3\n"), ("test", "d4\n")):
        (root / f"{split}.txt").write_text(tracks)
    lists = {split: str(root / f"{split}.txt") for split in ("train", "valid", "test")}
    return {"dataset": "folders", "data_root": str(root), "split_lists": lists}


@pytest.fixture(scope="module")
def slakh(tmp_path_factory):
    """Slakh's layout: ``<split>/TrackN/stems/S0k.flac`` named by ``metadata.yaml``, ``mix.flac``."""
    root = tmp_path_factory.mktemp("slakh")
    instruments = {"S00": {"inst_class": "Piano", "program_num": 0, "is_drum": False},
                   "S01": {"inst_class": "Bass", "program_num": 33, "is_drum": False},
                   "S02": {"inst_class": "Drums", "program_num": 0, "is_drum": True},
                   "S03": {"inst_class": "Organ", "program_num": 17, "is_drum": False}}
    for split, track, seed in (("train", "Track00001", 0), ("train", "Track00002", 10), ("valid", "Track01501", 20),
                               ("test", "Track01901", 30)):
        folder = root / split / track
        for offset, name in enumerate(instruments):
            write(folder / "stems" / f"{name}.flac", tone(seed + offset), subtype="PCM_24")
        summed = sum(sf.read(folder / "stems" / f"{name}.flac", dtype="float64")[0].T for name in instruments)
        write(folder / "mix.flac", summed, subtype="PCM_24")
        (folder / "metadata.yaml").write_text(yaml.safe_dump({"audio_dir": "stems", "stems": instruments}))
    return {"dataset": "folders", "data_root": str(root),
            "stem_map": {"inst_class:Piano": "piano", "program:32-39": "bass", "is_drum:true": "drums"}, "unmatched_files": "other"}


@pytest.mark.parametrize("layout, stems, sources", [
    ("moisesdb", ["vocals", "guitar", "drums"], {}),
    ("moisesdb", ["vocals", "accompaniment"], {"accompaniment": ["rest"]}),
    ("slakh", ["piano", "bass", "drums", "other"], {}),
])
def test_a_folders_data_set_trains_evaluates_and_separates_with_its_own_stems(request, tmp_path, layout, stems, sources):
    data = request.getfixturevalue(layout)
    before = sorted((p, p.stat().st_mtime_ns) for p in Path(data["data_root"]).rglob("*"))
    result = fit(TrainConfig.from_params({**TRAIN, **data, "stems": stems, "stem_sources": sources}), tmp_path / "train", progress=False)
    assert result.metrics["best_valid_loss"] > 0
    separator = load_separator(tmp_path / "train", "cpu")
    assert separator.stem_names == tuple(stems)
    config = EvaluateConfig.from_params({**data, "max_seconds": 0.0, "n_workers": 1, "device": "cpu"})
    tracks = evaluation_tracks(config, progress=False, stems=separator.config.model.stem_set)
    assert [track.name for track in tracks] == ["d4" if layout == "moisesdb" else "Track01901"]
    evaluated = evaluate(separator, tracks, config, tmp_path / "evaluate", progress=False)
    metrics = json.loads((tmp_path / "evaluate" / "metrics.json").read_text())
    assert metrics["about"]["stems"] == stems and metrics["about"]["data"] == data["data_root"]
    assert set(evaluated.track_scores[evaluated.track_scores["method"] == "model"]["stem"]) == set(stems)
    # The default inputs to separate: the test tracks' given mixtures (Slakh), or where a track has
    # none (MoisesDB) the sum of its stems, written into the cache once and not into the data set.
    inputs = resolve_inputs(SeparateConfig.from_params(data))
    test_track = tracks[0].name
    assert [item.track for item in inputs] == [test_track]
    if layout == "moisesdb":
        summed = inputs[0].path
        assert summed.name == "mixture.wav" and Path(data["data_root"]) not in summed.parents
        stems_sum = sum(sf.read(f, dtype="float32")[0] for f in sorted(tracks[0].all_files()))
        np.testing.assert_allclose(sf.read(summed, dtype="float32")[0], stems_sum, atol=1e-6)
        written = summed.stat().st_mtime_ns
        assert resolve_inputs(SeparateConfig.from_params(data))[0].path == summed and summed.stat().st_mtime_ns == written
    summary = separate_files(inputs, separator, SeparateConfig.from_params({"device": "cpu", "segment_seconds": 1.0}),
                             tmp_path / "stems", progress=False)
    assert summary.status[0] == "ok" and sorted(p.stem for p in (tmp_path / "stems" / test_track).glob("*.wav")) == sorted(stems)
    after = sorted((p, p.stat().st_mtime_ns) for p in Path(data["data_root"]).rglob("*"))
    assert after == before  # nothing written into the user's folders


def test_a_folders_data_set_without_a_stem_the_model_needs_is_refused_before_training(moisesdb, tmp_path):
    config = TrainConfig.from_params({**TRAIN, **moisesdb, "stems": ["vocals", "bass"], "require_all_stems": True})
    with pytest.raises((ConfigError, ValueError), match=r"bass"):
        fit(config, tmp_path / "train", progress=False)
    assert not list((tmp_path / "train").rglob("*.pt"))  # refused before any epoch


def test_dataset_folders_needs_a_data_root():
    with pytest.raises(ConfigError, match="data_root"):
        TrainConfig.from_params({**TRAIN, "dataset": "folders"})


def test_exploring_a_folders_data_set_shows_its_own_stems(moisesdb):
    from stemunet.lab.exploration import ExploreConfig, explore_dataset
    from stemunet.lab.widgets import StemPlayer

    config = ExploreConfig.from_params({**moisesdb, "listen_seconds": 1.0})
    explored = explore_dataset(config, progress=False)
    assert sorted(zip(explored.tracks["split"], explored.tracks["track"])) == [("test", "d4"), ("train", "a1"), ("train", "b2"), ("valid", "c3")]
    assert set(explored.per_track().columns) == {"mixture", "vocals", "guitar", "drums"}
    assert explored.problems.empty and (explored.checks["residual_db"] < -100).all()  # no mixture file: the stems' sum
    player = StemPlayer.from_config(config)
    labels = [label for label, _, _ in player.players]
    assert labels[0] == "mixture" and sorted(labels[1:]) == ["drums", "guitar", "vocals"]


def test_the_runner_resolves_a_folders_data_sets_paths_against_where_they_were_typed(tmp_path):
    from stemunet.lab.runs import parse_value, resolve_path_parameters

    typed = {"data_root": "moisesdb", "valid_root": "~/valid", "split_lists": parse_value("{train: splits/train.txt}", "split_lists"),
             "stem_map": {"*vox*": "vocals"}}
    resolved = resolve_path_parameters(typed, tmp_path)
    assert resolved["data_root"] == str(tmp_path / "moisesdb") and resolved["split_lists"] == {"train": str(tmp_path / "splits" / "train.txt")}
    assert resolved["valid_root"] == str(Path("~/valid").expanduser()) and resolved["stem_map"] == {"*vox*": "vocals"}  # patterns are not paths


def test_a_stem_no_track_has_is_refused_naming_the_stems_there_are(moisesdb):
    from stemunet.config import DataConfig, StemSet
    from stemunet.data.tracks import check_dataset

    data = DataConfig.from_params(moisesdb)
    with pytest.raises(ConfigError, match=r"'Vocals' needs the stem 'Vocals', which no track .* has \(its stems: drums, guitar, vocals\)"):
        check_dataset(data, StemSet.of(["Vocals", "drums"]))  # a case slip would have trained on silence
    with pytest.raises(ConfigError, match=r"needs the stem 'drum'"):
        check_dataset(data, StemSet.of(["vocals", "backing"], {"backing": ["drum", "guitar"]}))
    warnings = check_dataset(data, StemSet.of(["vocals", "drums"]))
    assert any("['guitar'] go into no target" in warning for warning in warnings)


def test_a_typo_in_a_synthetic_stem_is_refused_before_anything_is_generated(tmp_path, monkeypatch):
    from stemunet.config import DataConfig, StemSet
    from stemunet.data.tracks import resolve_root

    monkeypatch.setenv("STEMUNET_CACHE", str(tmp_path))
    with pytest.raises(ConfigError, match=r"the synthetic set has no 'drum' stem; it has drums, bass, other, vocals, piano, guitar"):
        resolve_root(DataConfig(), stems=StemSet.of(["vocals", "backing"], {"backing": ["drum", "bass"]}))
    assert not any(tmp_path.iterdir())


def test_the_baselines_alone_score_a_folders_data_sets_own_stems(moisesdb, tmp_path):
    config = EvaluateConfig.from_params({**moisesdb, "max_seconds": 0.0, "n_workers": 1, "device": "cpu"})
    result = evaluate(None, evaluation_tracks(config, progress=False), config, tmp_path, progress=False)
    assert json.loads((tmp_path / "metrics.json").read_text())["about"]["stems"] == ["drums", "guitar", "vocals"]
    assert set(result.track_scores["stem"]) - {"all"} == {"drums", "guitar", "vocals"}  # MIX = mixture / 3


def test_evaluation_refuses_a_test_mixture_changed_since_training_checked_it(tmp_path):
    from stemunet.data.stem_sets import TrackError

    root = tmp_path / "set"
    for split, track, seed in (("train", "a", 0), ("valid", "b", 10), ("test", "c", 20)):
        stems = {name: tone(seed + k) for k, name in enumerate(["vocals", "drums"])}
        for name, audio in stems.items():
            write(root / split / track / f"{name}.wav", audio)
        write(root / split / track / "mixture.wav", stems["vocals"] + stems["drums"])
    # require_all_stems: the set's own two stems, not MUSDB18's four, are what a track must have.
    data = {"dataset": "folders", "data_root": str(root), "require_all_stems": True}
    config = EvaluateConfig.from_params({**data, "max_seconds": 0.0, "n_workers": 1, "device": "cpu"})
    assert [track.name for track in evaluation_tracks(config, progress=False)] == ["c"]  # a sound set passes
    write(root / "test" / "c" / "mixture.wav", tone(99))  # the test mixture replaced by another song
    with pytest.raises(TrackError, match=r"mixture\.wav is not the sum of the track's stems"):
        evaluation_tracks(config, progress=False)


def test_a_test_track_whose_stems_cannot_be_summed_is_reported_and_the_others_separated(tmp_path):
    root = tmp_path / "set"
    for split, track, seed in (("train", "a", 0), ("valid", "b", 10), ("test", "c", 20), ("test", "d", 30)):
        for k, name in enumerate(["vocals", "drums"]):
            write(root / split / track / f"{name}.wav", tone(seed + k))
    sf.write(root / "test" / "d" / "drums.wav", tone(31)[0], RATE // 2)  # another rate: cannot be summed
    data = {"dataset": "folders", "data_root": str(root)}
    with pytest.warns(UserWarning, match=r"test/d: vocals\.wav and drums\.wav differ in sample rate \(8000 vs 4000 Hz\); not separated"):
        inputs = resolve_inputs(SeparateConfig.from_params(data))
    assert [item.track for item in inputs] == ["c"]
    folder = inputs[0].path.parent
    assert [p.name for p in folder.iterdir()] == ["mixture.wav"]  # no partial file left beside it
    assert not list((root / "test").rglob("*mixture*"))  # nothing written into the data set
