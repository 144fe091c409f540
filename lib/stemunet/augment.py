"""Training augmentations, as pure functions on tensors.

Where each one acts, and why there:

* waveform level, on one training chunk, inside :class:`stemunet.datasets.RandomChunkDataset`
  (so loader workers do the work, and every item stays reproducible from its own random
  generator): random remix of stems across tracks (done by the data set when it picks a track
  per stem), :func:`random_gain` (±3 dB per stem), :func:`swap_channels`, :func:`time_mask`
  and :func:`add_noise`;
* spectrogram level, on a batch, inside the training step: :func:`frequency_mask`. Zeroing a
  frequency band is only meaningful on a spectrogram (on a waveform it would need a band-stop
  filter, whose transition bands leak), and the model's STFT is computed in the training step
  anyway, on the device.

Masks (time and frequency) are applied to the mixture *and* every target stem alike: the model
masks the mixture, so a target that kept energy where the mixture has none could not be reached
and would only add noise to the loss. Noise, by contrast, goes into the mixture only: the
targets stay clean, and the model learns to leave the noise out of every stem.

Shapes: ``stems`` is ``(n_stems, n_channels, n_samples)``, ``mixture`` is
``(n_channels, n_samples)``, batched spectrograms are ``(batch, n_channels, n_bins, n_frames)``
for the mixture and ``(batch, n_stems, n_channels, n_bins, n_frames)`` for the targets.
Randomness comes from the generator passed in; no function touches global random state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class WaveformAugmentation:
    """Which waveform-level augmentations a training data set applies, and how strongly.

    The default applies none (a data set then yields the chunks as they are in the files).
    """

    remix: bool = False  # each stem from an independently drawn track (and start)
    gain_db: float = 0.0  # each stem scaled by a gain drawn uniformly in [-gain_db, +gain_db] dB; 0 = off
    channel_swap: bool = False  # each stereo stem's channels swapped with probability 1/2
    time_mask_seconds: float = 0.0  # one span of up to this length silenced in all stems; 0 = off
    noise_snr_db: float | None = None  # white noise added to the mixture at >= this SNR; None = off

    def __post_init__(self) -> None:
        if self.gain_db < 0:
            raise ValueError(f"gain_db must be >= 0, got {self.gain_db}")
        if self.time_mask_seconds < 0:
            raise ValueError(f"time_mask_seconds must be >= 0, got {self.time_mask_seconds}")


def random_gain(stems: torch.Tensor, rng: np.random.Generator, max_db: float) -> torch.Tensor:
    """Scale each stem by its own gain, uniform in ``[-max_db, +max_db]`` dB.

    ``(n_stems, n_channels, n_samples)`` -> same shape. Changes the stems' balance, so the model
    does not learn each stem's typical level instead of its sound.
    """
    gains_db = rng.uniform(-max_db, max_db, size=stems.shape[0])
    gains = torch.as_tensor(10.0 ** (gains_db / 20.0), dtype=stems.dtype, device=stems.device)
    return stems * gains.view(-1, *([1] * (stems.ndim - 1)))


def swap_channels(stems: torch.Tensor, rng: np.random.Generator, probability: float = 0.5) -> torch.Tensor:
    """Swap left and right of each stem independently with ``probability``.

    ``(n_stems, n_channels, n_samples)`` -> same shape; mono stems come back unchanged. Swapping
    stems independently (as Open-Unmix does) makes new stereo images, not just a mirrored mix.
    """
    if stems.shape[1] != 2:
        return stems
    swap = rng.random(stems.shape[0]) < probability
    if not swap.any():
        return stems
    return torch.stack([stem.flip(0) if flip else stem for stem, flip in zip(stems, swap)])


def time_mask(stems: torch.Tensor, rng: np.random.Generator, max_samples: int) -> torch.Tensor:
    """Silence one span of all stems, of a length uniform in ``[0, max_samples]`` at a random place.

    ``(n_stems, n_channels, n_samples)`` -> same shape. The mixture, made from the masked stems,
    is silent there too. Teaches the model to cope with gaps and abrupt starts (SpecAugment's time
    masking, done on the waveform).
    """
    n_samples = stems.shape[-1]
    width = int(rng.integers(0, min(max_samples, n_samples) + 1))
    if width == 0:
        return stems
    start = int(rng.integers(0, n_samples - width + 1))
    out = stems.clone()
    out[..., start : start + width] = 0
    return out


def add_noise(mixture: torch.Tensor, rng: np.random.Generator, min_snr_db: float, snr_span_db: float = 20.0) -> torch.Tensor:
    """Add white Gaussian noise to ``mixture`` at an SNR uniform in ``[min_snr_db, min_snr_db + snr_span_db]``.

    ``(n_channels, n_samples)`` -> same shape. The SNR is relative to the mixture's RMS over the
    whole chunk; a silent chunk gets no noise.
    """
    rms = float(mixture.pow(2).mean().sqrt())
    if rms == 0.0:
        return mixture
    snr_db = rng.uniform(min_snr_db, min_snr_db + snr_span_db)
    std = rms * 10.0 ** (-snr_db / 20.0)
    noise = rng.standard_normal(size=tuple(mixture.shape)).astype(np.float32) * std
    return mixture + torch.from_numpy(noise).to(device=mixture.device, dtype=mixture.dtype)


def apply_waveform_augmentation(
    stems: torch.Tensor, rng: np.random.Generator, augmentation: WaveformAugmentation, sample_rate: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gain, channel swap and time mask on ``stems``; then the mixture, with noise if asked.

    ``stems`` ``(n_stems, n_channels, n_samples)`` -> ``(mixture, stems)`` with ``mixture``
    ``(n_channels, n_samples)``. Without noise the mixture is exactly the sum of the stems.
    (Remixing happens before this, when the data set picks the tracks.)
    """
    if augmentation.gain_db > 0:
        stems = random_gain(stems, rng, augmentation.gain_db)
    if augmentation.channel_swap:
        stems = swap_channels(stems, rng)
    if augmentation.time_mask_seconds > 0:
        stems = time_mask(stems, rng, int(round(augmentation.time_mask_seconds * sample_rate)))
    mixture = stems.sum(dim=0)
    if augmentation.noise_snr_db is not None:
        mixture = add_noise(mixture, rng, augmentation.noise_snr_db)
    return mixture, stems


