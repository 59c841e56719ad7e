from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from consumers.fingering.decode import DecodeInput, decode_batch, span_table
from consumers.fingering.features import prepare
from consumers.fingering.hmm import hmm_fingers


def _input(
    midi: list[int],
    onset: Sequence[float],
    unary: np.ndarray,
    anchors: list[int] | None = None,
    is_left: bool = False,
) -> tuple[DecodeInput, np.ndarray]:
    ev = prepare(midi, onset, [1.0] * len(midi), is_left=is_left)
    n = len(ev)
    a = np.zeros(n, dtype=np.int64)
    if anchors is not None:
        a[ev.note_event] = anchors
    pair = np.zeros((n, 5, 5), dtype=np.float32)
    return DecodeInput(
        unary.astype(np.float32), pair, ev.same_group, ev.d_prev, ev.d_low, a
    ), ev.note_event


def test_chord_fingers_distinct_and_rising() -> None:
    # the scores want finger 1 on every key; a chord must still get rising, distinct fingers
    midi = [60, 64, 67, 72, 62, 65, 69]
    onset = [0, 0, 0, 0, 1, 1, 1]
    unary = np.tile(np.array([5.0, 0, 0, 0, 0]), (7, 1))
    inp, _ = _input(midi, onset, unary)
    (res,) = decode_batch([inp])
    f = res.fingers
    assert list(f[:4]) == sorted(set(f[:4])) and len(set(f[:4])) == 4
    assert list(f[4:]) == sorted(set(f[4:])) and len(set(f[4:])) == 3
    assert np.allclose(res.marginals.sum(axis=1), 1.0, atol=1e-5)


def test_span_limits_follow_hand_size() -> None:
    # a tenth (16 semitones) between two keys: a medium hand can take it only with 1-5
    inp, _ = _input([60, 76], [0, 0], np.tile(np.array([0, 3.0, 3.0, 0, 0]), (2, 1)))
    (res,) = decode_batch([inp], hand_size="M")
    assert tuple(res.fingers) == (1, 5)
    table = span_table("XS")
    assert table[0, 4] < 16 and span_table("XL")[0, 4] > table[0, 4]
    # too wide for any finger pair of a small hand: the decoder falls back, still distinct
    (res_s,) = decode_batch([inp], hand_size="XS")
    assert res_s.fingers[0] < res_s.fingers[1]


def test_anchors_are_kept() -> None:
    midi = [60, 62, 64, 65, 67, 69, 71, 72]
    onset = list(range(8))
    unary = np.tile(np.array([0, 0, 4.0, 0, 0]), (8, 1))
    anchors = [0, 0, 0, 1, 0, 0, 0, 5]
    inp, _ = _input(midi, onset, unary, anchors)
    (res,) = decode_batch([inp])
    assert res.fingers[3] == 1 and res.fingers[7] == 5
    assert res.marginals[3, 0] == pytest.approx(1.0)


def test_long_sequences_are_windowed_consistently() -> None:
    rng = np.random.default_rng(0)
    n = 1500
    midi = list(60 + rng.integers(-7, 8, n))
    onset = [float(k) for k in range(n)]
    unary = rng.normal(size=(n, 5))
    inp, _ = _input(midi, onset, unary)
    (res,) = decode_batch([inp], chunk=256, overlap=32)
    assert res.fingers.shape == (n,) and set(res.fingers) <= {1, 2, 3, 4, 5}


def test_left_hand_chord_fingers_fall_with_pitch() -> None:
    midi = [48, 52, 55]
    inp, note_event = _input(midi, [0, 0, 0], np.zeros((3, 5)), is_left=True)
    (res,) = decode_batch([inp])
    per_note = res.fingers[note_event]
    assert per_note[0] > per_note[1] > per_note[2]  # low C gets the highest finger


def test_hmm_baseline_respects_chords_and_anchors() -> None:
    ev = prepare([60, 64, 67, 65, 64, 62, 60], [0, 0, 0, 1, 2, 3, 4], [1] * 7, is_left=False)
    anchors = np.zeros(len(ev), dtype=np.int64)
    anchors[-1] = 1
    (f,) = hmm_fingers([ev], [anchors])
    assert f[0] < f[1] < f[2] and f[-1] == 1


def test_posterior_decoding_maximises_per_note_marginals() -> None:
    # Pair scores: 1->1 is the single best path (score 2), but every path into finger 2 scores
    # 1.5, so finger 2 carries more posterior mass on the second note:
    # P(x2=2) ~ 5 e^1.5 = 22.4 against P(x2=1) ~ e^2 + 4 = 11.4.
    inp, _ = _input([60, 62], [0, 1], np.zeros((2, 5)))
    inp.pair[1, 0, 0] = 2.0
    inp.pair[1, :, 1] = 1.5
    (map_seq,) = decode_batch([inp], method="viterbi")
    (post,) = decode_batch([inp], method="posterior")
    assert tuple(map_seq.fingers) == (1, 1)
    assert tuple(post.fingers) == (1, 2)
    expected = 5 * np.exp(1.5) / (5 * np.exp(1.5) + np.exp(2) + 4 + 3 * 5)
    assert post.marginals[1, 1] == pytest.approx(expected, rel=1e-5)
