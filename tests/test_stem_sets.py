"""Stem sets end to end: 2- and 6-stem models trained on the embedded synthetic set, then evaluated
(MIX and the oracles follow n stems), separated (every stem of the model, two-stem mode) and
listened to; checkpoints carry their stems and refuse runs with other ones."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from stemunet.checkpoints import CheckpointRef, read_checkpoint
from stemunet.config import STEM_NAMES, ConfigError, ModelConfig, StemSet
from stemunet.data.tracks import list_tracks, read_track
from stemunet.evaluation.evaluate import EvaluateConfig, evaluate, evaluation_tracks, track_estimates
from stemunet.lab.overview import resolve_runs, runs_overview, training_table
from stemunet.lab.widgets import ComparisonPlayer
from stemunet.separation.batch import separate_files
from stemunet.separation.config import SeparateConfig
from stemunet.separation.loading import load_separator
from stemunet.training.config import TrainConfig
from stemunet.training.fit import fit
from stemunet.training.resume import starting_point

DATA = {"synthetic_train_tracks": 3, "synthetic_test_tracks": 1, "synthetic_seconds": 3.0}
TINY = {
    **DATA, "sample_rate": 8000, "n_channels": 1, "n_fft": 256, "hop_length": 64, "base_channels": 4, "depth": 2,
    "max_frequency": 0.0, "epochs": 1, "samples_per_epoch": 4, "batch_size": 2, "chunk_seconds": 1.0,
    "valid_chunk_seconds": 1.5, "device": "cpu", "mixed_precision": "off",
}
TWO = {"stems": ["vocals", "accompaniment"], "stem_sources": {"accompaniment": ["rest"]}}
SIX = {"stems": ["drums", "bass", "other", "vocals", "guitar", "piano"], "stem_sources": {"other": ["rest"]}}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``{"two": run folder, "six": run folder}``: a 2-stem and a 6-stem model, one epoch each."""
    runs = {}
    for name, stems in (("two", TWO), ("six", SIX)):
        folder = tmp_path_factory.mktemp(f"train_{name}")
        fit(TrainConfig.from_params({**TINY, **stems}), folder, progress=False)
        runs[name] = folder
    return runs


def test_a_stem_set_needs_two_distinct_usable_names_and_sources_among_them():
    for params, message in [({"stems": ["vocals"]}, "two or more"), ({"stems": ["vocals", "vocals"]}, "named twice"),
                            ({"stems": ["vocals", "mixture"]}, "not a usable stem name"),
                            ({"stems": ["vocals", "rest_x"], "stem_sources": {"guitar": ["other"]}}, "not one of the stems"),
                            ({"stems": ["a", "b"], "stem_sources": {"a": ["rest"], "b": ["rest"]}}, "only one stem can be the 'rest'"),
                            ({"stems": ["a", "b"], "stem_sources": {"a": ["rest", "drums"]}}, "mixes 'rest'")]:
        with pytest.raises(ConfigError, match=message):
            ModelConfig.from_params(params)
    assert ModelConfig().stem_set == StemSet(STEM_NAMES)  # the default is MUSDB18's four, in MUSDB18's order


def test_stem_weights_follow_the_stem_set():
    assert TrainConfig.from_params({**TINY, **SIX}).loss_weights == (1.0,) * 6
    with pytest.raises(ConfigError, match=r"stem_weights must be empty \(equal\) or 2 numbers"):
        TrainConfig.from_params({**TINY, **TWO, "stem_weights": [1, 1, 1, 1]})


@pytest.mark.parametrize("name, n_stems", [("two", 2), ("six", 6)])
def test_a_checkpoint_keeps_its_stems_and_separates_that_many(trained, name, n_stems):
    stems = (TWO if name == "two" else SIX)["stems"]
    checkpoint = read_checkpoint(trained[name] / "checkpoints" / "best.pt")
    assert checkpoint["stem_names"] == stems and checkpoint["separator_config"]["stems"] == stems
    separator = load_separator(trained[name], "cpu")
    assert separator.stem_names == tuple(stems)
    reference = CheckpointRef.resolve(str(trained[name]))
    assert list(reference.describe()["stems"]) == stems
    stored = CheckpointRef(trained[name] / "checkpoints" / "best.pt")  # no run record: what the file itself says
    assert training_table(stored).loc["stems", "value"] == str(stems)  # the model card's table names them
    out = separator.separate(np.random.default_rng(0).standard_normal((2, 8000)).astype(np.float32), 8000)
    assert out.shape == (n_stems, 2, 8000)
    assert torch.allclose(out.sum(dim=0), torch.from_numpy(np.random.default_rng(0).standard_normal((2, 8000)).astype(np.float32)), atol=1e-3)


