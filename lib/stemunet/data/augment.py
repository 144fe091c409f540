"""Training augmentations, as pure functions on tensors.

Where each one acts, and why there:

* waveform level, on one training chunk, inside :class:`stemunet.data.chunks.RandomChunkDataset`
  (so loader workers do the work, and every item stays reproducible from its own random
  generator): random remix of stems across tracks (done by the data set when it picks a track
  per stem), pitch and tempo shifts of whole stems (:func:`draw_repitch`, then
  :func:`repitch_stems` on a source span :func:`repitch_source_samples` long, which the data set
  reads), :func:`random_gain` (±3 dB per stem), :func:`swap_channels`, :func:`time_mask` and
  :func:`add_noise`;
* spectrogram level, on a batch, inside the training step: :func:`frequency_mask`. Zeroing a
  frequency band is only meaningful on a spectrogram (on a waveform it would need a band-stop
  filter, whose transition bands leak), and the model's STFT is computed in the training step
  anyway, on the device.

Masks (time and frequency) are applied to the mixture *and* every target stem alike: the model
masks the mixture, so a target that kept energy where the mixture has none could not be reached
and would only add noise to the loss. Noise, by contrast, goes into the mixture only: the
targets stay clean, and the model learns to leave the noise out of every stem.

Shapes: ``stems`` is ``(n_stems, n_channels, n_samples)``, ``mixture`` is
``(n_channels, n_samples)``, batched spectrograms are ``(batch, n_channels, n_bins, n_frames)``
for the mixture and ``(batch, n_stems, n_channels, n_bins, n_frames)`` for the targets.
Randomness comes from the generator passed in; no function touches global random state.

Pitch and tempo shifts (Demucs's ``RepitchedWrapper``, worth +0.5 dB SDR to Demucs, which
shells out to ``soundstretch``) are done here without external programs: tempo by a phase
vocoder on an STFT of about 46 ms frames (:func:`phase_vocoder`), pitch by that time stretch
followed by band-limited resampling (libsoxr, which librosa already depends on). Measured for
the demo recipe (3 s mono chunks at 22.05 kHz) in CPU time on one thread of a busy 2-core
machine: about 18 ms per shifted stem, 70-78 ms per chunk with all four stems shifted, against
230-275 ms of training step per example there. Shifting one chunk in five (Demucs's probability,
0.2) adds about 15 ms per example on average: 5-7 % of the demo's training time with the data
loaded in the training process (shifting every chunk: 25-34 %). The vocoder keeps steady tones
and their level; it smears a click over up to a frame (tens of ms), and where frames overlap
incoherently (noise, note changes) its output is quieter, as in every overlap-add time
stretcher, so each shifted stem is scaled back to the loudness of the audio it was made from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from stemunet.config import StftConfig
from stemunet.stft import Istft, Stft

# An octave either way, and tempo changes up to half as fast or 1.5 times as fast: beyond these a
# shifted stem no longer sounds like a plausible recording, and the source span grows with the tempo.
MAX_REPITCH_SEMITONES = 12
MAX_REPITCH_TEMPO_PERCENT = 50.0


@dataclass(frozen=True)
class WaveformAugmentation:
    """Which waveform-level augmentations a training data set applies, and how strongly.

    The default applies none (a data set then yields the chunks as they are in the files).
    """

    remix: bool = False  # each stem from an independently drawn track (and start)
    gain_db: float = 0.0  # each stem scaled by a gain drawn uniformly in [-gain_db, +gain_db] dB; 0 = off
    channel_swap: bool = False  # each stereo stem's channels swapped with probability 1/2
    flip_sign: bool = False  # each stem's polarity flipped with probability 1/2 (Demucs' FlipSign)
    time_mask_seconds: float = 0.0  # one span of up to this length silenced in all stems; 0 = off
    noise_snr_db: float | None = None  # white noise added to the mixture at >= this SNR; None = off
    repitch_probability: float = 0.0  # chance that a chunk's stems are shifted in pitch and tempo; 0 = off
    repitch_semitones: int = 0  # each shifted stem's pitch moves a whole number of semitones in [-this, +this]
    repitch_tempo_percent: float = 0.0  # each shifted stem's tempo changes by a percentage uniform in [-this, +this]

    def __post_init__(self) -> None:
        if self.gain_db < 0:
            raise ValueError(f"gain_db must be >= 0, got {self.gain_db}")
        if self.time_mask_seconds < 0:
            raise ValueError(f"time_mask_seconds must be >= 0, got {self.time_mask_seconds}")
        if not 0 <= self.repitch_probability <= 1:
            raise ValueError(f"repitch_probability must be in [0, 1], got {self.repitch_probability}")
        if not 0 <= self.repitch_semitones <= MAX_REPITCH_SEMITONES:
            raise ValueError(f"repitch_semitones must be in 0..{MAX_REPITCH_SEMITONES}, got {self.repitch_semitones}")
        if not 0 <= self.repitch_tempo_percent <= MAX_REPITCH_TEMPO_PERCENT:
            raise ValueError(f"repitch_tempo_percent must be in [0, {MAX_REPITCH_TEMPO_PERCENT}], got {self.repitch_tempo_percent}")

    @property
    def repitch(self) -> bool:
        """Whether pitch and tempo shifts are on (a probability and at least one non-zero range)."""
        return self.repitch_probability > 0 and (self.repitch_semitones > 0 or self.repitch_tempo_percent > 0)


def random_gain(stems: torch.Tensor, rng: np.random.Generator, max_db: float) -> torch.Tensor:
    """Scale each stem by its own gain, uniform in ``[-max_db, +max_db]`` dB.

    ``(n_stems, n_channels, n_samples)`` -> same shape. Changes the stems' balance, so the model
    does not learn each stem's typical level instead of its sound.
    """
    gains_db = rng.uniform(-max_db, max_db, size=stems.shape[0])
    gains = torch.as_tensor(10.0 ** (gains_db / 20.0), dtype=stems.dtype, device=stems.device)
    return stems * gains.view(-1, *([1] * (stems.ndim - 1)))


def flip_signs(stems: torch.Tensor, rng: np.random.Generator, probability: float = 0.5) -> torch.Tensor:
    """Flip the polarity of each stem independently with ``probability`` (Demucs' ``FlipSign``):
    ``(n_stems, n_channels, n_samples)`` -> same shape. A flipped stem sounds the same; the mixture,
    summed after, changes, so the network cannot lean on the stems' relative phase."""
    signs = np.where(rng.random(stems.shape[0]) < probability, -1.0, 1.0)
    return stems * torch.from_numpy(signs).to(stems.dtype)[:, None, None]


def swap_channels(stems: torch.Tensor, rng: np.random.Generator, probability: float = 0.5) -> torch.Tensor:
    """Swap left and right of each stem independently with ``probability``.

    ``(n_stems, n_channels, n_samples)`` -> same shape; mono stems come back unchanged. Swapping
    stems independently (as Open-Unmix does) makes new stereo images, not just a mirrored mix.
    """
    if stems.shape[1] != 2:
        return stems
    swap = rng.random(stems.shape[0]) < probability
    if not swap.any():
        return stems
    return torch.stack([stem.flip(0) if flip else stem for stem, flip in zip(stems, swap)])


def time_mask(stems: torch.Tensor, rng: np.random.Generator, max_samples: int) -> torch.Tensor:
    """Silence one span of all stems, of a length uniform in ``[0, max_samples]`` at a random place.

    ``(n_stems, n_channels, n_samples)`` -> same shape. The mixture, made from the masked stems,
    is silent there too. Teaches the model to cope with gaps and abrupt starts (SpecAugment's time
    masking, done on the waveform).
    """
    n_samples = stems.shape[-1]
    width = int(rng.integers(0, min(max_samples, n_samples) + 1))
    if width == 0:
        return stems
    start = int(rng.integers(0, n_samples - width + 1))
    out = stems.clone()
    out[..., start : start + width] = 0
    return out


def add_noise(mixture: torch.Tensor, rng: np.random.Generator, min_snr_db: float, snr_span_db: float = 20.0) -> torch.Tensor:
    """Add white Gaussian noise to ``mixture`` at an SNR uniform in ``[min_snr_db, min_snr_db + snr_span_db]``.

    ``(n_channels, n_samples)`` -> same shape. The SNR is relative to the mixture's RMS over the
    whole chunk; a silent chunk gets no noise.
    """
    rms = float(mixture.pow(2).mean().sqrt())
    if rms == 0.0:
        return mixture
    snr_db = rng.uniform(min_snr_db, min_snr_db + snr_span_db)
    std = rms * 10.0 ** (-snr_db / 20.0)
    noise = rng.standard_normal(size=tuple(mixture.shape)).astype(np.float32) * std
    return mixture + torch.from_numpy(noise).to(device=mixture.device, dtype=mixture.dtype)


def apply_waveform_augmentation(
    stems: torch.Tensor, rng: np.random.Generator, augmentation: WaveformAugmentation, sample_rate: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gain, channel swap, polarity flips and time mask on ``stems``; then the mixture, with noise if asked.

    ``stems`` ``(n_stems, n_channels, n_samples)`` -> ``(mixture, stems)`` with ``mixture``
    ``(n_channels, n_samples)``. Without noise the mixture is exactly the sum of the stems.
    (Remixing happens before this, when the data set picks the tracks.)
    """
    if augmentation.gain_db > 0:
        stems = random_gain(stems, rng, augmentation.gain_db)
    if augmentation.channel_swap:
        stems = swap_channels(stems, rng)
    if augmentation.flip_sign:  # drawn after the others: runs without it draw exactly as before
        stems = flip_signs(stems, rng)
    if augmentation.time_mask_seconds > 0:
        stems = time_mask(stems, rng, int(round(augmentation.time_mask_seconds * sample_rate)))
    mixture = stems.sum(dim=0)
    if augmentation.noise_snr_db is not None:
        mixture = add_noise(mixture, rng, augmentation.noise_snr_db)
    return mixture, stems


@dataclass(frozen=True)
class StemShift:
    """How one stem is shifted: its pitch in semitones, its tempo in percent (+10 = 1.1 times as fast)."""

    semitones: int = 0
    tempo_percent: float = 0.0

    @property
    def pitch_factor(self) -> float:
        """Frequency ratio of the shift (2 ** (semitones / 12))."""
        return 2.0 ** (self.semitones / 12.0)

    @property
    def tempo_factor(self) -> float:
        """Playback speed of the stem's events: source seconds consumed per output second."""
        return 1.0 + self.tempo_percent / 100.0

    @property
    def is_identity(self) -> bool:
        return self.semitones == 0 and self.tempo_percent == 0.0


def draw_repitch(rng: np.random.Generator, augmentation: WaveformAugmentation, n_stems: int) -> list[StemShift] | None:
    """Whether this chunk is shifted, and if so each stem's own shift; ``None`` = not shifted.

    Draws nothing when repitching is off (so a data set without it yields exactly the chunks it
    always did). Otherwise one uniform draw decides (with ``repitch_probability``), then each stem
    draws its semitones (whole numbers, uniform in ``[-repitch_semitones, +repitch_semitones]``)
    and its tempo change (uniform in ``[-repitch_tempo_percent, +repitch_tempo_percent]`` %).
    Whole semitones keep every stem on the equal-tempered grid (as Demucs's), so independently
    shifted stems may clash in key but are never out of tune with one another.
    """
    if not augmentation.repitch:
        return None
    if rng.random() >= augmentation.repitch_probability:
        return None
    semitones = rng.integers(-augmentation.repitch_semitones, augmentation.repitch_semitones + 1, size=n_stems)
    tempo = rng.uniform(-augmentation.repitch_tempo_percent, augmentation.repitch_tempo_percent, size=n_stems)
    return [StemShift(int(s), float(t)) for s, t in zip(semitones, tempo)]


def repitch_stft_config(sample_rate: int) -> StftConfig:
    """The phase vocoder's STFT: frames of about 46 ms (a power of two), hop a quarter frame.

    46 ms (1024 samples at 22.05 kHz, 2048 at 44.1 kHz) resolves partials down to the bass while
    smearing drum attacks over no more than a frame.
    """
    n_fft = 2 ** round(math.log2(0.046 * sample_rate))
    return StftConfig(sample_rate=sample_rate, n_channels=1, n_fft=n_fft, hop_length=n_fft // 4)


def repitch_source_samples(chunk_samples: int, shifts: Sequence[StemShift], sample_rate: int) -> int:
    """Source samples to read so that every stem, shifted, still fills ``chunk_samples``.

    A stem played ``tempo_factor`` times as fast consumes that many source samples per output
    sample; one STFT frame more keeps the vocoder's end effects past the kept chunk.
    """
    fastest = max(shift.tempo_factor for shift in shifts)
    return math.ceil(chunk_samples * fastest) + repitch_stft_config(sample_rate).n_fft


def phase_vocoder(spec: torch.Tensor, rate: float, hop_length: int) -> torch.Tensor:
    """Time-stretch a complex spectrogram by ``rate`` (> 1: faster, fewer frames), keeping its pitch.

    ``(..., n_bins, n_frames)`` complex -> ``(..., n_bins, ceil(n_frames / rate))`` complex, for
    the inverse STFT with the same ``hop_length``. Output frame ``j`` sits at input frame
    ``j * rate``: its magnitude is interpolated between the two nearest input frames, its phase
    advances by each bin's measured instantaneous frequency over one hop (the standard phase
    vocoder, as librosa's and torchaudio's, vectorised over frames with a cumulative sum).
    ``hop_length`` is the analysis hop, which the output frames keep; it only sets where the
    phases are anchored.
    """
    n_bins, n_frames = spec.shape[-2:]
    n_fft = 2 * (n_bins - 1)
    steps = torch.arange(0, n_frames, rate, dtype=torch.float64)
    index = steps.floor().long()
    alpha = (steps - index).to(torch.float32)
    padded = torch.nn.functional.pad(spec, (0, 2))  # frames index and index + 1 always exist
    magnitude = padded.abs()
    phase = padded.angle()
    # Phase advance from each input frame to the next. The textbook form (the bin's nominal
    # advance plus the wrapped deviation of its partial) differs from the plain difference by whole
    # turns only, which do not matter when output frames keep the input's hop. Kept in [0, 2 pi),
    # float32 holds the sum of a few hundred of them to 1e-3 rad.
    advance = (phase[..., 1:] - phase[..., :-1]).remainder(2 * math.pi)
    accumulated = torch.nn.functional.pad(advance[..., index[:-1]].cumsum(dim=-1), (1, 0))
    # Anchor the phases at the first output frame whose analysis frame lies wholly inside the
    # signal: the first frames see the padding at the start, and phases taken from them would
    # stay wrong relative to one another for the whole chunk (a pure tone slowed down by 20 %
    # came out 12 dB quieter, its bins cancelling each other).
    anchor = int(torch.searchsorted(steps, float(min(n_fft // (2 * hop_length), n_frames - 1))))
    out_phase = phase[..., index[anchor], None] + accumulated - accumulated[..., anchor, None]
    out_magnitude = torch.lerp(magnitude[..., index], magnitude[..., index + 1], alpha)
    return torch.polar(out_magnitude, out_phase)


def shift_pitch_and_tempo(waveform: torch.Tensor, shift: StemShift, sample_rate: int, length: int) -> torch.Tensor:
    """One stem played at another pitch and tempo, cut (or zero-padded) to ``length`` samples.

    ``waveform`` ``(n_channels, n_source)`` -> ``(n_channels, length)``, both at ``sample_rate``
    Hz; output sample ``n`` comes from around source sample ``n * shift.tempo_factor``, and every
    frequency ``f`` becomes ``f * shift.pitch_factor``; the RMS level is that of the source
    samples consumed. Pass ``n_source`` of at least :func:`repitch_source_samples` so that the
    chunk is filled with shifted audio.

    How: resampling by the pitch factor changes pitch and tempo together (a tape played faster),
    so the phase vocoder first stretches the stem by ``tempo_factor / pitch_factor`` and the
    resampler (libsoxr, band-limited) then plays it ``pitch_factor`` times as fast.
    """
    if shift.is_identity:
        out = waveform[..., :length]
    else:
        out = waveform
        rate = shift.tempo_factor / shift.pitch_factor
        if rate != 1.0:
            stft_config = repitch_stft_config(sample_rate)
            spec = phase_vocoder(Stft(stft_config)(out), rate, stft_config.hop_length)
            out = Istft(stft_config)(spec, int(round(out.shape[-1] / rate)))
        if shift.semitones != 0:
            import soxr

            # libsoxr takes (n_samples, n_channels); the two rates only set the speed-up ratio.
            played = soxr.resample(out.T.contiguous().numpy(), sample_rate * shift.pitch_factor, sample_rate, quality="HQ")
            out = torch.from_numpy(np.ascontiguousarray(played.T)).to(waveform.dtype)
        out = out[..., :length]
        # Give the stem back its loudness: where frames overlap incoherently (noise, note changes,
        # vibrato) the vocoder's output is quieter, by 2-3 dB on the synthetic stems and about
        # 3 dB on white noise; a shift should change pitch and tempo, not level.
        consumed = waveform[..., : int(round(out.shape[-1] * shift.tempo_factor))]
        source_rms, out_rms = consumed.pow(2).mean().sqrt(), out.pow(2).mean().sqrt()
        if out_rms > 0:
            out = out * (source_rms / out_rms)
    if out.shape[-1] < length:
        out = torch.nn.functional.pad(out, (0, length - out.shape[-1]))
    return out


def repitch_stems(stems: torch.Tensor, shifts: Sequence[StemShift], sample_rate: int, length: int) -> torch.Tensor:
    """Each stem shifted by its own :class:`StemShift` (see :func:`shift_pitch_and_tempo`).

    ``(n_stems, n_channels, n_source)`` -> ``(n_stems, n_channels, length)``. The mixture is
    summed afterwards from these stems, so it stays their exact sum.
    """
    return torch.stack([shift_pitch_and_tempo(stem, shift, sample_rate, length) for stem, shift in zip(stems, shifts, strict=True)])


def frequency_mask(
    mixture_spec: torch.Tensor,
    target_spec: torch.Tensor,
    generator: torch.Generator,
    max_bins: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero one band of bins per example, in the mixture and all its targets alike.

    Args:
        mixture_spec: ``(batch, n_channels, n_bins, n_frames)`` (complex or magnitude).
        target_spec: ``(batch, n_stems, n_channels, n_bins, n_frames)``.
        generator: a CPU ``torch.Generator`` (draws are made on the CPU, so they are the same on
            every device).
        max_bins: widest band; each example's width is uniform in ``[0, max_bins]``.

    Returns the masked ``(mixture_spec, target_spec)``; the inputs are not modified.
    """
    batch, n_bins = mixture_spec.shape[0], mixture_spec.shape[-2]
    max_bins = min(max_bins, n_bins)
    widths = torch.randint(0, max_bins + 1, (batch,), generator=generator)
    starts = (torch.rand(batch, generator=generator) * (n_bins - widths + 1)).long()
    bins = torch.arange(n_bins)
    masked = (bins >= starts[:, None]) & (bins < (starts + widths)[:, None])  # (batch, n_bins)
    keep = (~masked).to(device=mixture_spec.device)
    mixture_keep = keep.view(batch, 1, n_bins, 1)
    target_keep = keep.view(batch, 1, 1, n_bins, 1)
    return mixture_spec * mixture_keep, target_spec * target_keep
