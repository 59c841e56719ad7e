"""Relative features for one hand's notes, and the event structure the decoder works on.

Both hands are handled as a right hand: left-hand pitches are mirrored about D4 (MIDI 62).
The keyboard is symmetric about D (and G#), so the mirror keeps black keys black, and a LH
fingering becomes the RH fingering of the mirrored passage (the trick of Nakamura et al.).

Notes are turned into *events*: sorted by onset, then by (mirrored) pitch; notes of the same
hand that start together form a *group* (chord); two notes on the same key at the same time
(two voices) are one event. Grace notes (duration 0) are moved just before the note they
ornament so they do not merge into its chord. Every feature is relative (intervals, key
colours, time ratios), so onsets may be in quarters or seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

N_FEATURES: Final = 24
MIRROR_AXIS: Final = 124  # 2 * D4
_BLACK: Final = np.array([0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0], dtype=np.float32)
MAX_GROUP: Final = 5

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]


@dataclass(slots=True)
class Events:
    """One hand's events. ``note_event[k]`` = event of input note k."""

    pitch: IntArray  # mirrored for the LH
    onset: npt.NDArray[np.float64]
    offset: npt.NDArray[np.float64]
    same_group: npt.NDArray[np.bool_]  # event i starts together with event i-1
    d_prev: IntArray  # pitch[i] - pitch[i-1] (0 for the first)
    d_low: IntArray  # pitch[i] - lowest pitch of its group
    note_event: IntArray
    is_left: bool

    def __len__(self) -> int:
        return int(self.pitch.shape[0])


def prepare(
    midi: npt.ArrayLike,
    onset: npt.ArrayLike,
    duration: npt.ArrayLike,
    *,
    is_left: bool,
    chord_eps: float = 1e-6,
) -> Events:
    midi_a = np.asarray(midi, dtype=np.int64)
    on = np.asarray(onset, dtype=np.float64).copy()
    dur = np.asarray(duration, dtype=np.float64)
    n = midi_a.shape[0]
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Events(
            empty, np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool), empty, empty, empty, is_left
        )
    pitch = MIRROR_AXIS - midi_a if is_left else midi_a.copy()
    grace = dur <= 0
    if grace.any():
        # Move each run of grace notes (input order) just before the next real note.
        ioi = np.diff(np.unique(on))
        step = float(np.median(ioi)) / 16 if ioi.size else 0.0625
        run: list[int] = []
        for k in range(n):
            if grace[k]:
                run.append(k)
            elif run:
                for j, g in enumerate(run):
                    on[g] = on[k] - step * (len(run) - j)
                run = []
        for j, g in enumerate(run):  # trailing graces
            on[g] = on[g] + step * j
    offset = on + np.maximum(dur, 0.0)
    order = np.lexsort((pitch, on))
    p_sorted, on_sorted, off_sorted = pitch[order], on[order], offset[order]
    # groups: a new group whenever the onset moves on by more than chord_eps from its start
    same = np.zeros(n, dtype=bool)
    start = on_sorted[0]
    size = 1
    for i in range(1, n):
        if on_sorted[i] - start <= chord_eps and size < MAX_GROUP + 8:
            same[i] = True
            size += 1
        else:
            start = on_sorted[i]
            size = 1
    # merge duplicate keys inside a group
    dup = np.zeros(n, dtype=bool)
    dup[1:] = same[1:] & (p_sorted[1:] == p_sorted[:-1])
    keep = ~dup
    event_of_sorted = np.cumsum(keep) - 1
    note_event = np.empty(n, dtype=np.int64)
    note_event[order] = event_of_sorted
    ev_pitch = p_sorted[keep]
    ev_on = on_sorted[keep]
    ev_off = np.maximum.reduceat(off_sorted, np.flatnonzero(keep))
    ev_same = same[keep]
    # a group with more than 5 keys cannot be played by one hand: restart a group every 5
    m = ev_pitch.shape[0]
    pos = 0
    for i in range(m):
        pos = pos + 1 if ev_same[i] else 0
        if pos >= MAX_GROUP:
            ev_same[i] = False
            pos = 0
    d_prev = np.zeros(m, dtype=np.int64)
    d_prev[1:] = ev_pitch[1:] - ev_pitch[:-1]
    group_id = np.cumsum(~ev_same) - 1
    first_idx = np.flatnonzero(~ev_same)
    d_low = ev_pitch - ev_pitch[first_idx[group_id]]
    return Events(ev_pitch, ev_on, ev_off, ev_same, d_prev, d_low, note_event, is_left)


def event_labels(events: Events, finger: npt.ArrayLike) -> IntArray:
    """Per-event finger (0 = unknown) from per-note fingers; a merged key takes the first."""
    f = np.asarray(finger, dtype=np.int64)
    out = np.zeros(len(events), dtype=np.int64)
    for k in np.flatnonzero(f > 0)[::-1]:
        out[events.note_event[k]] = f[k]
    return out


