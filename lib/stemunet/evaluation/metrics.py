"""Whole-track metrics beside BSSEval: the global SDR the MDX/SDX challenges rank by, and SI-SDR.

BSSEval v4 (:mod:`stemunet.evaluation.bsseval`) scores 1 s frames and SiSEC reports the median
over frames, then over tracks: what BSRNN's paper calls **cSDR** ("chunk SDR"). Since the MDX 2021
and SDX 2023 challenges, leaderboards and most papers rank by the **global SDR** of each whole
track instead (the challenges' "SDR", Demucs' ``new_sdr``/``nsdr``, MSST's ``sdr``, "uSDR")::

    global SDR = 10 log10((sum s^2 + delta) / (sum (s - s_hat)^2 + delta)),  delta = 1e-7

summed over channels and samples, averaged over tracks (Demucs' ``evaluate.py``). **SI-SDR**
(scale-invariant SDR, Le Roux et al. 2019; asteroid's and nussl's) removes each signal's mean,
projects the estimate on the reference and compares the projection with the rest::

    alpha = <s_hat, s> / (<s, s> + eps);  SI-SDR = 10 log10(|alpha s|^2 / (|s_hat - alpha s|^2 + eps) + eps),  eps = 1e-8

A stereo stem is one vector in both (its channels one after the other; for SI-SDR one mean and
one scale for both channels), as Demucs sums its SDR over channels. Shapes: ``(n_stems, n_channels, n_samples)``; results ``(n_stems,)`` dB, float64.
No torch: worker processes that score tracks import this.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

GLOBAL_SDR_DELTA = 1e-7
"""Demucs' ``new_sdr`` delta, added to numerator and denominator (a silent stem stays finite)."""
SI_SDR_EPS = 1e-8
"""asteroid's ``EPS`` in its SI-SDR."""

WHOLE_TRACK_METRICS: tuple[str, ...] = ("global_SDR", "SI_SDR")
"""Metric names of the whole-track figures, as they appear in ``track_scores.csv`` and ``metrics.json``."""

METRIC_LABELS: dict[str, str] = {
    "SDR": "cSDR",
    "global_SDR": "global SDR",
    "SI_SDR": "SI-SDR",
}
"""How tables label each metric where BSSEval's frame-median SDR and the whole-track SDR appear together."""


def _as_vectors(signals: np.ndarray) -> np.ndarray:
    """``(n_stems, n_channels, n_samples)`` -> ``(n_stems, n_channels * n_samples)`` float64."""
    signals = np.asarray(signals, dtype=np.float64)
    if signals.ndim != 3:
        raise ValueError(f"expected (n_stems, n_channels, n_samples), got {signals.shape}")
    return signals.reshape(signals.shape[0], signals.shape[1] * signals.shape[2])


def global_sdr(references: np.ndarray, estimates: np.ndarray, delta: float = GLOBAL_SDR_DELTA) -> np.ndarray:
    """The global SDR of each stem over the whole signal, dB: Demucs' ``new_sdr`` for one track."""
    references, estimates = _as_vectors(references), _as_vectors(estimates)
    if references.shape != estimates.shape:
        raise ValueError(f"references {references.shape} and estimates {estimates.shape} disagree")
    numerator = np.sum(np.square(references), axis=1) + delta
    denominator = np.sum(np.square(references - estimates), axis=1) + delta
    return 10 * np.log10(numerator / denominator)


def si_sdr(references: np.ndarray, estimates: np.ndarray, eps: float = SI_SDR_EPS) -> np.ndarray:
    """Scale-invariant SDR of each stem, dB: asteroid's ``singlesrc_neg_sisdr`` (negated) of the
    stem as one vector, channels after one another (zero mean, one scale for both channels)."""
    references, estimates = _as_vectors(references), _as_vectors(estimates)
    if references.shape != estimates.shape:
        raise ValueError(f"references {references.shape} and estimates {estimates.shape} disagree")
    references = references - references.mean(axis=1, keepdims=True)
    estimates = estimates - estimates.mean(axis=1, keepdims=True)
    scale = np.sum(estimates * references, axis=1, keepdims=True) / (np.sum(np.square(references), axis=1, keepdims=True) + eps)
    target = scale * references
    noise = estimates - target
    return 10 * np.log10(np.sum(np.square(target), axis=1) / (np.sum(np.square(noise), axis=1) + eps) + eps)


def whole_track_scores(
    references: np.ndarray,
    estimates: Mapping[str, np.ndarray],
    stem_names: Sequence[str],
    scored: Sequence[bool] | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """``{method: {stem: {"global_SDR": dB, "SI_SDR": dB}}}`` for one track.

    ``scored``: which stems to score (default all); BSSEval leaves out a stem whose reference is
    silent over the whole excerpt, and so do these figures, so every metric covers the same stems.
    An estimate longer than the references is cut, a shorter one zero-padded, as museval does.
    """
    references = np.asarray(references)
    keep = [i for i in range(len(stem_names)) if scored is None or scored[i]]
    scores: dict[str, dict[str, dict[str, float]]] = {method: {} for method in estimates}
    if not keep:  # nothing audible to score, as BSSEval scores nothing then
        return scores
    for method, values in estimates.items():
        values = np.asarray(values)[..., : references.shape[-1]]
        if values.shape[-1] < references.shape[-1]:
            values = np.pad(values, [(0, 0), (0, 0), (0, references.shape[-1] - values.shape[-1])])
        sdr = global_sdr(references[keep], values[keep])
        scale_invariant = si_sdr(references[keep], values[keep])
        scores[method] = {stem_names[i]: {"global_SDR": float(sdr[k]), "SI_SDR": float(scale_invariant[k])} for k, i in enumerate(keep)}
    return scores
