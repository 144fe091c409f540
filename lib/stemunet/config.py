"""Typed, frozen configuration.

Defaults are the same whatever the entry point (library call, notebook, command line): small,
synthetic and CPU-fast, equal to the notebooks' parameters cells (a test enforces it). Named
recipes (the GPU default, the model card's, the demo) live only in ``parameters/*.yaml``.

Configuration flows one way: ``parameters/*.yaml`` -> a notebook's ``parameters`` cell (flat
names) -> a frozen dataclass built by :meth:`Config.from_params`, which rejects unknown keys and
wrong types so a typo never runs silently -> library calls.

A config may nest other configs as fields (a notebook's config holds the STFT, model and data
configs). Nested configs are *flattened*: their fields are addressed by their own names at the top
level, so every flat name must be unique within a composite config.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

if TYPE_CHECKING:
    import torch

import yaml

STEM_NAMES: tuple[str, ...] = ("drums", "bass", "other", "vocals")
"""MUSDB18's four stems, in MUSDB18's order: the default stem set (and every checkpoint's that
predates stem sets)."""

REST = "rest"
"""In a stem set's sources, "every stem of the data set that no other target takes" (Demucs' and
MSST's ``other``): ``accompaniment: [rest]`` beside ``vocals`` is the mixture minus the vocals."""


@dataclasses.dataclass(frozen=True)
class StemSet:
    """The stems a model separates, in its output order, and how each is made from a data set's stems.

    A target is the data set's stem of the same name unless ``sources`` names it: then it is the
    sum of the listed source stems, or, with :data:`REST`, of every source stem the other targets
    do not take (a 2-stem ``vocals``/``accompaniment`` model trains from any 4-stem data).
    """

    names: tuple[str, ...] = STEM_NAMES
    sources: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (target, source stems), hashable

    @classmethod
    def of(cls, names: typing.Sequence[str], sources: Mapping[str, typing.Sequence[str]] | None = None) -> "StemSet":
        return cls(tuple(names), tuple((target, tuple(parts)) for target, parts in (sources or {}).items()))

    def __len__(self) -> int:
        return len(self.names)

    def sources_of(self, target: str) -> tuple[str, ...]:
        """The source stems summed into ``target`` (``(target,)`` when it is read as it is)."""
        return dict(self.sources).get(target, (target,))

    def check(self) -> None:
        """:class:`ConfigError` unless there are two or more distinct, well-formed stem names."""
        require(len(self.names) >= 2, f"stems: a model separates two or more stems, got {list(self.names)}")
        require(len(set(self.names)) == len(self.names), f"stems: a stem is named twice in {list(self.names)}")
        for name in self.names:
            require(bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name)) and name.lower() not in ("mixture", "all", REST),
                    f"stems: {name!r} is not a usable stem name (letters, digits, _ . -; not 'mixture', 'all' or {REST!r})")
        lowered = [name.lower() for name in self.names]
        require(len(set(lowered)) == len(lowered), f"stems: two names differ only in case in {list(self.names)} (their files would collide)")
        for target, parts in self.sources:
            require(target in self.names, f"stem_sources: {target!r} is not one of the stems {list(self.names)}")
            require(len(parts) >= 1, f"stem_sources: {target!r} is made of no stems; list them, or [{REST}]")
            require(REST not in parts or parts == (REST,), f"stem_sources: {target!r} mixes {REST!r} with named stems; use one or the other")
        rests = [target for target, parts in self.sources if parts == (REST,)]
        require(len(rests) <= 1, f"stem_sources: only one stem can be the {REST!r}, got {rests}")
        # A data set's stem in two targets would be learnt twice, and the targets would no longer sum to the mixture.
        taken: dict[str, str] = {}
        for target in self.names:
            for part in self.sources_of(target):
                require(part == REST or part not in taken,
                        f"stem_sources: the stem {part!r} goes into both {taken.get(part)!r} and {target!r}; a stem may go into one target")
                taken[part] = target


