"""A turned page turned back before oemer reads it.

oemer straightens a page by dewarping: each staff line is tracked and moved to a level row,
column by column. On a scan that is simply turned by a degree or two that is both the wrong
model and fragile: the lines come out level but every vertical (barlines, stems) still leans,
and where a line breaks up under chords and accidentals the tracking shifts a line onto its
neighbour, so the staff no longer shows five lines and oemer drops it with all its notes. A
turn is one number: the angle that makes the staff-line rows sharpest. Turning the maps and
the image back by it levels the lines and stands the verticals up; oemer's dewarp is left for
what a turn does not explain (a curled page).
"""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np
from numpy.typing import NDArray

# Widest turn looked for, and the step of the search, in degrees.
MAX_DEGREES: Final = 3.0
STEP_DEGREES: Final = 0.05


def skew_degrees(staff: NDArray[np.integer] | NDArray[np.bool_]) -> float:
    """The angle (degrees, counter-clockwise as cv2 turns) that levels the staff lines.

    Each angle's row profile is taken along lines of that slope; level staff lines pile up in
    a few rows, so the sharpest profile (largest sum of squares) wins."""
    ys, xs = np.nonzero(staff)
    if len(ys) == 0:
        return 0.0
    if len(ys) > 400_000:  # a sample is as sharp and keeps the search cheap
        pick = np.random.default_rng(0).choice(len(ys), 400_000, replace=False)
        ys, xs = ys[pick], xs[pick]
    xs_c = xs.astype(np.float64) - staff.shape[1] / 2
    height = staff.shape[0]
    pad = int(np.ceil(np.tan(np.radians(MAX_DEGREES)) * staff.shape[1] / 2)) + 1
    best, best_score = 0.0, -1.0
    for deg in np.arange(-MAX_DEGREES, MAX_DEGREES + STEP_DEGREES / 2, STEP_DEGREES):
        rows = np.rint(ys - xs_c * np.tan(np.radians(deg))).astype(np.int64) + pad
        prof = np.bincount(rows, minlength=height + 2 * pad).astype(np.float64)
        score = float(np.dot(prof, prof))
        if score > best_score:
            best, best_score = float(deg), score
    # a line of slope tan(a), y pointing down, is levelled by turning the page by +a
    return round(best, 2)


def turn(image: NDArray[np.uint8], degrees: float, *, nearest: bool) -> NDArray[np.uint8]:
    """The image turned about its centre, same size; what comes in at the edges is blank."""
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    flags = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    border = 0 if nearest else 255
    fill = border if image.ndim == 2 else (border,) * image.shape[2]
    out = cv2.warpAffine(
        image, m, (w, h), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=fill
    )
    return np.asarray(out, dtype=np.uint8)
