"""Tests of the synthetic set's production chain (stemunet.data.synthetic.production): each process does what a
mix engineer's would, measurably."""

from __future__ import annotations

import numpy as np

from stemunet.data.synthetic import production

RATE = 22050


def _tone(freq: float, seconds: float = 1.0, level: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return np.stack([level * np.sin(2 * np.pi * freq * t)] * 2)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x ** 2)))


def _level_at(x: np.ndarray, freq: float) -> float:
    spectrum = np.abs(np.fft.rfft(x[0] * np.hanning(x.shape[1])))
    return float(spectrum[int(round(freq * x.shape[1] / RATE))])


def test_compression_narrows_the_gap_between_loud_and_quiet_passages() -> None:
    signal = np.concatenate([_tone(220, level=0.05), _tone(220, level=0.5)], axis=1)  # 20 dB apart
    compressed = signal.copy()
    settings = production.compress(compressed, RATE, np.random.default_rng(0))
    half = RATE
    before = 20 * np.log10(_rms(signal[:, half + 2000:]) / _rms(signal[:, 2000:half]))
    after = 20 * np.log10(_rms(compressed[:, half + 2000:]) / _rms(compressed[:, 2000:half]))
    assert settings["ratio"] >= 2 and after < before - 2.0, (before, after, settings)


def test_bus_gain_only_turns_loud_passages_down() -> None:
    mixture = np.concatenate([_tone(110, level=0.02), _tone(110, level=0.6)], axis=1)
    gain, settings = production.bus_gain(mixture, RATE, np.random.default_rng(1))
    assert gain.shape == (mixture.shape[1],) and np.all(gain <= 1.0) and np.all(gain > 0.0)
    assert np.min(gain[RATE + 4000:]) < 0.9 < np.min(gain[2000:RATE - 2000]), settings


def test_equaliser_high_pass_removes_rumble_and_keeps_the_mids() -> None:
    rumble, mids = _tone(8.0), _tone(1000.0, level=0.5)
    signal = rumble + mids
    equalised = signal.copy()
    settings = production.equalise(equalised, RATE, np.random.default_rng(2), high_pass_hz=(60.0, 80.0))
    assert 60.0 <= settings["high_pass_hz"] <= 80.0
    assert _level_at(equalised, 8.0) < 0.05 * _level_at(signal, 8.0)
    assert 0.3 < _level_at(equalised, 1000.0) / _level_at(signal, 1000.0) < 3.0  # within the bell's +-6 dB (+ shelves)
    again = signal.copy()
    production.equalise(again, RATE, np.random.default_rng(2), high_pass_hz=(60.0, 80.0))
    np.testing.assert_array_equal(again, equalised)  # drawn from the generator: deterministic


def test_saturation_adds_harmonics_and_keeps_the_peak() -> None:
    signal = _tone(200.0, level=0.8)
    driven = signal.copy()
    production.saturate(driven, np.random.default_rng(3))
    assert abs(np.max(np.abs(driven)) - np.max(np.abs(signal))) < 1e-9
    assert _level_at(driven, 600.0) > 100 * _level_at(signal, 600.0)  # a third harmonic appears


def test_tempo_delay_repeats_on_the_beat_grid() -> None:
    click = np.zeros((2, RATE * 2))
    click[:, 100] = 1.0
    delayed = click.copy()
    settings = production.tempo_delay(delayed, RATE, 0.5, np.random.default_rng(4))
    first = 100 + int(round(settings["beats"] * 0.5 * RATE))
    window = np.abs(delayed[:, first - 5: first + 200]).max()
    assert window > 0.01 and np.abs(delayed[:, 101: first - 5]).max() < 1e-12


def test_level_automation_stays_within_its_depth_and_moves() -> None:
    curve = production.level_automation(RATE * 20, RATE, 2.0, np.random.default_rng(5), depth_db=2.0)
    levels = 20 * np.log10(curve)
    assert np.all(np.abs(levels) <= 2.0 + 1e-9) and np.ptp(levels) > 0.5
    assert np.max(np.abs(np.diff(levels))) < 0.01  # smooth rides, no steps


def test_hum_sits_on_the_mains_frequency() -> None:
    buzz = production.hum(RATE * 2, RATE, np.random.default_rng(6))
    assert abs(_rms(buzz) - 1.0) < 1e-9
    spectrum = np.abs(np.fft.rfft(buzz))
    peak_hz = np.argmax(spectrum) * RATE / buzz.size
    assert min(abs(peak_hz - 50.0), abs(peak_hz - 60.0)) < 1.0