class ConfigError(ValueError):
    """A parameter is unknown, of the wrong type or out of range."""


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A YAML mapping sets a key twice (PyYAML would keep the last silently)."""

    def __init__(self, key: Any, first_line: int, mark: yaml.Mark):
        self.key, self.first_line, self.line = key, first_line, mark.line + 1
        super().__init__(None, None, f"{key!r} is set twice (first on line {first_line})", mark)


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that sets a key twice."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, typing.Hashable):
                if key in lines:
                    raise DuplicateKeyError(key, lines[key], key_node.start_mark)
                lines[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load``, except that a key set twice raises :class:`DuplicateKeyError` (with its lines)."""
    return yaml.load(text, Loader=_UniqueKeyLoader)


_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")
"""Exponent notation without a decimal point (``1e-3``), which YAML 1.1 leaves a string."""


def _check_type(name: str, value: Any, annotation: Any) -> Any:
    """Return ``value`` converted to ``annotation`` where that is lossless, else raise."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(annotation):
            try:
                return _check_type(name, value, option)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(f"parameter {name!r}: {value!r} matches none of {annotation}")
    if origin is Literal:
        choices = typing.get_args(annotation)
        if isinstance(value, bool) and ("off" if value is False else "on") in choices:
            value = "off" if value is False else "on"  # YAML 1.1 (PyYAML, Papermill's -p) reads off/on as booleans
        if value not in choices:
            raise ConfigError(f"parameter {name!r}: {value!r} is not one of {list(choices)}")
        return value
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"parameter {name!r}: expected a mapping, got {type(value).__name__}")
        key_type, value_type = typing.get_args(annotation)
        return {_check_type(f"{name} key", key, key_type): _check_type(f"{name}[{key!r}]", item, value_type)
                for key, item in value.items()}
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"parameter {name!r}: expected a list, got {type(value).__name__}")
        item_type = typing.get_args(annotation)[0]
        return tuple(_check_type(f"{name}[{i}]", item, item_type) for i, item in enumerate(value))
    if annotation is type(None):
        if value is not None:
            raise ConfigError(f"parameter {name!r}: expected None, got {value!r}")
        return None
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"parameter {name!r}: expected true/false, got {value!r}")
        return value
    if annotation is int:
        # bool is a subclass of int; `epochs: true` is a typo, not 1.
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"parameter {name!r}: expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 (PyYAML, Papermill's -p) reads 1e-3 as a string; YAML 1.2 as a number
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"parameter {name!r}: expected a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"parameter {name!r}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported annotation {annotation!r} for {name!r}")


@dataclasses.dataclass(frozen=True)
class Config:
    """Base of every configuration dataclass: flat parameter dicts and YAML in and out."""

    @classmethod
    def _hints(cls) -> dict[str, Any]:
        return typing.get_type_hints(cls)

    @classmethod
    def _nested(cls) -> dict[str, type[Config]]:
        hints = cls._hints()
        return {
            f.name: hints[f.name]
            for f in dataclasses.fields(cls)
            if isinstance(hints[f.name], type) and issubclass(hints[f.name], Config)
        }

    @classmethod
    def parameter_names(cls) -> list[str]:
        """Every flat parameter name this config accepts, nested configs included."""
        names: list[str] = []
        nested = cls._nested()
        for f in dataclasses.fields(cls):
            names.extend(nested[f.name].parameter_names() if f.name in nested else [f.name])
        return names

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Self:
        """Build from a flat dict, rejecting unknown keys and wrong types.

        Keys missing from ``params`` take the dataclass defaults.
        """
        valid = cls.parameter_names()
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise ConfigError(
                f"unknown parameter(s) {unknown} for {cls.__name__}; valid names: {sorted(valid)}"
            )
        return cls._build(params)

    @classmethod
    def _build(cls, params: Mapping[str, Any]) -> Self:
        hints = cls._hints()
        nested = cls._nested()
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name in nested:
                kwargs[f.name] = nested[f.name]._build(params)
            elif f.name in params:
                kwargs[f.name] = _check_type(f.name, params[f.name], hints[f.name])
        return cls(**kwargs)

    @classmethod
    def parameter_fields(cls) -> dict[str, tuple[Any, Any, str]]:
        """Every flat parameter: ``{name: (annotation, default, comment)}``, nested configs included.

        The comment is the one after the field in the class's source (``name: int = 3  # what``),
        so a command line or a form built from a config says what each parameter means without
        retyping it.
        """
        fields: dict[str, tuple[Any, Any, str]] = {}
        hints, nested, comments = cls._hints(), cls._nested(), cls._field_comments()
        for f in dataclasses.fields(cls):
            if f.name in nested:
                fields.update(nested[f.name].parameter_fields())
            else:
                default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
                fields[f.name] = (hints[f.name], default, comments.get(f.name, ""))
        return fields

    @classmethod
    def _field_comments(cls) -> dict[str, str]:
        try:
            source = inspect.getsource(cls)
        except (OSError, TypeError):
            return {}
        found = re.finditer(r"^\s+(\w+): [^=\n]+=[^#\n]*#\s*(.+)$", source, flags=re.MULTILINE)
        return {match.group(1): match.group(2).strip() for match in found}

    def to_params(self) -> dict[str, Any]:
        """The flat parameter dict that :meth:`from_params` turns back into this config."""
        flat: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Config):
                flat.update(value.to_params())
            else:
                flat[f.name] = _plain(value)
        return flat

    def replace(self, **changes: Any) -> Self:
        """A copy with some flat parameters changed (validated like :meth:`from_params`)."""
        return type(self).from_params({**self.to_params(), **changes})

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_params(), sort_keys=False)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Self:
        path = Path(path)
        try:
            params = load_yaml(path.read_text()) or {}
        except DuplicateKeyError as error:
            raise ConfigError(f"{path}, line {error.line}: parameter {error.key!r} is set twice (first on line {error.first_line}); keep one") from None
        if not isinstance(params, dict):
            raise ConfigError(f"{path}: expected a mapping of parameter names to values")
        try:
            return cls.from_params(params)
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from None


def _plain(value: Any) -> Any:
    """``value`` with tuples as lists and mappings as dicts, as YAML and notebooks write them."""
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value


def require(condition: bool, message: str) -> None:
    """Raise :class:`ConfigError` with ``message`` unless ``condition`` holds (configs' range checks)."""
    if not condition:
        raise ConfigError(message)


def resolve_device(device: str = "auto") -> "torch.device":
    """``auto``: the first CUDA device if there is one, else the CPU; anything else as torch spells it.

    Raises :class:`ConfigError` for a name torch does not know or a device this machine lacks, so
    configs can call it before any work starts.
    """
    import torch  # here, not at the top: the runner checks parameters without loading torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise ConfigError(f"device {device!r}: {error}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r}: CUDA is not available on this machine (use 'auto' or 'cpu')")
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise ConfigError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device {device!r}: MPS is not available on this machine (use 'auto' or 'cpu')")
    return resolved


def check_device(device: str) -> None:
    """:func:`resolve_device`'s checks alone, cheap for ``auto`` and ``cpu`` (no torch import)."""
    if device not in ("auto", "cpu"):
        resolve_device(device)


@dataclasses.dataclass(frozen=True)
class StftConfig(Config):
    """How waveforms become spectrograms; also fixes the model's sample rate and channels."""

    sample_rate: int = 44100  # Hz the model works at; inputs are resampled to it
    n_channels: int = 2  # 1 = mono (stereo input is averaged), 2 = stereo
    n_fft: int = 4096  # 93 ms at 44.1 kHz: resolves bass harmonics
    hop_length: int = 1024  # 75 % overlap, the usual choice for magnitude masking

    def __post_init__(self) -> None:
        require(self.sample_rate >= 8000, f"sample_rate must be >= 8000 Hz, got {self.sample_rate}")
        require(self.n_channels in (1, 2), f"n_channels must be 1 or 2, got {self.n_channels}")
        require(self.n_fft >= 16 and self.n_fft % 2 == 0, f"n_fft must be even, got {self.n_fft}")
        require(
            0 < self.hop_length <= self.n_fft // 2,
            f"hop_length must be in 1..n_fft/2 for an exact inverse, got {self.hop_length}",
        )

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1


MaskActivation = Literal["sigmoid", "softmax", "relu"]
BlockType = Literal["double_conv", "residual_separable", "tfc_tdf"]


@dataclasses.dataclass(frozen=True)
class ModelConfig(Config):
    """The U-Net's shape. Its input channels come from :class:`StftConfig.n_channels`."""

    base_channels: int = 24  # channels of the first level, doubled at every level (24..384)
    depth: int = 5  # levels, the last one is the bottleneck
    block: BlockType = "double_conv"  # double_conv, residual_separable or tfc_tdf (needs max_frequency > 0); see stemunet.model for the trade-offs
    stem_stride: int = 2  # first layer downsamples bins and frames by this (1 = full resolution)
    mask_activation: MaskActivation = "softmax"  # softmax: masks of all stems sum to 1
    max_frequency: float = 16000.0  # Hz above which masks are not learnt (0 = all bins), as Open-Unmix
    stems: tuple[str, ...] = STEM_NAMES  # the stems the model separates, in its output order (two or more names)
    stem_sources: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)  # a stem made of a data set's stems: {accompaniment: [drums, bass, other]}, or [rest] for every stem no other takes

    def __post_init__(self) -> None:
        self.stem_set.check()
        require(self.base_channels >= 1, f"base_channels must be >= 1, got {self.base_channels}")
        require(1 <= self.depth <= 8, f"depth must be in 1..8, got {self.depth}")
        require(self.stem_stride in (1, 2, 4), f"stem_stride must be 1, 2 or 4, got {self.stem_stride}")
        require(self.max_frequency >= 0, f"max_frequency must be >= 0, got {self.max_frequency}")
        require(self.block != "tfc_tdf" or self.max_frequency > 0,
                "block tfc_tdf sizes its frequency layers for a fixed band: it needs max_frequency > 0")

    @property
    def stem_set(self) -> StemSet:
        return StemSet.of(self.stems, self.stem_sources)


