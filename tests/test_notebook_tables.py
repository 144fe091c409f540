"""What the notebooks' tables show: narrow HTML (the browser test measures it at 1100 px), short
paths and names, the separation's outcome as a table."""

from __future__ import annotations

import json
import re

import pandas as pd
import yaml

from stemunet.lab.overview import model_label, run_time, runs_overview_view
from stemunet.lab.runs import short_path, short_paths
from stemunet.lab.tables import compact_html
from stemunet.separation.summary import outcome_table, summary_view


def test_compact_tables_keep_numbers_and_dates_whole_and_let_headers_wrap():
    table = pd.DataFrame({"seconds_taken": [1.5], "SDR": ["4.95 ± 1.21"], "note": ["a long note that may wrap between its words"]},
                         index=pd.Index(["2026-12-06 09:28:38"], name="evaluation"))  # fmt: skip
    html = compact_html(table)
    assert "seconds_<wbr>taken" in html  # a header breaks after its underscore
    assert "<td style='white-space: nowrap'>4.95 ± 1.21</td>" in html and "<td style='white-space: nowrap'>1.5</td>" in html
    assert "<td>a long note that may wrap between its words</td>" in html
    assert "<span style='white-space: nowrap'>2026-12-06</span> 09:28:38" in html  # not broken at its hyphens
    (identity,) = set(re.findall(r"#(stemunet-table-[0-9a-f]+)", html))
    assert f"<div id='{identity}'>" in html  # the style reaches this table only


def test_tables_show_paths_relative_to_the_run_folder_or_by_their_last_two_parts(tmp_path):
    run = tmp_path / "runs" / "2026-01-01T00-00-00_separate"
    table = pd.DataFrame({"input": [str(tmp_path / "cache" / "synthetic" / "test_000" / "mixture.wav")],
                          "output": [str(run / "stems" / "test_000" / "vocals.wav")], "n": [3]})  # fmt: skip
    shown = short_paths(table, run)
    assert shown.iloc[0].tolist() == [".../test_000/mixture.wav", "stems/test_000/vocals.wav", 3]
    assert short_path("pretrained") == "pretrained" and short_path("/a/b") == "/a/b"


def test_the_outcome_of_a_separation_is_a_small_table(tmp_path):
    metrics = {"n_inputs": 2, "n_separated": 2, "n_skipped": 0, "n_failed": 0, "audio_seconds": 12.0, "seconds_taken": 0.5,
               "x_realtime": 24.0, "output_dir": str(tmp_path / "stems"),
               "postfilter": {"wiener_iterations": 1, "mask_power": 1.0}}  # fmt: skip
    table = outcome_table(metrics, tmp_path)
    assert table.loc["separated", "value"] == "2" and table.loc["stems written to", "value"] == "stems"
    assert table.loc["post-filter", "value"] == "wiener_iterations 1, mask_power 1.0"
    assert "{" not in table.to_string()


def test_the_separation_summary_as_shown_names_stems_and_leaves_out_what_the_inputs_table_has():
    summary = pd.DataFrame([{"input": "/x/song.wav", "track": "song", "status": "ok", "error": "", "seconds": 6.0, "seconds_taken": 0.3,
                             "x_realtime": 20.0, "sample_rate": 44100, "channels": 2, "gain": 1.0,
                             "outputs": ["/out/song/drums.wav", "/out/song/vocals.wav"], "note": ""}])  # fmt: skip
    view = summary_view(summary)
    assert list(view.columns) == ["status", "seconds", "seconds taken", "x realtime", "gain", "outputs", "note"]
    assert view.loc["song", "outputs"] == "drums, vocals"


def test_models_and_runs_are_named_by_recipe_and_time_not_by_folder(tmp_path):
    from stemunet.checkpoints import CheckpointRef, save_model
    from stemunet.config import ModelConfig, SeparatorConfig, StftConfig
    from stemunet.separation.separator import Separator

    runs = tmp_path / "runs"
    train = runs / "2026-12-06T02-31-57_train"
    save_model(Separator(SeparatorConfig(StftConfig(n_fft=256, hop_length=64), ModelConfig(base_channels=4, depth=2))), train / "checkpoints" / "best.pt")
    (train / "parameters.yaml").write_text(yaml.safe_dump({"notebook": "train", "command": "python -m stemunet.run train -f parameters/train_demo.yaml"}))
    assert model_label(CheckpointRef.resolve(str(train))) == "demo model (2026-12-06 02:31)"
    (train / "checkpoints" / "last.pt").write_bytes((train / "checkpoints" / "best.pt").read_bytes())
    assert model_label(CheckpointRef.resolve(str(train / "checkpoints" / "last.pt"))) == "demo model (2026-12-06 02:31, last)"
    assert model_label(CheckpointRef.resolve("pretrained")) == "pretrained"
    assert run_time("2026-12-06T09-28-38_evaluate") == "2026-12-06 09:28:38" and run_time("my_evaluate") == "my"

    evaluation = runs / "2026-12-06T03-00-00_evaluate"
    evaluation.mkdir()
    (evaluation / "parameters.yaml").write_text(yaml.safe_dump({"notebook": "evaluate", "train_run": str(train), "parameters": {}}))
    scores = {"SDR": {"median_of_medians": 3.0}}
    (evaluation / "metrics.json").write_text(json.dumps({"model": {"all": scores}, "about": {"n_tracks": 2, "stems": ["vocals"]}}))
    view = runs_overview_view(runs)
    assert list(view.index) == ["2026-12-06 03:00:00"] and view.index.name == "evaluation"
    assert view.iloc[0]["model"] == "demo 2026-12-06 02:31" and view.iloc[0]["SDR"] == 3.0
