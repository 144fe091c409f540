import numpy as np
import pytest
import torch

from stemunet.checkpoints import read_checkpoint, save_model
from stemunet.config import PostFilterChoice, ChunkingConfig, ModelConfig, SeparatorConfig, StftConfig
from stemunet.separation.loading import load_separator
from stemunet.separation.separator import Separator

TINY = SeparatorConfig(StftConfig(n_fft=512, hop_length=128), ModelConfig(base_channels=4, depth=3))
TINY_MONO = SeparatorConfig(StftConfig(sample_rate=16000, n_channels=1, n_fft=256, hop_length=64), ModelConfig(base_channels=4, depth=2))


def test_forward_shapes_and_stem_order():
    separator = Separator(TINY).eval()
    stems = separator(torch.randn(3, 2, 10001))
    assert stems.shape == (3, 4, 2, 10001)
    assert separator.stem_names == ("drums", "bass", "other", "vocals")


def test_softmax_masks_make_stems_sum_to_the_mixture():
    separator = Separator(TINY).eval()
    mixture = torch.randn(1, 2, 8000)
    with torch.no_grad():
        stems = separator(mixture)
    torch.testing.assert_close(stems.sum(dim=1), mixture, atol=1e-4, rtol=1e-4)


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    separator = Separator(TINY)
    separator.train()
    separator(torch.randn(2, 2, 5000))  # move batch-norm statistics away from their defaults
    separator.eval()
    path = save_model(separator, tmp_path / "model.pt", note="hello")
    loaded = load_separator(path, "cpu")
    assert loaded.config == TINY and not loaded.training
    mixture = torch.randn(1, 2, 7000)
    with torch.no_grad():
        torch.testing.assert_close(loaded(mixture), separator(mixture), rtol=0, atol=0)
    checkpoint = read_checkpoint(path)
    assert checkpoint["note"] == "hello" and checkpoint["separator_config"]["n_fft"] == 512


def test_loading_a_bad_checkpoint_names_the_file(tmp_path):
    path = tmp_path / "broken.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="broken.pt"):
        load_separator(path, "cpu")
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a stemunet checkpoint"):
        load_separator(tmp_path / "other.pt", "cpu")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_separator(tmp_path / "missing.pt", "cpu")


@pytest.mark.parametrize("config", [TINY, TINY_MONO])
@pytest.mark.parametrize("in_channels", [1, 2])
@pytest.mark.parametrize("rate", [44100, 22050])
def test_separate_keeps_rate_channels_and_length(config, in_channels, rate):
    separator = Separator(config)
    audio = np.random.default_rng(0).normal(size=(in_channels, rate // 2 + 77)).astype(np.float32) * 0.1
    stems = separator.separate(audio, rate, ChunkingConfig(segment_seconds=0.2, overlap=0.25, batch_segments=3))
    assert stems.shape == (4, in_channels, audio.shape[1]) and stems.dtype == torch.float32


def test_separate_rejects_surround_unless_downmixed():
    separator = Separator(TINY)
    audio = np.zeros((6, 4000), np.float32)
    with pytest.raises(ValueError, match="6 channels"):
        separator.separate(audio, 44100, path="surround.wav")
    assert separator.separate(audio, 44100, downmix=True).shape == (4, 1, 4000)


# Every bin modelled: above max_frequency, separation shares the band by the top band's masks
# where forward (training) splits it evenly (tests/test_postfilter.py).
@pytest.mark.parametrize("config", [TINY.replace(max_frequency=0.0), TINY_MONO])
def test_separate_equals_forward_and_leaves_the_training_mode_alone(config):
    torch.manual_seed(0)
    separator = Separator(config)
    separator.train()
    for _ in range(3):  # batch-norm statistics away from their defaults, so folding them matters
        separator(torch.randn(2, config.stft.n_channels, 6000))
    audio = torch.randn(config.stft.n_channels, 9000) * 0.1
    separator.use_postfilter(PostFilterChoice(precision="float32"))  # forward is float32; auto is bf16 on CPUs that have it
    stems = separator.separate(audio, config.stft.sample_rate, ChunkingConfig(segment_seconds=100.0))
    assert separator.training  # separating did not switch the model to eval mode
    separator.eval()
    with torch.no_grad():
        expected = separator(audio[None])[0]
    torch.testing.assert_close(stems, expected, atol=1e-5, rtol=1e-4)
