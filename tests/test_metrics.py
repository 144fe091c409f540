"""The whole-track metrics: global SDR (the MDX/SDX challenges', Demucs' ``new_sdr``) and SI-SDR
(asteroid's), against hand-computed values and the anchors' own formulas on the same arrays."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from stemunet.evaluation.metrics import global_sdr, si_sdr, whole_track_scores
from stemunet.evaluation.results import aggregate, headline_table, metrics_dict


def demucs_new_sdr(references: torch.Tensor, estimates: torch.Tensor) -> torch.Tensor:
    """Demucs' ``evaluate.new_sdr`` as it is written there: (batch, sources, channels, time)."""
    assert references.dim() == 4
    assert estimates.dim() == 4
    delta = 1e-7  # avoid numerical errors
    num = torch.sum(torch.square(references), dim=(2, 3))
    den = torch.sum(torch.square(references - estimates), dim=(2, 3))
    num += delta
    den += delta
    return 10 * torch.log10(num / den)


def asteroid_sisdr(est_target: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """asteroid's ``SingleSrcNegSDR("sisdr")`` forward, negated back to SI-SDR: (batch, time)."""
    eps = 1e-8
    target = target - torch.mean(target, dim=1, keepdim=True)
    est_target = est_target - torch.mean(est_target, dim=1, keepdim=True)
    dot = torch.sum(est_target * target, dim=1, keepdim=True)
    s_target_energy = torch.sum(target**2, dim=1, keepdim=True) + eps
    scaled_target = dot * target / s_target_energy
    e_noise = est_target - scaled_target
    losses = torch.sum(scaled_target**2, dim=1) / (torch.sum(e_noise**2, dim=1) + eps)
    return 10 * torch.log10(losses + eps)


def test_global_sdr_is_the_hand_computed_value():
    reference = np.array([[[1.0, 2.0, -1.0, 0.0]]])
    estimate = np.array([[[1.0, 1.0, -1.0, 1.0]]])  # error energy 2 against signal energy 6
    assert global_sdr(reference, estimate)[0] == pytest.approx(10 * math.log10((6 + 1e-7) / (2 + 1e-7)), abs=1e-12)
    stereo = np.stack([reference[0, 0], -reference[0, 0]])[None]  # both channels count: 12 against 4
    assert global_sdr(stereo, np.stack([estimate[0, 0], -estimate[0, 0]])[None])[0] == pytest.approx(10 * math.log10(12 / 4), abs=1e-6)


def test_si_sdr_is_the_hand_computed_value_and_ignores_scale_and_offset():
    reference = np.array([[[1.0, -1.0, 1.0, -1.0]]])  # zero mean already
    noise = np.array([[[1.0, 1.0, -1.0, -1.0]]])  # orthogonal to it and zero mean
    estimate = 0.5 * reference + 0.25 * noise + 3.0  # any gain, any offset
    # target part 0.5 * reference (energy 1), noise part 0.25 * noise (energy 0.25): 6.02 dB
    expected = 10 * math.log10(1.0 / (0.25 + 1e-8) + 1e-8)
    assert si_sdr(reference, estimate)[0] == pytest.approx(expected, abs=1e-6)  # eps also enters the scale: 1e-8 relative
    assert global_sdr(reference, estimate)[0] < 0  # the offset and the gain are errors to the global SDR


def test_global_sdr_equals_demucs_new_sdr_on_the_same_arrays():
    rng = np.random.default_rng(0)
    references = rng.normal(size=(4, 2, 44100)).astype(np.float32)
    estimates = (references + rng.normal(scale=[[[0.3]], [[1.0]], [[0.1]], [[2.0]]], size=references.shape)).astype(np.float32)
    demucs = demucs_new_sdr(torch.from_numpy(references)[None].double(), torch.from_numpy(estimates)[None].double())[0].numpy()
    np.testing.assert_allclose(global_sdr(references, estimates), demucs, atol=1e-9)
    assert np.all(np.diff(global_sdr(references, estimates)[[2, 0, 1, 3]]) < 0)  # more noise, lower SDR


def test_si_sdr_equals_asteroids_on_the_same_arrays():
    rng = np.random.default_rng(1)
    references = rng.normal(size=(3, 2, 8000))
    estimates = 0.7 * references + rng.normal(scale=0.5, size=references.shape) + 0.01
    asteroid = asteroid_sisdr(torch.from_numpy(estimates.reshape(3, -1)), torch.from_numpy(references.reshape(3, -1))).numpy()
    np.testing.assert_allclose(si_sdr(references, estimates), asteroid, atol=1e-9)


def test_whole_track_scores_leave_out_silent_references_and_pad_short_estimates():
    references = np.ones((2, 1, 10))
    scores = whole_track_scores(references, {"model": np.ones((2, 1, 8))}, ("drums", "bass"), scored=[True, False])
    assert list(scores["model"]) == ["drums"]  # bass left out, as BSSEval leaves a silent reference out
    # two missing samples of ten (zero-padded): 10 against 2
    assert scores["model"]["drums"]["global_SDR"] == pytest.approx(10 * math.log10((10 + 1e-7) / (2 + 1e-7)))


def test_aggregates_give_the_challenges_mean_and_the_median_over_tracks():
    rows = [{"method": "model", "track": track, "stem": stem, "metric": "global_SDR", "value": value}
            for track, values in (("a", (1.0, 3.0)), ("b", (5.0, 9.0)), ("c", (6.0, 0.0)))
            for stem, value in zip(("drums", "bass"), values)]
    aggregates = aggregate(pd.DataFrame(rows))
    metrics = metrics_dict(aggregates)
    assert metrics["model"]["drums"]["global_SDR"]["mean_of_medians"] == 4.0
    assert metrics["model"]["drums"]["global_SDR"]["median_of_medians"] == 5.0
    assert metrics["model"]["all"]["global_SDR"]["mean_of_medians"] == 4.0  # tracks' stem means 2, 7, 3
    table = headline_table(aggregates)
    assert table.loc[("model", "global SDR: whole track, mean over tracks (MDX/SDX)"), "bass"] == 4.0
    assert ("model", "cSDR: median over frames, then tracks (SiSEC)") not in table.index  # not scored here


def test_a_track_with_nothing_audible_scores_nothing_rather_than_failing():
    silent = np.zeros((4, 2, 100))
    assert whole_track_scores(silent, {"model": silent, "MIX": silent}, ("drums", "bass", "other", "vocals"), [False] * 4) == {
        "model": {}, "MIX": {}}
