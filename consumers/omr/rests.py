"""What each rest oemer found is worth, read from its glyph on the page.

oemer boxes rests on the network's stems/rests map and labels each from a crop of that map
with a small sklearn model. A rest's value moves every later onset of its voice: a quarter
rest read as a whole rest, or eighth rests read as sixteenths, leave the bar's notes where
the rhythm solver cannot put them back. The page's ink is a better witness (as for clefs and
accidentals): the ink around oemer's box, staff lines removed, cut to the glyph's extent and
resampled to a template's size, is correlated with the rests verovio engraves in each
training font. A clear winner replaces oemer's label. The whole and the half rest are the
same block: a block that hangs from a staff line is a whole rest, one that sits on a line a
half rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import cv2
import numpy as np
from numpy.typing import NDArray

from consumers.omr.accidentals import engraved_glyphs, ink_glyph
from consumers.omr.tuplets import normalise, template_score

# oemer's RestType names; BLOCK is the whole/half rest until the staff lines decide
SHAPES: Final = ("BLOCK", "QUARTER", "EIGHTH", "SIXTEENTH", "THIRTY_SECOND")
_SMUFL: Final = {
    "E4E3": "BLOCK",
    "E4E4": "BLOCK",
    "E4E5": "QUARTER",
    "E4E6": "EIGHTH",
    "E4E7": "SIXTEENTH",
    "E4E8": "THIRTY_SECOND",
}
_DURATIONS: Final = (1, 2, 4, 8, 16, 32)  # MEI @dur of the rests engraved as templates
# A reading must be this similar and this far ahead of every other shape (chosen on synthetic
# training-piece pages: bench/omr_rests.py --sweep).
MIN_SCORE: Final = 0.3
MARGIN: Final = 0.05
NORM_H: Final = 40
# The window searched for the glyph's ink around oemer's box, in staff spaces.
REACH_X: Final = 0.4
REACH_Y: Final = 1.0
# A block's edge within this many staff spaces of a line hangs from it or sits on it.
LINE_TOUCH: Final = 0.3


@dataclass(frozen=True)
class RestTemplate:
    shape: str
    font: str
    image: NDArray[np.float32]  # NORM_H rows
    height_spaces: float


def _mei() -> str:
    from consumers.omr.synth.render import mei_document

    rests = "".join(f'<rest dur="{d}"/>' for d in _DURATIONS)
    return mei_document(
        '<scoreDef meter.count="8" meter.unit="4"><staffGrp><staffDef n="1" lines="5" '
        'clef.shape="G" clef.line="2"/></staffGrp></scoreDef>',
        f'<measure n="1"><staff n="1"><layer n="1">{rests}</layer></staff></measure>',
    )


def _templates_in(font: str) -> list[RestTemplate]:
    glyphs, space = engraved_glyphs(_mei(), font, "rest", dict(_SMUFL))
    out = []
    for shape, crop in glyphs:
        w = max(4, round(NORM_H * crop.shape[1] / crop.shape[0]))
        out.append(RestTemplate(shape, font, normalise(crop, w, NORM_H), crop.shape[0] / space))
    return out


@lru_cache(maxsize=1)
def templates() -> tuple[RestTemplate, ...]:
    """The rests from a whole to a 32nd in every training font (5 small pages, engraved
    once)."""
    from consumers.omr.synth.render import FONTS

    return tuple(t for font in FONTS for t in _templates_in(font))


def shape_scores(crop: NDArray[np.bool_], space: float) -> dict[str, float]:
    """Best correlation of a glyph crop with each shape's templates; a template whose height
    (in staff spaces) is far from the crop's counts nothing (a block and a stroke of ink
    correlate alike once resampled)."""
    scores = dict.fromkeys(SHAPES, 0.0)
    height = crop.shape[0] / space
    for t in templates():
        if abs(np.log(height / t.height_spaces)) > 0.4:
            continue
        scores[t.shape] = max(scores[t.shape], template_score(crop, t.image))
    return scores


def _glyph(
    no_lines: NDArray[np.bool_], box: tuple[int, int, int, int], space: float
) -> tuple[NDArray[np.bool_], int] | None:
    """The ink of the pieces that reach into `box`, cut to their extent, and its top row."""
    return ink_glyph(no_lines, box, space, REACH_X, REACH_Y)


def block_value(top: float, bottom: float, lines: list[float], space: float) -> str | None:
    """WHOLE for a block hanging from a staff line, HALF for one sitting on a line."""
    if not lines:
        return None
    hangs = min(abs(top - y) for y in lines)
    sits = min(abs(bottom - y) for y in lines)
    if min(hangs, sits) > LINE_TOUCH * space or abs(hangs - sits) < 0.1 * space:
        return None
    return "WHOLE" if hangs < sits else "HALF"


def read_rest(
    no_lines: NDArray[np.bool_],
    box: tuple[int, int, int, int],
    space: float,
    lines: list[float],
    min_score: float = MIN_SCORE,
    margin: float = MARGIN,
) -> tuple[str | None, dict[str, float]]:
    """oemer's RestType name for the rest boxed at `box` (x1, y1, x2, y2), or None if the ink
    is unclear. `lines`: the rows of the nearest staff's lines."""
    found = _glyph(no_lines, box, space)
    if found is None:
        return None, dict.fromkeys(SHAPES, 0.0)
    crop, top = found
    scores = shape_scores(crop, space)
    best = max(scores, key=lambda s: scores[s])
    other = max(v for s, v in scores.items() if s != best)
    if scores[best] < min_score or scores[best] - other < margin:
        return None, scores
    if best == "BLOCK":
        # a block the lines do not place is still no quarter or eighth: oemer's own block
        # (written as a half rest)
        return block_value(top, top + crop.shape[0], lines, space) or "WHOLE_HALF", scores
    return best, scores


