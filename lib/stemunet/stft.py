"""Short-time Fourier transform and its exact inverse, batched, on CPU and CUDA."""

from __future__ import annotations

import torch
from torch import nn

from stemunet.config import StftConfig


class Stft(nn.Module):
    """Waveforms to complex spectrograms.

    ``(..., n_samples)`` float -> ``(..., n_bins, n_frames)`` complex, where
    ``n_bins = n_fft // 2 + 1`` and ``n_frames = n_samples // hop_length + 1`` (centred frames).
    Leading axes (batch, channels, stems) are kept.
    """

    def __init__(self, config: StftConfig):
        super().__init__()
        self.config = config
        # A buffer, so .to(device) moves it and checkpoints need not store it (persistent=False).
        self.register_buffer("window", torch.hann_window(config.n_fft), persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        leading = waveform.shape[:-1]
        flat = waveform.reshape(-1, waveform.shape[-1])
        spec = torch.stft(
            flat,
            n_fft=self.config.n_fft,
            hop_length=self.config.hop_length,
            window=self.window.to(flat.dtype),
            center=True,
            pad_mode="reflect" if flat.shape[-1] > self.config.n_fft // 2 else "constant",
            return_complex=True,
        )
        return spec.reshape(*leading, *spec.shape[-2:])


class Istft(nn.Module):
    """Complex spectrograms back to waveforms of a given length.

    ``(..., n_bins, n_frames)`` complex -> ``(..., length)`` float. With the same config as the
    :class:`Stft` that made the spectrogram, ``Istft(Stft(x), x.shape[-1])`` equals ``x`` up to
    float rounding, whatever the length (the Hann window at hop <= n_fft/2 satisfies the
    overlap-add condition, and ``length`` trims the padding of the last frame).
    """

    def __init__(self, config: StftConfig):
        super().__init__()
        self.config = config
        self.register_buffer("window", torch.hann_window(config.n_fft), persistent=False)

    def forward(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        leading = spec.shape[:-2]
        flat = spec.reshape(-1, *spec.shape[-2:])
        waveform = torch.istft(
            flat,
            n_fft=self.config.n_fft,
            hop_length=self.config.hop_length,
            window=self.window.to(flat.real.dtype),
            center=True,
            length=length,
        )
        return waveform.reshape(*leading, length)


def magnitude(spec: torch.Tensor) -> torch.Tensor:
    """``|spec|``, real, same shape."""
    return spec.abs()
