"""Baseline: order-2 Viterbi over finger transitions with hand-set biomechanical costs.

The costs follow the rules of Parncutt, Sloboda, Clarke, Raekallio & Desain (1997), as reused by
the rule-based solvers in Nakamura et al. (2020): stretch / small span / large span against a
per-finger-pair table of comfortable and relaxed intervals, weak fingers, 3-4 succession,
thumb and fifth finger on black keys, thumb passing, and the order-2 position-change rules on
the first and third notes of every three. The state is (previous finger, this finger), so the
three-note rules are exact. Chords get the same hard rules as our decoder (fingers rise with
pitch, stretch within the hand span). No training: it is the "no data" baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from consumers.fingering.decode import NEG, span_table
from consumers.fingering.features import Events

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
_BLACK: Final = np.array([0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0], dtype=bool)

# Parncutt et al. (1997), table 1, right hand, fingers a < b:
# MinPrac, MinComf, MinRel, MaxRel, MaxComf, MaxPrac (semitones from a's key to b's key).
_TABLE: Final = {
    (1, 2): (-5, -3, 1, 5, 8, 10),
    (1, 3): (-4, -2, 3, 7, 10, 12),
    (1, 4): (-3, -1, 5, 9, 12, 14),
    (1, 5): (-1, 1, 7, 10, 13, 15),
    (2, 3): (1, 1, 1, 2, 3, 5),
    (2, 4): (1, 1, 3, 4, 5, 7),
    (2, 5): (2, 2, 5, 6, 8, 10),
    (3, 4): (1, 1, 1, 2, 2, 4),
    (3, 5): (1, 1, 3, 4, 5, 7),
    (4, 5): (1, 1, 1, 2, 3, 5),
}


def _tables() -> tuple[F64, ...]:
    """Six (5,5) arrays [from finger, to finger]; a > b mirrors a < b; a == b all zero."""
    out = [np.zeros((5, 5)) for _ in range(6)]
    for (a, b), vals in _TABLE.items():
        for k in range(6):
            out[k][a - 1, b - 1] = vals[k]
            # going from the higher finger down: negate and swap min/max
            out[5 - k][b - 1, a - 1] = -vals[k]
    return tuple(out)


MIN_PRAC, MIN_COMF, MIN_REL, MAX_REL, MAX_COMF, MAX_PRAC = _tables()
_F = np.arange(1, 6)
_THUMB_PAIR: Final = (_F[:, None] == 1) | (_F[None, :] == 1)
_SAME: Final = _F[:, None] == _F[None, :]


def pair_costs(ev: Events) -> F64:
    """(T, 5, 5) cost of going from finger f1 on event t-1 to f2 on event t."""
    t_len = len(ev)
    d = ev.d_prev.astype(np.float64)[:, None, None]
    black = _BLACK[np.mod(ev.pitch, 12)]
    b_prev = np.concatenate([[False], black[:-1]])[:, None, None]
    b_cur = black[:, None, None]
    f1 = _F[None, :, None]
    f2 = _F[None, None, :]
    relax_w = np.where(_THUMB_PAIR, 1.0, 2.0)[None]
    cost = 2.0 * (np.maximum(0, d - MAX_COMF[None]) + np.maximum(0, MIN_COMF[None] - d))
    cost += relax_w * (np.maximum(0, MIN_REL[None] - d) + np.maximum(0, d - MAX_REL[None]))
    cost += 10.0 * (np.maximum(0, d - MAX_PRAC[None]) + np.maximum(0, MIN_PRAC[None] - d))
    same_finger = np.where(_SAME[None], np.where(d == 0, 0.0, 6.0 + np.abs(d) / 4), 0.0)
    cost = np.where(_SAME[None], same_finger, cost)
    melodic = ~ev.same_group[:, None, None]
    extra = np.zeros((t_len, 5, 5))
    extra += (f2 >= 4) * 1.0
    extra += ((f1 == 3) & (f2 == 4)) * 1.0
    extra += (
        ((f1 == 3) & (f2 == 4) & ~b_prev & b_cur) | ((f1 == 4) & (f2 == 3) & b_prev & ~b_cur)
    ) * 1.0
    extra += ((f2 == 1) & b_cur) * (1.0 + 2.0 * ~b_prev)
    extra += ((f1 == 1) & b_prev & ~b_cur) * 2.0
    extra += ((f2 == 5) & b_cur & ~b_prev) * 2.0
    extra += ((f1 == 5) & b_prev & ~b_cur) * 2.0
    # thumb passing: a finger crossing over the thumb going down, or the thumb under going up
    passing = ((f1 == 1) & (f2 > 1) & (d < 0)) | ((f1 > 1) & (f2 == 1) & (d > 0))
    upper_black_thumb = np.where(f1 == 1, b_prev & ~b_cur, b_cur & ~b_prev)
    same_level = b_prev == b_cur
    extra += passing * np.where(same_level, 1.0, np.where(upper_black_thumb, 3.0, 0.0))
    cost = cost + np.where(melodic, extra, 0.0)
    cost[0] = 0.0
    return cost


def triple_costs(ev: Events) -> F64:
    """(T, 5, 5, 5) order-2 cost on (f0 at t-2, f1 at t-1, f2 at t): position change between
    the first and third note (Parncutt's rules 4-5)."""
    t_len = len(ev)
    d02 = np.zeros(t_len)
    if t_len > 2:
        d02[2:] = ev.pitch[2:] - ev.pitch[:-2]
    d = d02[:, None, None]
    out_comf = np.maximum(0, d - MAX_COMF[None]) + np.maximum(0, MIN_COMF[None] - d)
    same_f = _SAME[None] & (d != 0)
    c02 = np.where(same_f, 1.0, (out_comf > 0) * 1.0 + out_comf)  # (T, f0, f2)
    cost = np.broadcast_to(c02[:, :, None, :], (t_len, 5, 5, 5)).copy()
    melodic = ~(ev.same_group | np.concatenate([[False], ev.same_group[:-1]]))
    cost[~melodic] = 0.0
    cost[:2] = 0.0
    return cost


def hmm_fingers(
    events: Sequence[Events],
    anchors: Sequence[I64] | None = None,
    *,
    hand_size: str = "M",
    chunk: int = 384,
    overlap: int = 48,
) -> list[I64]:
    """Fingers (1..5) per event for each sequence (windows decoded in one vectorised pass)."""
    span = span_table(hand_size)
    asc = np.triu(np.ones((5, 5), dtype=bool), 1)
    out: list[I64] = []
    for k, ev in enumerate(events):
        n = len(ev)
        if n == 0:
            out.append(np.zeros(0, dtype=np.int64))
            continue
        pc = -pair_costs(ev)
        tc = -triple_costs(ev)
        anc = anchors[k] if anchors is not None else np.zeros(n, dtype=np.int64)
        unary = np.where((anc[:, None] > 0) & (anc[:, None] != _F[None]), NEG, 0.0)
        chord_ok = np.where(
            ev.same_group[:, None, None], asc[None] & (ev.d_prev[:, None, None] <= span[None]), True
        )
        pc = np.where(chord_ok, pc, NEG)
        fingers = np.zeros(n, dtype=np.int64)
        step = chunk - 2 * overlap
        starts = [0] if n <= chunk else list(range(0, n, step))
        for cs in starts:
            ce = n if n <= chunk else min(n, cs + step)
            ws, we = max(0, cs - overlap), min(n, ce + overlap)
            f = _viterbi2(unary[ws:we], pc[ws:we], tc[ws:we], ev.same_group[ws:we])
            fingers[cs:ce] = f[cs - ws : ce - ws]
        out.append(fingers)
    return out


def _viterbi2(unary: F64, pc: F64, tc: F64, same: npt.NDArray[np.bool_]) -> I64:
    n = unary.shape[0]
    if n == 1:
        return np.asarray([int(unary[0].argmax()) + 1], dtype=np.int64)
    # state (f_{t-1}, f_t); at t = 1 it is (f0, f1)
    score = unary[0][:, None] + pc[1] + unary[1][None, :]
    backs = np.zeros((n, 5, 5), dtype=np.int64)
    for t in range(2, n):
        cand = score[:, :, None] + tc[t] + pc[t][None, :, :]  # (f0, f1, f2)
        arg = cand.argmax(axis=0)
        score = np.take_along_axis(cand, arg[None], axis=0)[0] + unary[t][None, :]
        backs[t] = arg
        if score.max() < NEG / 2:
            # contradictory anchors/constraints: restart from the unconstrained best
            score = np.where(score < NEG / 2, -1e6, score)
    f1, f2 = np.unravel_index(int(score.argmax()), score.shape)
    fingers = np.zeros(n, dtype=np.int64)
    fingers[n - 1], fingers[n - 2] = f2 + 1, f1 + 1
    for t in range(n - 1, 1, -1):
        f0 = backs[t, f1, f2]
        fingers[t - 2] = f0 + 1
        f1, f2 = f0, f1
    return fingers
