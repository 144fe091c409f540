"""``Separator``: waveform -> STFT -> U-Net masks x complex mixture -> ISTFT -> stem waveforms.

A separator describes itself: its checkpoint holds its configuration beside the weights, so
:func:`stemunet.separation.loading.load_separator` rebuilds it from the file alone
(:func:`stemunet.checkpoints.save_model` writes it). The arrow points one way: checkpoints build
separators; a separator knows nothing of files.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import math
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from stemunet.audio import AudioError, check_channels
from stemunet.config import (MAX_SEGMENT_SECONDS, ChunkingConfig, ConfigError, PostFilterChoice,
                             PostFilterConfig, SeparatorConfig)
from stemunet.model import UNet
from stemunet.precision import autocast_dtype
from stemunet.separation.chunking import SampleWindow, overlap_add_stream, resample_stream
from stemunet.separation.postfilter import band_shares, shape_masks, share_residual, shares_to_samples, wiener
from stemunet.stft import Istft, Stft


class Separator(nn.Module):
    """The whole signal path at the model's sample rate and channel count.

    ``forward``: ``(batch, n_channels, n_samples)`` -> ``(batch, n_stems, n_channels, n_samples)``,
    stems ordered as :attr:`stem_names` (the model's ``stems``; MUSDB18's drums, bass, other, vocals
    by default). :meth:`separate` takes audio of any rate, channel count and length.
    """

    def __init__(self, config: SeparatorConfig = SeparatorConfig()):
        super().__init__()
        self.config = config
        self.own_postfilter = config.postfilter  # what the model was saved with; runs may override it
        stft = config.stft
        self.stft = Stft(stft)
        self.istft = Istft(stft)
        max_bin = None
        if config.model.max_frequency > 0:
            max_bin = min(stft.n_bins, int(np.ceil(config.model.max_frequency * stft.n_fft / stft.sample_rate)) + 1)
        self.unet = UNet(config.model, n_channels=stft.n_channels, max_bin=max_bin)

    @property
    def stem_names(self) -> tuple[str, ...]:
        """The stems this model separates, in the order of its output's stem axis."""
        return self.config.model.stems

    @property
    def sample_rate(self) -> int:
        return self.config.stft.sample_rate

    @property
    def n_channels(self) -> int:
        return self.config.stft.n_channels

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def min_segment_seconds(self) -> float:
        """Shortest overlap-add segment that gives the model what it needs: 4 STFT frames (``4 n_fft``
        samples at its rate). Shorter segments are mostly padding, and separate badly."""
        return 4 * self.config.stft.n_fft / self.sample_rate

    def check_segment_seconds(self, segment_seconds: float) -> None:
        """:class:`ConfigError` naming the allowed range unless ``segment_seconds`` suits this model."""
        if not (math.isfinite(segment_seconds) and self.min_segment_seconds <= segment_seconds <= MAX_SEGMENT_SECONDS):
            raise ConfigError(
                f"segment_seconds {segment_seconds:g} is out of range for this model: use "
                f"{self.min_segment_seconds:.3g} to {MAX_SEGMENT_SECONDS:g} s (4 STFT frames of {self.config.stft.n_fft} "
                f"samples at {self.sample_rate} Hz at least)"
            )

    def estimate_spectrograms(self, mixture: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked mixture spectrograms.

        ``(batch, n_channels, n_samples)`` -> ``(stems, mixture_spec)``: complex
        ``(batch, n_stems, n_channels, n_bins, n_frames)`` and ``(batch, n_channels, n_bins, n_frames)``.
        """
        mixture_spec = self.stft(mixture)
        masks = self.unet(mixture_spec.abs())
        return masks * mixture_spec.unsqueeze(1), mixture_spec

    def forward(self, mixture: torch.Tensor) -> torch.Tensor:
        stems, _ = self.estimate_spectrograms(mixture)
        return self.istft(stems, mixture.shape[-1])

    def inference_unet(self) -> nn.Module:
        """A copy of the U-Net made faster for inference, with the same outputs (to float rounding).

        Batch-norm layers are folded into the convolution before them, the copy works in
        channels-last memory layout (about twice as fast on CPUs through oneDNN, and the layout
        tensor cores want), and its head convolves features and input apart (:meth:`UNet.split_head`). A copy, so training can go on with the original; it is cheap
        (milliseconds) next to separating a track.
        """
        unet = copy.deepcopy(self.unet).eval()
        for module in unet.modules():
            if isinstance(module, nn.Sequential):
                for index in range(len(module) - 1):
                    conv, norm = module[index], module[index + 1]
                    if isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) and isinstance(norm, nn.BatchNorm2d):
                        module[index] = fuse_conv_bn_eval(conv, norm, transpose=isinstance(conv, nn.ConvTranspose2d))
                        module[index + 1] = nn.Identity()
        return unet.to(memory_format=torch.channels_last).split_head()

    @property
    def modelled_bins(self) -> int:
        """Bins the U-Net learns masks for (all of them unless ``max_frequency`` limits the band)."""
        return self.unet.max_bin or self.config.stft.n_bins

    def use_postfilter(self, choice: PostFilterChoice) -> Separator:
        """Take a run's post-filter choice (CLI, notebooks) over this model's own settings; returns ``self``."""
        self.config = dataclasses.replace(self.config, postfilter=choice.applied_to(self.own_postfilter))
        return self

    def _inference_masks(self, unet: nn.Module, mixture_spec: torch.Tensor) -> torch.Tensor:
        """Masks for a mixture of any channel count: ``(batch, c, bins, frames)`` -> ``(batch, n_stems, c, bins, frames)``.

        A mono model masks each channel of a stereo input on its own (the channels become batch
        items, so they share one pass); a stereo model hears a mono input as centred stereo and
        its two channels' masks are averaged.
        """
        magnitude = mixture_spec.abs()
        batch, channels = magnitude.shape[:2]
        if channels == self.n_channels:
            return unet(magnitude.contiguous(memory_format=torch.channels_last))
        if self.n_channels == 1:
            flat = magnitude.reshape(batch * channels, 1, *magnitude.shape[2:])
            masks = unet(flat.contiguous(memory_format=torch.channels_last))
            return masks.reshape(batch, channels, *masks.shape[1:]).squeeze(3).transpose(1, 2)
        stereo = magnitude.expand(-1, 2, -1, -1).contiguous(memory_format=torch.channels_last)
        return unet(stereo).mean(dim=2, keepdim=True)

    def _process_for(self, with_weights: bool) -> Callable[[torch.Tensor], torch.Tensor]:
        """The per-segment separation of :meth:`separate_stream`, post-filter included.

        ``(batch, c, n)`` -> ``(batch, n_stems, c, n)`` stems at the model's rate; with
        ``with_weights``, ``(batch, 2 n_stems, c, n)``: the stems, then each stem's share of the
        top modelled band per sample (:func:`stemunet.separation.postfilter.band_shares`), by which the
        band the model did not see is shared once the stems are back at the input's rate.
        Runs :meth:`inference_unet`. With test-time augmentation (the post-filter settings
        ``shifts``, ``flip_channels``, ``flip_sign``) each segment batch is separated once per
        variant and the results averaged (:func:`with_test_time_augmentation`), so memory does not grow.
        """
        unet = self.inference_unet()
        stft, postfilter = self.config.stft, self.config.postfilter
        already_shares = self.config.model.mask_activation == "softmax"
        device = self.device
        amp_dtype = autocast_dtype(postfilter.precision, device)
        top_bin, n_bins = self.modelled_bins, stft.n_bins

        def separate_once(segments: torch.Tensor) -> torch.Tensor:
            length = segments.shape[-1]
            mixture_spec = self.stft(segments)
            with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                unet_masks = self._inference_masks(unet, mixture_spec)
            # Masks out of bfloat16 sum to 1 only to its 8 bits: renormalised in float32, the stems add up again.
            masks = shape_masks(unet_masks.float(), postfilter.mask_power, already_shares=already_shares and amp_dtype is None)
            shares = None
            if with_weights or top_bin < n_bins:
                mixture_power = mixture_spec.real**2 + mixture_spec.imag**2
                shares = band_shares(masks, mixture_power, top_bin, stft.sample_rate / stft.n_fft, stft.sample_rate / stft.hop_length)
                if top_bin < n_bins:  # bins the model does not learn: the shares of the band below them
                    masks = torch.cat([masks[..., :top_bin, :], shares.unsqueeze(-2).expand(-1, -1, -1, n_bins - top_bin, -1)], dim=-2)
            stems_spec = masks * mixture_spec.unsqueeze(1)
            if postfilter.wiener_iterations:
                stems_spec = wiener(stems_spec, mixture_spec, postfilter.wiener_iterations)
                # What the filter's regularisation left out, shared by the masks: stems still add up.
                stems_spec = stems_spec + masks * (mixture_spec - stems_spec.sum(dim=1)).unsqueeze(1)
            stems = self.istft(stems_spec, length)
            if not with_weights:
                return stems
            assert shares is not None
            return torch.cat([stems, shares_to_samples(shares, length)], dim=1)

        return with_test_time_augmentation(separate_once, postfilter, self.sample_rate, n_stems=len(self.stem_names))

    @torch.inference_mode()
    def separate_stream(
        self,
        blocks: Iterable[np.ndarray | torch.Tensor],
        n_samples: int,
        sample_rate: int,
        n_channels: int,
        chunking: ChunkingConfig = ChunkingConfig(),
        *,
        downmix: bool = False,
        progress: bool = False,
        path: str | Path = "input",
        description: str = "",
    ) -> Iterator[torch.Tensor]:
        """Separate a recording that arrives in consecutive blocks, in memory independent of its length.

        The blocks are resampled to the model's rate as they arrive, separated by weighted
        overlap-add over ``chunking``'s segments (batched on the model's device), resampled back
        and yielded as soon as no later segment changes them.

        Args:
            blocks: ``(n_channels, block_samples)`` float arrays at ``sample_rate`` Hz, together
                ``n_samples`` long.
            n_channels: the input's channel count; more than 2 raises unless ``downmix``.
            downmix: average more than two channels to mono instead of raising.
            path: named in errors.
            description: the progress bar's label (default: the file name of ``path``).

        Yields:
            consecutive ``(n_stems, n_channels_out, block_samples)`` float32 CPU blocks at
            ``sample_rate``, together ``n_samples`` long; ``n_channels_out`` is the input's
            (1 when ``downmix`` reduced more than two channels).
        """
        # No self.eval(): the U-Net copy that runs is in eval mode, and a caller in the middle of
        # training keeps its model's mode.
        if n_samples < 1:
            raise AudioError(path, "contains no audio samples")
        check_channels(path, n_channels, downmix=downmix)
        self.check_segment_seconds(chunking.segment_seconds)
        device = self.device

        def model_rate_blocks() -> Iterator[torch.Tensor]:
            def on_device() -> Iterator[torch.Tensor]:
                for block in blocks:
                    audio = torch.as_tensor(np.asarray(block, dtype=np.float32) if not torch.is_tensor(block) else block)
                    audio = audio.to(device=device, dtype=torch.float32)
                    if audio.ndim != 2 or audio.shape[0] != n_channels:
                        raise ValueError(f"{path}: expected ({n_channels}, n) blocks, got shape {tuple(audio.shape)}")
                    audio = audio.mean(dim=0, keepdim=True) if n_channels > 2 else audio
                    if resampled:  # kept only where the band above the model is shared back
                        pending_input.append(audio)
                    yield audio

            yield from resample_stream(on_device(), sample_rate, self.sample_rate, n_samples)

        # At another rate than the model's, the stems come back without the band above the model's
        # Nyquist frequency (and with the resamplers' roll-off): the separation also returns each
        # stem's share of its top band, by which that part of the input is shared among the stems.
        resampled = sample_rate != self.sample_rate
        # The input as it arrived, held from the oldest sample not yet given back until the newest
        # read: a few segments, as the overlap-add holds.
        pending_input: collections.deque[torch.Tensor] = collections.deque()
        input_window = SampleWindow(iter(pending_input.popleft, None), n_samples)

        n_model = -(-n_samples * self.sample_rate // sample_rate)  # ceil, in exact integers: the resampled length
        segment_length = max(1, int(round(chunking.segment_seconds * self.sample_rate)))
        stems = overlap_add_stream(
            self._process_for(with_weights=resampled),
            SampleWindow(model_rate_blocks(), n_model),
            segment_length,
            chunking.overlap,
            chunking.batch_segments,
            progress=progress,
            description=description or Path(str(path)).name,
        )
        n_stems = len(self.stem_names)
        position = 0
        for block in resample_stream(stems, self.sample_rate, sample_rate, n_model):
            block = block[..., : n_samples - position]  # resampling back may add a sample
            if not block.shape[-1]:
                continue
            if resampled:
                mixture = input_window.read(position, position + block.shape[-1])
                input_window.release(position + block.shape[-1])
                block = share_residual(block[:n_stems], mixture, block[n_stems:])
            position += block.shape[-1]
            yield block.float().cpu()

    def separate(
        self,
        waveform: np.ndarray | torch.Tensor,
        sample_rate: int,
        chunking: ChunkingConfig = ChunkingConfig(),
        *,
        downmix: bool = False,
        progress: bool = False,
        path: str | Path = "input",
    ) -> torch.Tensor:
        """Separate one recording of any rate, channel count and length, held in memory.

        Args:
            waveform: ``(n_channels, n_samples)`` at ``sample_rate`` Hz.
            chunking: segment length, overlap and batch size of the overlap-add.
            downmix: average more than two channels to mono instead of raising.
            path: named in errors.

        Returns:
            ``(n_stems, n_channels_out, n_samples)`` float32 on the CPU at ``sample_rate``, where
            ``n_channels_out`` is the input's (mono when ``downmix`` reduced it).
            A mono model separates each channel of a stereo input on its own; a stereo model
            hears a mono input as centred stereo and returns the mean of its two channels.
            Files of any length are better served by :meth:`separate_stream` (or
            ``stemunet.separation.batch.separate_file``), whose memory does not grow with the length.
        """
        audio = waveform if torch.is_tensor(waveform) else torch.from_numpy(np.asarray(waveform, dtype=np.float32))
        if audio.ndim != 2:
            raise ValueError(f"{path}: expected (n_channels, n_samples), got shape {tuple(audio.shape)}")
        # Blocks of a few segments keep the resampler's temporaries small.
        block_samples = max(1, int(chunking.segment_seconds * sample_rate))
        blocks = self.separate_stream(
            audio.split(block_samples, dim=-1),
            audio.shape[-1],
            sample_rate,
            audio.shape[0],
            chunking,
            downmix=downmix,
            progress=progress,
            path=path,
        )
        return torch.cat(list(blocks), dim=-1)


SHIFT_SECONDS = 0.5
"""Longest delay of a shifted separation (Demucs' ``max_shift``: half a second)."""


def with_test_time_augmentation(separate_once: Callable[[torch.Tensor], torch.Tensor], postfilter: PostFilterConfig,
                                sample_rate: int, *, n_stems: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """``separate_once`` (segments ``(batch, c, n)`` -> ``(batch, k, c, n)``, the first ``n_stems``
    of ``k`` being stems) averaged over the test-time variants ``postfilter`` asks for; itself when
    none (so results are bit for bit as without augmentation).

    * ``shifts`` N: N separations of the segments delayed by offsets drawn once (seed 0, so a
      separation is repeatable) in [0, 0.5 s), each cut back into place: the STFT frames fall
      elsewhere each time, and their errors average out (Demucs' shift trick).
    * ``flip_channels``: also the stereo segments with left and right swapped, swapped back.
    * ``flip_sign``: also the polarity-inverted segments, the stems inverted back. (A magnitude-mask
      model's masks do not see the polarity, so this returns what it is given; it is offered
      for models and post-filters that do.)

    Variants run one after another on the same segments: memory is one variant's.
    """
    if not postfilter.augments:
        return separate_once
    offsets = [0]
    if postfilter.shifts:
        offsets = np.random.default_rng(0).integers(0, int(SHIFT_SECONDS * sample_rate), postfilter.shifts).tolist()

    def separate(segments: torch.Tensor) -> torch.Tensor:
        length = segments.shape[-1]
        swaps = (False, True) if postfilter.flip_channels and segments.shape[1] == 2 else (False,)
        signs = (1.0, -1.0) if postfilter.flip_sign else (1.0,)
        total, count = None, 0
        for offset in offsets:
            for swap in swaps:
                for sign in signs:
                    variant = segments.flip(1) if swap else segments
                    variant = -variant if sign < 0 else variant
                    variant = torch.nn.functional.pad(variant, (offset, 0)) if offset else variant
                    out = separate_once(variant)[..., offset : offset + length]
                    if sign < 0:
                        out = torch.cat([-out[:, :n_stems], out[:, n_stems:]], dim=1)  # stems back; shares keep their sign
                    out = out.flip(2) if swap else out
                    total = out if total is None else total + out
                    count += 1
        return total / count

    return separate
