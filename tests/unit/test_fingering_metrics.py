"""Match rates on tiny cases worked out by hand (see consumers/fingering/metrics.py)."""

from __future__ import annotations

import pytest

from consumers.fingering.metrics import aggregate, exact_match, match_rate, match_rates


def test_three_annotators() -> None:
    est = [1, 2, 3, 4]
    gts = [[1, 2, 3, 5], [1, 3, 3, 4], [2, 2, 4, 4]]
    r = match_rates(est, gts)
    # per annotator 3/4, 3/4, 2/4
    assert r.m_gen == pytest.approx((0.75 + 0.75 + 0.5) / 3)
    assert r.m_high == pytest.approx(0.75)
    # every estimated finger is some annotator's finger on that note
    assert r.m_soft == pytest.approx(1.0)
    # gt1 on notes 1-3 (gt1 and gt2 agree on note 3: finger 3), then gt2 on note 4
    assert r.m_rec == pytest.approx(1.0)
    assert r.notes == 4


def test_recombination_needs_agreement() -> None:
    est = [1, 2, 3]
    gts = [[1, 2, 5], [4, 4, 3]]  # the annotators never agree: no switch is allowed
    r = match_rates(est, gts)
    assert r.m_gen == pytest.approx(0.5)
    assert r.m_high == pytest.approx(2 / 3)
    assert r.m_soft == pytest.approx(1.0)
    assert r.m_rec == pytest.approx(2 / 3)


def test_recombination_switches_where_they_agree() -> None:
    est = [1, 2, 3, 4, 5]
    gts = [[1, 2, 3, 1, 1], [5, 5, 3, 4, 5]]
    r = match_rates(est, gts)
    assert r.m_high == pytest.approx(3 / 5)
    # gt1 up to note 3 (both wrote 3 there), then gt2: all five match
    assert r.m_rec == pytest.approx(1.0)
    assert r.m_gen <= r.m_high <= r.m_rec <= r.m_soft


def test_unannotated_notes_are_skipped() -> None:
    assert match_rate([1, 2, 4], [1, 0, 3]) == pytest.approx(0.5)
    assert exact_match([1, 2, 4], [1, 0, 3]) == (1, 2)


def test_aggregate_macro_and_micro() -> None:
    a = match_rates([1, 1, 1, 1], [[1, 1, 1, 1]])  # 100% on 4 notes
    b = match_rates([1, 1], [[2, 2]])  # 0% on 2 notes
    agg = aggregate({"a": a, "b": b})
    assert agg["macro"]["M_gen"] == pytest.approx(50.0)
    assert agg["micro"]["M_gen"] == pytest.approx(100 * 4 / 6)


def test_misaligned_truth_raises() -> None:
    with pytest.raises(ValueError):
        match_rates([1, 2], [[1, 2, 3]])
