"""Pitch and tempo shifts of whole stems (augment_repitch): the shift itself, the data set, the config."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
import torch
from test_training import TINY

from stemunet.config import ConfigError
from stemunet.data.augment import (StemShift, WaveformAugmentation, draw_repitch, phase_vocoder, repitch_source_samples,
                                   repitch_stft_config, shift_pitch_and_tempo)
from stemunet.data.chunks import RandomChunkDataset
from stemunet.data.tracks import list_tracks
from stemunet.stft import Istft, Stft
from stemunet.training.builders import build_data_loaders, waveform_augmentation
from stemunet.training.config import TrainConfig

RATE = 8000
# Each stem a tone (its carrier, Hz) whose loudness swells ENVELOPE_HZ times a second: the
# carrier measures pitch, the swells measure tempo.
CARRIERS = {"drums": 250.0, "bass": 150.0, "other": 450.0, "vocals": 700.0}
ENVELOPE_HZ = 5.0


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny tensors: one thread is fastest


def swelling_tone(carrier_hz: float, seconds: float, phase: float = 0.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.2 * np.sin(2 * np.pi * carrier_hz * t + phase) * (0.6 + 0.4 * np.cos(2 * np.pi * ENVELOPE_HZ * t))).astype(np.float32)


def peak_hz(signal: np.ndarray, low_hz: float, high_hz: float, zero_pad: int = 16) -> float:
    """Frequency of the largest peak of ``signal``'s Hann-windowed spectrum between the two limits."""
    n = len(signal) * zero_pad
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal)), n=n))
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    band = (freqs >= low_hz) & (freqs <= high_hz)
    return float(freqs[band][np.argmax(spectrum[band])])


def envelope_hz(signal: np.ndarray, low_hz: float = 2.0, high_hz: float = 12.0) -> float:
    """How many times a second the loudness swells (or a click train clicks): the squared signal's
    spectral peak between the two limits. Averaged over the whole signal, so the phase vocoder's
    smearing of single clicks (up to a frame either way) does not move it."""
    return peak_hz(signal.astype(np.float64) ** 2, low_hz, high_hz)


# ---------------------------------------------------------------- the shift of one stem


@pytest.mark.parametrize("shift", [StemShift(2, 0.0), StemShift(-2, 0.0), StemShift(0, 12.0), StemShift(0, -12.0),
                                   StemShift(1, -7.5), StemShift(-1, 9.0)])
def test_a_shifted_tone_moves_its_pitch_and_its_swells_by_the_asked_amounts(shift):
    length = 2 * RATE
    source = swelling_tone(440.0, repitch_source_samples(length, [shift], RATE) / RATE)
    out = shift_pitch_and_tempo(torch.from_numpy(source)[None], shift, RATE, length)
    assert out.shape == (1, length)
    kept = out[0, RATE // 10 :].numpy()  # past the vocoder's first frames
    assert peak_hz(kept, 300, 700) == pytest.approx(440.0 * shift.pitch_factor, rel=0.005)
    assert envelope_hz(kept) == pytest.approx(ENVELOPE_HZ * shift.tempo_factor, rel=0.02)
    # The level stays steady across the chunk: the vocoder's bins add up coherently (a frame of
    # padding used as the phase reference once made a slowed tone 12 dB quieter after its first
    # frames, which a loudness correction over the whole chunk would not hide).
    quarters = out[0].reshape(4, -1).pow(2).mean(dim=-1).sqrt()
    assert (quarters / quarters.max() > 0.9).all()


def test_tempo_changes_the_rate_of_clicks_and_pitch_does_not():
    length = 3 * RATE
    clicks = np.zeros(4 * RATE, dtype=np.float32)
    clicks[:: RATE // 4] = 1.0  # four clicks a second
    source = torch.from_numpy(clicks)[None]
    for shift in (StemShift(0, 20.0), StemShift(0, -12.0), StemShift(3, 0.0), StemShift(-2, 7.0)):
        out = shift_pitch_and_tempo(source, shift, RATE, length)[0].numpy()
        assert envelope_hz(out, 2.5, 6.5) == pytest.approx(4.0 * shift.tempo_factor, rel=0.02)
    assert envelope_hz(clicks[:length], 2.5, 6.5) == pytest.approx(4.0, rel=0.005)


def test_a_shifted_stem_keeps_the_loudness_of_the_audio_it_was_made_from():
    # White noise is the vocoder's worst case: its frames overlap incoherently, about 3 dB quieter.
    noise = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 3 * RATE)).astype(np.float32)) * 0.1
    for shift in (StemShift(0, 10.0), StemShift(-2, -8.0), StemShift(2, 0.0)):
        out = shift_pitch_and_tempo(noise, shift, RATE, 2 * RATE)
        consumed = noise[..., : int(round(2 * RATE * shift.tempo_factor))]
        assert 20 * math.log10(out.pow(2).mean().sqrt() / consumed.pow(2).mean().sqrt()) == pytest.approx(0.0, abs=0.01)
    silence = torch.zeros(1, 3 * RATE)
    assert torch.equal(shift_pitch_and_tempo(silence, StemShift(1, 5.0), RATE, 2 * RATE), torch.zeros(1, 2 * RATE))


