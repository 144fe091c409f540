"""Audio files in and out, resampling and channel handling.

Waveforms are float32 arrays shaped ``(n_channels, n_samples)``, values nominally in [-1, 1].
Reading goes through soundfile (wav, flac, ogg, mp3, ...) and falls back to ffmpeg (through
stempeg) for everything soundfile cannot read: m4a/aac, and the mixture stream of a ``.stem.mp4``.
Every problem with an input file raises :class:`AudioError` naming the file and the problem.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import soundfile as sf

from stemunet.files import atomic_path

if TYPE_CHECKING:  # torch is imported where it is used: the separation CLI's --help stays instant
    import torch

WAV_SUBTYPES = {"pcm16": "PCM_16", "pcm24": "PCM_24", "float32": "FLOAT"}
"""``save`` encodings for wav; flac is always 16- or 24-bit (``pcm16``/``pcm24``)."""

Encoding = Literal["pcm16", "pcm24", "float32"]

# Formats that soundfile cannot decode: sent straight to ffmpeg.
FFMPEG_SUFFIXES = {".m4a", ".mp4", ".aac", ".wma", ".opus", ".webm", ".mka"}


class AudioError(ValueError):
    """An audio file is missing, unreadable, empty, not finite, or of an unusable layout."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def declared_samples(path: Path) -> int | None:
    """The length of ``path``'s first audio stream in samples, as its container declares it (ffprobe).

    AAC and other frame-based codecs decode to whole frames (1024 samples): ffmpeg's output can be
    up to a frame longer than the audio that was encoded. The container's duration is the true one.
    ``None`` when the container declares none.
    """
    if shutil.which("ffprobe") is None:
        return None
    command = ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
               "stream=duration_ts,time_base,sample_rate", "-of", "default=noprint_wrappers=1", str(path)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    fields = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    try:
        numerator, denominator = (int(part) for part in fields["time_base"].split("/"))
        return int(round(int(fields["duration_ts"]) * numerator * int(fields["sample_rate"]) / denominator))
    except (KeyError, ValueError, ZeroDivisionError):
        return None


def decode_with_ffmpeg(path: Path, folder: Path) -> Path:
    """The first audio stream of ``path`` (the mixture of a ``.stem.mp4``) as a float wav in ``folder``,
    exactly as long as the container declares (the codec's padding of its last frame cut)."""
    if shutil.which("ffmpeg") is None:
        raise AudioError(path, "reading this format needs the ffmpeg program; install ffmpeg")
    target = folder / "decoded.wav"
    length = declared_samples(path)
    trim = ["-af", f"atrim=end_sample={length}"] if length else []
    command = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0", "-vn", *trim,
               "-c:a", "pcm_f32le", "-rf64", "auto", "-f", "wav", str(target)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not target.is_file():
        message = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise AudioError(path, f"ffmpeg could not decode it ({message})")
    return target


# soundfile's own formats: when it cannot read one, the file is damaged, whatever ffmpeg makes of it.
SOUNDFILE_SUFFIXES = {".wav", ".wave", ".flac", ".ogg", ".oga", ".aif", ".aiff", ".rf64", ".w64", ".caf"}


@contextlib.contextmanager
def _unreadable_if_ffmpeg_fails(path: Path, soundfile_error: Exception) -> Iterator[None]:
    """Inside, an ffmpeg failure on a file of soundfile's own formats is reported as soundfile's
    error: "ffmpeg could not decode it" would blame a tool the user never asked for."""
    try:
        yield
    except AudioError:
        if path.suffix.lower() not in SOUNDFILE_SUFFIXES:
            raise
        raise AudioError(path, f"not a readable audio file ({soundfile_error})") from None


def declared_wav_samples(path: Path) -> int | None:
    """The frames a RIFF/WAVE file's header declares (its ``data`` chunk size over the frame size).

    ``None`` for other files, for RF64 and for streamed wavs whose header leaves the size open
    (0 or 0xFFFFFFFF). soundfile reports the frames actually present, so a file cut short reads
    as a shorter one; comparing the two finds it.
    """
    if path.suffix.lower() not in (".wav", ".wave"):
        return None
    try:
        with open(path, "rb") as handle:
            if handle.read(4) != b"RIFF" or (handle.read(4) and handle.read(4) != b"WAVE"):
                return None
            block_align = None
            while header := handle.read(8):
                if len(header) < 8:
                    return None
                chunk, size = header[:4], struct.unpack("<I", header[4:])[0]
                if chunk == b"fmt ":
                    fmt = handle.read(size)
                    if len(fmt) < 14:
                        return None
                    block_align = struct.unpack("<H", fmt[12:14])[0]
                    handle.seek(size % 2, 1)
                elif chunk == b"data":
                    if not block_align or size in (0, 0xFFFFFFFF):
                        return None
                    return size // block_align
                else:
                    handle.seek(size + size % 2, 1)  # chunks are padded to an even size
    except (OSError, struct.error):
        return None
    return None


