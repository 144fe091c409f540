"""The U-Net: mixture magnitude in, one soft mask per stem out. Nothing else.

Shapes: ``(batch, n_channels, n_bins, n_frames)`` magnitude -> ``(batch, n_stems, n_channels,
n_bins, n_frames)`` masks. The network never sees phase or waveforms; :mod:`stemunet.separation.separator`
multiplies the masks with the complex mixture.

Layout (``depth`` levels, channels ``base_channels * 2**level``)::

    log1p + batch-norm of the magnitude
    stem: a stride-``stem_stride`` conv (a 3x3 conv when the stride is 1)
    encoder: block, then (max-pool 2x2, block) per further level; the last level is the bottleneck
    decoder: per level, 1x1 conv halving channels, bilinear 2x up-sampling, add the encoder's
             skip, block
    head: transposed conv back to full resolution, concatenated with the normalised input,
          3x3 conv to ``n_stems * n_channels`` masks

Why these choices (measured on a 2-core CPU with ``benchmarks/separation_speed.py``, 3 min of
44.1 kHz stereo):

* Most of a U-Net's compute sits in its full-resolution levels. The card's network with a
  stride-1 stem ran 5.3x real time (16 kHz mono); the same network with a stride-2 stem runs
  16x, and the head's concatenation with the input keeps bin-accurate detail in the masks.
* Additive skips instead of concatenated ones halve the decoder's input channels; with them the
  model card's C32..C512 double-conv network has 6.47 M parameters (card: 6.2 M).
* The default (C24..C384, stride 2, bins up to 16 kHz modelled, 44.1 kHz stereo) runs 20x real
  time, 2.6x Open-Unmix with its Wiener step (7.6x) and 3.8x HDemucs (5.2x).
* ``residual_separable`` blocks (depthwise 3x3 + pointwise 1x1, twice, the second dilated) need
  about a sixth of the multiply-adds of a double 3x3 conv, but PyTorch's CPU depthwise kernels
  are slow: at C32..C512 they ran 12.7x real time against 11.7x for ``double_conv`` (44.1 kHz
  stereo, bins to 16 kHz), a gain not worth their weaker layers; they remain an option.
* ``tfc_tdf`` blocks (a double 3x3 conv, then a residual fully connected bottleneck along the
  frequency axis, after KUIELab's MDX-Net) let every level relate all its bins at once (harmonics
  far apart, a bass note's overtones) where 3x3 convs see neighbours only. Their linear layers
  are sized for a fixed bin count, so they need a band limit (``max_frequency > 0``, as MDX-Net's
  ``dim_f``); an option until an ablation (``benchmarks/model_ablation.py``) says otherwise.

Channels: the magnitudes of all ``n_channels`` (1 or 2) enter the first convolution together, and
the head predicts one mask per stem *and* channel, so a stereo model (``n_channels: 2``) hears
panning and width in one network; a mono model is applied to each channel of a stereo input on
its own (:meth:`stemunet.separation.separator.Separator.separate`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from stemunet.config import ModelConfig


def _conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 3, **kwargs) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False, **kwargs),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class DoubleConvBlock(nn.Module):
    """Two 3x3 conv + batch-norm + ReLU layers: the classic U-Net block."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.layers = nn.Sequential(
            _conv_bn_relu(in_channels, out_channels), _conv_bn_relu(out_channels, out_channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class _SeparableUnit(nn.Module):
    """``x + BN(pointwise(ReLU(BN(depthwise3x3(x)))))`` followed by ReLU."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.depthwise = nn.Conv2d(
            channels, channels, 3, padding=dilation, dilation=dilation, groups=channels, bias=False
        )
        self.norm1 = nn.BatchNorm2d(channels)
        self.pointwise = nn.Conv2d(channels, channels, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.depthwise(x)), inplace=True)
        return F.relu(x + self.norm2(self.pointwise(y)), inplace=True)


class ResidualSeparableBlock(nn.Module):
    """1x1 projection to ``out_channels``, then two residual depthwise-separable units.

    The second unit is dilated (2) so two blocks see as far as a double 3x3 conv would and more.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.project = (
            _conv_bn_relu(in_channels, out_channels, kernel_size=1)
            if in_channels != out_channels
            else nn.Identity()
        )
        self.units = nn.Sequential(_SeparableUnit(out_channels, 1), _SeparableUnit(out_channels, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.units(self.project(x))


FREQUENCY_BOTTLENECK = 8
"""TFC-TDF's bottleneck factor: its fully connected layers map ``n_bins -> n_bins // 8 -> n_bins``
(MDX-Net's ``bn``; its MDX Challenge models used 8 and 16)."""


class TfcTdfBlock(nn.Module):
    """TFC-TDF: time-frequency convolutions, then a residual time-distributed fully connected part.

    After KUIELab's MDX-Net (Kim et al., "KUIELab-MDX-Net: A Two-Stream Neural Network for Music
    Demixing", MDX Workshop 2021; ``TFC_TDF`` in ``src/models/modules.py`` of kuielab/mdx-net):
    ``y = TFC(x); out = y + TDF(y)`` where TFC is a stack of 3x3 conv + batch-norm + ReLU layers
    (here two, :class:`DoubleConvBlock`, so the block costs what ``double_conv`` does plus the
    linear layers) and TDF is ``Linear(f, f // bn) -> BN -> ReLU -> Linear(f // bn, f) -> BN ->
    ReLU`` applied along the frequency axis of every channel and frame, with weights shared by all
    channels and frames (no biases: batch-norm follows each layer). MDX-Net puts a TFC-TDF at every
    level of its U-Net, as :class:`UNet` does with this block.

    ``(batch, in_channels, n_bins, n_frames)`` -> ``(batch, out_channels, n_bins, n_frames)``;
    ``n_bins`` is fixed at construction.
    """

    needs_bins = True  # UNet passes each level's bin count

    def __init__(self, in_channels: int, out_channels: int, n_bins: int):
        super().__init__()
        self.n_bins = n_bins
        hidden = max(1, n_bins // FREQUENCY_BOTTLENECK)
        self.tfc = DoubleConvBlock(in_channels, out_channels)
        self.tdf = nn.Sequential(
            nn.Linear(n_bins, hidden, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, n_bins, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.tfc(x)
        if y.shape[-2] != self.n_bins:
            raise ValueError(f"TfcTdfBlock was built for {self.n_bins} bins, got {y.shape[-2]}")
        # Linear acts on the last axis: frequency goes there and back, (B, C, F, T) <-> (B, C, T, F).
        return y + self.tdf(y.transpose(-1, -2)).transpose(-1, -2)


BLOCKS = {"double_conv": DoubleConvBlock, "residual_separable": ResidualSeparableBlock, "tfc_tdf": TfcTdfBlock}


class UNet(nn.Module):
    """Mask estimator. See the module docstring for the layout.

    Args:
        config: network shape.
        n_channels: audio channels of the magnitude input (1 mono, 2 stereo).
        max_bin: bins at and above it are not modelled (bandwidth limit, as Open-Unmix does):
            their masks are ``1 / n_stems`` each, so the band passes through, split evenly.
            ``None`` models every bin. Blocks sized along frequency (``tfc_tdf``) need it: they
            are built for ``max_bin`` bins (padded to :attr:`size_multiple`), and inputs with
            fewer bins are padded up to that.
        n_stems: masks to predict (default: one per stem of ``config.stems``).
    """

    def __init__(
        self,
        config: ModelConfig,
        n_channels: int,
        max_bin: int | None = None,
        n_stems: int | None = None,
    ):
        super().__init__()
        self.config = config
        self.n_channels = n_channels
        self.n_stems = len(config.stems) if n_stems is None else n_stems
        self.max_bin = max_bin
        block_type = BLOCKS[config.block]
        widths = [config.base_channels * 2**level for level in range(config.depth)]
        stride = config.stem_stride
        self.padded_bins: int | None = None  # fixed bin count after padding, for blocks that need one
        if getattr(block_type, "needs_bins", False):
            if max_bin is None:
                raise ValueError(f"the {config.block} block needs a band limit (max_frequency > 0) to size its frequency layers")
            self.padded_bins = max_bin + (-max_bin % self.size_multiple)

        def block(level: int, in_channels: int, out_channels: int) -> nn.Module:
            if self.padded_bins is None:
                return block_type(in_channels, out_channels)
            return block_type(in_channels, out_channels, n_bins=self.padded_bins // (stride * 2**level))

        self.input_norm = nn.BatchNorm2d(n_channels)
        if stride == 1:
            self.stem = _conv_bn_relu(n_channels, widths[0])
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(n_channels, widths[0], stride, stride=stride, bias=False),
                nn.BatchNorm2d(widths[0]),
                nn.ReLU(inplace=True),
            )
        self.encoder = nn.ModuleList(
            [block(0, widths[0], widths[0])]
            + [block(level, widths[level - 1], widths[level]) for level in range(1, config.depth)]
        )
        self.reduce = nn.ModuleList(
            [_conv_bn_relu(widths[level + 1], widths[level], 1) for level in range(config.depth - 1)]
        )
        self.decoder = nn.ModuleList(
            [block(level, widths[level], widths[level]) for level in range(config.depth - 1)]
        )
        if stride == 1:
            self.upsample_head = nn.Identity()
        else:
            self.upsample_head = nn.Sequential(
                nn.ConvTranspose2d(widths[0], widths[0], stride, stride=stride, bias=False),
                nn.BatchNorm2d(widths[0]),
                nn.ReLU(inplace=True),
            )
        # Full-resolution input joins here so stride > 1 still yields bin-accurate masks.
        self.head = nn.Conv2d(widths[0] + n_channels, self.n_stems * n_channels, 3, padding=1)
        self._split_head: tuple[torch.Tensor, torch.Tensor] | None = None  # see split_head()

    @property
    def size_multiple(self) -> int:
        """Bins and frames are padded to a multiple of this inside :meth:`forward`."""
        return self.config.stem_stride * 2 ** (self.config.depth - 1)

    def forward(self, magnitude: torch.Tensor) -> torch.Tensor:
        """``(batch, n_channels, n_bins, n_frames)`` -> ``(batch, n_stems, n_channels, n_bins, n_frames)``."""
        batch, channels, n_bins, n_frames = magnitude.shape
        if channels != self.n_channels:
            raise ValueError(f"UNet expects {self.n_channels} channels, got {channels}")
        modelled_bins = n_bins if self.max_bin is None else min(self.max_bin, n_bins)
        x = self.input_norm(torch.log1p(magnitude[:, :, :modelled_bins]))

        # Pad to a multiple of every down-sampling step, so any (bins, frames) works; crop after.
        multiple = self.size_multiple
        pad_bins = (self.padded_bins - modelled_bins) if self.padded_bins else -modelled_bins % multiple
        pad_frames = -n_frames % multiple
        x = F.pad(x, (0, pad_frames, 0, pad_bins))

        skips = []
        h = self.stem(x)
        for level, block in enumerate(self.encoder):
            if level > 0:
                h = F.max_pool2d(h, 2)
            h = block(h)
            skips.append(h)
        for level in reversed(range(self.config.depth - 1)):
            h = self.reduce[level](h)
            h = F.interpolate(h, scale_factor=2.0, mode="bilinear", align_corners=False)
            h = self.decoder[level](h + skips[level])
        h = self.upsample_head(h)
        logits = self._head_logits(h, x)[..., :modelled_bins, :n_frames]
        logits = logits.reshape(batch, self.n_stems, channels, modelled_bins, n_frames)

        masks = self._activate(logits)
        if modelled_bins < n_bins:
            rest = masks.new_full((batch, self.n_stems, channels, n_bins - modelled_bins, n_frames), 1 / self.n_stems)
            masks = torch.cat([masks, rest], dim=3)
        return masks

    def _head_logits(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The head's convolution of the features ``h`` beside the normalised input ``x``."""
        if self._split_head is None:
            return self.head(torch.cat([h, x], dim=1))
        weight_h, weight_x = self._split_head
        padding = self.head.padding
        return F.conv2d(h, weight_h, self.head.bias, padding=padding) + F.conv2d(x, weight_x, None, padding=padding)

    def split_head(self) -> UNet:
        """For inference: the head's convolution of ``cat([h, x])`` computed as the sum of one
        convolution of ``h`` and one of ``x`` (the same numbers to float rounding). That skips
        copying the full-resolution features into an odd number of channels, which costs oneDNN
        more than the convolution itself (2.7 times as much CPU time for the bundled model's head).
        The weights are split once, now: call it on a copy that is no longer trained."""
        weight = self.head.weight.detach()
        features = weight.shape[1] - self.n_channels
        layout = torch.channels_last if self.head.weight.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        self._split_head = (weight[:, :features].contiguous(memory_format=layout), weight[:, features:].contiguous(memory_format=layout))
        return self

    def _activate(self, logits: torch.Tensor) -> torch.Tensor:
        activation = self.config.mask_activation
        if activation == "softmax":
            return torch.softmax(logits, dim=1)
        if activation == "sigmoid":
            return torch.sigmoid(logits)
        return F.relu(logits)


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
