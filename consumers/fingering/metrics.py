"""Fingering match rates with several ground truths (Nakamura, Saito & Yoshii 2020,
"Statistical learning and estimation of piano fingering", Information Sciences 517, sec. 4).

Our reading of the four measures, for one piece with N notes, an estimate ``e_n`` and K ground
truths ``g^k_n`` (fingers compared as numbers; the hand is fixed by the note, and for a
substitution such as ``4_1`` only the striking finger, 4, counts):

* ``M_gen`` (general match rate): the match rate ``(1/N) sum_n [e_n = g^k_n]`` averaged over the
  K annotators.
* ``M_high`` (highest match rate): the match rate with the single closest annotator
  (max over k).
* ``M_soft`` (soft match rate): a note counts as matched when the estimate equals the finger of
  *any* annotator on that note.
* ``M_rec`` (recombination match rate): the best match rate with a *recombined* ground truth,
  a fingering that follows one annotator and may switch to another one between notes n-1 and n
  only where the two agree on note n-1. Every pair of successive fingers in a recombined
  fingering is then a pair some human wrote, which is why it is a fairer target than M_soft
  (which may reward transitions no annotator played). Found by dynamic programming over
  (note, annotator). Always M_gen <= M_high <= M_rec <= M_soft.

The paper reports each measure averaged over the test pieces; :func:`aggregate` does that
(``macro``) and also gives the note-weighted mean. Notes a ground truth leaves unannotated
(finger 0) are skipped for that ground truth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class MatchRates:
    m_gen: float
    m_high: float
    m_soft: float
    m_rec: float
    notes: int

    def as_percent(self) -> dict[str, float]:
        return {
            "M_gen": 100 * self.m_gen,
            "M_high": 100 * self.m_high,
            "M_soft": 100 * self.m_soft,
            "M_rec": 100 * self.m_rec,
        }


def _as_matrix(
    estimate: Sequence[int], truths: Sequence[Sequence[int]]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    est = np.asarray(estimate, dtype=np.int64)
    if not truths:
        raise ValueError("need at least one ground truth")
    gt = np.asarray([list(t) for t in truths], dtype=np.int64)
    if gt.ndim != 2 or gt.shape[1] != est.shape[0]:
        raise ValueError(f"ground truths {gt.shape} do not align with estimate {est.shape}")
    return est, gt


def match_rate(estimate: Sequence[int], truth: Sequence[int]) -> float:
    est, gt = _as_matrix(estimate, [truth])
    valid = gt[0] > 0
    if not valid.any():
        return 0.0
    return float((est[valid] == gt[0][valid]).mean())


def recombined_matches(est: npt.NDArray[np.int64], gt: npt.NDArray[np.int64]) -> int:
    """Max number of matched notes over recombined ground truths (see module docstring)."""
    k_count, n_notes = gt.shape
    if n_notes == 0:
        return 0
    hit = ((gt == est[None, :]) & (gt > 0)).astype(np.int64)
    best = hit[:, 0].copy()
    for n in range(1, n_notes):
        prev = gt[:, n - 1]
        # agree[k, j]: annotators k and j wrote the same finger on note n-1, so the path may
        # move from j to k here; staying with the same annotator is always allowed.
        agree = (prev[:, None] == prev[None, :]) & (prev[:, None] > 0)
        agree |= np.eye(k_count, dtype=bool)
        reach = np.where(agree, best[None, :], -1).max(axis=1)
        best = reach + hit[:, n]
    return int(best.max())


def match_rates(estimate: Sequence[int], truths: Sequence[Sequence[int]]) -> MatchRates:
    """The four measures for one piece (fractions in 0..1)."""
    est, gt = _as_matrix(estimate, truths)
    annotated = gt > 0
    hits = (gt == est[None, :]) & annotated
    per_truth = hits.sum(axis=1) / np.maximum(annotated.sum(axis=1), 1)
    any_annotated = annotated.any(axis=0)
    n_valid = int(any_annotated.sum())
    soft = float(hits.any(axis=0)[any_annotated].mean()) if n_valid else 0.0
    rec = recombined_matches(est, gt) / n_valid if n_valid else 0.0
    return MatchRates(
        m_gen=float(per_truth.mean()),
        m_high=float(per_truth.max()),
        m_soft=soft,
        m_rec=float(rec),
        notes=n_valid,
    )


def aggregate(per_piece: Mapping[str, MatchRates]) -> dict[str, dict[str, float]]:
    """Mean over pieces (``macro``, as in the paper) and note-weighted mean (``micro``), in %."""
    if not per_piece:
        return {"macro": {}, "micro": {}}
    rates = list(per_piece.values())
    names = ("m_gen", "m_high", "m_soft", "m_rec")
    weights = np.asarray([r.notes for r in rates], dtype=np.float64)
    macro: dict[str, float] = {}
    micro: dict[str, float] = {}
    for name in names:
        values = np.asarray([getattr(r, name) for r in rates], dtype=np.float64)
        label = "M_" + name.split("_")[1]
        macro[label] = float(100 * values.mean())
        micro[label] = float(100 * (values * weights).sum() / max(weights.sum(), 1.0))
    return {"macro": macro, "micro": micro}


def exact_match(predicted: Sequence[int], truth: Sequence[int]) -> tuple[int, int]:
    """(matches, labelled notes) over notes whose truth is non-zero, for partial labels."""
    est, gt = _as_matrix(predicted, [truth])
    valid = gt[0] > 0
    return int((est[valid] == gt[0][valid]).sum()), int(valid.sum())
