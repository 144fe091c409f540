"""Listening widgets, built in Python: what they show and play after programmatic selections."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
import yaml

from stemunet.checkpoints import save_model
from stemunet.config import ConfigError, DataConfig, ModelConfig, SeparatorConfig, StftConfig
from stemunet.data.synthetic import SyntheticSpec, generate_synthetic_dataset
from stemunet.data.tracks import list_tracks, read_track_excerpt
from stemunet.lab.overview import listen_provenance, resolve_runs
from stemunet.lab.players import audio_players, player_bytes
from stemunet.lab.widgets import ComparisonPlayer, ListenConfig, StemPlayer
from stemunet.separation.loading import load_separator
from stemunet.separation.separator import Separator

RATE = 44100
SPEC = SyntheticSpec(n_train_tracks=2, n_test_tracks=2, track_seconds=4.0, seed=5)


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory) -> Path:
    return generate_synthetic_dataset(tmp_path_factory.mktemp("synthetic") / "set", SPEC, progress=False)


def tiny_separator(seed: int) -> Separator:
    torch.manual_seed(seed)
    return Separator(SeparatorConfig(StftConfig(n_fft=512, hop_length=128), ModelConfig(base_channels=4, depth=2)))


def make_training_run(runs_root: Path, stamp: str, seed: int) -> Path:
    run = runs_root / f"{stamp}_train"
    save_model(tiny_separator(seed), run / "checkpoints" / "best.pt")
    (run / "metrics.json").write_text('{"finished": true}')
    return run


def make_evaluate_run(runs_root: Path, stamp: str, train_run: Path, rows: list[tuple], data_root: Path) -> Path:
    """An evaluate run folder as the evaluation notebook writes it (the part widgets read), of ``data_root``'s test set."""
    run = runs_root / f"{stamp}_evaluate"
    run.mkdir(parents=True)
    record = {"notebook": "evaluate", "train_run": str(train_run), "checkpoint": str(train_run / "checkpoints" / "best.pt")}
    (run / "parameters.yaml").write_text(yaml.safe_dump(record))
    pd.DataFrame(rows, columns=["method", "track", "stem", "metric", "value"]).to_csv(run / "track_scores.csv", index=False)
    (run / "metrics.json").write_text(json.dumps({"about": {"data_root": str(data_root.resolve()), "subset": "test"}}))
    return run


@pytest.fixture
def runs_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "runs"
    root.mkdir()
    monkeypatch.setenv("STEMUNET_RUNS", str(root))
    return root


@pytest.fixture
def two_runs(runs_root, synthetic_root):
    """Two training runs with different weights; only the first has been evaluated."""
    first = make_training_run(runs_root, "2026-01-01T10-00-00", seed=1)
    second = make_training_run(runs_root, "2026-01-02T10-00-00", seed=2)
    make_evaluate_run(
        runs_root,
        "2026-01-01T11-00-00",
        first,
        [
            ("model", "test_000", "vocals", "SDR", 4.25),
            ("model", "test_000", "drums", "SDR", 1.5),
            ("mixture", "test_000", "vocals", "SDR", -3.0),
            ("model", "test_000", "vocals", "SIR", 9.0),
        ],
        synthetic_root,
    )
    return first, second


def shown_audio(widget) -> list[bytes]:
    """The audio of each source in the live widget's synced player, as embedded in its HTML."""
    (output,) = widget._player_box.outputs
    return [base64.b64decode(data) for data in re.findall(r"src='data:audio/mpeg;base64,([^']*)'", output["data"]["text/html"])]


# -- the data set stem player ---------------------------------------------------------------------


def test_stem_player_plays_the_mixture_and_each_stem_of_the_excerpt(synthetic_root):
    tracks = list_tracks(synthetic_root, "train")
    player = StemPlayer(tracks, track="train_001", start_seconds=0.5, duration_seconds=2.0)
    assert player.labels == ["mixture", "drums", "bass", "other", "vocals"]
    excerpt = read_track_excerpt(tracks[1], 0.5, 2.0)
    for (label, waveform, rate), expected in zip(player.players, excerpt.named().values()):
        assert rate == RATE and waveform.shape == (2, 2 * RATE)
        np.testing.assert_array_equal(waveform, expected)


