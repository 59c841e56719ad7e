"""Sharp, flat or natural: each accidental oemer found, checked against verovio's glyphs.

oemer labels an accidental from a crop of the network's clefs/keys map with a small sklearn
model. On synthetic pages of the training pieces (`bench/omr_accidentals.py`: 30 pages, 649
real accidentals) it labels 74 % right: half the flats come out as naturals, and each wrong
one puts its note, and every later note on that staff position until the barline, a
semitone off. The
page's own ink is a better witness, as for clefs (`clefs.py`): the ink around oemer's box,
staff lines removed, cut to the glyph's extent and resampled to a template's size, is
correlated with the three glyphs verovio engraves in each training font (on a line and in a
space, staff lines removed the same way). A clear winner replaces oemer's label.

The same reading cuts a box oemer made over two stacked accidentals into one per glyph
(`split_accidentals`) and finds the accidentals oemer has no box for at all
(`find_missing_accidentals`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import cv2
import numpy as np
from numpy.typing import NDArray

from consumers.omr.tuplets import normalise, template_score

SHAPES: Final = ("FLAT", "SHARP", "NATURAL")  # oemer's SfnType names
_SMUFL: Final = {"FLAT": "E260", "NATURAL": "E261", "SHARP": "E262"}
# A reading must be this similar and this far ahead of the other two shapes: chosen on those
# synthetic pages (`bench/omr_accidentals.py --sweep`: right 74.0 % -> 95.2 %, 147 fixed,
# 9 broken), never on the held-out pages.
MIN_SCORE: Final = 0.5
MARGIN: Final = 0.10
# Rows of a normalised glyph (accidentals are narrow: their strokes need the room).
NORM_H: Final = 40
# Pixels per staff space of `AccidentalTemplate.scaled`.
SCALE_U: Final = 10
# The window searched for the glyph's ink around oemer's box, in staff spaces.
REACH_X: Final = 0.4
REACH_Y: Final = 1.5


@dataclass(frozen=True)
class AccidentalTemplate:
    shape: str
    font: str
    image: NDArray[np.float32]  # NORM_H rows
    height_spaces: float
    scaled: NDArray[np.float32]  # at SCALE_U pixels per staff space (for sliding searches)


def _mei() -> str:
    from consumers.omr.synth.render import mei_document

    notes = "".join(
        f'<note pname="{p}" oct="{o}" dur="4" accid="{a}"/>'
        for a in ("f", "s", "n")
        for p, o in (("b", 4), ("c", 5))  # on the middle line, in the third space
    )
    return mei_document(
        '<scoreDef meter.count="6" meter.unit="4"><staffGrp><staffDef n="1" lines="5" '
        'clef.shape="G" clef.line="2"/></staffGrp></scoreDef>',
        f'<measure n="1"><staff n="1"><layer n="1">{notes}</layer></staff></measure>',
    )


def glyph_crop(ink: NDArray[np.bool_]) -> NDArray[np.bool_] | None:
    """`ink` cut to the rows and columns that hold any."""
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if len(rows) < 2 or len(cols) < 2:
        return None
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def engraved_glyphs(
    mei: str, font: str, css_class: str, names: dict[str, str]
) -> tuple[list[tuple[str, NDArray[np.bool_]]], float]:
    """Each glyph of class `css_class` verovio engraves for `mei` in `font` whose SMuFL code
    is a key of `names`: (its name, its ink without staff lines cut to its extent), and the
    staff spacing in pixels ([] and 0 if nothing could be engraved)."""
    from consumers.omr.meter import find_staves, without_staff_lines
    from consumers.omr.synth import labels as lc
    from consumers.omr.synth import render

    opts = render.EngraveOptions(font=font, page_width=1800, page_height=400, header=False)
    pages = render.engrave(mei, opts)
    if not pages:
        return [], 0.0
    root = ET.fromstring(pages[0])
    width, height = render.target_size(*render.svg_size(root), pixels=2_000_000)
    drawn = render.leaves(root)
    lines = render.draw_only(root, drawn, lambda _el, c: c == lc.STAFF_LINE, width, height)
    staves = find_staves(lines.astype(np.uint8))
    if not staves:
        return [], 0.0
    out = []
    for g in root.iter(f"{{{render.SVG_NS}}}g"):
        if css_class not in g.attrib.get("class", "").split():
            continue
        refs = " ".join(el.attrib.get(f"{{{render.XLINK_NS}}}href", "") for el in g.iter())
        name = next((n for code, n in names.items() if code in refs), None)
        if name is None:
            continue
        members = {id(el) for el in g.iter()}

        def inside(el: ET.Element, _cls: int, members: set[int] = members) -> bool:
            return id(el) in members

        glyph = render.draw_only(root, drawn, inside, width, height)
        crop = glyph_crop(without_staff_lines(glyph, lines))
        if crop is not None:
            out.append((name, crop))
    return out, staves[0].space


def _templates_in(font: str) -> list[AccidentalTemplate]:
    names = {code: shape for shape, code in _SMUFL.items()}
    glyphs, space = engraved_glyphs(_mei(), font, "accid", names)
    out = []
    for shape, crop in glyphs:
        w = max(4, round(NORM_H * crop.shape[1] / crop.shape[0]))
        image = normalise(crop, w, NORM_H)
        size = (
            max(2, round(crop.shape[1] * SCALE_U / space)),
            round(crop.shape[0] * SCALE_U / space),
        )
        scaled = normalise(crop, size[0], size[1])
        out.append(AccidentalTemplate(shape, font, image, crop.shape[0] / space, scaled))
    return out


@lru_cache(maxsize=1)
def templates() -> tuple[AccidentalTemplate, ...]:
    """Flat, sharp and natural, on a line and in a space, in every training font (5 small
    pages, engraved once)."""
    from consumers.omr.synth.render import FONTS

    return tuple(t for font in FONTS for t in _templates_in(font))


def shape_scores(crop: NDArray[np.bool_], space: float) -> dict[str, float]:
    """Best correlation of a glyph crop with each shape's templates; a template whose height
    (in staff spaces) is far from the crop's counts nothing."""
    scores = dict.fromkeys(SHAPES, 0.0)
    height = crop.shape[0] / space
    for t in templates():
        if abs(np.log(height / t.height_spaces)) > 0.4:
            continue
        scores[t.shape] = max(scores[t.shape], template_score(crop, t.image))
    return scores


