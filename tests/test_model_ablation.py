"""benchmarks/model_ablation.py: issue #19's model and loss options, each trained and scored on the validation tracks."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from model_ablation import default_variants, main, parse_variant  # noqa: E402

from stemunet.config import ConfigError
from stemunet.lab.runs import load_parameter_file
from stemunet.training.config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
TINY = {"synthetic_train_tracks": 3, "synthetic_test_tracks": 1, "synthetic_seconds": 2.0, "base_channels": 4, "depth": 2,
        "epochs": 1, "samples_per_epoch": 4, "batch_size": 2, "chunk_seconds": 1.0, "valid_chunk_seconds": 2.0}


@pytest.mark.parametrize("recipe", ["train_demo.yaml", "train.yaml"])
def test_default_variants_are_issue_19s_options_and_valid_for_the_recipes(recipe):
    params = load_parameter_file(ROOT / "parameters" / recipe)
    base = TrainConfig.from_params(params)
    variants = default_variants(base)
    configs = [TrainConfig.from_params({**params, **variant}) for variant in variants]
    assert sorted([base.loss, *(c.loss for c in configs[:2])]) == ["l1", "l1_mag_wave", "l1_wave"]  # the recipe's loss, then the other two
    assert configs[2].stft.n_channels == 3 - base.stft.n_channels  # the other channel layout
    assert configs[3].model.block == "tfc_tdf" and configs[3].model.max_frequency > 0
    # one option each: nothing else differs from the recipe
    for variant, config in zip(variants, configs):
        changed = {name for name, value in config.to_params().items() if value != base.to_params()[name]}
        assert changed <= set(variant) and changed


def test_variants_parse_and_bad_ones_are_named():
    assert parse_variant("block=tfc_tdf,max_frequency=8000") == {"block": "tfc_tdf", "max_frequency": 8000.0}
    with pytest.raises(ConfigError, match="loss"):
        parse_variant("loss")


def test_ablation_trains_each_variant_at_equal_time_and_scores_it(tmp_path, capsys):
    overrides = [arg for name, value in TINY.items() for arg in ("-p", name, str(value))]
    arguments = ["--out", str(tmp_path), "--seconds", "1", "--variants", "loss=l1_mag_wave,block=tfc_tdf,max_frequency=4000", *overrides]
    assert main(arguments) == 0
    printed = capsys.readouterr()
    names = ["baseline", "loss=l1_mag_wave,block=tfc_tdf,max_frequency=4000"]
    rows = {line.split()[0]: line.split()[1:] for line in printed.out.splitlines() if line.split() and line.split()[0] in {*names, "MIX", "IRM1"}}
    assert list(rows) == [*names, "MIX", "IRM1"], printed.out
    for name in names:
        parameters, examples, seconds, valid_loss, *sdr = rows[name]
        assert parameters.endswith("M") and int(examples) >= 2 and float(seconds) > 0
        assert len(sdr) == 5 and all(math.isfinite(float(v)) for v in [valid_loss, *sdr])
    assert float(rows[names[1]][0][:-1]) > float(rows["baseline"][0][:-1])  # tfc_tdf's linear layers
    assert "budget: 1 s of CPU time in training steps each" in printed.out and printed.err.count("training ") == 2
    assert len(list(tmp_path.glob("*/checkpoints/best.pt"))) == 2
    # Finished runs are reused: a second call trains nothing; a bad variant stops before training.
    assert main(arguments) == 0 and "training " not in capsys.readouterr().err
    with pytest.raises(ConfigError, match="block"):
        main([*arguments[:4], "--variants", "block=tdf", *overrides])
    assert "training " not in capsys.readouterr().err