def test_select_changes_track_and_fits_the_excerpt_inside_it(synthetic_root):
    player = StemPlayer(list_tracks(synthetic_root, "train"), duration_seconds=1.0)
    assert player.track == "train_000"
    player.select(track="train_001", start=3.5, duration=2.0)
    assert (player.track, player.start_seconds, player.duration_seconds) == ("train_001", 2.0, 2.0)
    assert all(waveform.shape[-1] == 2 * RATE for _, waveform, _ in player.players)
    player.select(duration=10.0)  # longer than the track: the whole track
    assert (player.start_seconds, player.duration_seconds) == (0.0, 4.0)
    with pytest.raises(ValueError, match="no track 'nope'"):
        player.select(track="nope")
    with pytest.raises(TypeError, match="stem"):
        player.select(stem="vocals")  # the stem player plays every stem


# -- the comparison -------------------------------------------------------------------------------


def test_comparison_plays_mixture_reference_and_each_runs_estimate(synthetic_root, two_runs):
    runs = resolve_runs([str(run) for run in two_runs])
    comparison = ComparisonPlayer(list_tracks(synthetic_root, "test"), runs, stem="bass", start_seconds=1.0, duration_seconds=1.5)
    assert comparison.labels == [
        "mixture",
        "reference bass",
        "bass estimate: model (2026-01-01 10:00)",
        "bass estimate: model (2026-01-02 10:00)",
    ]
    excerpt = read_track_excerpt(list_tracks(synthetic_root, "test")[0], 1.0, 1.5)
    players = comparison.players
    assert all(rate == RATE and waveform.shape == (2, int(1.5 * RATE)) for _, waveform, rate in players)
    np.testing.assert_array_equal(players[0][1], excerpt.mixture)
    np.testing.assert_array_equal(players[1][1], excerpt.stems[1])


def test_estimates_come_from_the_right_run(synthetic_root, two_runs):
    runs = resolve_runs([str(run) for run in two_runs])
    comparison = ComparisonPlayer(list_tracks(synthetic_root, "test"), runs, stem="vocals", start_seconds=1.0, duration_seconds=2.0)
    # The separator hears 1 s of context on each side: from 0 s to 4 s, cut to 1-3 s.
    context = read_track_excerpt(list_tracks(synthetic_root, "test")[0], 0.0, 4.0)
    players = comparison.players
    for run, (_, waveform, _) in zip(two_runs, players[2:]):
        expected = load_separator(run / "checkpoints" / "best.pt", "cpu").separate(context.mixture, RATE)[3, :, RATE : 3 * RATE]
        np.testing.assert_allclose(waveform, expected.numpy(), atol=1e-6)
    assert not np.allclose(players[2][1], players[3][1])


def test_changing_the_stem_reuses_the_cached_estimates(synthetic_root, two_runs):
    comparison = ComparisonPlayer(list_tracks(synthetic_root, "test"), resolve_runs([str(two_runs[0])]), duration_seconds=1.0)
    vocals = comparison.players[2][1]
    comparison.select(stem="drums")
    assert len(comparison._estimates) == 1
    assert comparison.labels[1:] == ["reference drums", "drums estimate: model (2026-01-01 10:00)"]
    assert not np.array_equal(comparison.players[2][1], vocals)
    comparison.select(start=2.0)
    assert comparison.players[2][1].shape == (2, RATE)
    assert len(comparison._estimates) == 2