def ink_glyph(
    no_lines: NDArray[np.bool_],
    box: tuple[int, int, int, int],
    space: float,
    reach_x: float,
    reach_y: float,
) -> tuple[NDArray[np.bool_], int] | None:
    """The ink (staff lines removed) of the pieces that reach into `box` (x1, y1, x2, y2),
    within `reach_x` / `reach_y` staff spaces around it, cut to their extent; and its top
    row on the page. None where there is no such ink."""
    h, w = no_lines.shape
    x1, y1, x2, y2 = box
    xa, xb = max(0, int(x1 - reach_x * space)), min(w, int(x2 + reach_x * space) + 1)
    ya, yb = max(0, int(y1 - reach_y * space)), min(h, int(y2 + reach_y * space) + 1)
    window = no_lines[ya:yb, xa:xb]
    if window.size == 0 or not window.any():
        return None
    _count, labels, _stats = _pieces(window)
    core = labels[max(0, y1 - ya) : max(0, y2 - ya), max(0, x1 - xa) : max(0, x2 - xa)]
    keep = np.setdiff1d(np.unique(core), [0])
    if not len(keep):
        return None
    mask = np.isin(labels, keep) & (window > 0)
    crop = glyph_crop(mask)
    if crop is None:
        return None
    return crop, ya + int(np.flatnonzero(mask.any(axis=1))[0])


def read_accidental(
    no_lines: NDArray[np.bool_], box: tuple[int, int, int, int], space: float
) -> tuple[str | None, dict[str, float]]:
    """The shape of the accidental oemer boxed at `box` (x1, y1, x2, y2), or None if unclear.

    The glyph is the ink (staff lines removed) of the pieces that reach into the box, within
    a window a little larger than it (the network often marks only part of the glyph)."""
    found = ink_glyph(no_lines, box, space, REACH_X, REACH_Y)
    if found is None:
        return None, dict.fromkeys(SHAPES, 0.0)
    crop, _top = found
    scores = shape_scores(crop, space)
    best = max(scores, key=lambda s: scores[s])
    other = max(v for s, v in scores.items() if s != best)
    if scores[best] >= MIN_SCORE and scores[best] - other >= MARGIN:
        return best, scores
    return None, scores