def _read_with_ffmpeg(path: Path) -> tuple[np.ndarray, int]:
    """First audio stream of ``path`` through ffmpeg, as ``(n_samples, n_channels)``."""
    with tempfile.TemporaryDirectory(prefix="stemunet-decode-") as folder:
        frames, rate = sf.read(decode_with_ffmpeg(path, Path(folder)), dtype="float32", always_2d=True)
    return frames, int(rate)


def check_audio_file(path: str | Path) -> Path:
    """``path`` as a Path, or :class:`AudioError` if it is missing, a folder or empty."""
    path = Path(path)
    if not path.exists():
        raise AudioError(path, "no such file")
    if path.is_dir():
        raise AudioError(path, "is a folder, not an audio file")
    if not path.is_file():  # st_size of a pipe or /dev/zero is 0, yet reading it never ends
        raise AudioError(path, "not a regular file (a pipe, device or socket); name an audio file")
    if path.stat().st_size == 0:
        raise AudioError(path, "file is empty (0 bytes)")
    return path


def load_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Read an audio file.

    Returns:
        ``(waveform, sample_rate)``: float32 ``(n_channels, n_samples)`` and Hz.

    Raises:
        AudioError: missing, unreadable, empty or non-finite input, naming the file.
    """
    path = check_audio_file(path)
    if path.suffix.lower() in FFMPEG_SUFFIXES:
        frames, sample_rate = _read_with_ffmpeg(path)
    else:
        try:
            frames, sample_rate = sf.read(path, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, TypeError) as error:
            if shutil.which("ffmpeg") is None:
                raise AudioError(path, f"not a readable audio file ({error})") from error
            with _unreadable_if_ffmpeg_fails(path, error):
                frames, sample_rate = _read_with_ffmpeg(path)
    waveform = np.ascontiguousarray(frames.T, dtype=np.float32)
    if waveform.shape[1] == 0:
        raise AudioError(path, "contains no audio samples")
    if not np.isfinite(waveform).all():
        raise AudioError(path, "contains NaN or infinite samples")
    return waveform, int(sample_rate)


def save_audio(
    path: str | Path,
    waveform: np.ndarray | torch.Tensor,
    sample_rate: int,
    encoding: Encoding = "pcm16",
    *,
    overwrite: bool = False,
) -> Path:
    """Write ``(n_channels, n_samples)`` audio as wav or flac (by ``path``'s suffix), atomically.

    The file is written under a temporary name in the same folder and renamed, so an interrupted
    write never leaves a half file. An existing file is an error unless ``overwrite``.
    Samples outside [-1, 1] are clipped by integer encodings: apply a clipping policy first
    (:func:`apply_clipping_policy`).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".wav", ".flac"):
        raise ValueError(f"{path}: can only write .wav or .flac, not {suffix!r}")
    if suffix == ".flac" and encoding == "float32":
        raise ValueError(f"{path}: flac stores integers; use pcm16 or pcm24")
    if encoding not in WAV_SUBTYPES:
        raise ValueError(f"{path}: encoding must be one of {list(WAV_SUBTYPES)}, got {encoding!r}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    if hasattr(waveform, "detach"):  # a torch tensor
        waveform = waveform.detach().cpu().numpy()
    waveform = np.asarray(waveform, dtype=np.float32)
    if waveform.ndim != 2:
        raise ValueError(f"{path}: expected (n_channels, n_samples) audio, got shape {waveform.shape}")
    with atomic_path(path, overwrite=overwrite) as temporary:
        sf.write(temporary, waveform.T, sample_rate, subtype=WAV_SUBTYPES[encoding], format=suffix[1:].upper())
    return path


ClippingPolicy = Literal["rescale", "clamp", "none"]


def rescale_gain(peak: float) -> float:
    """The ``rescale`` policy's factor for a track whose largest absolute sample is ``peak``."""
    return 1.0 / peak if peak > 1.0 else 1.0


def apply_clipping_policy(stems: np.ndarray, policy: ClippingPolicy, *, peak: float | None = None) -> np.ndarray:
    """Keep samples inside [-1, 1] before an integer encoding.

    ``rescale`` divides every stem by the same factor (the largest peak over 1), so the stems still
    sum to the mixture; ``clamp`` clips samples; ``none`` leaves them (the encoder clips).

    Args:
        stems: any shape, e.g. ``(n_stems, n_channels, n_samples)`` or one streamed block.
        peak: for ``rescale``, the largest absolute sample of the whole track when ``stems`` is
            only a block of it (streamed writing); default: ``stems``' own peak.
    """
    if policy == "none":
        return stems
    if policy == "clamp":
        return np.clip(stems, -1.0, 1.0)
    if policy == "rescale":
        if peak is None:
            peak = float(np.max(np.abs(stems))) if stems.size else 0.0
        gain = rescale_gain(peak)
        return stems * gain if gain != 1.0 else stems
    raise ValueError(f"clipping policy must be 'rescale', 'clamp' or 'none', got {policy!r}")


def check_channels(path: str | Path, n_channels: int, *, downmix: bool = False) -> None:
    """:class:`AudioError` for more than two channels unless ``downmix`` (which averages them to mono)."""
    if n_channels > 2 and not downmix:
        raise AudioError(path, f"has {n_channels} channels; only mono and stereo are supported (use the downmix option)")


def resample(waveform: torch.Tensor, orig_rate: int, new_rate: int) -> torch.Tensor:
    """Band-limited (Kaiser-windowed sinc) resampling along the last axis ``(..., n_samples)``.

    The kernel is wider than torchaudio's default (64 zero crossings) for a transition band
    narrow enough for music; the output has ``ceil(n_samples * new_rate / orig_rate)`` samples.
    """
    if orig_rate == new_rate:
        return waveform
    import torchaudio.functional

    return torchaudio.functional.resample(
        waveform,
        orig_rate,
        new_rate,
        lowpass_filter_width=64,
        rolloff=0.9475937167399596,
        resampling_method="sinc_interp_kaiser",
        beta=14.769656459379492,
    )


def match_channels(waveform: torch.Tensor, n_channels: int, *, downmix: bool = False, path: str | Path = "input") -> torch.Tensor:
    """Bring ``(n_in, n_samples)`` audio to ``n_channels`` (1 or 2).

    Mono to stereo duplicates; stereo to mono averages. More than two channels is an error unless
    ``downmix``, which averages them all (to mono, then duplicated if stereo is asked for).
    """
    n_in = waveform.shape[0]
    if n_in > 2:
        check_channels(path, n_in, downmix=downmix)
        waveform = waveform.mean(dim=0, keepdim=True)
        n_in = 1
    if n_in == n_channels:
        return waveform
    if n_channels == 1:
        return waveform.mean(dim=0, keepdim=True)
    return waveform.expand(n_channels, -1).contiguous()


# ----------------------------------------------------------------------------------------------
# Streaming: files of any length, read block by block
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class AudioStream:
    """An open audio file, read in consecutive blocks without loading it whole."""

    path: Path
    sample_rate: int
    n_channels: int
    n_samples: int
    _file: sf.SoundFile
    note: str = ""  # a caveat about the file that does not stop it being read (a truncated wav)

    @property
    def seconds(self) -> float:
        return self.n_samples / self.sample_rate

    def blocks(self, block_samples: int) -> Iterator[np.ndarray]:
        """Consecutive float32 ``(n_channels, k)`` blocks, together exactly ``n_samples`` long.

        Raises :class:`AudioError` at the first block with NaN or infinite samples.
        """
        self._file.seek(0)
        remaining = self.n_samples
        while remaining > 0:
            frames = self._file.read(min(block_samples, remaining), dtype="float32", always_2d=True)
            if frames.shape[0] == 0:
                # A decoder that announced more frames than it delivers: pad with silence.
                frames = np.zeros((min(block_samples, remaining), self.n_channels), np.float32)
            if not np.isfinite(frames).all():
                raise AudioError(self.path, "contains NaN or infinite samples")
            remaining -= frames.shape[0]
            yield np.ascontiguousarray(frames.T)


@contextlib.contextmanager
def open_audio_stream(path: str | Path) -> Iterator[AudioStream]:
    """Open an audio file for block-wise reading.

    soundfile reads wav, flac, ogg, mp3, aiff directly; m4a, aac, ``.stem.mp4`` (its mixture) and
    anything soundfile cannot read are decoded by ffmpeg into a temporary float wav first.

    Raises:
        AudioError: missing, empty, unreadable or sample-less input, naming the file.
    """
    path = check_audio_file(path)
    with contextlib.ExitStack() as stack:
        readable = path
        if path.suffix.lower() in FFMPEG_SUFFIXES:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="stemunet-decode-")))
            readable = decode_with_ffmpeg(path, folder)
        try:
            file = stack.enter_context(sf.SoundFile(readable))
        except (sf.LibsndfileError, RuntimeError, TypeError) as error:
            if readable != path or shutil.which("ffmpeg") is None:
                raise AudioError(path, f"not a readable audio file ({error})") from error
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="stemunet-decode-")))
            with _unreadable_if_ffmpeg_fails(path, error):
                decoded = decode_with_ffmpeg(path, folder)
            file = stack.enter_context(sf.SoundFile(decoded))
        if file.frames <= 0:
            raise AudioError(path, "contains no audio samples")
        note = ""
        declared = declared_wav_samples(path) if readable == path else None
        if declared is not None and declared > file.frames:
            note = (f"truncated: its header declares {declared / file.samplerate:.2f} s, the file holds "
                    f"{file.frames / file.samplerate:.2f} s (that much was separated)")
        yield AudioStream(path, int(file.samplerate), int(file.channels), int(file.frames), file, note)