def test_targets_are_the_stem_sets_sums_of_the_data_sets_stems():
    six_stems = StemSet.of(SIX["stems"], SIX["stem_sources"])
    track = list_tracks(EvaluateConfig.from_params(DATA).data, "test", stems=six_stems)[0]  # the set with its families
    _, four, _ = read_track(track)
    _, two, _ = read_track(track, StemSet.of(TWO["stems"], TWO["stem_sources"]))
    np.testing.assert_allclose(two[0], four[3], atol=1e-6)  # vocals
    np.testing.assert_allclose(two[1], four[0] + four[1] + four[2], atol=1e-5)  # accompaniment: the rest
    _, six, _ = read_track(track, six_stems)
    np.testing.assert_allclose(six[:2], four[:2], atol=1e-6)
    np.testing.assert_allclose(six[2] + six[4] + six[5], four[2], atol=1e-5)  # other, guitar and piano make up MUSDB18's other
    np.testing.assert_allclose(six.sum(axis=0), four.sum(axis=0), atol=1e-5)


@pytest.mark.parametrize("name", ["two", "six"])
def test_evaluation_scores_the_models_stems_beside_mix_and_the_oracles_for_n_stems(trained, name, tmp_path):
    config = EvaluateConfig.from_params({**DATA, "max_seconds": 0.0, "n_workers": 1, "device": "cpu"})
    separator = load_separator(trained[name], "cpu")
    stems = list(separator.stem_names)
    tracks = evaluation_tracks(config, progress=False, stems=separator.config.model.stem_set)
    result = evaluate(separator, tracks, config, tmp_path, progress=False)
    assert json.loads((tmp_path / "metrics.json").read_text())["about"]["stems"] == stems
    scored = result.track_scores
    for method in ("model", "MIX", "irm1"):
        assert set(scored[scored["method"] == method]["stem"]) <= set(stems)
        assert set(scored[(scored["method"] == method) & (scored["metric"] == "global_SDR")]["stem"]) == {
            s for s in stems if s in set(scored[scored["method"] == method]["stem"])}
    track = tracks[0]
    mixture, references, rate = read_track(track, separator.config.model.stem_set)
    estimates = track_estimates(separator, mixture, references, rate, methods=("MIX", "irm1"))
    np.testing.assert_allclose(estimates["MIX"], np.broadcast_to(mixture / len(stems), references.shape), atol=1e-7)
    assert estimates["irm1"].shape == references.shape
    # The oracle's n masks share the mixture out (as the four do, through the same STFT and resampling).
    _, four, _ = read_track(track)
    four_irm = track_estimates(separator, mixture, four, rate, methods=("irm1",))["irm1"]
    np.testing.assert_allclose(estimates["irm1"].sum(axis=0), four_irm.sum(axis=0), atol=1e-4)
    assert not np.allclose(estimates["irm1"][stems.index("vocals")], four_irm[3], atol=1e-3)  # masks over n stems, not the four


