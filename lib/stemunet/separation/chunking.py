"""Streaming, weighted overlap-add over fixed-length segments: any track length in fixed memory.

Segments of ``segment_length`` samples start every ``hop = segment_length - overlap`` samples;
the last one is moved back to end at the track's end, so no segment holds padding. Each output
sample is the weighted mean of the segments covering it, with weights that ramp up from the
segment's borders (where the model lacks context) to 1 inside. Because the weights are divided
out, an identity ``process`` gives back its input exactly, wherever the borders fall.

Everything here works on *streams*: consecutive blocks of a signal, ``(..., block_samples)``.
:func:`overlap_add_stream` reads its input through a :class:`SampleWindow` (which keeps only the
samples that a segment still needs) and yields each stretch of output as soon as no later
segment covers it, so memory is set by ``segment_length * batch_segments``, never by the track.
:class:`StreamResampler` resamples such a stream block by block, with the same result as
:func:`stemunet.audio.resample` on the whole signal.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator

import torch
import torch.nn.functional as F
import torchaudio.transforms

from stemunet.progress import progress_bar

# The kernel of stemunet.audio.resample (tests/test_chunking.py checks that streamed and
# whole-signal resampling agree, so the two cannot drift apart unnoticed).
RESAMPLE_LOWPASS_FILTER_WIDTH = 64
RESAMPLE_ROLLOFF = 0.9475937167399596
RESAMPLE_KAISER_BETA = 14.769656459379492


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


class SampleWindow:
    """Forward-moving random access to a signal that arrives as consecutive blocks.

    :meth:`read` pulls blocks until the asked-for range has arrived; :meth:`release` forgets the
    samples before a position. Only the samples between the oldest unreleased position and the
    newest block are held.

    Args:
        blocks: ``(..., block_samples)`` tensors, consecutive, together ``n_samples`` long.
        n_samples: the signal's length in samples.
    """

    def __init__(self, blocks: Iterable[torch.Tensor], n_samples: int):
        self._blocks = iter(blocks)
        self.n_samples = n_samples
        self._buffer: torch.Tensor | None = None
        self._start = 0  # signal position of the buffer's first sample

    @classmethod
    def from_tensor(cls, waveform: torch.Tensor) -> SampleWindow:
        """A window over a signal already in memory, ``(..., n_samples)``."""
        return cls([waveform], waveform.shape[-1])

    @property
    def _end(self) -> int:
        return self._start + (0 if self._buffer is None else self._buffer.shape[-1])

    def read(self, start: int, stop: int) -> torch.Tensor:
        """Samples ``start`` to ``stop`` (exclusive), ``(..., stop - start)``."""
        if not 0 <= start <= stop <= self.n_samples:
            raise ValueError(f"cannot read samples {start}..{stop} of a {self.n_samples}-sample signal")
        if start < self._start:
            raise ValueError(f"samples before {self._start} were released; cannot read from {start}")
        while self._end < stop:
            try:
                block = next(self._blocks)
            except StopIteration:
                raise ValueError(f"the signal ended after {self._end} samples; expected {self.n_samples}") from None
            self._buffer = block if self._buffer is None else torch.cat([self._buffer, block], dim=-1)
        assert self._buffer is not None
        return self._buffer[..., start - self._start : stop - self._start]

    def release(self, before: int) -> None:
        """Forget the samples before ``before``; they can no longer be read."""
        drop = min(before, self._end) - self._start
        if drop > 0 and self._buffer is not None:
            # A view: the old storage is freed when the next block is concatenated.
            self._buffer = self._buffer[..., drop:]
            self._start += drop


def overlap_add_stream(
    process: Callable[[torch.Tensor], torch.Tensor],
    source: SampleWindow | torch.Tensor,
    segment_length: int,
    overlap: float = 0.25,
    batch_segments: int = 4,
    *,
    progress: bool = False,
    description: str = "segments",
) -> Iterator[torch.Tensor]:
    """Apply ``process`` segment-wise and yield the blended output as soon as it is final.

    Args:
        process: ``(batch, n_channels, length)`` -> ``(batch, n_stems, n_channels, length)``.
        source: the input, ``(n_channels, n_samples)``: a tensor on the device ``process`` runs
            on, or a :class:`SampleWindow` yielding such blocks.
        segment_length: samples per segment; a shorter input is processed whole.
        overlap: share of a segment overlapping its neighbour, in [0, 1).
        batch_segments: segments passed to ``process`` at once.
        progress: show a tqdm bar over segment batches.

    Yields:
        consecutive ``(n_stems, n_channels, block_samples)`` blocks, together ``n_samples`` long,
        on ``process``'s device. At most about ``batch_segments * segment_length`` output samples
        are held at any time.
    """
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    if segment_length < 1 or batch_segments < 1:
        raise ValueError(f"segment_length and batch_segments must be >= 1, got {segment_length}, {batch_segments}")
    window = SampleWindow.from_tensor(source) if isinstance(source, torch.Tensor) else source
    n_samples = window.n_samples
    if n_samples <= segment_length:
        yield process(window.read(0, n_samples).unsqueeze(0))[0]
        return

    overlap_length = int(round(segment_length * overlap))
    hop = segment_length - overlap_length
    starts = segment_starts(n_samples, segment_length, hop)
    batches = [starts[i : i + batch_segments] for i in range(0, len(starts), batch_segments)]
    weight: torch.Tensor | None = None
    # Running sums over the signal positions [base, base + output.shape[-1]).
    output: torch.Tensor | None = None
    weight_sum: torch.Tensor | None = None
    base = 0
    bar = progress_bar(total=len(batches), desc=description, unit="batch", disable=not progress, leave=False)
    try:
        for number, batch_starts in enumerate(batches):
            segments = torch.stack([window.read(start, start + segment_length) for start in batch_starts])
            # Everything before the next batch's first segment is final once this batch is added.
            next_start = batches[number + 1][0] if number + 1 < len(batches) else n_samples
            window.release(next_start)
            estimates = process(segments)  # (batch, n_stems, n_channels, segment_length)
            if weight is None:
                weight = segment_weight(segment_length, overlap_length, estimates.device).to(estimates.dtype)
            end = batch_starts[-1] + segment_length - base
            if output is None or weight_sum is None:
                output = estimates.new_zeros(*estimates.shape[1:3], end)
                weight_sum = estimates.new_zeros(end)
            elif end > output.shape[-1]:
                output = F.pad(output, (0, end - output.shape[-1]))
                weight_sum = F.pad(weight_sum, (0, end - weight_sum.shape[-1]))
            for start, estimate in zip(batch_starts, estimates):
                offset = start - base
                output[..., offset : offset + segment_length] += estimate * weight
                weight_sum[offset : offset + segment_length] += weight
            done = next_start - base
            if done > 0:
                finished = weight_sum[:done]
                assert bool((finished > 0).all()), "every sample must be covered by a segment"
                yield output[..., :done] / finished
                output, weight_sum, base = output[..., done:], weight_sum[done:], next_start
            bar.update(1)
    finally:
        bar.close()


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
    """:func:`overlap_add_stream` collected into one tensor.

    Args:
        waveform: ``(n_channels, n_samples)``, on the device ``process`` runs on.

    Returns:
        ``(n_stems, n_channels, n_samples)`` on ``process``'s device.
    """
    blocks = overlap_add_stream(
        process, waveform, segment_length, overlap, batch_segments, progress=progress, description=description
    )
    return torch.cat(list(blocks), dim=-1)


class StreamResampler:
    """Resample a signal that arrives in consecutive blocks, holding only a few blocks at a time.

    Feed blocks ``(..., k)`` to :meth:`push` and call :meth:`finish` after the last; together
    their outputs equal :func:`stemunet.audio.resample` of the whole signal (to float rounding):
    ``ceil(n_samples * new_rate / orig_rate)`` samples.

    Why it is exact: torchaudio's sinc resampler computes output frame ``m`` (``new`` samples,
    rates divided by their gcd) from the input samples ``[m*orig - width, (m+1)*orig + width)``
    of the zero-padded signal. Each block is resampled together with ``margin`` samples of
    context on either side (zeros outside the signal, as torchaudio pads), with ``margin`` a
    multiple of ``orig`` (so output frames stay aligned) and at least ``width``; the frames
    whose support lies inside the context are kept, the rest are recomputed with the next block.
    """

    def __init__(self, orig_rate: int, new_rate: int, n_samples: int):
        if orig_rate <= 0 or new_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {orig_rate} and {new_rate}")
        gcd = math.gcd(orig_rate, new_rate)
        self.orig_rate, self.new_rate = orig_rate, new_rate
        self.orig, self.new = orig_rate // gcd, new_rate // gcd
        width = math.ceil(RESAMPLE_LOWPASS_FILTER_WIDTH * self.orig / (min(self.orig, self.new) * RESAMPLE_ROLLOFF))
        self.margin = math.ceil((width + 1) / self.orig) * self.orig
        self.n_samples = n_samples
        self.n_out = -(-n_samples * self.new // self.orig)  # ceil in exact integers, as torchaudio's length
        self._n_frames = -(-self.n_out // self.new)
        self._buffer: torch.Tensor | None = None
        self._start = -self.margin  # signal position of the buffer's first sample
        self._next_frame = 0
        self._emitted = 0
        self._pushed = 0
        # Built once: torchaudio's functional resample recomputes its kernel on every call.
        self._resample: torchaudio.transforms.Resample | None = None

    def push(self, block: torch.Tensor) -> torch.Tensor:
        """Add the next ``(..., k)`` input block; return the output samples now final (maybe none)."""
        if self._buffer is None:
            # The signal is zero before its start, as torchaudio pads it.
            self._buffer = block.new_zeros(*block.shape[:-1], self.margin)
        self._buffer = torch.cat([self._buffer, block], dim=-1)
        self._pushed += block.shape[-1]
        if self._pushed > self.n_samples:
            raise ValueError(f"got {self._pushed} samples, more than the announced {self.n_samples}")
        end = self._start + self._buffer.shape[-1]
        return self._emit(min(self._n_frames, (end - self.margin) // self.orig))

    def finish(self) -> torch.Tensor:
        """The remaining output, after the last block was pushed."""
        if self._pushed != self.n_samples:
            raise ValueError(f"got {self._pushed} samples, expected {self.n_samples}")
        if self._buffer is None:
            return torch.zeros(0)
        needed = self._n_frames * self.orig + self.margin - (self._start + self._buffer.shape[-1])
        if needed > 0:
            self._buffer = F.pad(self._buffer, (0, needed))
        return self._emit(self._n_frames)

    def _emit(self, end_frame: int) -> torch.Tensor:
        assert self._buffer is not None
        n_frames = end_frame - self._next_frame
        if n_frames <= 0:
            return self._buffer.new_zeros(*self._buffer.shape[:-1], 0)
        first = self._next_frame * self.orig - self.margin - self._start
        last = end_frame * self.orig + self.margin - self._start
        if self._resample is None:
            self._resample = torchaudio.transforms.Resample(
                self.orig,
                self.new,
                resampling_method="sinc_interp_kaiser",
                lowpass_filter_width=RESAMPLE_LOWPASS_FILTER_WIDTH,
                rolloff=RESAMPLE_ROLLOFF,
                beta=RESAMPLE_KAISER_BETA,
                dtype=self._buffer.dtype,
            ).to(self._buffer.device)
        resampled = self._resample(self._buffer[..., first:last])
        skip = self.margin // self.orig * self.new
        count = min(n_frames * self.new, self.n_out - self._emitted)
        output = resampled[..., skip : skip + count]
        self._next_frame = end_frame
        self._emitted += count
        self.release(end_frame * self.orig - self.margin)
        return output

    def release(self, before: int) -> None:
        drop = before - self._start
        if drop > 0 and self._buffer is not None:
            self._buffer = self._buffer[..., drop:]
            self._start = before


def resample_stream(blocks: Iterable[torch.Tensor], orig_rate: int, new_rate: int, n_samples: int) -> Iterator[torch.Tensor]:
    """Resample consecutive blocks ``(..., k)`` (together ``n_samples`` long) as they arrive.

    Yields consecutive output blocks, together ``ceil(n_samples * new_rate / orig_rate)`` long;
    passes the blocks through when the rates are equal.
    """
    if orig_rate == new_rate:
        yield from blocks
        return
    resampler = StreamResampler(orig_rate, new_rate, n_samples)
    for block in blocks:
        output = resampler.push(block)
        if output.shape[-1]:
            yield output
    output = resampler.finish()
    if output.shape[-1]:
        yield output