def relabel_accidentals(
    sfns: list[Any], notes: list[Any], no_lines: NDArray[np.bool_], space: float
) -> int:
    """Check every accidental oemer found against the page's ink; where the ink clearly shows
    another shape, relabel it and the note it belongs to. Returns how many changed."""
    from oemer.symbol_extraction import SfnType

    changed = 0
    for sfn in sfns:
        x1, y1, x2, y2 = (int(v) for v in sfn.bbox)
        shape, _scores = read_accidental(no_lines, (x1, y1, x2, y2), space)
        if shape is None or sfn.label == SfnType[shape]:
            continue
        sfn.label = SfnType[shape]
        changed += 1
        if sfn.note_id is not None and not notes[sfn.note_id].invalid:
            notes[sfn.note_id].sfn = sfn.label
    return changed


# Accidentals oemer never boxed (`find_missing_accidentals`). A glyph the network did not
# vouch for must read more clearly than one it did: chosen on synthetic training-piece pages
# (`bench/omr_accidental_owners.py --find-sweep`), never on the held-out pages.
FIND_SCORE = 0.6
FIND_MARGIN = 0.15
# Size of an accidental's ink, in staff spaces (every training font, on a line or a space).
FIND_HEIGHT: Final = (1.5, 3.8)
FIND_WIDTH: Final = (0.45, 1.5)
# How far left of a notehead its accidental may stand (a chord's columns), in staff spaces.
FIND_REACH: Final = 3.5


def _taken(box: tuple[int, int, int, int], others: list[tuple[float, ...]], pad: float) -> bool:
    x1, y1, x2, y2 = box
    return any(
        x1 < b[2] + pad and b[0] - pad < x2 and y1 < b[3] + pad and b[1] - pad < y2 for b in others
    )


def find_missing_accidentals(
    sfns: list[Any],
    notes: list[Any],
    clefs: list[Any],
    ink: NDArray[np.bool_],
    space: float,
) -> list[Any]:
    """Accidentals on the page that oemer has no box for, as new oemer `Sfn`s (no note yet).

    oemer joins the network's accidental pieces that lie within 1.2 staff spaces of each
    other into one box: the accidentals a chord stacks above one another become one box,
    which is then too big for an accidental and taken for a clef (and dropped as no clef by
    `clefs.relabel_clefs`), and every note of the chord loses its sign. Each piece of ink
    (`ink`: staff lines and noteheads removed) of an accidental's size, standing left of a
    valid notehead and level with it, that overlaps no box oemer already has (accidental or
    clef) and clearly reads as a flat, sharp or natural, becomes one."""
    from oemer.utils import find_closest_staffs

    heads = [tuple(float(v) for v in n.bbox) for n in notes if not n.invalid]
    if not heads or space <= 0:
        return []
    boxes = [tuple(float(v) for v in s.bbox) for s in sfns]
    boxes += [tuple(float(v) for v in c.bbox) for c in clefs]
    count, labels, stats = _pieces(ink)
    head_arr = np.asarray(heads)
    hx1, hy = head_arr[:, 0], (head_arr[:, 1] + head_arr[:, 3]) / 2
    found: list[Any] = []
    candidates = [
        (piece, b)
        for piece in range(1, count)
        for b in _glyph_boxes(labels, stats, piece, ink, space)
    ]
    for k, box in candidates:
        x, y, w, h = box[0], box[1], box[2] - box[0], box[3] - box[1]
        # level with a head just right of it
        beside = (
            (hx1 >= x + w - 0.25 * space)
            & (hx1 <= x + w + FIND_REACH * space)
            & (hy >= y - 0.25 * space)
            & (hy <= y + h + 0.25 * space)
        )
        if not beside.any() or _taken(box, boxes, 0.1 * space):
            continue
        read = _read_piece(labels, ink, k, box, space)
        if read is None or read[1] < FIND_SCORE or read[2] < FIND_MARGIN:
            continue
        st, _ = find_closest_staffs(x + w / 2, y + h / 2)
        found.append(_new_sfn(box, read[0], st.track, st.group))
    return found