def feasible_labels(events: Events, labels: IntArray) -> IntArray:
    """Drop the labels of a chord that no fingering with rising fingers can satisfy (mis-paired
    editorial marks): with k keys between two labelled ones, their fingers must differ by > k,
    and the j-th key of an n-key chord can only take fingers j+1 .. 5-(n-1-j)."""
    out = labels.copy()
    starts = np.flatnonzero(~events.same_group)
    ends = np.append(starts[1:], len(events))
    for s, e in zip(starts, ends, strict=True):
        if e - s == 1:
            continue
        idx = np.flatnonzero(out[s:e] > 0)
        if idx.size == 0:
            continue
        lab = out[s:e][idx]
        size = e - s
        ok = bool(((lab >= idx + 1) & (lab <= 5 - (size - 1 - idx))).all())
        if ok and idx.size > 1:
            ok = bool((np.diff(lab) >= np.diff(idx)).all())
        if not ok:
            out[s:e] = 0
    return out


def _shift(a: npt.NDArray[np.float64], k: int, fill: float) -> npt.NDArray[np.float64]:
    """a[i - k] (k > 0: previous, k < 0: next), ``fill`` outside."""
    out = np.full_like(a, fill)
    if k > 0:
        out[k:] = a[:-k]
    elif k < 0:
        out[:k] = a[-k:]
    else:
        out[:] = a
    return out


def features(events: Events) -> FloatArray:
    """(n_events, N_FEATURES) float32 feature matrix."""
    n = len(events)
    x = np.zeros((n, N_FEATURES), dtype=np.float32)
    if n == 0:
        return x
    p = events.pitch.astype(np.float64)
    black = _BLACK[np.mod(events.pitch, 12)].astype(np.float64)
    has_prev = _shift(np.ones(n), 1, 0.0)
    has_next = _shift(np.ones(n), -1, 0.0)
    has_prev2 = _shift(np.ones(n), 2, 0.0)
    has_next2 = _shift(np.ones(n), -2, 0.0)
    clip = 3.0

    def rel(k: int) -> npt.NDArray[np.float64]:
        return np.clip((p - _shift(p, k, 0.0)) / 12.0, -clip, clip)

    same = events.same_group.astype(np.float64)
    same_next = _shift(same, -1, 0.0)
    group_id = np.cumsum(~events.same_group) - 1
    sizes = np.bincount(group_id).astype(np.float64)
    starts = np.flatnonzero(~events.same_group)
    pos = np.arange(n) - starts[group_id]
    size = sizes[group_id]
    high = np.maximum.reduceat(p, starts)[group_id]
    low = p[starts][group_id]
    g_on = events.onset[starts]
    g_ioi = np.diff(g_on)
    med = float(np.median(g_ioi[g_ioi > 0])) if (g_ioi > 0).any() else 1.0
    med = med if med > 0 else 1.0
    ioi_prev_g = np.concatenate([[np.nan], g_ioi])
    ioi_next_g = np.concatenate([g_ioi, [np.nan]])

    def log_ratio(v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        out = np.log(np.maximum(v, 1e-3 * med) / med) / 2.0
        return np.where(np.isnan(v), 0.0, np.clip(out, -3, 3))

    dur = events.offset - events.onset
    overlap = np.zeros(n)
    overlap[1:] = (events.offset[:-1] > events.onset[1:] + 1e-3 * med) & ~events.same_group[1:]
    kernel = np.ones(17) / 17.0
    padded = np.pad(p, 8, mode="edge")
    local_mean = np.convolve(padded, kernel, mode="valid")

    x[:, 0] = rel(1) * has_prev
    x[:, 1] = rel(-1) * has_next
    x[:, 2] = rel(2) * has_prev2
    x[:, 3] = rel(-2) * has_next2
    x[:, 4] = black
    x[:, 5] = _shift(black, 1, 0.0)
    x[:, 6] = _shift(black, -1, 0.0)
    x[:, 7] = same
    x[:, 8] = same_next
    x[:, 9] = size / 5.0
    x[:, 10] = pos / 4.0
    x[:, 11] = (size - 1 - pos) / 4.0
    x[:, 12] = np.clip((p - low) / 12.0, 0, clip)
    x[:, 13] = np.clip((high - p) / 12.0, 0, clip)
    x[:, 14] = log_ratio(ioi_prev_g[group_id])
    x[:, 15] = log_ratio(ioi_next_g[group_id])
    x[:, 16] = log_ratio(dur)
    x[:, 17] = overlap
    x[:, 18] = 1.0 if events.is_left else 0.0
    x[:, 19] = np.clip((p - local_mean) / 12.0, -clip, clip)
    x[:, 20] = 1 - has_prev
    x[:, 21] = 1 - has_next
    # interval to the previous group's lowest / highest key: how the hand moves between chords
    prev_low = np.concatenate([[np.nan], p[starts][:-1]])[group_id]
    prev_high = np.concatenate([[np.nan], np.maximum.reduceat(p, starts)[:-1]])[group_id]
    x[:, 22] = np.nan_to_num(np.clip((p - prev_low) / 12.0, -clip, clip))
    x[:, 23] = np.nan_to_num(np.clip((p - prev_high) / 12.0, -clip, clip))
    return x
