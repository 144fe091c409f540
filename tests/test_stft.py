import pytest
import torch

from stemunet.config import StftConfig
from stemunet.stft import Istft, Stft


@pytest.mark.parametrize("length", [44100, 44101, 1023 * 7 + 5, 3000, 100])
@pytest.mark.parametrize("config", [StftConfig(), StftConfig(sample_rate=16000, n_channels=1, n_fft=1024, hop_length=256)])
def test_round_trip_is_exact_for_any_length(config, length):
    torch.manual_seed(0)
    waveform = torch.randn(2, config.n_channels, length, dtype=torch.float64)
    stft, istft = Stft(config), Istft(config)
    spec = stft(waveform)
    assert spec.shape == (2, config.n_channels, config.n_bins, length // config.hop_length + 1)
    restored = istft(spec, length)
    error = (restored - waveform).norm() / waveform.norm()
    assert error < 1e-5


def test_round_trip_float32_and_extra_leading_axes():
    config = StftConfig()
    waveform = torch.randn(3, 4, 2, 20000)
    restored = Istft(config)(Stft(config)(waveform), 20000)
    assert restored.shape == waveform.shape
    assert ((restored - waveform).norm() / waveform.norm()) < 1e-5


def test_stft_follows_the_module_device_and_dtype():
    config = StftConfig(n_fft=256, hop_length=64)
    stft = Stft(config).to(torch.float64)
    spec = stft(torch.randn(1, 2, 1000, dtype=torch.float64))
    assert spec.dtype == torch.complex128
