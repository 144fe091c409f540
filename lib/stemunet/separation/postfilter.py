"""What happens between the U-Net's masks and the stems' spectrograms at separation time.

Three steps, in this order (:meth:`stemunet.separation.separator.Separator` runs them per overlap-add
segment, batched, so memory stays flat in the track's length):

1. :func:`shape_masks`: masks become shares of the mixture. ``mask_power`` raises them to a
   power and renormalises them to sum to 1 over the stems (below 1 softer, above 1 sharper: the
   "power" of Spleeter's and Open-Unmix's ratio masks); masks that do not sum to 1 (sigmoid or
   relu heads) are renormalised too, so the stems always add up to the mixture. Bins the model
   does not learn (above ``max_frequency``) take the shares of the top modelled band
   (:func:`band_shares`) instead of an even split.
2. :func:`wiener`: ``wiener_iterations`` EM iterations of the multichannel Wiener filter of
   Open-Unmix (``openunmix.filtering.wiener``, after sigsep's norbert) on the complex STFT, with a
   full spatial covariance per stem and bin (2x2 for stereo). Batched over segments; the same
   numbers as Open-Unmix's own code for one segment (tests/test_postfilter.py compares them).
3. :func:`share_residual`: what the stems miss of the mixture (the band above the model's
   Nyquist frequency when the input's rate is higher, resampling's roll-off, the Wiener filter's
   regularisation) is shared among the stems by time-varying weights, the stems' shares of the
   top modelled band (:func:`band_shares`, smoothed over :data:`SHARE_SMOOTHING_SECONDS`), so
   cymbals and sibilance go where the energy just below them went, and the stems add up to the
   mixture to float rounding.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

SHARE_SMOOTHING_SECONDS = 0.1
"""Moving-average length of the band shares: long enough that the shares do not flutter with
single frames, short enough to follow a hi-hat pattern."""

TOP_BAND_OCTAVES = 0.5
"""Width of the top modelled band whose shares extend upward (half an octave below its top)."""

WIENER_EPS = 1e-10
"""Open-Unmix's regularisation of the Wiener filter (its ``eps`` default)."""

WIENER_SCALE_FACTOR = 10.0
"""Open-Unmix's scaling of the mixture before EM (its ``scale_factor`` default)."""


def shape_masks(masks: torch.Tensor, power: float = 1.0, *, already_shares: bool = False, eps: float = 1e-8) -> torch.Tensor:
    """Masks as shares of the mixture: raised to ``power`` and renormalised over the stems.

    Args:
        masks: ``(..., n_stems, n_channels, n_bins, n_frames)``, non-negative (stems on axis -4).
        power: 1 keeps the model's masks as they are when they are ``already_shares``.
        already_shares: the masks sum to 1 over the stems (a softmax head).

    Returns:
        the same shape, summing to 1 over the stems (an even split where all masks are zero).
    """
    if power == 1.0 and already_shares:
        return masks  # bit-exact as the model says
    if power != 1.0:
        masks = masks.clamp_min(0) ** power
    n_stems = masks.shape[-4]
    return (masks + eps / n_stems) / (masks.sum(dim=-4, keepdim=True) + eps)


def band_shares(
    masks: torch.Tensor,
    mixture_power: torch.Tensor,
    top_bin: int,
    bin_hz: float,
    frames_per_second: float,
) -> torch.Tensor:
    """Each stem's share of the top modelled band, per frame: who owns the band just below the top.

    The energy-weighted mean of the masks over the half octave below ``top_bin`` (so near-empty
    bins, such as a resampler's roll-off, count little), smoothed over time.

    Args:
        masks: ``(batch, n_stems, n_channels, n_bins, n_frames)`` shares (summing to 1 over stems).
        mixture_power: ``(batch, n_channels, n_bins, n_frames)``, ``|X|^2`` of the mixture.
        top_bin: the highest modelled bin + 1.
        bin_hz: Hz between bins; ``frames_per_second``: STFT frames per second.

    Returns:
        ``(batch, n_stems, n_channels, n_frames)``, summing to 1 over the stems (an even split in
        silence).
    """
    top_hz = (top_bin - 1) * bin_hz
    low_bin = max(0, min(top_bin - 1, int(math.floor(top_hz * 2 ** -TOP_BAND_OCTAVES / bin_hz))))
    power = mixture_power[..., low_bin:top_bin, :].unsqueeze(1)
    weighted = (masks[..., low_bin:top_bin, :] * power).sum(dim=-2)
    energy = power.sum(dim=-2)
    width = max(1, int(round(SHARE_SMOOTHING_SECONDS * frames_per_second)) | 1)  # odd: centred
    weighted, energy = _moving_average(weighted, width), _moving_average(energy, width)
    # A floor far below any audible band: silence is split evenly instead of divided by zero.
    floor = 1e-12 * energy.amax(dim=-1, keepdim=True).clamp_min(1e-20)
    n_stems = masks.shape[1]
    return (weighted + floor / n_stems) / (energy + floor)


