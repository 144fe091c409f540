"""The decision rule for the bundled model and its defaults, on the real validation families.

A change (a new checkpoint, another post-filter or test-time augmentation default) is adopted
only if it **loses no more than 0.1 dB on any family's mean and gains on their average**:

* a family's mean is the model's SDR (BSSEval v4, median over 1 s frames then over tracks, as
  SiSEC) averaged over the family's references (``benchmarks/real_validation.py`` prints them);
* the average is the plain mean over families, each family counting once however many tracks
  it has, so one large family cannot buy a loss on a small one.

Why: a default chosen by its gain on one family (0.5 dB on the LMMS songs for mask power 0.5) lost
on real music outside the repository; a choice that holds on every family is one that transfers.
The tolerance lets through a change that leaves a family where it was (a few hundredths either
way) and refuses one that hurts any family, however much it gains elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

TOLERANCE_DB = 0.1
"""The most a family's mean may lose (dB) for a change to be adopted."""
ROUNDING_DB = 1e-9
"""Differences are compared after this much slack, so a loss of exactly the tolerance (4.9 against
5.0, which floating point makes 0.0999...96 or 0.1000...01) is allowed, and a gain must be real."""


@dataclass(frozen=True)
class Decision:
    """The rule's verdict on a candidate against a baseline.

    ``deltas``: candidate minus baseline per family, dB, in the baseline's order;
    ``average_delta``: the candidate's average over families minus the baseline's, dB;
    ``worst_family``: the family with the lowest delta; ``reason``: one sentence saying why.
    """

    adopted: bool
    reason: str
    deltas: dict[str, float]
    average_delta: float
    worst_family: str
    tolerance_db: float = TOLERANCE_DB


def family_average(means: Mapping[str, float]) -> float:
    """The plain mean over families of their means, dB (each family counts once)."""
    if not means:
        raise ValueError("no family means: the rule needs at least one family")
    return sum(means.values()) / len(means)


def worst_family(means: Mapping[str, float]) -> tuple[str, float]:
    """``(name, mean dB)`` of the family with the lowest mean (the first of equals)."""
    if not means:
        raise ValueError("no family means")
    name = min(means, key=lambda family: means[family])
    return name, float(means[name])


def _checked(means: Mapping[str, float], label: str) -> dict[str, float]:
    checked = {}
    for family, value in means.items():
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{label}: the mean of family {family!r} is {value!r}; every family needs a finite mean in dB")
        checked[str(family)] = float(value)
    return checked


def adopt(candidate: Mapping[str, float], baseline: Mapping[str, float], tolerance_db: float = TOLERANCE_DB) -> Decision:
    """Whether ``candidate`` is adopted over ``baseline``: ``{family: mean SDR dB}`` each.

    Adopted when no family's mean drops by more than ``tolerance_db`` and the average over
    families rises (by more than :data:`ROUNDING_DB`).

    Raises:
        ValueError: the two name different families (a family scored for one only cannot be
            compared), none at all, a mean that is not a finite number, or a negative tolerance.
    """
    if not (math.isfinite(tolerance_db) and tolerance_db >= 0):
        raise ValueError(f"tolerance_db must be a number >= 0, got {tolerance_db!r}")
    candidate, baseline = _checked(candidate, "candidate"), _checked(baseline, "baseline")
    only_candidate, only_baseline = sorted(set(candidate) - set(baseline)), sorted(set(baseline) - set(candidate))
    if only_candidate or only_baseline:
        raise ValueError(f"the two were scored on different families: only the candidate has {only_candidate}, "
                         f"only the baseline {only_baseline}; score both on the same families")
    if not baseline:
        raise ValueError("no family means: the rule needs at least one family")
    deltas = {family: candidate[family] - baseline[family] for family in baseline}
    average_delta = family_average(candidate) - family_average(baseline)
    worst, worst_delta = worst_family(deltas)
    losses = {family: delta for family, delta in deltas.items() if delta < -tolerance_db - ROUNDING_DB}
    if losses:
        listed = ", ".join(f"{family} {delta:+.2f} dB" for family, delta in losses.items())
        reason = f"refused: loses more than {tolerance_db:g} dB on {listed} (average {average_delta:+.2f} dB)"
    elif average_delta <= ROUNDING_DB:
        reason = f"refused: no gain on the average over families ({average_delta:+.2f} dB; worst family {worst} {worst_delta:+.2f} dB)"
    else:
        reason = f"adopted: average {average_delta:+.2f} dB, no family loses more than {tolerance_db:g} dB (worst {worst} {worst_delta:+.2f} dB)"
    return Decision(not losses and average_delta > ROUNDING_DB, reason, deltas, average_delta, worst, tolerance_db)