@dataclasses.dataclass(frozen=True)
class PostFilterConfig(Config):
    """What happens at separation beyond the U-Net's masks (see :mod:`stemunet.separation.postfilter`):
    the post-filter, and test-time augmentation (each variant of a segment separated, then undone
    and averaged; Demucs' ``--shifts``, MSST's ``--use_tta``)."""

    wiener_iterations: int = 0  # EM iterations of the multichannel Wiener post-filter on the complex STFT (0 = off)
    mask_power: float = 1.0  # masks raised to this power and renormalised to sum to 1 (1 = as the model says)
    shifts: int = 0  # test-time augmentation: separate N times, each delayed by a random fraction of a second, and average (Demucs' shift trick); 0 = off
    flip_channels: bool = False  # test-time augmentation: also separate with left and right swapped, and average
    flip_sign: bool = False  # test-time augmentation: also separate the polarity-inverted input, and average
    precision: Literal["auto", "float32", "bf16"] = "auto"  # the U-Net's arithmetic: auto = bfloat16 where the hardware computes it natively (CPUs with AVX-512 BF16 or AMX, GPUs), else float32

    def __post_init__(self) -> None:
        require(self.precision in ("auto", "float32", "bf16"), f"precision must be auto, float32 or bf16, got {self.precision!r}")
        require(0 <= self.wiener_iterations <= 10, f"wiener_iterations must be in 0..10, got {self.wiener_iterations}")
        require(math.isfinite(self.mask_power) and 0 < self.mask_power <= 8, f"mask_power must be in (0, 8], got {self.mask_power}")
        require(0 <= self.shifts <= MAX_SHIFTS, f"shifts must be in 0..{MAX_SHIFTS}, got {self.shifts}")

    @property
    def n_variants(self) -> int:
        """How many times each segment is separated (1 without test-time augmentation; ``shifts: 1``
        is one shifted pass, as Demucs' ``--shifts 1``)."""
        return max(1, self.shifts) * (2 if self.flip_channels else 1) * (2 if self.flip_sign else 1)

    @property
    def augments(self) -> bool:
        """Whether any test-time augmentation is asked for."""
        return self.shifts > 0 or self.flip_channels or self.flip_sign


