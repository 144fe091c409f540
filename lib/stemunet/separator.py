"""``Separator``: waveform -> STFT -> U-Net masks x complex mixture -> ISTFT -> stem waveforms.

A separator describes itself: its checkpoint holds its configuration beside the weights, so
:meth:`Separator.load` rebuilds it from the file alone.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from stemunet import __version__
from stemunet.audio import match_channels, resample
from stemunet.chunking import overlap_add
from stemunet.config import STEM_NAMES, ChunkingConfig, SeparatorConfig
from stemunet.files import torch_save_atomic
from stemunet.model import UNet
from stemunet.stft import Istft, Stft

CHECKPOINT_FORMAT = "stemunet-checkpoint-v1"


def git_commit() -> str | None:
    """The library's git commit (``-dirty`` when changed), or ``None`` outside a checkout."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


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

    @torch.inference_mode()
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
        """Separate one recording of any rate, channel count and length.

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
        """
        self.eval()
        device = self.device
        audio = torch.as_tensor(np.asarray(waveform, dtype=np.float32) if not torch.is_tensor(waveform) else waveform)
        audio = audio.to(device=device, dtype=torch.float32)
        if audio.ndim != 2:
            raise ValueError(f"{path}: expected (n_channels, n_samples), got shape {tuple(audio.shape)}")
        n_samples = audio.shape[-1]
        if audio.shape[0] > 2:
            audio = match_channels(audio, 1, downmix=downmix, path=path)
        n_out = audio.shape[0]

        audio = resample(audio, sample_rate, self.sample_rate)
        if self.n_channels == 1:
            # Each input channel is a separate mono item: (n_out, 1, n) -> stems (n_stems, n_out, n).
            items = [audio[channel : channel + 1] for channel in range(n_out)]
        else:
            items = [match_channels(audio, 2)]
        segment_length = max(1, int(round(chunking.segment_seconds * self.sample_rate)))
        outputs = [
            overlap_add(
                self, item, segment_length, chunking.overlap, chunking.batch_segments, progress=progress
            )
            for item in items
        ]
        stems = torch.cat(outputs, dim=1) if self.n_channels == 1 else outputs[0]
        if stems.shape[1] != n_out:
            stems = stems.mean(dim=1, keepdim=True)
        stems = resample(stems, self.sample_rate, sample_rate)
        return stems[..., :n_samples].float().cpu()

    def checkpoint(self, **extra: Any) -> dict[str, Any]:
        """The self-describing checkpoint dict: configuration, weights, provenance, ``extra``."""
        return {
            "format": CHECKPOINT_FORMAT,
            "separator_config": self.config.to_params(),
            "stem_names": list(self.stem_names),
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
            "library_version": __version__,
            "torch_version": torch.__version__,
            "git_commit": git_commit(),
            **extra,
        }

    def save(self, path: str | Path, **extra: Any) -> Path:
        """Write :meth:`checkpoint` atomically to ``path``."""
        return torch_save_atomic(self.checkpoint(**extra), path)

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any]) -> Separator:
        if checkpoint.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"not a stemunet checkpoint (format {checkpoint.get('format')!r})")
        separator = cls(SeparatorConfig.from_params(checkpoint["separator_config"]))
        separator.load_state_dict(checkpoint["state_dict"])
        return separator.eval()

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device = "cpu") -> Separator:
        """Rebuild a separator from a checkpoint file alone, in eval mode."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such checkpoint file")
        try:
            checkpoint = torch.load(path, map_location=map_location, weights_only=False)
        except Exception as error:
            raise ValueError(f"{path}: not a readable checkpoint ({error})") from error
        try:
            return cls.from_checkpoint(checkpoint).to(map_location)
        except (ValueError, KeyError) as error:
            raise ValueError(f"{path}: {error}") from error
