"""The README's main job shows the demo model beside the bundled one: scored on the same tracks
(the demo model's evaluation lists both in its runs overview, with MIX and IRM1) and listened to
side by side."""

import re
from pathlib import Path

from stemunet.lab.runs import load_parameter_file

ROOT = Path(__file__).resolve().parents[1]


def demo_steps() -> list[str]:
    """The ``python -m stemunet.run`` arguments of scripts/demo.sh, in order."""
    return [line.split("run ", 1)[1].strip() for line in (ROOT / "scripts" / "demo.sh").read_text().splitlines() if re.match(r"^run \w", line)]


def test_the_demo_evaluates_the_bundled_model_then_the_demo_model_on_the_same_tracks():
    steps = demo_steps()
    assert [step.split()[0] for step in steps] == ["explore", "train", "evaluate", "evaluate", "separate", "listen"]
    bundled, demo = steps[2], steps[3]
    assert "-p checkpoint pretrained" in bundled and "checkpoint" not in demo  # the demo preset's latest
    assert load_parameter_file(ROOT / "parameters" / "evaluate_demo.yaml")["checkpoint"] == "latest"
    train = load_parameter_file(ROOT / "parameters" / "train_demo.yaml")
    evaluate = load_parameter_file(ROOT / "parameters" / "evaluate_demo.yaml")
    assert {k: v for k, v in evaluate.items() if k.startswith("synthetic_")} == {k: v for k, v in train.items() if k.startswith("synthetic_")}


def test_the_demo_listens_to_the_demo_model_beside_the_bundled_one():
    assert load_parameter_file(ROOT / "parameters" / "listen_demo.yaml")["runs"] == ["latest", "pretrained"]


def test_the_stem_set_demos_train_evaluate_separate_and_listen_on_the_demo_songs():
    script = (ROOT / "scripts" / "demo.sh").read_text()
    steps = re.findall(r'^\s+run (\w+) -f "parameters/\1_\$\{stems\}_demo.yaml"', script, flags=re.M)
    assert steps == ["train", "evaluate", "separate", "listen"]
    demo = load_parameter_file(ROOT / "parameters" / "train_demo.yaml")
    for kind, stems in (("2stem", ["vocals", "accompaniment"]), ("6stem", ["drums", "bass", "other", "vocals", "guitar", "piano"])):
        presets = {step: load_parameter_file(ROOT / "parameters" / f"{step}_{kind}_demo.yaml") for step in steps}
        assert presets["train"]["stems"] == stems and len(presets["train"]["stem_weights"]) in (0, len(stems))
        # the 4-stem demo's recipe and songs: only the stem set differs
        assert {k: v for k, v in presets["train"].items() if k not in ("stems", "stem_sources", "stem_weights")} == \
            {k: v for k, v in demo.items() if k not in ("stems", "stem_sources", "stem_weights")}
        for step in ("evaluate", "separate", "listen"):
            assert {k: v for k, v in presets[step].items() if k.startswith("synthetic_")} == {k: v for k, v in demo.items() if k.startswith("synthetic_")}
        assert presets["evaluate"]["checkpoint"] == presets["separate"]["checkpoint"] == "latest" and presets["listen"]["runs"][0] == "latest"
        assert presets["listen"]["stem"] in stems