# A repeat sign's dots: two round dots, one above the other in the two middle spaces. oemer
# boxes the dots after a start-repeat barline as a rest (a block, a quarter), which then opens
# the bar and pushes its notes late. In staff spaces; set on the repeat signs of the
# development pages (Clara Schumann op. 1/2) and verovio's engravings of rests in five fonts,
# none of which is two loose dots (a sixteenth rest's are joined by its stroke, and slant).
DOT_SIZE: Final = (0.25, 0.8)
DOT_FILL: Final = 0.55
DOT_APART: Final = (0.7, 1.3)
DOT_SLANT: Final = 0.25


def is_repeat_dots(
    no_lines: NDArray[np.bool_], box: tuple[int, int, int, int], space: float
) -> bool:
    """Whether the ink boxed as a rest at `box` (x1, y1, x2, y2) is a repeat sign's two dots:
    every piece reaching into the box is a solid dot of a dot's size, and one of them has a
    partner dot about a space above or below it (the box may hold one dot only)."""
    h, w = no_lines.shape
    x1, y1, x2, y2 = box
    pad_x, pad_y = round(0.5 * space), round(1.5 * space)
    xa, xb = max(0, x1 - pad_x), min(w, x2 + pad_x + 1)
    ya, yb = max(0, y1 - pad_y), min(h, y2 + pad_y + 1)
    window = no_lines[ya:yb, xa:xb].astype(np.uint8)
    if window.size == 0 or not window.any():
        return False
    n, labels, stats, centres = cv2.connectedComponentsWithStats(window, connectivity=8)
    core = labels[max(0, y1 - ya) : max(0, y2 - ya) + 1, max(0, x1 - xa) : max(0, x2 - xa) + 1]
    lo, hi = DOT_SIZE[0] * space, DOT_SIZE[1] * space

    def ignored(k: int) -> bool:
        # the repeat sign's own barlines (oemer's box often takes in the thin one) and specks
        # the staff-line removal leaves
        _x, _y, bw, bh, area = (int(v) for v in stats[k])
        return (bh >= 2.5 * space and bw <= 2 * space) or area < (0.2 * space) ** 2

    touching = [int(k) for k in np.unique(core) if k != 0 and not ignored(int(k))]

    def dot(k: int) -> bool:
        x, y, bw, bh, area = (int(v) for v in stats[k])
        inside = x > 0 and y > 0 and x + bw < window.shape[1] and y + bh < window.shape[0]
        return inside and lo <= bw <= hi and lo <= bh <= hi and area >= DOT_FILL * bw * bh

    if not touching or len(touching) > 2 or not all(dot(k) for k in touching):
        return False
    dots = [k for k in range(1, n) if dot(k)]
    for a in touching:
        for b in dots:
            dx, dy = np.abs(centres[a] - centres[b]) / space
            if b != a and dx <= DOT_SLANT and DOT_APART[0] <= dy <= DOT_APART[1]:
                return True
    return False


def without_repeat_dots(found: list[Any], no_lines: NDArray[np.bool_], space: float) -> list[Any]:
    """The rests oemer found, less those whose ink is a repeat sign's dots."""
    kept = []
    for rest in found:
        x1, y1, x2, y2 = (int(v) for v in rest.bbox)
        if not is_repeat_dots(no_lines, (x1, y1, x2, y2), space):
            kept.append(rest)
    return kept


def relabel_rests(found: list[Any], no_lines: NDArray[np.bool_], space: float) -> int:
    """Check every rest oemer found against the page's ink; where the ink clearly shows
    another value, relabel it. Returns how many changed."""
    from oemer.symbol_extraction import RestType
    from oemer.utils import find_closest_staffs

    changed = 0
    for rest in found:
        x1, y1, x2, y2 = (int(v) for v in rest.bbox)
        staff, _ = find_closest_staffs((x1 + x2) / 2, (y1 + y2) / 2)
        lines = [float(line.y_center) for line in staff.lines]
        value, _scores = read_rest(no_lines, (x1, y1, x2, y2), space, lines)
        if value is None or rest.label == RestType[value]:
            continue
        rest.label = RestType[value]
        changed += 1
    return changed
