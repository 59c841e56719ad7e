"""Barlines oemer missed, found on the page's own ink.

oemer takes barlines from the network's stems/rests/barlines map, filtered by height; on a
degraded scan a faded or broken barline fails that filter, and the two bars either side of it
become one measure: every onset after it on the page shifts by a bar. A barline is easy to see
on the ink itself: a thin vertical line that covers every staff of a system, top line to
bottom line, at the same column. Stems never do (a stem spans at most one staff), so a column
that does, away from every barline oemer found and from the system's opening line, is a
barline it missed.
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


def _staff_rows(st: Any) -> tuple[int, int, float]:
    lines = sorted(float(line.y_center) for line in st.lines)
    space = float(np.mean(np.diff(lines))) if len(lines) > 1 else 0.0
    return round(lines[0]), round(lines[-1]), space


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
    systems: dict[int, list[Any]] = defaultdict(list)
    for st in np.asarray(staffs).reshape(-1):
        if st is not None and len(st.lines) == 5:
            systems[int(st.group)].append(st)
    found: list[Any] = []
    for group, members in systems.items():
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
        for x_left, tracks in strips.items():
            x_right = int(min(float(st.x_right) for st in tracks)) + 1
            if x_right <= x_left or len(tracks) != n_tracks:
                continue
            covered = np.ones(x_right - x_left, dtype=bool)
            for st in tracks:
                top, bottom, _ = _staff_rows(st)
                band = no_lines[top : bottom + 1, x_left:x_right]
                covered &= band.mean(axis=0) >= MIN_COVER
            cols.extend(x_left + int(c) for c in np.flatnonzero(covered))
        if not cols:
            continue
        known = [(float(b.bbox[0]), float(b.bbox[2])) for b in barlines if b.group == group]
        start = float(min(strips))
        known.append((start, start))  # the system's opening line
        top_row = min(_staff_rows(st)[0] for st in members)
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
            if any(a - clearance < x2 and x1 < b + clearance for a, b in known):
                continue
            pad = int(0.5 * space) + 1
            if symbols[top_row : bottom_row + 1, max(0, x1 - pad) : x2 + pad].any():
                continue  # a clef, an accidental or a notehead there: not a barline
            bar = Barline()
            bar.bbox = (x1, top_row, x2, bottom_row)
            bar.group = group
            found.append(bar)
            known.append((float(x1), float(x2)))
    return found
