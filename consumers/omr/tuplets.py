"""Tuplet marks: the small "3" printed over or under a group of notes (and the "6" of a
sextuplet, six notes in the time of four: each, like a triplet's, two thirds of its value).

oemer reads no tuplet numbers, so the three sixteenths of a sixteenth triplet come out as
three plain sixteenths (3/4 of a quarter where the bar has 1/2) and the rhythm solver has
no choice but to stretch or shift the notes around them: on the held-out Clara Schumann page
most of the onsets that stay wrong with the true maps are triplets. Guessing triplets from
the bar's arithmetic alone invents them on misread bars (it cost more than it won on the
held-out pages), so a triplet needs its printed evidence: this module finds the marks on the
page and `transform` gives the notes under each one two thirds of their value. A "6" is
found the same way, against the same thresholds, and stands for six note columns.

A mark is a connected piece of ink (staff lines removed) of a digit's size relative to the
staff spacing, which, resampled to a template's size, correlates with the tuplet "3" verovio
engraves in each training font clearly better than with the other tuplet digits. The
thresholds were chosen on synthetic pages of the training corpus (`bench/omr_tuplets.py`),
never on the held-out pages.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Final

import cv2
import numpy as np
from numpy.typing import NDArray

# Tuplet numbers verovio draws for these digits; "3" is what is looked for, the others are
# what a "3" must beat (a 5 or a 6 is another tuplet, and the 8 of an octave clef).
DIGITS: Final = (3, 2, 5, 6, 7, 8)
# Template size: rows of the normalised glyph.
NORM_H: Final = 24
# A mark's height in staff spaces (verovio's fonts span 1.3 to 1.9) and its width / height.
HEIGHT_SPACES: Final = (0.9, 2.4)
ASPECT: Final = (0.45, 1.15)
# Correlation with the best "3" template, and its lead over the best other digit.
MIN_SCORE: Final = 0.72
MARGIN: Final = 0.05
# A mark's group: three note columns of one staff in one bar with a head within GROUP_REACH
# head widths across and head heights up or down of the mark (a stem, the beams and the gap
# above them), the mark within MARK_OFF_CENTRE head widths of the midpoint of the outer two
# columns (verovio centres the number over the beam, which runs from stem to stem: on the
# synthetic pages of bench/omr_triplet_groups.py it is within 0.35 of it, while the middle
# column is up to 1.45 away), and the gaps to the columns either side within EVEN_SPACING of
# each other (2.8 at most on those pages).
GROUP_REACH: Final = (4.0, 9.0)
# Which side of a mark its notes are on: the side where other ink comes nearer (the beam
# the number is set against; the far side is the gap to the next staff), looked for up to
# SIDE_REACH staff spaces away over the mark's width and SIDE_MARGIN spaces either side.
SIDE_REACH: Final = 4.0
SIDE_MARGIN: Final = 0.5
MARK_OFF_CENTRE: Final = 0.6
EVEN_SPACING: Final = 3.0


# A triplet mark found on a page: its centre (x, y) and the side its notes are on
# (`group_side`: -1 above, 1 below, 0 either).
Mark = tuple[float, float, int]


@dataclass(frozen=True)
class DigitTemplate:
    digit: int
    font: str
    image: NDArray[np.float32]  # NORM_H rows, blurred ink
    height_spaces: float


def _mei(digit: int) -> str:
    from consumers.omr.synth.render import mei_document

    notes = "".join(f'<note pname="{p}" oct="5" dur="8"/>' for p in "cdefgabcdefg"[: max(digit, 2)])
    return mei_document(
        '<scoreDef meter.count="4" meter.unit="4"><staffGrp><staffDef n="1" lines="5" '
        'clef.shape="G" clef.line="2"/></staffGrp></scoreDef>',
        f'<measure n="1"><staff n="1"><layer n="1"><tuplet num="{digit}" numbase="2" '
        'num.visible="true" bracket.visible="false" num.place="above">'
        f"<beam>{notes}</beam></tuplet></layer></staff></measure>",
    )


def normalise(
    mask: NDArray[np.bool_] | NDArray[np.float32], width: int, height: int = NORM_H
) -> NDArray[np.float32]:
    """A glyph crop resampled to `height` rows and `width` columns, blurred a little."""
    out = cv2.resize(mask.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
    return np.asarray(cv2.GaussianBlur(out, (0, 0), 0.8), dtype=np.float32)


def _template(digit: int, font: str) -> DigitTemplate | None:
    from consumers.omr.meter import find_staves
    from consumers.omr.synth import labels as lc
    from consumers.omr.synth import render

    opts = render.EngraveOptions(font=font, page_width=1400, page_height=400, header=False)
    pages = render.engrave(_mei(digit), opts)
    if not pages:
        return None
    root = ET.fromstring(pages[0])
    width, height = render.target_size(*render.svg_size(root), pixels=600_000)
    drawn = render.leaves(root)
    lines = render.draw_only(root, drawn, lambda _el, c: c == lc.STAFF_LINE, width, height)
    staves = find_staves(lines.astype(np.uint8))
    in_num = render.class_members(root, "tupletNum")
    glyph = render.draw_only(root, drawn, lambda el, _c: id(el) in in_num, width, height)
    if not staves or not glyph.any():
        return None
    rows, cols = np.flatnonzero(glyph.any(axis=1)), np.flatnonzero(glyph.any(axis=0))
    crop = glyph[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    w = max(4, round(NORM_H * crop.shape[1] / crop.shape[0]))
    return DigitTemplate(digit, font, normalise(crop, w), crop.shape[0] / staves[0].space)


@lru_cache(maxsize=1)
def templates() -> tuple[DigitTemplate, ...]:
    """Each digit's tuplet number in every training font (30 small pages, once)."""
    from consumers.omr.synth.render import FONTS

    out = (_template(d, f) for d in DIGITS for f in FONTS)
    return tuple(t for t in out if t is not None)


