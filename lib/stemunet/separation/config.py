"""What a separation job is told (:class:`SeparateConfig`, behind the separate notebook and the
command line): inputs, checkpoint, output folder and format, which stems, the post-filter."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Literal

from stemunet.audio import (ClippingPolicy, Encoding)
from stemunet.config import STEM_NAMES, ChunkingConfig, Config, ConfigError, DataConfig, PostFilterChoice, check_device

if TYPE_CHECKING:  # pandas, torch and the model stack load where they are used: --help and usage errors stay instant

    pass

TWO_STEM_NAMES: tuple[str, ...] = ("vocals", "accompaniment")
"""Outputs of the two-stem mode: vocals, and the sum of drums, bass and other."""

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
    stems: tuple[str, ...] = ()  # stems to write (drums, bass, other, vocals; accompaniment in two-stem mode); empty = all
    two_stems: bool = False  # write vocals and accompaniment (drums + bass + other) instead of four stems
    clipping: ClippingPolicy = "rescale"  # integer encodings: rescale all stems of a track alike, clamp, or none
    downmix: bool = False  # average inputs of more than two channels to mono instead of failing them
    overwrite: bool = False  # replace existing outputs (otherwise a track whose outputs exist is skipped)
    device: str = "auto"  # auto (cuda when available, else cpu), cpu, cuda, cuda:1, mps

    def __post_init__(self) -> None:
        check_device(self.device)
        if self.format == "flac" and self.encoding == "float32":
            raise ConfigError("flac stores integers: use encoding pcm16 or pcm24, or format wav")
        valid = TWO_STEM_NAMES if self.two_stems else STEM_NAMES
        unknown = [name for name in self.stems if name not in valid]
        if unknown:
            mode = "two-stem mode" if self.two_stems else "four-stem mode"
            raise ConfigError(f"stems {unknown} do not exist in {mode}; choose from {list(valid)}")
        if len(set(self.stems)) != len(self.stems):
            raise ConfigError(f"stems lists a stem twice: {list(self.stems)}")

    @property
    def output_names(self) -> tuple[str, ...]:
        """The stems written for each track, in file order."""
        names = TWO_STEM_NAMES if self.two_stems else STEM_NAMES
        return tuple(name for name in names if not self.stems or name in self.stems)
