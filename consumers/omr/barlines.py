"""Barlines oemer missed, found on the page's own ink.

oemer takes barlines from the network's stems/rests/barlines map, filtered by height; on a
degraded scan a faded or broken barline fails that filter, and the two bars either side of it
become one measure: every onset after it on the page shifts by a bar. A barline is easy to see
on the ink itself: a thin vertical line that covers every staff of a system, top line to
bottom line, at the same column. Stems never do (a stem spans at most one staff), so a column
that does, away from every barline oemer found and from the system's opening line, is a
barline it missed. A scan is rarely square: turned by a degree or two, a barline drifts by
several pixels between the top of a system and its bottom, so the line is followed along the
system's own lean, not down a single pixel column. The lean is measured on the barlines oemer
did find (after oemer's dewarp levels the staff lines of a turned page, its verticals still
lean: the staff lines no longer tell), else on the staff lines.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Final

import cv2
import numpy as np
from numpy.typing import NDArray

# Share of a staff's height (top line to bottom line) the line must cover, in every staff.
MIN_COVER: Final = 0.9
# Widest barline (a final thick one), in staff spaces.
MAX_WIDTH_SPACES: Final = 1.0
# No new barline within this many spaces of a known one, or of the system's left edge.
CLEARANCE_SPACES: Final = 1.5
# A line that a clef, an accidental or a notehead (at least this many square spaces: a head is
# about 1.3) reaches within this many spaces of, in every staff, is stems or clefs, not a
# barline: a stem touches its head, and a system's stems line up only staff by staff. A
# barline may have a head beside it in one staff (a crowded bar's first or last chord).
SYMBOL_PAD_SPACES: Final = 0.1
SYMBOL_AREA_SPACES: Final = 0.5
LEDGER_SPACES: Final = 3.0
# Steepest lean looked for, in pixels of x per pixel of y (a page turned by up to 2.5 degrees).
MAX_LEAN: Final = 0.045


def _staff_rows(st: Any) -> tuple[int, int, float]:
    lines = sorted(float(line.y_center) for line in st.lines)
    space = float(np.mean(np.diff(lines))) if len(lines) > 1 else 0.0
    return round(lines[0]), round(lines[-1]), space


def system_slope(members: list[Any]) -> float:
    """The system's tilt, dy/dx of its staff lines: fitted across oemer's strips of each staff
    (a strip is too short to measure it alone), the median over the staves."""
    by_track: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for st in members:
        lines = [float(line.y_center) for line in st.lines]
        by_track[int(st.track)].append(
            ((float(st.x_left) + float(st.x_right)) / 2, float(np.mean(lines)))
        )
    slopes = []
    for points in by_track.values():
        xs = np.array([p[0] for p in points])
        if len(points) < 2 or np.ptp(xs) <= 0:
            continue
        slopes.append(float(np.polyfit(xs, [p[1] for p in points], 1)[0]))
    return float(np.median(slopes)) if slopes else 0.0


def _sheared_cover(
    ink: NDArray[np.bool_], top: int, bottom: int, x_left: int, x_right: int, drift: float, y0: int
) -> NDArray[np.float64]:
    """Per column x of [x_left, x_right): the share of rows top..bottom inked along the line
    through (x, y0) that leans `drift` pixels of x per pixel of y."""
    rows = np.arange(top, bottom + 1)
    shift = np.rint(drift * (rows - y0)).astype(int)
    cols = np.arange(x_left, x_right)[None, :] + shift[:, None]
    inside = (cols >= 0) & (cols < ink.shape[1])
    hits = ink[rows[:, None], np.clip(cols, 0, ink.shape[1] - 1)] & inside
    return np.asarray(hits.mean(axis=0), dtype=np.float64)


def measured_lean(
    ink: NDArray[np.bool_], known: list[Any], rows: list[tuple[int, int]], top_row: int
) -> float | None:
    """The lean (x per y) of the system's known barlines: per barline, the middle of the
    leans that follow it best through every staff; the median over barlines that are real
    lines (cover every staff). None when none is."""
    height = max(b for _, b in rows) - top_row
    steps = int(np.ceil(MAX_LEAN * height))
    leans = [k / height for k in range(-steps, steps + 1)] if height > 0 else [0.0]
    found = []
    for bar in known:
        x1, x2 = int(bar.bbox[0]), int(bar.bbox[2]) + 1
        x1, x2 = max(0, x1 - steps), min(ink.shape[1], x2 + steps)
        if x2 <= x1:
            continue
        scores = np.array(
            [
                np.max(
                    np.min(
                        [_sheared_cover(ink, t, b, x1, x2, lean, top_row) for t, b in rows],
                        axis=0,
                    )
                )
                for lean in leans
            ]
        )
        if scores.max() >= MIN_COVER:
            found.append(float(np.mean(np.asarray(leans)[scores == scores.max()])))
    return float(np.median(found)) if found else None


def _touches_symbol(
    symbols: NDArray[np.bool_], top: int, bottom: int, x1: int, x2: int, pad: int, space: float
) -> bool:
    """Whether a symbol of at least `SYMBOL_AREA_SPACES` square spaces reaches within `pad`
    pixels of the columns x1..x2 between rows top..bottom."""
    reach = int(2 * space)
    xa = max(0, x1 - pad - reach)
    local = symbols[top : bottom + 1, xa : x2 + pad + reach].astype(np.uint8)
    if not local.any():
        return False
    _n, labels, stats, _c = cv2.connectedComponentsWithStats(local, connectivity=8)
    touching = np.unique(labels[:, max(0, x1 - pad - xa) : x2 + pad - xa])
    touching = touching[touching > 0]
    big = stats[touching, cv2.CC_STAT_AREA] >= SYMBOL_AREA_SPACES * space * space
    return bool(big.any())


def stems_or_clefs(
    symbols: NDArray[np.bool_],
    line: tuple[int, int, int, int],
    rows: list[tuple[int, int]],
    space: float,
    pad_spaces: float | None = None,
    every_staff: bool = True,
) -> bool:
    """Whether a symbol (`SYMBOL_AREA_SPACES` or more) reaches within `pad_spaces` (default
    `SYMBOL_PAD_SPACES`) of the line (x1, top, x2, bottom) in every staff of `rows` (each
    staff's top and bottom line; its heads may sit on ledger lines, up to `LEDGER_SPACES`
    beyond), or in any staff with `every_staff` False."""
    x1, _top, x2, _bottom = line
    pad = int((SYMBOL_PAD_SPACES if pad_spaces is None else pad_spaces) * space) + 1
    reach = LEDGER_SPACES * space
    touched = [
        _touches_symbol(symbols, max(0, int(a - reach)), int(b + reach), x1, x2, pad, space)
        for a, b in rows
    ]
    return all(touched) if every_staff else any(touched)


def systems_of(staffs: Any) -> dict[int, list[Any]]:
    """oemer's five-line `Staff`s (every strip of every staff) by system (oemer's group)."""
    systems: dict[int, list[Any]] = defaultdict(list)
    for st in np.asarray(staffs).reshape(-1):
        if st is not None and len(st.lines) == 5:
            systems[int(st.group)].append(st)
    return systems


def find_missing_barlines(
    barlines: list[Any],
    staffs: Any,
    no_lines: NDArray[np.bool_],
    symbols: NDArray[np.bool_],
    heads: NDArray[np.bool_],
) -> list[Any]:
    """New oemer `Barline`s for the barlines a system shows that oemer did not find.

    `no_lines`: the page's ink without the staff lines (`meter.without_staff_lines`).
    `symbols`: where the network sees clefs, keys, accidentals or noteheads (a G clef over an
    F clef covers both staves too); `heads`: noteheads. Nothing left of a system's first
    notehead counts (the opening clefs and signatures: a time signature covers every staff).
    """
    from oemer.symbol_extraction import Barline

    # columns widened by a pixel each way (a barline a little off vertical on a scan still
    # covers its column)
    no_lines = cv2.dilate(no_lines.astype(np.uint8), np.ones((1, 3), np.uint8)) > 0
    found: list[Any] = []
    for group, members in systems_of(staffs).items():
        # oemer cuts each staff into vertical strips (a Staff per strip and track); each strip
        # is checked with its own line positions, which follow a skewed or curved scan
        strips: dict[int, list[Any]] = defaultdict(list)
        for st in members:
            strips[int(st.x_left)].append(st)
        space = float(np.median([_staff_rows(st)[2] for st in members]))
        if space <= 0:
            continue
        cols: list[int] = []
        n_tracks = len({int(st.track) for st in members})
        top_row = min(_staff_rows(st)[0] for st in members)
        known_bars = [b for b in barlines if b.group == group]
        rows = sorted({_staff_rows(st)[:2] for st in members})
        # a line square to staff lines of slope s leans by -s in x per pixel of y; columns
        # are named by where the line crosses the system's top row
        lean = measured_lean(no_lines, known_bars, rows, top_row)
        drift = -system_slope(members) if lean is None else lean
        for x_left, tracks in strips.items():
            x_right = int(min(float(st.x_right) for st in tracks)) + 1
            if x_right <= x_left or len(tracks) != n_tracks:
                continue
            covered = np.ones(x_right - x_left, dtype=bool)
            for st in tracks:
                top, bottom, _ = _staff_rows(st)
                cover = _sheared_cover(no_lines, top, bottom, x_left, x_right, drift, top_row)
                covered &= cover >= MIN_COVER
            cols.extend(x_left + int(c) for c in np.flatnonzero(covered))
        if not cols:
            continue
        known = [(float(b.bbox[0]), float(b.bbox[2])) for b in known_bars]
        start = float(min(strips))
        known.append((start, start))  # the system's opening line
        bottom_row = max(_staff_rows(st)[1] for st in members)
        head_cols = np.flatnonzero(heads[top_row : bottom_row + 1].any(axis=0))
        first_head = float(head_cols[0]) if len(head_cols) else float("inf")
        known.append((start, first_head))
        clearance = CLEARANCE_SPACES * space
        arr = np.array(sorted(set(cols)))
        for run in np.split(arr, np.flatnonzero(np.diff(arr) > 1) + 1):
            x1, x2 = int(run[0]), int(run[-1]) + 1
            if x2 - x1 > MAX_WIDTH_SPACES * space:
                continue
            # the box of the leaning line, top row to bottom row
            lean = drift * (bottom_row - top_row)
            x1, x2 = int(np.floor(x1 + min(lean, 0.0))), int(np.ceil(x2 + max(lean, 0.0)))
            if any(a - clearance < x2 and x1 < b + clearance for a, b in known):
                continue
            if stems_or_clefs(symbols, (x1, top_row, x2, bottom_row), rows, space):
                continue  # a symbol at the line in every staff: stems or clefs
            bar = Barline()
            bar.bbox = (x1, top_row, x2, bottom_row)
            bar.group = group
            found.append(bar)
            known.append((float(x1), float(x2)))
    return found