def frequency_mask(
    mixture_spec: torch.Tensor,
    target_spec: torch.Tensor,
    generator: torch.Generator,
    max_bins: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero one band of bins per example, in the mixture and all its targets alike.

    Args:
        mixture_spec: ``(batch, n_channels, n_bins, n_frames)`` (complex or magnitude).
        target_spec: ``(batch, n_stems, n_channels, n_bins, n_frames)``.
        generator: a CPU ``torch.Generator`` (draws are made on the CPU, so they are the same on
            every device).
        max_bins: widest band; each example's width is uniform in ``[0, max_bins]``.

    Returns the masked ``(mixture_spec, target_spec)``; the inputs are not modified.
    """
    batch, n_bins = mixture_spec.shape[0], mixture_spec.shape[-2]
    max_bins = min(max_bins, n_bins)
    widths = torch.randint(0, max_bins + 1, (batch,), generator=generator)
    starts = (torch.rand(batch, generator=generator) * (n_bins - widths + 1)).long()
    bins = torch.arange(n_bins)
    masked = (bins >= starts[:, None]) & (bins < (starts + widths)[:, None])  # (batch, n_bins)
    keep = (~masked).to(device=mixture_spec.device)
    mixture_keep = keep.view(batch, 1, n_bins, 1)
    target_keep = keep.view(batch, 1, 1, n_bins, 1)
    return mixture_spec * mixture_keep, target_spec * target_keep