def test_the_runs_overview_has_a_column_per_stem_of_every_model(trained, tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    for name in ("two", "six"):
        folder = runs / f"2026-01-0{1 if name == 'two' else 2}T00-00-00_evaluate"
        folder.mkdir(parents=True)
        config = EvaluateConfig.from_params({**DATA, "max_seconds": 0.0, "n_workers": 1, "device": "cpu", "baselines": False})
        separator = load_separator(trained[name], "cpu")
        evaluate(separator, evaluation_tracks(config, progress=False, stems=separator.config.model.stem_set), config, folder, progress=False)
        (folder / "parameters.yaml").write_text(f"notebook: evaluate\nparameters: {{checkpoint: {trained[name]}}}\ntrain_run: {trained[name]}\n")
    table = runs_overview(runs)
    assert [c for c in table.columns if c in {*TWO["stems"], *SIX["stems"]}] == ["drums", "bass", "other", "vocals", "accompaniment", "guitar", "piano"]  # the four, then as first seen
    assert np.isnan(table["guitar"].iloc[0]) and not np.isnan(table["guitar"].iloc[1])


def test_separation_writes_every_stem_of_the_model_and_two_stem_mode_sums_the_rest(trained, tmp_path):
    rate = 8000
    song = tmp_path / "song.wav"
    sf.write(song, np.random.default_rng(1).uniform(-0.3, 0.3, (rate * 2, 2)).astype(np.float32), rate, subtype="FLOAT")
    separator = load_separator(trained["six"], "cpu")
    every = SeparateConfig.from_params({"encoding": "float32", "device": "cpu", "segment_seconds": 1.0})
    summary = separate_files([song], separator, every, tmp_path / "six", progress=False)
    assert summary.status[0] == "ok"
    assert sorted(p.name for p in (tmp_path / "six" / "song").glob("*.wav")) == sorted(f"{s}.wav" for s in SIX["stems"])
    two = SeparateConfig.from_params({"encoding": "float32", "device": "cpu", "segment_seconds": 1.0, "two_stems": True})
    assert separate_files([song], separator, two, tmp_path / "two", progress=False).status[0] == "ok"
    written = {name: sf.read(tmp_path / "six" / "song" / f"{name}.wav")[0] for name in SIX["stems"]}
    accompaniment, _ = sf.read(tmp_path / "two" / "song" / "accompaniment.wav")
    np.testing.assert_allclose(accompaniment, sum(written[s] for s in SIX["stems"] if s != "vocals"), atol=1e-5)
    with pytest.raises(ConfigError, match=r"stems \['guitar'\] are not stems of this model"):
        separate_files([song], load_separator(trained["two"], "cpu"), every.replace(stems=["guitar"]), tmp_path / "x", progress=False)
    assert not (tmp_path / "x").exists()


def test_listening_compares_models_on_the_stems_they_share(trained):
    runs = resolve_runs([str(trained["two"]), str(trained["six"])])
    tracks = list_tracks(EvaluateConfig.from_params(DATA).data, "test", stems=StemSet.of(SIX["stems"], SIX["stem_sources"]))
    player = ComparisonPlayer(tracks, runs, stem="vocals", duration_seconds=1.0, device="cpu")
    assert player.stem_choices == ["vocals"]
    assert [label.split(":")[0] for label in player.labels] == ["mixture", "reference vocals", "vocals estimate", "vocals estimate"]
    with pytest.raises(ValueError, match="stem must be one of the models' stems"):
        ComparisonPlayer(tracks, runs, stem="guitar", duration_seconds=1.0, device="cpu")
    guitar = ComparisonPlayer(tracks, resolve_runs([str(trained["six"])]), stem="guitar", duration_seconds=1.0, device="cpu")
    played = {label.split(":")[0]: (audio, rate) for label, audio, rate in guitar.players}
    _, references, _ = read_track(tracks[0], StemSet.of(SIX["stems"], SIX["stem_sources"]))
    audio, rate = played["reference guitar"]
    np.testing.assert_allclose(audio, references[4][:, :rate], atol=1e-6)  # the family's own stem, from the start


@pytest.mark.parametrize("option", ["resume_from", "init_from"])
def test_a_run_with_other_stems_cannot_resume_or_start_from_a_checkpoint(trained, option):
    config = TrainConfig.from_params({**TINY, **TWO, option: str(trained["six"])})
    with pytest.raises(ConfigError, match=r"stems|differs"):
        starting_point(config, 1)


def test_listening_offers_only_stems_the_models_make_alike_and_reads_only_the_chosen_reference(trained):
    plain = list_tracks(EvaluateConfig.from_params(DATA).data, "test")  # MUSDB18's four: no family files
    runs = resolve_runs([str(trained["six"]), "pretrained"])
    player = ComparisonPlayer(plain, runs, stem="vocals", duration_seconds=1.0, device="cpu")
    # other is other minus guitar and piano for the 6-stem model, all of other for the bundled one: not offered
    assert player.stem_choices == ["drums", "bass", "vocals"]
    played = {label.split(":")[0]: audio for label, audio, _ in player.players}
    _, four, _ = read_track(plain[0])
    np.testing.assert_allclose(played["reference vocals"], four[3][:, : played["reference vocals"].shape[-1]], atol=1e-6)
    player.select(stem="drums")
    assert [label.split(":")[0] for label, _, _ in player.players][:2] == ["mixture", "reference drums"]


def test_fine_tuning_may_make_the_same_stems_from_other_sources(trained, tmp_path):
    config = TrainConfig.from_params({**TINY, "stems": TWO["stems"], "stem_sources": {"accompaniment": ["drums", "bass", "other"]},
                                      "init_from": str(trained["two"])})
    assert starting_point(config, 1).initial is not None  # same stems, other sources: the weights still fit


def test_a_data_set_stem_in_two_targets_is_refused_before_any_work():
    with pytest.raises(ConfigError, match=r"the stem 'drums' goes into both 'drums' and 'backing'"):
        ModelConfig.from_params({"stems": ["vocals", "drums", "backing"], "stem_sources": {"backing": ["drums", "bass"]}})
    from stemunet.config import DataConfig
    from stemunet.data.tracks import synthetic_spec

    # the synthetic set's other holds the families: a 6-stem set must take other as the rest
    with pytest.raises(ConfigError, match=r"other holds every family, guitar, piano included"):
        synthetic_spec(DataConfig(), StemSet.of(SIX["stems"]))
    assert synthetic_spec(DataConfig(), StemSet.of(SIX["stems"], SIX["stem_sources"])).family_stems
