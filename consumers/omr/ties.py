"""Ties read on the page's ink: which note holds on into the next one.

oemer reads no ties. A tied note is still a note of its bar (the evaluation counts it, a
MIDI player holds it), but across a barline it carries its accidental with it: a held F
sharp tied into the next bar is an F sharp there with no sign printed, and oemer, starting
the bar afresh, reads F natural. A tie is a thin arc from one head to the next head of the
same staff position: one piece of thin ink (staff lines and heads removed, stems and
barlines it crosses left out) spanning the gap between the two heads, its ends level with
them.
"""

from __future__ import annotations

import itertools
from typing import Any, Final

import cv2
import numpy as np
from numpy.typing import NDArray

# All in staff spaces. The arc stays within REACH of the heads' centre line, is at most
# THICK thick in any column and starts and ends within END of its heads' centres.
REACH: Final = 1.6
THICK: Final = 0.45
END: Final = 0.7
# A stroke taller than this in the band (a barline, a stem) is crossed, not followed.
STROKE: Final = 1.2
# The gap between the two heads, and how much of it the arc must cover.
MIN_GAP: Final = 0.8
MAX_GAP: Final = 16.0
COVER: Final = 0.85


def tied(
    ink: NDArray[np.bool_],
    a: tuple[float, float, float, float],
    b: tuple[float, float, float, float],
    space: float,
) -> bool:
    """Whether a tie joins the head boxed `a` (x1, y1, x2, y2) to the head boxed `b`, right
    of it at the same height, on `ink` (staff lines and noteheads removed)."""
    h, w = ink.shape
    ya, yb = (a[1] + a[3]) / 2, (b[1] + b[3]) / 2
    x0, x1 = int(a[2] + 0.15 * space), int(b[0] - 0.15 * space)
    if not MIN_GAP * space <= x1 - x0 <= MAX_GAP * space or x0 < 0 or x1 > w:
        return False
    top = max(0, int(min(ya, yb) - REACH * space))
    bottom = min(h, int(max(ya, yb) + REACH * space) + 1)
    band = ink[top:bottom, x0:x1].astype(np.uint8)
    if band.size == 0:
        return False
    # leave out what crosses the band from top to bottom: barlines, stems
    strokes = band.sum(axis=0) > STROKE * space
    band[:, strokes] = 0
    # a crossed stroke cuts the arc: bridge gaps of a few columns
    width = max(3, int(0.3 * space))
    bridged = cv2.dilate(band, np.ones((1, width), np.uint8))
    count, labels, stats, _c = cv2.connectedComponentsWithStats(bridged, connectivity=8)
    for k in range(1, count):
        cw = int(stats[k, 2])
        if cw < COVER * (x1 - x0):
            continue
        arc = (labels == k) & (band > 0)
        cols = np.flatnonzero(arc.any(axis=0))
        if len(cols) < 2:
            continue
        thickness = arc[:, cols].sum(axis=0)
        if float(np.median(thickness)) > THICK * space:
            continue
        rows = np.arange(band.shape[0])[:, None] + top
        centre = (rows * arc).sum(axis=0)[cols] / np.maximum(thickness, 1)
        n_end = max(1, len(cols) // 10)
        if abs(float(np.mean(centre[:n_end])) - ya) > END * space:
            continue
        if abs(float(np.mean(centre[-n_end:])) - yb) > END * space:
            continue
        return True
    return False


def tied_pairs(notes: list[Any], ink: NDArray[np.bool_], space: float) -> list[tuple[int, int]]:
    """(i, j) for each valid oemer note i tied to note j: the next head to its right of the
    same staff, system and staff position (oemer's `staff_line_pos`)."""
    heads = [
        (i, n)
        for i, n in enumerate(notes)
        if not n.invalid
        and n.staff_line_pos is not None
        and n.track is not None
        and n.group is not None
    ]
    by_line: dict[tuple[int, int, int], list[tuple[int, Any]]] = {}
    for i, n in heads:
        key = (int(n.group), int(n.track), int(n.staff_line_pos))
        by_line.setdefault(key, []).append((i, n))
    pairs = []
    for line in by_line.values():
        line.sort(key=lambda item: float(item[1].bbox[0]))
        for (i, a), (j, b) in itertools.pairwise(line):
            ax1, ay1, ax2, ay2 = (float(v) for v in a.bbox)
            bx1, by1, bx2, by2 = (float(v) for v in b.bbox)
            if bx1 <= ax2:
                continue  # heads side by side or overlapping: no room for a tie
            if tied(ink, (ax1, ay1, ax2, ay2), (bx1, by1, bx2, by2), space):
                pairs.append((i, j))
    return pairs