def _moving_average(x: torch.Tensor, width: int) -> torch.Tensor:
    """Centred moving average over the last axis, edges averaged over what exists."""
    if width <= 1 or x.shape[-1] < 2:
        return x
    flat = x.reshape(-1, 1, x.shape[-1])
    kernel = flat.new_ones(1, 1, width)
    pad = width // 2
    sums = F.conv1d(F.pad(flat, (pad, pad)), kernel)
    counts = F.conv1d(F.pad(torch.ones_like(flat[:1]), (pad, pad)), kernel)
    return (sums / counts).reshape(x.shape)


def shares_to_samples(shares: torch.Tensor, n_samples: int) -> torch.Tensor:
    """Frame-wise shares ``(..., n_frames)`` to sample-wise weights ``(..., n_samples)``.

    Centred STFT frames sit at ``hop * frame``: linear interpolation between them.
    """
    leading = shares.shape[:-1]
    flat = shares.reshape(1, -1, shares.shape[-1])
    if flat.shape[-1] == 1:
        return shares.expand(*leading, n_samples).clone()
    samples = F.interpolate(flat, size=n_samples, mode="linear", align_corners=True)
    return samples.reshape(*leading, n_samples)


def wiener(
    stems: torch.Tensor,
    mixture: torch.Tensor,
    iterations: int,
    eps: float = WIENER_EPS,
    scale_factor: float = WIENER_SCALE_FACTOR,
) -> torch.Tensor:
    """Open-Unmix's multichannel Wiener filter, batched: EM refinement of complex stem estimates.

    Each iteration re-estimates every stem's power spectral density ``v_j(f, t)`` (its power,
    averaged over channels) and spatial covariance ``R_j(f)`` (over the segment's frames), then
    filters the mixture again: ``y_j = v_j R_j (sum_k v_k R_k + sqrt(eps) I)^-1 x``. In the
    inputs' precision, as Open-Unmix's own ``Separator`` runs it (single precision: double made
    the filter about twice as slow for differences far below what BSSEval resolves).

    Args:
        stems: ``(batch, n_stems, n_channels, n_bins, n_frames)`` complex initial estimates (the
            masked mixture: Open-Unmix's ``softmask=False`` start with magnitude estimates).
        mixture: ``(batch, n_channels, n_bins, n_frames)`` complex.
        iterations: EM iterations (0 returns ``stems`` unchanged).

    Returns:
        ``stems``' shape and dtype.
    """
    if iterations <= 0:
        return stems
    x, y = mixture, stems
    n_channels = x.shape[1]
    # Open-Unmix scales the mixture so its largest magnitude is at most scale_factor before EM,
    # per call: here per segment.
    peak = x.abs().flatten(1).amax(dim=1).div(scale_factor).clamp_min(1.0)
    scale = peak.reshape(-1, *([1] * (x.ndim - 1)))
    x, y = x / scale, y / scale.unsqueeze(1)
    identity = torch.eye(n_channels, dtype=x.dtype, device=x.device)
    x_frames = x.permute(0, 2, 3, 1)  # (batch, bins, frames, channels)
    for _ in range(iterations):
        psd = (y.real**2 + y.imag**2).mean(dim=2)  # (batch, stems, bins, frames)
        covariance = torch.einsum("bscft,bsdft->bsfcd", y, y.conj())
        covariance = covariance / (eps + psd.sum(dim=-1))[..., None, None]
        mix_covariance = math.sqrt(eps) * identity + torch.einsum("bsft,bsfcd->bftcd", psd.to(x.dtype), covariance)
        filtered = torch.linalg.solve(mix_covariance, x_frames.unsqueeze(-1)).squeeze(-1)  # C^-1 x
        y = psd.to(x.dtype).unsqueeze(2) * torch.einsum("bsfcd,bftd->bscft", covariance, filtered)
    return y * scale.unsqueeze(1)


def share_residual(stems: torch.Tensor, mixture: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Stems plus their share of what they miss of the mixture, so they add up to it exactly.

    Args:
        stems: ``(n_stems, n_channels, n)``; ``mixture``: ``(n_channels, n)``.
        weights: ``(n_stems, n_channels, n)`` non-negative; renormalised to sum to 1 over stems.

    Returns:
        ``(n_stems, n_channels, n)`` whose sum over stems is ``mixture`` to float rounding.
    """
    weights = weights.clamp_min(0)
    total = weights.sum(dim=0, keepdim=True)
    n_stems = stems.shape[0]
    weights = torch.where(total > 1e-6, weights / total.clamp_min(1e-6), torch.full_like(weights, 1 / n_stems))
    return stems + weights * (mixture - stems.sum(dim=0)).unsqueeze(0)
