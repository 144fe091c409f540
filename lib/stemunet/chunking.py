"""Weighted overlap-add over fixed-length segments, so any track length fits in fixed memory.

Segments of ``segment_length`` samples start every ``hop = segment_length - overlap`` samples;
the last one is moved back to end at the track's end, so no segment holds padding. Each output
sample is the weighted mean of the segments covering it, with weights that ramp up from the
segment's borders (where the model lacks context) to 1 inside. Because the weights are divided
out, an identity ``process`` gives back its input exactly, wherever the borders fall.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from tqdm.auto import tqdm


def segment_starts(n_samples: int, segment_length: int, hop: int) -> list[int]:
    """Start sample of each segment; the last one ends exactly at ``n_samples``."""
    if n_samples <= segment_length:
        return [0]
    starts = list(range(0, n_samples - segment_length, hop))
    starts.append(n_samples - segment_length)
    return starts


def segment_weight(segment_length: int, ramp_length: int, device: torch.device | None = None) -> torch.Tensor:
    """``(segment_length,)`` trapezoid: linear ramps of ``ramp_length`` at both ends, 1 between.

    Ramps start above 0 so every sample keeps some weight, even at a track's first sample.
    """
    weight = torch.ones(segment_length, device=device)
    ramp_length = min(ramp_length, segment_length // 2)
    if ramp_length > 0:
        ramp = torch.arange(1, ramp_length + 1, device=device, dtype=torch.float32) / (ramp_length + 1)
        weight[:ramp_length] = ramp
        weight[segment_length - ramp_length :] = ramp.flip(0)
    return weight


def overlap_add(
    process: Callable[[torch.Tensor], torch.Tensor],
    waveform: torch.Tensor,
    segment_length: int,
    overlap: float = 0.25,
    batch_segments: int = 4,
    *,
    progress: bool = False,
    description: str = "segments",
) -> torch.Tensor:
    """Apply ``process`` segment-wise and blend the segments back together.

    Args:
        process: ``(batch, n_channels, length)`` -> ``(batch, n_stems, n_channels, length)``.
        waveform: ``(n_channels, n_samples)``, on the device ``process`` runs on.
        segment_length: samples per segment; a shorter input is processed whole.
        overlap: share of a segment overlapping its neighbour, in [0, 1).
        batch_segments: segments passed to ``process`` at once.
        progress: show a tqdm bar over segment batches.

    Returns:
        ``(n_stems, n_channels, n_samples)`` on the waveform's device.
    """
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    n_channels, n_samples = waveform.shape
    if n_samples <= segment_length:
        return process(waveform.unsqueeze(0))[0]

    overlap_length = int(round(segment_length * overlap))
    hop = segment_length - overlap_length
    starts = segment_starts(n_samples, segment_length, hop)
    weight = segment_weight(segment_length, overlap_length, waveform.device)
    output: torch.Tensor | None = None
    weight_sum = torch.zeros(n_samples, device=waveform.device)
    batches = [starts[i : i + batch_segments] for i in range(0, len(starts), batch_segments)]
    for batch_starts in tqdm(batches, desc=description, disable=not progress, leave=False):
        segments = torch.stack([waveform[:, s : s + segment_length] for s in batch_starts])
        estimates = process(segments)  # (batch, n_stems, n_channels, segment_length)
        if output is None:
            output = estimates.new_zeros(estimates.shape[1], n_channels, n_samples)
        for start, estimate in zip(batch_starts, estimates):
            output[..., start : start + segment_length] += estimate * weight
            weight_sum[start : start + segment_length] += weight
    assert output is not None and bool((weight_sum > 0).all()), "every sample must be covered"
    return output / weight_sum
