"""Onsets of a bar's note columns from the note values read in them.

Printed music puts simultaneous notes one above the other, so a bar is a row of columns
(left to right) whose onsets increase. A note ends where some note (of any voice) begins, or
at the barline, unless silence follows it. oemer's note values are read from heads, flags,
beams and dots and are mostly right; its voices and offsets are not (two voices of a staff
merged into one, notes far apart on the page at one offset), and one wrong value shifts every
later onset of its voice. So the onsets are chosen from the values alone: each note costs the
log-distance from where it ends to the nearest column onset (or barline) around that point,
|ln(time to that onset / value read)| (twice too long costs as much as twice too short, and
a misread value costs no more than it is off, so it cannot drag the others along).

`solve_onsets` picks onsets on a 1/24-quarter grid (32nds and sixteenth triplets) that fill
the bar exactly and minimise that cost, plus a little for gaps between columns that are no
note value (5/24) and a weak pull of each gap towards its share of the bar's width on the
page (engravers space notes by duration) and towards the gaps oemer's own offsets give,
which only decide what the notes leave open. A
dynamic programme over the columns, left to right, with the onset as state, keeping the
`BEAM` best paths into each onset (a note's cost depends on its own column's onset too).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

import numpy as np
from numpy.typing import NDArray

GRID: Final = 24  # grid points per quarter
# Gaps (grid units) that are note values; others (sums like 5/24) pay OFF_VALUE.
_VALUES: Final = (2, 3, 4, 6, 8, 9, 12, 16, 18, 24, 36, 48, 72, 96, 144)
OFF_VALUE: Final = 0.3
# A note that ends inside a gap (a rest follows it, or it is misread) costs at most this.
SILENCE: Final = float(np.log(2.0))
# SPACING_WEIGHT and SILENCE were chosen on the development pieces (bench/omr_eval.py --dev:
# training-corpus pieces), never on the held-out evaluation pieces.
SPACING_WEIGHT: Final = 0.1
# Engravers give a note room growing like its value to this power (verovio's non-linear
# spacing default is 0.6; Gould's sqrt(2) per doubling is 0.5).
SPACING_POWER: Final = 0.6
BEAM: Final = 12
# A gap between two columns that differs from the gap oemer's own offsets give them pays
# this: oemer's offsets are right in plain bars and settle what the note values leave open;
# where they collapse the values outweigh it. Chosen on the development pieces.
HINT_WEIGHT: Final = 0.05


@dataclass(frozen=True)
class Sound:
    """A note (or a chord) read as lasting `length` quarters from column `column`."""

    column: int
    length: Fraction
    weight: float = 1.0


def _gap_costs(units: int, share: float | None) -> NDArray[np.float64]:
    """Cost of each gap size 0..units (index), infinite for 0."""
    g = np.arange(units + 1, dtype=float)
    out = np.where(np.isin(g, _VALUES), 0.0, OFF_VALUE)
    if share is not None:
        out = out + SPACING_WEIGHT * np.abs(np.log(np.maximum(g, 1.0) / share))
    out[0] = np.inf
    return np.asarray(out)


def _shares(x: list[float] | None, n_columns: int, units: int) -> list[float | None]:
    """Each gap's expected size from the page's spacing, scaled to the bar; none for the last
    (where the barline stands is not known) or without positions."""
    if x is not None and len(x) >= n_columns and n_columns >= 2:
        widths = np.diff(np.asarray(x[:n_columns], dtype=float))
        if (widths > 0).all():
            values = widths ** (1.0 / SPACING_POWER)
            # the columns before the last take what the bar leaves after the last column's
            # own share (its mean), so the shares sum to the bar
            scale = units / (values.sum() + values.mean())
            return [float(v) for v in values * scale] + [None]
    return [None] * n_columns


def _end_cost(
    start: NDArray[np.int64], before: NDArray[np.int64], after: NDArray[np.int64], length: float
) -> NDArray[np.float64]:
    """Cost of a note from `start` whose end falls between column onsets `before` and
    `after` (arrays broadcast), 0 where it does not (it ends elsewhere)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        closes = (before - start < length) & (after - start >= length)
        to_after = np.abs(np.log(np.maximum(after - start, 1) / length))
        to_before = np.where(
            before > start, np.abs(np.log(np.maximum(before - start, 1) / length)), np.inf
        )
        nearest = np.minimum(np.minimum(to_after, to_before), SILENCE)
        return np.asarray(np.where(closes, nearest, 0.0))