def test_sdr_labels_come_from_the_evaluation_of_that_run(synthetic_root, two_runs):
    runs = resolve_runs([str(run) for run in two_runs])
    comparison = ComparisonPlayer(list_tracks(synthetic_root, "test"), runs, stem="vocals", duration_seconds=1.0)
    assert comparison.sdr == {"model (2026-01-01 10:00)": 4.25, "model (2026-01-02 10:00)": None}
    labels = comparison.sdr_labels
    assert "SDR 4.25 dB" in labels[0] and "2026-01-01T11-00-00_evaluate" in labels[0]
    assert labels[1] == "model (2026-01-02 10:00): no evaluation of this run found"
    comparison.select(stem="drums")
    assert comparison.sdr["model (2026-01-01 10:00)"] == 1.5
    comparison.select(track="test_001")  # evaluated, but not on this track
    assert comparison.sdr["model (2026-01-01 10:00)"] is None
    assert "test_001 is not among the tracks" in comparison.sdr_labels[0]


def test_latest_is_the_newest_training_run(runs_root, two_runs):
    runs = resolve_runs(["latest"])
    assert [run.label for run in runs] == ["model (2026-01-02 10:00)"]
    assert listen_provenance(runs)["compared"][0]["train_run"] == str(two_runs[1])


def test_no_training_run_says_so(runs_root):
    with pytest.raises(FileNotFoundError, match="no finished training run"):
        resolve_runs(["latest"])


def test_a_bare_checkpoint_file_is_compared_under_its_name(synthetic_root, tmp_path, runs_root):
    checkpoint = save_model(tiny_separator(3), tmp_path / "elsewhere" / "model.pt")
    comparison = ComparisonPlayer(list_tracks(synthetic_root, "test"), resolve_runs([str(checkpoint)]), duration_seconds=1.0)
    assert comparison.labels[-1] == "vocals estimate: model.pt"
    assert comparison.sdr_labels == ["model.pt: no evaluation of this run found"]


def test_from_config_builds_the_selection_the_config_names(synthetic_root, two_runs):
    config = ListenConfig.from_params(
        {"musdb_root": str(synthetic_root), "runs": [str(two_runs[0])], "track": "test_001", "stem": "other",
         "start_seconds": 0.5, "duration_seconds": 1.0, "device": "cpu"}
    )
    comparison = ComparisonPlayer.from_config(config)
    assert (comparison.track, comparison.stem, comparison.start_seconds, comparison.duration_seconds) == ("test_001", "other", 0.5, 1.0)
    assert comparison.track_names == ["test_000", "test_001"]
    summary = comparison.summary()
    assert summary["players"] == comparison.labels and summary["runs"][0]["sdr_db"] is None


def test_live_widget_follows_select_and_its_controls_change_the_selection(synthetic_root, two_runs):
    comparison = ComparisonPlayer(list_tracks(synthetic_root, "test"), resolve_runs([str(two_runs[0])]), duration_seconds=1.0)
    widget = comparison.widget
    assert len(shown_audio(comparison)) == 3
    assert "SDR 4.25 dB" in comparison._sdr_html.value
    comparison.select(stem="bass")
    assert comparison._stem_dropdown.value == "bass"
    comparison._stem_dropdown.value = "drums"  # what a click does
    assert comparison.stem == "drums" and comparison.labels[1] == "reference drums"
    assert "SDR 1.50 dB" in comparison._sdr_html.value
    comparison._start_slider.value = 1.5
    assert comparison.start_seconds == 1.5
    decoded, rate = sf.read(io.BytesIO(shown_audio(comparison)[2]), dtype="float32")
    assert rate == RATE and decoded.shape == (RATE, 2)
    expected = np.clip(comparison.players[2][1], -1, 1)
    for channel in range(2):  # MP3 is lossy: the same excerpt, at the same level, to within coding noise
        assert np.corrcoef(decoded[:, channel], expected[channel])[0, 1] > 0.95
        assert abs(np.std(decoded[:, channel]) / np.std(expected[channel]) - 1) < 0.1
    assert widget is comparison.widget


