"""The decision rule: a change is adopted only if no family's mean loses more than 0.1 dB and the
average over families gains."""

from __future__ import annotations

import math

import pytest

from stemunet.evaluation.decision import TOLERANCE_DB, Decision, adopt, family_average, worst_family

BASELINE = {"LMMS": 4.55, "MUSDB18": 3.31, "karaoke": 5.0, "jazz_sax": 2.0}


def test_a_loss_of_0_11_db_on_one_family_is_refused_despite_a_large_gain_on_the_average():
    candidate = {"LMMS": 7.55, "MUSDB18": 6.31, "karaoke": 4.89, "jazz_sax": 5.0}
    decision = adopt(candidate, BASELINE)
    assert isinstance(decision, Decision) and not decision.adopted
    assert decision.average_delta > 2.0
    assert decision.worst_family == "karaoke" and math.isclose(decision.deltas["karaoke"], -0.11)
    assert decision.reason.startswith("refused: loses more than 0.1 dB on karaoke -0.11 dB")


def test_a_loss_of_exactly_0_1_db_is_allowed_when_the_average_gains():
    # 4.9 - 5.0 is -0.0999...96 and 2.1 - 2.2 is -0.1000...09 in floating point: both are "exactly 0.1"
    for family, before, after in (("karaoke", 5.0, 4.9), ("jazz_sax", 2.2, 2.1)):
        baseline = {**BASELINE, family: before}
        candidate = {**baseline, family: after, "LMMS": baseline["LMMS"] + 0.5}
        decision = adopt(candidate, baseline)
        assert decision.adopted, decision.reason
        assert decision.reason.startswith("adopted: average +0.10 dB")


def test_no_gain_on_the_average_is_refused_even_without_a_loss():
    assert not adopt(dict(BASELINE), BASELINE).adopted
    decision = adopt({**BASELINE, "LMMS": BASELINE["LMMS"] + 0.05, "jazz_sax": BASELINE["jazz_sax"] - 0.05}, BASELINE)
    assert not decision.adopted and decision.reason.startswith("refused: no gain on the average")
    assert math.isclose(decision.average_delta, 0.0, abs_tol=1e-12)
    assert adopt({**BASELINE, "MUSDB18": BASELINE["MUSDB18"] + 0.01}, BASELINE).adopted  # any real gain, no loss


def test_families_present_in_only_one_of_the_two_are_an_error_naming_them():
    with pytest.raises(ValueError, match=r"only the candidate has \['extra'\], only the baseline \['jazz_sax'\]"):
        adopt({**{k: v for k, v in BASELINE.items() if k != "jazz_sax"}, "extra": 9.0}, BASELINE)
    with pytest.raises(ValueError, match="at least one family"):
        adopt({}, {})
    with pytest.raises(ValueError, match="finite mean"):
        adopt({**BASELINE, "karaoke": float("nan")}, BASELINE)


def test_the_tolerance_is_0_1_db_and_can_be_tightened():
    assert TOLERANCE_DB == 0.1
    candidate = {**BASELINE, "karaoke": 4.95, "LMMS": 5.55}
    assert adopt(candidate, BASELINE).adopted
    assert not adopt(candidate, BASELINE, tolerance_db=0.0).adopted
    with pytest.raises(ValueError, match="tolerance_db"):
        adopt(candidate, BASELINE, tolerance_db=-0.1)


def test_the_average_counts_each_family_once_and_the_worst_family_is_the_lowest_mean():
    assert math.isclose(family_average(BASELINE), (4.55 + 3.31 + 5.0 + 2.0) / 4)
    assert worst_family(BASELINE) == ("jazz_sax", 2.0)