MAX_SHIFTS = 20
"""Most shifts a separation may average (each costs one more pass)."""


@dataclasses.dataclass(frozen=True)
class PostFilterChoice(Config):
    """A run's choice of post-filter and test-time augmentation: each setting, or the model's own
    (stored in its checkpoint)."""

    wiener_iterations: int = -1  # EM iterations of the multichannel Wiener post-filter (0 = off; -1 = the model's own setting)
    mask_power: float = -1.0  # masks raised to this power and renormalised (1 = as the model says; -1 = the model's own setting)
    shifts: int = -1  # test-time augmentation: average N separations, each delayed by a random fraction of a second (0 = off; -1 = the model's own)
    flip_channels: int = -1  # test-time augmentation: 1 = also separate with the channels swapped and average (0 = no; -1 = the model's own)
    flip_sign: int = -1  # test-time augmentation: 1 = also separate the polarity-inverted input and average (0 = no; -1 = the model's own)
    precision: Literal["model", "auto", "float32", "bf16"] = "model"  # the U-Net's arithmetic: auto = bfloat16 where the hardware has it, float32, bf16, or the model's own setting

    def __post_init__(self) -> None:
        require(self.wiener_iterations == -1 or 0 <= self.wiener_iterations <= 10, f"wiener_iterations must be -1 (the model's own) or in 0..10, got {self.wiener_iterations}")
        require(self.mask_power == -1 or (math.isfinite(self.mask_power) and 0 < self.mask_power <= 8), f"mask_power must be -1 (the model's own) or in (0, 8], got {self.mask_power}")
        require(self.shifts == -1 or 0 <= self.shifts <= MAX_SHIFTS, f"shifts must be -1 (the model's own) or in 0..{MAX_SHIFTS}, got {self.shifts}")
        for name in ("flip_channels", "flip_sign"):
            require(getattr(self, name) in (-1, 0, 1), f"{name} must be -1 (the model's own), 0 or 1, got {getattr(self, name)}")

    def applied_to(self, own: PostFilterConfig) -> PostFilterConfig:
        """``own`` (a model's settings) with this choice's explicit settings in place of its own."""
        return PostFilterConfig(
            wiener_iterations=own.wiener_iterations if self.wiener_iterations == -1 else self.wiener_iterations,
            mask_power=own.mask_power if self.mask_power == -1 else self.mask_power,
            shifts=own.shifts if self.shifts == -1 else self.shifts,
            flip_channels=own.flip_channels if self.flip_channels == -1 else bool(self.flip_channels),
            flip_sign=own.flip_sign if self.flip_sign == -1 else bool(self.flip_sign),
            precision=own.precision if self.precision == "model" else self.precision,
        )