def test_shifted_stems_keep_the_chunk_length_even_from_a_short_source():
    source = torch.randn(2, RATE)
    for shift in (StemShift(0, 0.0), StemShift(2, 12.0), StemShift(-2, -12.0)):
        for length in (RATE // 2, 2 * RATE):  # from a long enough source, and from one too short (zero-padded)
            assert shift_pitch_and_tempo(source, shift, RATE, length).shape == (2, length)
    assert torch.equal(shift_pitch_and_tempo(source, StemShift(), RATE, 100), source[:, :100])


def test_the_phase_vocoder_at_rate_one_gives_back_the_spectrogram_frames():
    config = repitch_stft_config(RATE)
    spec = Stft(config)(torch.randn(1, RATE))
    stretched = phase_vocoder(spec, 1.0, config.hop_length)
    assert stretched.shape == spec.shape
    torch.testing.assert_close(stretched.abs(), spec.abs())
    restored = Istft(config)(stretched, RATE)
    assert restored.shape == (1, RATE)
    # Same frames up to one constant phase turn per bin: the magnitudes of each frame's bins and
    # their frame-to-frame phase steps are kept.
    steps = torch.angle(stretched[..., 1:] * stretched[..., :-1].conj())
    torch.testing.assert_close(torch.polar(torch.ones_like(steps), steps),
                               torch.polar(torch.ones_like(steps), torch.angle(spec[..., 1:] * spec[..., :-1].conj())),
                               atol=1e-3, rtol=0)


def test_draws_are_whole_semitones_within_the_ranges_and_nothing_when_off():
    augmentation = WaveformAugmentation(repitch_probability=0.5, repitch_semitones=2, repitch_tempo_percent=12.0)
    drawn = [draw_repitch(np.random.default_rng(seed), augmentation, 4) for seed in range(200)]
    shifted = [shifts for shifts in drawn if shifts is not None]
    assert 60 < len(shifted) < 140  # about half the chunks
    semitones = {shift.semitones for shifts in shifted for shift in shifts}
    tempos = [shift.tempo_percent for shifts in shifted for shift in shifts]
    assert semitones == {-2, -1, 0, 1, 2}
    assert all(-12.0 <= tempo <= 12.0 for tempo in tempos) and min(tempos) < -10 and max(tempos) > 10
    assert any(len({shift.semitones for shift in shifts}) > 1 for shifts in shifted)  # each stem its own shift
    off = np.random.default_rng(0)
    assert draw_repitch(off, WaveformAugmentation(repitch_semitones=2, repitch_tempo_percent=12.0), 4) is None
    assert off.random() == np.random.default_rng(0).random()  # no draw taken from the item's stream


# ---------------------------------------------------------------- the data set


@pytest.fixture(scope="module")
def tone_tracks(tmp_path_factory):
    """Two 4 s tracks in MUSDB18-HQ layout at 8 kHz mono; every stem a swelling tone (CARRIERS)."""
    root = tmp_path_factory.mktemp("tones")
    for number in range(2):
        folder = root / "train" / f"Tones {number}"
        folder.mkdir(parents=True)
        stems = {name: swelling_tone(hz, 4.0, phase=number) for name, hz in CARRIERS.items()}
        for name, audio in stems.items():
            sf.write(folder / f"{name}.wav", audio, RATE, subtype="FLOAT")
        sf.write(folder / "mixture.wav", sum(stems.values()), RATE, subtype="FLOAT")
    return list_tracks(root, "train", "train")


def test_repitched_chunks_shift_each_stem_by_its_drawn_amount(tone_tracks):
    augmentation = WaveformAugmentation(remix=True, repitch_probability=1.0, repitch_semitones=2, repitch_tempo_percent=12.0)
    dataset = RandomChunkDataset(tone_tracks, 2.0, RATE, 1, 8, seed=5, cache=True, augmentation=augmentation)
    moved_pitch = moved_tempo = 0
    for index in range(4):
        shifts = draw_repitch(dataset.generator(index, 0), augmentation, 4)  # the item's first draws
        mixture, stems = dataset[(0, index)]
        assert stems.shape == (4, 1, 2 * RATE) and mixture.shape == (1, 2 * RATE)
        assert torch.equal(mixture, stems.sum(dim=0))  # the mixture of the shifted stems, exactly
        for stem, shift, carrier in zip(stems[:, 0].numpy(), shifts, CARRIERS.values()):
            kept = stem[RATE // 10 :]
            assert peak_hz(kept, 100, 900) == pytest.approx(carrier * shift.pitch_factor, rel=0.005)
            assert envelope_hz(kept) == pytest.approx(ENVELOPE_HZ * shift.tempo_factor, rel=0.02)
            moved_pitch += shift.semitones != 0
            moved_tempo += abs(shift.tempo_percent) > 3
    assert moved_pitch >= 4 and moved_tempo >= 4  # the checks saw real shifts, not only identities


def test_repitched_chunks_are_reproducible_from_the_seed_and_epoch(tone_tracks):
    augmentation = WaveformAugmentation(repitch_probability=0.5, repitch_semitones=2, repitch_tempo_percent=12.0)
    first, second = (RandomChunkDataset(tone_tracks, 1.0, RATE, 1, 8, seed=1, cache=True, augmentation=augmentation)
                     for _ in range(2))
    for item in [(0, 0), (0, 5), (3, 2)]:
        assert torch.equal(first[item][1], second[item][1])
    assert not torch.equal(first[(0, 0)][1], first[(1, 0)][1])


def test_with_repitch_off_chunks_are_the_plain_reads_of_the_first_draws(tone_tracks):
    # Off, the data set takes no extra draws and reads no longer span: an item is the chunk its
    # generator's first draws (track, start) pick, bit for bit, as before the option existed.
    dataset = RandomChunkDataset(tone_tracks, 1.0, RATE, 1, 8, seed=2, cache=True,
                                 augmentation=WaveformAugmentation(repitch_semitones=2, repitch_tempo_percent=12.0))
    for index in range(4):
        rng = dataset.generator(index, 0)
        source = dataset.sources[int(rng.integers(len(dataset.sources)))]
        start = int(rng.integers(0, dataset.model_length(source) - dataset.chunk_samples + 1))
        assert torch.equal(dataset[(0, index)][1], dataset.read_span(source, start, dataset.chunk_samples))


def test_repitch_settings_change_nothing_while_augment_repitch_is_off():
    base = TrainConfig.from_params(TINY)
    other = base.replace(repitch_probability=0.9, repitch_semitones=5, repitch_tempo_percent=30.0)
    assert waveform_augmentation(other) == waveform_augmentation(base) == WaveformAugmentation(remix=True, gain_db=3.0, channel_swap=True)
    loaders = [build_data_loaders(config, progress=False) for config in (base, other)]
    for loader in loaders:
        loader.set_epoch(1)
    (mixture_a, stems_a), (mixture_b, stems_b) = (next(iter(loader.train)) for loader in loaders)
    assert torch.equal(mixture_a, mixture_b) and torch.equal(stems_a, stems_b)


def test_training_loaders_apply_repitch_when_switched_on():
    config = TrainConfig.from_params({**TINY, "augment_repitch": True, "repitch_probability": 1.0})
    assert waveform_augmentation(config).repitch
    loaders = build_data_loaders(config, progress=False)
    loaders.set_epoch(0)
    mixture, stems = next(iter(loaders.train))
    assert stems.shape == (4, 4, 1, 8000) and torch.equal(mixture, stems.sum(dim=1))
    plain = build_data_loaders(config.replace(augment_repitch=False), progress=False)
    plain.set_epoch(0)
    assert not torch.equal(next(iter(plain.train))[1], stems)


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize("changes, named", [
    ({"repitch_probability": 0.0}, "repitch_probability"),
    ({"repitch_probability": 1.5}, "repitch_probability"),
    ({"repitch_semitones": -1}, "repitch_semitones"),
    ({"repitch_semitones": 13}, "repitch_semitones"),
    ({"repitch_semitones": 1.5}, "repitch_semitones"),
    ({"repitch_tempo_percent": -5.0}, "repitch_tempo_percent"),
    ({"repitch_tempo_percent": 60.0}, "repitch_tempo_percent"),
    ({"augment_repitch": True, "repitch_semitones": 0, "repitch_tempo_percent": 0.0}, "nothing would be shifted"),
])
def test_bad_repitch_settings_are_refused_naming_the_parameter(changes, named):
    with pytest.raises(ConfigError, match=named):
        TrainConfig.from_params({**TINY, **changes})


def test_the_augmentation_itself_refuses_out_of_range_values():
    with pytest.raises(ValueError, match="repitch_probability"):
        WaveformAugmentation(repitch_probability=2.0)
    with pytest.raises(ValueError, match="repitch_tempo_percent"):
        WaveformAugmentation(repitch_probability=0.2, repitch_tempo_percent=100.0)
    assert not WaveformAugmentation(repitch_probability=0.2).repitch  # no range: nothing to shift
    assert math.isclose(StemShift(12, 0.0).pitch_factor, 2.0) and StemShift(0, -10.0).tempo_factor == 0.9


def test_fresh_songs_are_rendered_long_enough_to_be_repitched():
    config = TrainConfig.from_params({**TINY, "fresh_synthetic": True, "augment_repitch": True, "repitch_probability": 1.0,
                                      "augment_channel_swap": False})
    dataset = build_data_loaders(config, progress=False).train_set
    # The fastest stem consumes 1.12 s of song per second of chunk, plus one vocoder frame.
    needed = repitch_source_samples(8000, [StemShift(0, 12.0)], 8000)
    assert needed == 8960 + repitch_stft_config(8000).n_fft
    assert dataset.spec.track_seconds * 8000 == pytest.approx(needed)
    mixture, stems = dataset[(0, 0)]
    assert stems.shape == (4, 1, 8000) and torch.equal(mixture, stems.sum(dim=0))
    assert torch.equal(dataset[(0, 0)][1], stems)
    assert (stems[:, :, -800:].abs().amax(dim=-1) > 0).sum() >= 3  # audio to the chunk's end, no zero padding