def _hint_cost(
    gap: NDArray[np.int64], left: Fraction | None, right: Fraction | None
) -> NDArray[np.float64] | float:
    """HINT_WEIGHT where a gap between two columns differs from the one oemer's offsets give
    (gaps, not onsets: one value oemer misread shifts every later offset of its voice, and
    should cost once)."""
    if left is None or right is None or right <= left:
        return 0.0
    return np.where(gap == round((right - left) * GRID), 0.0, HINT_WEIGHT)


def path_cost(
    onsets: list[Fraction],
    sounds: list[Sound],
    total: Fraction,
    x: list[float] | None = None,
    hints: Sequence[Fraction | None] | None = None,
) -> float:
    """What `solve_onsets` minimises, for given onsets (tests and diagnostics)."""
    n = len(onsets)
    units = max(round(total * GRID), n)
    t = np.array([round(o * GRID) for o in onsets] + [units], dtype=np.int64)
    shares = _shares(x, n, units)
    out = 0.0
    for c in range(n):
        out += float(_gap_costs(units, shares[c])[t[c + 1] - t[c]])
        if hints is not None and c + 1 < n:
            out += float(_hint_cost(np.asarray(t[c + 1] - t[c]), hints[c], hints[c + 1]))
    for snd in sounds:
        if not 0 <= snd.column < n:
            continue
        length = float(snd.length) * GRID
        a = t[snd.column]
        for e in range(snd.column + 1, n + 1):
            out += snd.weight * float(_end_cost(a, t[e - 1], t[e], length))
        if t[n] - a < length:  # rings past the barline
            out += snd.weight * min(abs(float(np.log((t[n] - a) / length))), SILENCE)
    return out


def solve_onsets(
    n_columns: int,
    sounds: list[Sound],
    total: Fraction,
    x: list[float] | None = None,
    hints: Sequence[Fraction | None] | None = None,
) -> list[Fraction]:
    """The onset of each column (the first at 0) in a bar of `total` quarters.

    `x`: the columns' positions on the page (left to right), for the spacing pull.
    `hints`: per column, the onset oemer gave it, or None; each gap between two hinted
    columns is pulled weakly (`HINT_WEIGHT`) towards the gap between their hints.
    """
    if n_columns <= 1:
        return [Fraction(0)] * n_columns
    units = max(round(total * GRID), n_columns)
    usable = [snd for snd in sounds if 0 <= snd.column < n_columns and snd.length > 0]
    shares = _shares(x, n_columns, units)
    grid = np.arange(units + 1)
    n_state = units + 1
    # Hypotheses: rows = (onset of the current column, rank); cost and path (onsets so far).
    cost = np.full((n_state, BEAM), np.inf)
    cost[0, 0] = 0.0
    paths = np.zeros((n_state, BEAM, 1), dtype=np.int64)
    for c in range(n_columns):
        flat_cost = cost.reshape(-1)
        flat_paths = paths.reshape(n_state * BEAM, -1)
        here = flat_paths[:, -1]  # onset of column c per hypothesis
        gap = grid[None, :] - here[:, None]  # (hyp, next onset)
        gaps = _gap_costs(units, shares[c])
        step = flat_cost[:, None] + gaps[np.clip(gap, 0, units)]
        if hints is not None and c + 1 < n_columns:
            step = step + _hint_cost(gap, hints[c], hints[c + 1])
        step = np.where(gap > 0, step, np.inf)
        for snd in usable:
            if snd.column > c:
                continue
            start = flat_paths[:, snd.column][:, None]
            length = float(snd.length) * GRID
            step = step + snd.weight * _end_cost(start, here[:, None], grid[None, :], length)
            if c + 1 == n_columns:  # still ringing at the barline
                left = np.maximum(grid[None, :] - start, 1)
                over = np.minimum(np.abs(np.log(left / length)), SILENCE)
                step = step + snd.weight * np.where(grid[None, :] - start < length, over, 0.0)
        if c + 1 == n_columns:  # the barline sits at the bar's length
            step[:, :units] = np.inf
        keep = min(BEAM, step.shape[0])
        best = np.argpartition(step, keep - 1, axis=0)[:keep]  # (BEAM, next onset)
        order = np.take_along_axis(step, best, axis=0).argsort(axis=0)
        best = np.take_along_axis(best, order, axis=0)
        cost = np.take_along_axis(step, best, axis=0).T  # (next onset, BEAM)
        prev = flat_paths[best.T]  # (next onset, BEAM, c + 1)
        paths = np.concatenate(
            [prev, np.broadcast_to(grid[:, None, None], (n_state, BEAM, 1))], axis=2
        )
    onsets = paths[units, 0, :n_columns]
    if not np.isfinite(cost[units, 0]):  # cannot happen (the barline is always reachable)
        onsets = np.arange(n_columns) * (units // n_columns)
    return [Fraction(int(t), GRID) for t in onsets]