@dataclasses.dataclass(frozen=True)
class SeparatorConfig(Config):
    """The model's signal path: STFT settings, network shape, and its post-filter at separation."""

    stft: StftConfig = StftConfig()
    model: ModelConfig = ModelConfig()
    postfilter: PostFilterConfig = PostFilterConfig()


MAX_SEGMENT_SECONDS = 600.0
"""Longest overlap-add segment: memory grows with it (10 minutes of stereo at 44.1 kHz is ~1 GB of spectrograms)."""


@dataclasses.dataclass(frozen=True)
class ChunkingConfig(Config):
    """Weighted overlap-add over fixed-length segments, for inputs of any length."""

    segment_seconds: float = 10.0  # segment length; memory grows with it, not with the track
    overlap: float = 0.25  # share of a segment shared with its neighbour, in [0, 0.9]
    batch_segments: int = 4  # segments separated together on the device

    def __post_init__(self) -> None:
        require(
            math.isfinite(self.segment_seconds) and 0 < self.segment_seconds <= MAX_SEGMENT_SECONDS,
            f"segment_seconds must be a number in (0, {MAX_SEGMENT_SECONDS:g}] s (and at least 4 STFT frames of the model), got {self.segment_seconds}",
        )
        require(0 <= self.overlap <= 0.9, f"overlap must be in [0, 0.9], got {self.overlap}")
        require(self.batch_segments >= 1, f"batch_segments must be >= 1, got {self.batch_segments}")


