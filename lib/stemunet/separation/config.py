"""What a separation job is told (:class:`SeparateConfig`, behind the separate notebook and the
command line): inputs, checkpoint, output folder and format, which stems, the post-filter."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from stemunet.audio import (ClippingPolicy, Encoding)
from stemunet.config import STEM_NAMES, ChunkingConfig, Config, ConfigError, DataConfig, PostFilterChoice, check_device

if TYPE_CHECKING:  # pandas, torch and the model stack load where they are used: --help and usage errors stay instant

    pass

TWO_STEM_NAMES: tuple[str, ...] = ("vocals", "accompaniment")
"""Outputs of the two-stem mode: vocals, and the sum of the model's other stems."""

FileFormat = Literal["wav", "flac"]


@dataclasses.dataclass(frozen=True)
class SeparateConfig(Config):
    """What to separate, with which checkpoint, and how to write the stems."""

    data: DataConfig = DataConfig()  # where the default inputs come from (its test tracks)
    chunking: ChunkingConfig = ChunkingConfig()
    postfilter: PostFilterChoice = PostFilterChoice()
    inputs: tuple[str, ...] = ()  # files, folders (recursive) or globs; empty = the data set's test mixtures
    checkpoint: str = ""  # training run folder, checkpoint file, pretrained or latest; "" = pretrained if bundled, else latest
    output_dir: str = ""  # stems go to <output_dir>/<track>/<stem>.<ext>; "" = <run folder>/stems
    encoding: Encoding = "pcm16"  # pcm16, pcm24 or float32 (wav only)
    format: FileFormat = "wav"  # wav or flac
    stems: tuple[str, ...] = ()  # stems to write (the model's: drums, bass, other, vocals for the bundled one; vocals, accompaniment in two-stem mode); empty = all
    two_stems: bool = False  # write vocals and accompaniment (the sum of the model's other stems) instead of every stem
    clipping: ClippingPolicy = "rescale"  # integer encodings: rescale all stems of a track alike, clamp, or none
    downmix: bool = False  # average inputs of more than two channels to mono instead of failing them
    overwrite: bool = False  # replace existing outputs (otherwise a track whose outputs exist is skipped)
    device: str = "auto"  # auto (cuda when available, else cpu), cpu, cuda, cuda:1, mps

    def __post_init__(self) -> None:
        check_device(self.device)
        if self.format == "flac" and self.encoding == "float32":
            raise ConfigError("flac stores integers: use encoding pcm16 or pcm24, or format wav")
        if len(set(self.stems)) != len(self.stems):
            raise ConfigError(f"stems lists a stem twice: {list(self.stems)}")
        if self.two_stems:
            unknown = [name for name in self.stems if name not in TWO_STEM_NAMES]
            if unknown:
                raise ConfigError(f"stems {unknown} do not exist in two-stem mode; choose from {list(TWO_STEM_NAMES)}")

    def output_names(self, model_stems: Sequence[str] = STEM_NAMES) -> tuple[str, ...]:
        """The stems written for each track by a model separating ``model_stems``, in file order.

        Raises:
            ConfigError: ``stems`` names a stem the model does not have, or two-stem mode with a
                model without vocals; said before any work starts.
        """
        if self.two_stems and "vocals" not in model_stems:
            raise ConfigError(f"two_stems writes vocals and the rest, but this model separates {list(model_stems)} (no vocals)")
        names = TWO_STEM_NAMES if self.two_stems else tuple(model_stems)
        unknown = [name for name in self.stems if name not in names]
        if unknown:
            raise ConfigError(f"stems {unknown} are not stems of this model; choose from {list(names)}")
        return tuple(name for name in names if not self.stems or name in self.stems)