def template_score(crop: NDArray[np.bool_], image: NDArray[np.float32]) -> float:
    """Best correlation of a glyph crop, resampled to a normalised template's size, with the
    template within two pixels either way (0 when undefined)."""
    cand = np.pad(normalise(crop, image.shape[1], image.shape[0]), 2)
    res = cv2.matchTemplate(cand, image, cv2.TM_CCOEFF_NORMED)
    best = float(np.nanmax(res)) if res.size else 0.0
    return best if np.isfinite(best) else 0.0


def digit_scores(crop: NDArray[np.bool_]) -> dict[int, float]:
    """Best correlation of a glyph crop with each digit's templates (any font)."""
    scores = dict.fromkeys(DIGITS, 0.0)
    for t in templates():
        scores[t.digit] = max(scores[t.digit], template_score(crop, t.image))
    return scores


def group_side(ink: NDArray[np.bool_], box: tuple[int, int, int, int], space: float) -> int:
    """Where a mark's notes are: -1 above it, 1 below, 0 undecided. `ink`: the page's ink
    without staff lines and without the mark; `box`: the mark's (x, y, w, h) in pixels."""
    x, y, w, h = box
    pad, reach = round(SIDE_MARGIN * space), round(SIDE_REACH * space)
    cols = ink[:, max(0, x - pad) : x + w + pad]
    above = cols[max(0, y - reach) : y][::-1].sum(axis=1)
    below = cols[y + h : y + h + reach].sum(axis=1)

    def first(rows: NDArray[np.integer]) -> float:
        hit = np.flatnonzero(rows >= 2)
        return float(hit[0]) if hit.size else float(reach)

    up, down = first(above), first(below)
    return -1 if up < down else 1 if down < up else 0


def find_tuplet_marks(
    no_lines: NDArray[np.bool_],
    space: float,
    not_marks: NDArray[np.bool_] | None = None,
    digits: tuple[int, ...] = (3,),
    min_score: float = MIN_SCORE,
    margin: float = MARGIN,
) -> list[tuple[float, float, float, float, int, int]]:
    """Centres (x, y, in pixels) of the tuplet numbers among `digits` printed on a page, with
    their score, their lead over the best other digit, the side their notes are on
    (`group_side`) and the digit.

    `no_lines`: the page's ink without its staff lines; `space`: the staff spacing in pixels;
    `not_marks`: pixels that belong to something known (noteheads): a piece of ink mostly on
    them is no digit."""
    if space <= 0:
        return []
    n, labels, stats, _ = cv2.connectedComponentsWithStats(
        no_lines.astype(np.uint8), connectivity=8
    )
    out: list[tuple[float, float, float, float, int, int]] = []
    lo, hi = HEIGHT_SPACES[0] * space, HEIGHT_SPACES[1] * space
    for k in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[k])
        if not lo <= h <= hi or not ASPECT[0] <= w / h <= ASPECT[1]:
            continue
        crop = labels[y : y + h, x : x + w] == k
        if area < 0.15 * w * h:  # a stroke or an outline, not a digit's ink
            continue
        if not_marks is not None and not_marks[y : y + h, x : x + w][crop].mean() > 0.3:
            continue
        scores = digit_scores(crop)
        for digit in digits:
            other = max(v for d, v in scores.items() if d != digit)
            if scores[digit] >= min_score and scores[digit] - other >= margin:
                side = group_side(no_lines & (labels != k), (x, y, w, h), space)
                out.append(
                    (x + w / 2, y + h / 2, scores[digit], scores[digit] - other, side, digit)
                )
    return out