@dataclasses.dataclass(frozen=True)
class DataConfig(Config):
    """Which multitrack set to read: a MUSDB18(-HQ) folder, the embedded synthetic set, or a user's
    folders of stems (:mod:`stemunet.data.folders`)."""

    dataset: Literal["musdb", "folders"] = "musdb"  # musdb: MUSDB18(-HQ) at musdb_root, or the synthetic set; folders: one folder of stem files per track under data_root
    musdb_root: str = ""  # MUSDB18-HQ (wav folders) or MUSDB18 (.stem.mp4) folder; "" = synthetic
    data_root: str = ""  # dataset folders: the folder holding train/, valid/ and test/ (each one folder per track), or the tracks themselves with split_lists
    stem_map: dict[str, str] = dataclasses.field(default_factory=dict)  # dataset folders: glob pattern of a file or sub-folder name -> stem it belongs to (several files of one stem are summed); empty: each file's name is its stem
    unmatched_files: str = "refuse"  # dataset folders: a file no stem_map pattern matches is refused, or goes to the stem named here (a catch-all such as other)
    mixture: Literal["given", "sum"] = "given"  # dataset folders: the track's mixture file if it has one (given), or always the sum of its stems (sum)
    require_all_stems: bool = False  # dataset folders: a track lacking a stem is refused (true) or the stem is silence, with a warning (false)
    valid_root: str = ""  # dataset folders: a folder of validation tracks (else data_root/valid or split_lists' valid)
    split_lists: dict[str, str] = dataclasses.field(default_factory=dict)  # dataset folders: {train: file, valid: file, test: file}, text files naming one track folder per line (relative to data_root)
    synthetic_train_tracks: int = 4  # synthetic set only: tracks in train/ (a fifth are validation)
    synthetic_test_tracks: int = 2  # synthetic set only: tracks in test/
    synthetic_seconds: float = 6.0  # synthetic set only: length of every track
    synthetic_seed: int = 0  # synthetic set only: same seed, same files
    synthetic_version: int = 2  # synthetic set only: 2 (sampled + additive instruments, produced), 3 (as 2, each sampled part from one of the installed SoundFonts) or 1 (additive synths only)
    synthetic_soundfont: str = ""  # synthetic set v2: .sf2 file of the sampled instruments (empty: TimGM6mb from pretty_midi); v3: one more .sf2 to draw from (empty: the installed ones)

    def __post_init__(self) -> None:
        require(self.synthetic_train_tracks >= 2, "synthetic_train_tracks must be >= 2 (one for validation)")
        require(self.synthetic_test_tracks >= 1, "synthetic_test_tracks must be >= 1")
        require(self.synthetic_seconds >= 1.0, "synthetic_seconds must be >= 1.0")
        require(self.synthetic_version in (1, 2, 3), f"synthetic_version must be 1, 2 or 3, got {self.synthetic_version}")