def test_while_a_selection_is_prepared_the_controls_are_disabled_and_the_old_players_hidden(synthetic_root, two_runs):
    comparison = ComparisonPlayer(list_tracks(synthetic_root, "test"), resolve_runs([str(two_runs[0])]), duration_seconds=1.0)
    comparison.widget
    controls = [comparison._track_dropdown, comparison._start_slider, comparison._duration_slider, comparison._stem_dropdown]
    seen = []
    separate = comparison._players

    def observed_players():  # the slow part (reading and separating): what the user sees meanwhile
        seen.append(([c.disabled for c in controls], comparison._player_box.layout.visibility, comparison._status.value))
        return separate()

    comparison._players = observed_players
    comparison._start_slider.value = 1.0  # what a drag does
    assert seen == [([True] * 4, "hidden", seen[0][2])] and "working" in seen[0][2]
    assert all(ord(c) < 0x2190 for c in seen[0][2]), "a glyph that needs an emoji font (an empty box without one)"
    assert [c.disabled for c in controls] == [False] * 4 and comparison._player_box.layout.visibility == "visible"
    assert comparison._status.value == "<i>vocals of test_000, 1.0-2.0 s</i>"


def test_stem_player_controls_change_track_and_excerpt(synthetic_root):
    player = StemPlayer(list_tracks(synthetic_root, "train"), duration_seconds=1.0)
    player.widget
    player._duration_slider.value = 2.0
    assert player.duration_seconds == 2.0 and player._start_slider.max == 2.0
    player._track_dropdown.value = "train_001"
    assert player.track == "train_001"
    player.select(start=3.0)  # fitted inside the track, and the slider follows
    assert player.start_seconds == 2.0 and player._start_slider.value == 2.0
    assert len(shown_audio(player)) == 5


def test_static_outputs_show_and_save_every_player(synthetic_root, two_runs, tmp_path):
    comparison = ComparisonPlayer(list_tracks(synthetic_root, "test"), resolve_runs([str(two_runs[0])]), duration_seconds=1.0)
    figure = comparison.figure()
    assert len(figure.axes) == 3 + 1  # a spectrogram per player and the colour bar
    assert comparison.static_audio().data.count("<audio") == 3
    paths = comparison.save_audio(tmp_path / "excerpts")
    assert [p.name for p in paths] == ["mixture.wav", "reference_vocals.wav", "vocals_estimate_model_2026-01-01_10_00.wav"]
    assert sf.info(str(paths[0])).frames == RATE


def test_player_audio_keeps_levels_clips_overs_and_is_a_tenth_of_wav():
    rate = 22050
    t = np.arange(2 * rate) / rate
    waveform = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 3.0 * np.sin(2 * np.pi * 220 * t)]).astype(np.float32)
    encoded = player_bytes(waveform, rate)
    decoded, decoded_rate = sf.read(io.BytesIO(encoded), dtype="float32", always_2d=True)
    assert decoded_rate == rate and decoded.shape[1] == 2
    assert abs(np.sqrt(np.mean(decoded[:, 0] ** 2)) - 0.5 / np.sqrt(2)) < 0.02  # the level, not normalised
    assert np.abs(decoded[:, 1]).max() <= 1.05  # clipped before encoding
    assert len(encoded) < 0.15 * waveform.size * 2  # 16-bit WAV would be 2 bytes a sample


def test_static_players_embed_at_most_ten_seconds_and_link_the_whole_file(tmp_path):
    rate = 8000
    long = np.zeros((1, 60 * rate), dtype=np.float32)
    long[0, ::100] = 0.5
    (tmp_path / "stems").mkdir()
    html = audio_players({"vocals": long}, rate, files={"vocals": tmp_path / "stems" / "vocals.wav"}, notebook_folder=tmp_path).data
    assert html.count("<audio") == 1 and "href='stems/vocals.wav'" in html
    assert len(html) < 60 * rate * 2 / 10  # ten seconds of MP3, not a minute of WAV