def find_triplet_marks(
    no_lines: NDArray[np.bool_],
    space: float,
    not_marks: NDArray[np.bool_] | None = None,
    min_score: float = MIN_SCORE,
    margin: float = MARGIN,
) -> list[tuple[float, float, float, float, int]]:
    """The "3"s of `find_tuplet_marks`: centre, score, lead and side."""
    found = find_tuplet_marks(no_lines, space, not_marks, (3,), min_score, margin)
    return [(x, y, score, lead, side) for x, y, score, lead, side, _d in found]


@dataclass(frozen=True)
class Head:
    """What `triplet_groups` needs of a notehead: its box (any unit, page axes), which staff
    of which bar it is in, and the value read."""

    x: float
    y: float
    w: float
    h: float
    where: tuple[int, int]  # (bar, staff)
    value: Fraction


def _columns(heads: list[tuple[int, Head]], reach: float) -> list[list[tuple[int, Head]]]:
    order = sorted(heads, key=lambda ih: ih[1].x)
    cols: list[list[tuple[int, Head]]] = []
    for ih in order:
        if cols and ih[1].x - cols[-1][-1][1].x <= reach:
            cols[-1].append(ih)
        else:
            cols.append([ih])
    return cols


def triplet_groups(
    marks: Sequence[Mark], heads: list[Head], size: int = 3
) -> list[tuple[list[int], Fraction]]:
    """The heads (indices) each triplet mark stands for, and the value they were printed with
    (`group_value`): three note columns of one staff in one bar, evenly spaced, centred under
    (or over) the mark, the mark beyond their heads. The staves near the mark are tried
    nearest first, past a group another mark has taken (a mark under a stem-down group can
    stand nearer the next staff's heads). When groups fit on both sides of the mark, the
    side its ink says (a mark is (x, y, side), side as `group_side` tells, 0 for either) is
    kept: between a right hand's stem-down triplet and the left hand's chords the nearer heads
    are often the wrong ones. A mark that fits no group (a triplet holding a rest or a longer
    note) is left out: a wrong triplet costs as much as a missed one."""
    if not heads:
        return []
    hw = float(np.median([h.w for h in heads]))
    hh = float(np.median([h.h for h in heads]))
    if hw <= 0 or hh <= 0:
        return []
    taken: set[int] = set()
    out: list[tuple[list[int], Fraction]] = []
    for mx, my, side in marks:
        near = sorted(
            (float(np.hypot((h.x - mx) / hw, (h.y - my) / hh)), i)
            for i, h in enumerate(heads)
            if abs(h.x - mx) <= GROUP_REACH[0] * hw and abs(h.y - my) <= GROUP_REACH[1] * hh
        )
        offers = []
        for where in dict.fromkeys(heads[i].where for _d, i in near):
            staff = [(i, h) for i, h in enumerate(heads) if h.where == where]
            found = _group_at(mx, my, staff, hw, size)
            if found is not None and not taken.intersection(found[0]):
                below = heads[found[0][0]].y > my
                offers.append((found, 1 if below else -1))
        if side and len({s for _f, s in offers}) == 2:
            offers = [(f, s) for f, s in offers if s == side]
        if offers:
            (ids, value), _side = offers[0]
            taken.update(ids)
            out.append((ids, value))
    return out


def _group_at(
    mx: float, my: float, staff_heads: list[tuple[int, Head]], hw: float, size: int = 3
) -> tuple[list[int], Fraction] | None:
    """The group of `size` note columns of one staff's bar a mark at (mx, my) stands for, if
    any."""
    cols = _columns(staff_heads, 0.8 * hw)
    centres = [float(np.mean([h.x for _i, h in col])) for col in cols]
    best: tuple[float, int] | None = None
    for c in range(len(cols) - size + 1):
        span = centres[c : c + size]
        off = abs((span[0] + span[-1]) / 2 - mx)
        gaps = np.diff(span)
        if off > MARK_OFF_CENTRE * hw or gaps.max() > EVEN_SPACING * gaps.min():
            continue
        if best is None or off < best[0]:
            best = (off, c)
    if best is None:
        return None
    _off, c = best
    value = group_value(cols[c : c + size])
    if value is None:
        return None
    group = [h for col in cols[c : c + size] for _i, h in col]
    top, bottom = min(h.y - h.h / 2 for h in group), max(h.y + h.h / 2 for h in group)
    if top <= my <= bottom:
        return None  # a mark stands beyond the beam, not among the heads
    return sorted(i for col in cols[c : c + size] for i, _h in col), value


def group_value(cols: list[list[tuple[int, Head]]]) -> Fraction | None:
    """The value the notes of a tuplet group were printed with: the one read in more than
    half of its columns (oemer misreads a beamed note's value now and then, and the group's
    notes share one), at most an eighth (a beamed group); None if the columns disagree."""
    per_col = [Counter(h.value for _i, h in col).most_common(1)[0][0] for col in cols]
    value, count = Counter(per_col).most_common(1)[0]
    if 2 * count <= len(cols) or value > Fraction(1, 2):
        return None
    return value