def _new_sfn(box: tuple[int, int, int, int], shape: str, track: Any, group: Any) -> Any:
    from oemer.symbol_extraction import Sfn, SfnType

    sfn = Sfn()
    sfn.bbox = box
    sfn.label = SfnType[shape]
    sfn.is_key = False
    sfn.track = track
    sfn.group = group
    return sfn


def _pieces(ink: NDArray[np.bool_]) -> tuple[int, NDArray[np.int32], NDArray[np.int32]]:
    # removing the staff lines cuts a glyph's strokes where they cross a line: pieces a few
    # rows apart are one glyph
    joined = cv2.dilate(ink.astype(np.uint8), np.ones((5, 1), np.uint8))
    count, labels, stats, _c = cv2.connectedComponentsWithStats(joined, connectivity=8)
    return count, np.asarray(labels, np.int32), np.asarray(stats, np.int32)


def _glyph_boxes(
    labels: NDArray[np.int32],
    stats: NDArray[np.int32],
    k: int,
    ink: NDArray[np.bool_],
    space: float,
) -> list[tuple[int, int, int, int]]:
    """The boxes of the accidentals piece `k` may hold: itself where it has an accidental's
    size; two, cut at its thinnest row, where it is as tall as two stacked ones (a chord's
    accidentals a sixth or more apart share a column and touch: a flat's stem reaches into
    the glyph above); none otherwise."""
    x, y, w, h = (int(v) for v in stats[k, :4])
    if not FIND_WIDTH[0] <= w / space <= FIND_WIDTH[1]:
        return []
    if FIND_HEIGHT[0] <= h / space <= FIND_HEIGHT[1]:
        return [(x, y, x + w, y + h)]
    if not FIND_HEIGHT[1] < h / space <= 2 * FIND_HEIGHT[1]:
        return []
    rows = ((labels[y : y + h, x : x + w] == k) & ink[y : y + h, x : x + w]).sum(axis=1)
    lo = int(FIND_HEIGHT[0] * space)
    if h - 2 * lo < 1:
        return []
    cut = lo + int(np.argmin(rows[lo : h - lo]))
    return [(x, y, x + w, y + cut), (x, y + cut, x + w, y + h)]


def _read_piece(
    labels: NDArray[np.int32],
    ink: NDArray[np.bool_],
    k: int,
    box: tuple[int, int, int, int],
    space: float,
) -> tuple[str, float, float] | None:
    x1, y1, x2, y2 = box
    crop = glyph_crop((labels[y1:y2, x1:x2] == k) & ink[y1:y2, x1:x2])
    if crop is None:
        return None
    scores = shape_scores(crop, space)
    best = max(scores, key=lambda s: scores[s])
    return best, scores[best], scores[best] - max(v for s, v in scores.items() if s != best)


def split_accidentals(sfns: list[Any], ink: NDArray[np.bool_], space: float) -> list[Any]:
    """oemer's accidentals with every box that holds two glyphs or more cut into one per
    glyph. oemer joins the network's pieces within 1.2 staff spaces into one box, so a
    chord's stacked accidentals (a sharp above a sharp, a natural beside a flat) come out as
    one accidental and all but one note of the chord lose their sign. A box is cut only where
    oemer found a note just right of it (a key signature's box stands clear of the notes,
    and oemer counts its glyphs its own way) and the ink (`ink`: staff lines and noteheads
    removed) inside it holds two or more pieces of an accidental's size that each read
    clearly (`MIN_SCORE`, `MARGIN`)."""
    if space <= 0:
        return list(sfns)
    _count, labels, stats = _pieces(ink)
    out: list[Any] = []
    for s in sfns:
        if s.note_id is None:
            out.append(s)
            continue
        x1, y1, x2, y2 = (int(v) for v in s.bbox)
        inside = np.setdiff1d(np.unique(labels[y1:y2, x1:x2]), [0])
        parts: list[Any] = []
        boxes = [(int(k), b) for k in inside for b in _glyph_boxes(labels, stats, k, ink, space)]
        for k, box in boxes:
            read = _read_piece(labels, ink, k, box, space)
            if read is None or read[1] < MIN_SCORE or read[2] < MARGIN:
                parts = []
                break
            parts.append(_new_sfn(box, read[0], s.track, s.group))
        out.extend(parts if len(parts) >= 2 else [s])
    return out
