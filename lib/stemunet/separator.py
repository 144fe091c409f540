"""``Separator``: waveform -> STFT -> U-Net masks x complex mixture -> ISTFT -> stem waveforms.

A separator describes itself: its checkpoint holds its configuration beside the weights, so
:func:`stemunet.checkpoints.load_separator` rebuilds it from the file alone
(:func:`stemunet.checkpoints.save_model` writes it). The arrow points one way: checkpoints build
separators; a separator knows nothing of files.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from stemunet.audio import AudioError, check_channels
from stemunet.chunking import SampleWindow, overlap_add_stream, resample_stream
from stemunet.config import MAX_SEGMENT_SECONDS, STEM_NAMES, ChunkingConfig, ConfigError, SeparatorConfig
from stemunet.model import UNet
from stemunet.stft import Istft, Stft


class Separator(nn.Module):
    """The whole signal path at the model's sample rate and channel count.

    ``forward``: ``(batch, n_channels, n_samples)`` -> ``(batch, n_stems, n_channels, n_samples)``,
    stems ordered as :data:`STEM_NAMES` (drums, bass, other, vocals). :meth:`separate` takes audio
    of any rate, channel count and length.
    """

    stem_names = STEM_NAMES

    def __init__(self, config: SeparatorConfig = SeparatorConfig()):
        super().__init__()
        self.config = config
        stft = config.stft
        self.stft = Stft(stft)
        self.istft = Istft(stft)
        max_bin = None
        if config.model.max_frequency > 0:
            max_bin = min(stft.n_bins, int(np.ceil(config.model.max_frequency * stft.n_fft / stft.sample_rate)) + 1)
        self.unet = UNet(config.model, n_channels=stft.n_channels, max_bin=max_bin)

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

        Batch-norm layers are folded into the convolution before them, and the copy works in
        channels-last memory layout (about twice as fast on CPUs through oneDNN, and the layout
        tensor cores want). A copy, so training can go on with the original; it is cheap
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
        return unet.to(memory_format=torch.channels_last)

    def _separate_with(self, unet: nn.Module, mixture: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` with another U-Net (:meth:`inference_unet`): ``(batch, n_channels, n)`` -> ``(batch, n_stems, n_channels, n)``."""
        mixture_spec = self.stft(mixture)
        masks = unet(mixture_spec.abs().contiguous(memory_format=torch.channels_last))
        return self.istft(masks * mixture_spec.unsqueeze(1), mixture.shape[-1])

    def _process_for(self, n_channels: int) -> Callable[[torch.Tensor], torch.Tensor]:
        """``(batch, n_channels, n)`` -> ``(batch, n_stems, n_channels, n)`` for audio of ``n_channels`` (1, 2).

        Runs :meth:`inference_unet`. A mono model separates each channel of a stereo input on
        its own (the channels become batch items, so they share one pass); a stereo model hears
        a mono input as centred stereo and returns the mean of its two channels.
        """
        unet = self.inference_unet()

        def process(segments: torch.Tensor) -> torch.Tensor:
            batch, channels, length = segments.shape
            if channels == self.n_channels:
                return self._separate_with(unet, segments)
            if self.n_channels == 1:
                stems = self._separate_with(unet, segments.reshape(batch * channels, 1, length))
                return stems.reshape(batch, channels, -1, length).transpose(1, 2)
            return self._separate_with(unet, segments.expand(-1, 2, -1)).mean(dim=2, keepdim=True)

        return process

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
        n_out = 1 if n_channels > 2 else n_channels
        device = self.device

        def model_rate_blocks() -> Iterator[torch.Tensor]:
            def on_device() -> Iterator[torch.Tensor]:
                for block in blocks:
                    audio = torch.as_tensor(np.asarray(block, dtype=np.float32) if not torch.is_tensor(block) else block)
                    audio = audio.to(device=device, dtype=torch.float32)
                    if audio.ndim != 2 or audio.shape[0] != n_channels:
                        raise ValueError(f"{path}: expected ({n_channels}, n) blocks, got shape {tuple(audio.shape)}")
                    yield audio.mean(dim=0, keepdim=True) if n_channels > 2 else audio

            yield from resample_stream(on_device(), sample_rate, self.sample_rate, n_samples)

        n_model = -(-n_samples * self.sample_rate // sample_rate)  # ceil, in exact integers: the resampled length
        segment_length = max(1, int(round(chunking.segment_seconds * self.sample_rate)))
        stems = overlap_add_stream(
            self._process_for(n_out),
            SampleWindow(model_rate_blocks(), n_model),
            segment_length,
            chunking.overlap,
            chunking.batch_segments,
            progress=progress,
            description=description or Path(str(path)).name,
        )
        remaining = n_samples
        for block in resample_stream(stems, self.sample_rate, sample_rate, n_model):
            block = block[..., :remaining]  # resampling back may add a sample
            remaining -= block.shape[-1]
            if block.shape[-1]:
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
            ``stemunet.separate.separate_file``), whose memory does not grow with the length.
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
