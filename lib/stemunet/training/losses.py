"""The training losses: magnitude L1/MSE of the masked mixture against the true stems, the
waveform L1 of what separation outputs, or both (:func:`training_loss`)."""

from __future__ import annotations

import torch

from stemunet.data.augment import frequency_mask
from stemunet.separation.separator import Separator
from stemunet.training.config import MAGNITUDE_LOSSES, WAVEFORM_LOSSES, TrainConfig

# ----------------------------------------------------------------------------------------------
# Loss and loops
# ----------------------------------------------------------------------------------------------


def training_loss(
    separator: Separator,
    mixture: torch.Tensor,
    stems: torch.Tensor,
    config: TrainConfig,
    *,
    amp_dtype: torch.dtype | None = None,
    mask_generator: torch.Generator | None = None,
    unet: torch.nn.Module | None = None,
) -> torch.Tensor:
    """The training loss of one batch, as ``config.loss`` says.

    * ``l1`` / ``mse``: between masked mixture magnitudes ``|mask * mixture|`` and stem magnitudes.
    * ``l1_wave``: L1 between the waveforms of the masked estimates (ISTFT of ``mask * mixture``
      with the mixture's phase, what separation outputs) and the stem waveforms, so errors that
      only show after overlap-add (frames that disagree, phase leakage between stems) count.
    * ``l1_mag_wave``: ``l1 + l1_wave``, a multi-domain loss as X-UMX's (Sawata et al., ICASSP
      2021: spectrogram MSE + 10 x time-domain SDR loss, with the same network as Open-Unmix).

    The waveform L1 is multiplied by the STFT window's L2 norm (``sqrt(sum w**2)``, 39 for a 4096
    Hann window): by Parseval, that is the gain from a sample's amplitude to a bin's magnitude for
    noise-like signals, so both terms of ``l1_mag_wave`` are on the same scale whatever ``n_fft``
    (neither dominates), and ``l1_wave`` losses read like ``l1`` ones (and meet ``grad_clip``
    alike).

    Args:
        mixture: ``(batch, n_channels, n_samples)`` on the separator's device.
        stems: ``(batch, n_stems, n_channels, n_samples)``.
        amp_dtype: autocast dtype for the U-Net (``None``: float32). STFTs, ISTFTs and the loss
            stay in float32.
        mask_generator: draws the frequency masks; ``None`` applies none (validation). The band
            is zeroed in the complex spectrograms, so waveform targets lose it too.
        unet: the U-Net as wrapped for distributed training, called instead of ``separator.unet``.

    Returns a scalar: the mean over batch, stems, channels and bins and frames (magnitudes) or
    samples (waveforms), each stem weighted by ``config.stem_weights`` (normalised to mean 1, so
    equal weights give the plain mean); ``l1_mag_wave`` sums the two means.
    """
    mixture_spec = separator.stft(mixture)  # complex (batch, n_channels, n_bins, n_frames)
    target_spec = separator.stft(stems)  # complex (batch, n_stems, n_channels, n_bins, n_frames)
    masked_band = mask_generator is not None and config.augment_frequency_mask and config.frequency_mask_hz > 0
    if masked_band:
        max_bins = int(round(config.frequency_mask_hz * config.stft.n_fft / config.stft.sample_rate))
        mixture_spec, target_spec = frequency_mask(mixture_spec, target_spec, mask_generator, max_bins)
    mixture_magnitude = mixture_spec.abs()
    with torch.autocast(device_type=mixture.device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        layout = torch.channels_last if config.uses_channels_last(amp_dtype, mixture.device) else torch.contiguous_format
        masks = (unet or separator.unet)(mixture_magnitude.contiguous(memory_format=layout))
    masks = masks.float()  # (batch, n_stems, n_channels, n_bins, n_frames)

    weights = torch.tensor(config.loss_weights, device=mixture.device)
    weights = weights * (len(weights) / weights.sum())  # mean 1: equal weights give the plain mean

    def weighted_mean(distances: torch.Tensor) -> torch.Tensor:
        """Mean of ``(batch, n_stems, ...)`` distances, each stem's weighted by its ``stem_weights``."""
        return (distances.mean(dim=(0, *range(2, distances.dim()))) * weights).mean()

    loss = mixture.new_zeros(())
    if config.loss in MAGNITUDE_LOSSES:
        estimate = masks * mixture_magnitude.unsqueeze(1)
        distance = torch.nn.functional.mse_loss if config.loss == "mse" else torch.nn.functional.l1_loss
        loss = loss + weighted_mean(distance(estimate, target_spec.abs(), reduction="none"))
    if config.loss in WAVEFORM_LOSSES:
        n_samples = mixture.shape[-1]
        estimate_wave = separator.istft(masks * mixture_spec.unsqueeze(1), n_samples)
        # ISTFT(STFT(x)) is x: only a zeroed band makes the target differ from the stems.
        target_wave = separator.istft(target_spec, n_samples) if masked_band else stems
        loss = loss + weighted_mean((estimate_wave - target_wave).abs()) * separator.stft.window.norm()
    return loss
