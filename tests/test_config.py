import pytest

from stemunet.config import ConfigError, DataConfig, ModelConfig, SeparatorConfig, StftConfig


def test_from_params_round_trips_flat_nested_parameters():
    config = SeparatorConfig.from_params({"sample_rate": 16000, "n_channels": 1, "depth": 4})
    assert config.stft.sample_rate == 16000 and config.stft.n_channels == 1 and config.model.depth == 4
    assert SeparatorConfig.from_params(config.to_params()) == config


def test_unknown_key_is_rejected_with_the_valid_names():
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) \['n_ftt'\].*'n_fft'"):
        StftConfig.from_params({"n_ftt": 1024})


@pytest.mark.parametrize(
    "params, message",
    [
        ({"n_fft": "1024"}, "expected an integer"),
        ({"n_fft": 1024.0}, "expected an integer"),
        ({"n_channels": True}, "expected an integer"),
        ({"block": "triple"}, "not one of"),
        ({"max_frequency": "high"}, "expected a number"),
        ({"n_channels": 3}, "n_channels must be 1 or 2"),
        ({"hop_length": 4000}, "hop_length"),
    ],
)
def test_wrong_types_and_values_are_rejected(params, message):
    with pytest.raises(ConfigError, match=message):
        SeparatorConfig.from_params(params)


def test_int_is_accepted_for_a_float_parameter():
    assert ModelConfig.from_params({"max_frequency": 16000}).max_frequency == 16000.0


def test_yaml_round_trip(tmp_path):
    config = DataConfig(musdb_root="/data/musdb18hq", synthetic_seconds=5.0)
    path = tmp_path / "data.yaml"
    path.write_text(config.to_yaml())
    assert DataConfig.from_yaml(path) == config


def test_yaml_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("musdb_rot: /x\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        DataConfig.from_yaml(path)


def test_flat_parameter_names_are_unique():
    names = SeparatorConfig.parameter_names()
    assert len(names) == len(set(names))


def test_replace_validates():
    config = StftConfig()
    assert config.replace(n_fft=2048).n_fft == 2048
    with pytest.raises(ConfigError):
        config.replace(n_fft="big")


@pytest.mark.parametrize("notebook", ["train", "evaluate", "separate", "listen"])
def test_every_config_with_a_device_refuses_one_this_machine_lacks(notebook, monkeypatch):
    """Checked when the parameters are, so the runner exits 2 before it makes a run folder."""
    import torch

    from stemunet.lab.runs import notebook_config_class

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    config_class = notebook_config_class(notebook)
    with pytest.raises(ConfigError, match="device 'cuda': CUDA is not available"):
        config_class.from_params({"device": "cuda"})
    with pytest.raises(ConfigError, match="device 'gpu'"):
        config_class.from_params({"device": "gpu"})
    assert config_class.from_params({"device": "cpu"}).device == "cpu"


def test_off_typed_on_the_command_line_is_the_choice_off_not_false():
    from stemunet.lab.runs import parse_value
    from stemunet.training.config import TrainConfig

    assert parse_value("off", "mixed_precision") is False  # YAML 1.1, as Papermill's -p reads it
    assert TrainConfig.from_params({"mixed_precision": parse_value("off", "mixed_precision")}).mixed_precision == "off"
    with pytest.raises(ValueError, match="augment_gain"):
        TrainConfig.from_params({"augment_gain": "off"})  # a bool parameter still wants true/false