def test_static_players_link_only_files_inside_the_run_folder(tmp_path):
    """Jupyter serves the folder it started in: a link climbing out of the run folder is a 404."""
    rate = 8000
    run, cache = tmp_path / "runs" / "2026-01-01T00-00-00_separate", tmp_path / "cache" / "test_000"
    (run / "stems" / "test_000").mkdir(parents=True)
    files = {"mixture": cache / "mixture.wav", "vocals": run / "stems" / "test_000" / "vocals.wav"}
    silence = np.zeros((1, rate), dtype=np.float32)
    html = audio_players({"mixture": silence, "vocals": silence}, rate, files=files, notebook_folder=run).data
    assert re.findall(r"href='([^']*)'", html) == ["stems/test_000/vocals.wav"]
    assert f"<code title='{cache / 'mixture.wav'}'>.../test_000/mixture.wav</code>" in html  # where the whole input is, as text
    assert html.count("<audio") == 2


def test_listen_config_rejects_an_unknown_device_and_the_comparison_a_stem_no_model_has(synthetic_root, two_runs):
    with pytest.raises(ConfigError, match="device"):
        ListenConfig.from_params({"device": "gpu"})
    assert ListenConfig().data == DataConfig()
    assert ListenConfig.from_params({"stem": "guitar"}).stem == "guitar"  # a 6-stem model's: the models decide
    with pytest.raises(ValueError, match="stem must be one of the models' stems"):
        ComparisonPlayer(list_tracks(synthetic_root, "test"), resolve_runs([str(two_runs[0])]), stem="guitar", duration_seconds=1.0)


def test_a_score_of_another_data_set_with_the_same_track_names_is_not_shown(synthetic_root, runs_root, tmp_path):
    """Another synthetic set (other size or seed) also has a test_000: its score is not this track's."""
    run = make_training_run(runs_root, "2026-01-03T10-00-00", seed=4)
    make_evaluate_run(runs_root, "2026-01-03T11-00-00", run, [("model", "test_000", "vocals", "SDR", 3.05)], tmp_path / "other-set")
    comparison = ComparisonPlayer(list_tracks(synthetic_root, "test"), resolve_runs([str(run)]), stem="vocals", duration_seconds=1.0)
    assert comparison.sdr == {"model (2026-01-03 10:00)": None}
    assert "no score for this data set" in comparison.sdr_labels[0] and "3.05" not in comparison.sdr_labels[0]


def test_the_saved_text_of_a_widget_says_what_it_is_not_its_repr(synthetic_root):
    player = StemPlayer(list_tracks(synthetic_root, "train"), duration_seconds=1.0)
    bundle = player.display_bundle()
    assert "application/vnd.jupyter.widget-view+json" in bundle  # the live view
    assert "VBox(" not in bundle["text/plain"] and bundle["text/plain"].startswith("Live player (train_000, 0.0-1.0 s): its controls need a running kernel. Run the notebook (Run All)")


def test_runs_default_to_the_bundled_model(runs_root):
    (compared,) = resolve_runs([])
    assert compared.label == "pretrained" and compared.train_run is None


def test_links_work_from_a_source_notebook_and_from_the_run_folder(tmp_path, monkeypatch):
    """A source notebook in notebooks/ (JupyterLab started in the project) links into its run folder."""
    from stemunet.lab.players import file_link
    from stemunet.lab.runs import start_run

    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / "lib" / "stemunet").mkdir(parents=True)
    monkeypatch.chdir(project / "notebooks")  # where JupyterLab starts a source notebook's kernel
    monkeypatch.setenv("STEMUNET_RUNS", str(project / "runs"))
    source = start_run("separate")  # no run_dir: the notebook is the source one, here
    assert source.links_from == project / "notebooks"
    stem = source.file("stems/song/vocals.wav")
    stem.touch()
    assert file_link(stem, source.links_from) == f"../runs/{source.path.name}/stems/song/vocals.wav"
    made = start_run("separate", project / "runs" / "2026-01-01T00-00-00_separate")  # the runner made the folder
    assert made.links_from == made.path.resolve() and file_link(made.file("stems/a.wav"), made.links_from) == "stems/a.wav"
    assert file_link(tmp_path / "elsewhere.wav", source.links_from) == ""  # outside what JupyterLab serves
