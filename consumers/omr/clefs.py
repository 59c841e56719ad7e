"""Treble or bass: each clef oemer found, checked against the clefs verovio engraves.

oemer classifies a clef from a crop of the clefs/keys map with a small sklearn model; when
the network's map holds only part of the glyph, a bass clef comes out as a treble clef (or
back), and every note of that staff until the next clef is a sixth and an octave off (the
largest single source of wrong pitches on the held-out pages). The page's own ink is a better
witness: the clef's columns, staff lines removed, normalised to the staff spacing like the
time-signature reader does (`meter.normalise`), are correlated with the G and F clefs of each
training font. A clear winner (similar enough, and ahead of the other shape by a margin)
replaces oemer's label; otherwise oemer's stands.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import cv2
import numpy as np
from numpy.typing import NDArray

from consumers.omr.meter import BAND_SPACES, find_staves, normalise, similarity

SHAPES: Final = ("G", "F")  # oemer's ClefType knows these two
MIN_SCORE: Final = 0.5
MARGIN: Final = 0.05


@dataclass(frozen=True)
class ClefTemplate:
    shape: str
    font: str
    image: NDArray[np.float32]


def _mei(shape: str) -> str:
    line = {"G": 2, "F": 4}[shape]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<mei xmlns="http://www.music-encoding.org/ns/mei" meiversion="5.0"><meiHead>'
        "<fileDesc><titleStmt><title/></titleStmt><pubStmt/></fileDesc></meiHead>"
        '<music><body><mdiv><score><scoreDef><staffGrp><staffDef n="1" lines="5" '
        f'clef.shape="{shape}" clef.line="{line}"/></staffGrp></scoreDef><section>'
        '<measure n="1"><staff n="1"><layer n="1"><mRest/></layer></staff></measure>'
        "</section></score></mdiv></body></music></mei>"
    )


def _template(shape: str, font: str) -> ClefTemplate | None:
    from consumers.omr.synth import labels as lc
    from consumers.omr.synth import render

    opts = render.EngraveOptions(font=font, page_width=1000, page_height=400, header=False)
    pages = render.engrave(_mei(shape), opts)
    if not pages:
        return None
    root = ET.fromstring(pages[0])
    width, height = render.target_size(*render.svg_size(root), pixels=400_000)
    drawn = render.leaves(root)
    in_clef = {
        id(el)
        for g in root.iter(f"{{{render.SVG_NS}}}g")
        if "clef" in g.attrib.get("class", "").split()
        for el in g.iter()
    }
    lines = render.draw_only(root, drawn, lambda _el, c: c == lc.STAFF_LINE, width, height)
    staves = find_staves(lines.astype(np.uint8))
    glyph = render.draw_only(root, drawn, lambda el, _c: id(el) in in_clef, width, height)
    if not staves or not glyph.any():
        return None
    st = staves[0]
    return ClefTemplate(shape, font, normalise(glyph, st.lines[0], st.space))


@lru_cache(maxsize=1)
def templates() -> tuple[ClefTemplate, ...]:
    """Both clefs in every training font (10 small pages, engraved once at start-up)."""
    from consumers.omr.synth.render import FONTS

    return tuple(t for font in FONTS for s in SHAPES if (t := _template(s, font)) is not None)


def read_clef(
    glyph: NDArray[np.bool_], top_line: float, space: float
) -> tuple[str | None, dict[str, float]]:
    """The clef shape a band crop (staff lines removed) shows, or None when unclear."""
    cand = normalise(glyph, top_line, space)
    scores = {s: 0.0 for s in SHAPES}
    for t in templates():
        scores[t.shape] = max(scores[t.shape], similarity(cand, t.image))
    best = max(scores, key=lambda s: scores[s])
    other = max(v for s, v in scores.items() if s != best)
    if scores[best] >= MIN_SCORE and scores[best] - other >= MARGIN:
        return best, scores
    return None, scores


def relabel_clefs(clefs: list[Any], ink: NDArray[np.bool_], staff: NDArray[np.uint8]) -> int:
    """Check every oemer clef against the page; returns how many labels changed."""
    from oemer.symbol_extraction import ClefType
    from oemer.utils import find_closest_staffs

    no_lines = ink & ~(cv2.dilate(staff.astype(np.uint8), np.ones((3, 1), np.uint8)) > 0)
    h, w = ink.shape
    changed = 0
    for clef in clefs:
        x1, y1, x2, y2 = (int(v) for v in clef.bbox)
        st, _ = find_closest_staffs((x1 + x2) / 2, (y1 + y2) / 2)
        lines = sorted(float(line.y_center) for line in st.lines)
        if len(lines) != 5:
            continue
        space = float(np.mean(np.diff(lines)))
        ya = max(0, int(lines[0] - (BAND_SPACES + 1) * space))
        yb = min(h, int(lines[-1] + (BAND_SPACES + 1) * space) + 1)
        xa, xb = max(0, x1 - 1), min(w, x2 + 2)
        if xb - xa < 2 or yb - ya < 2:
            continue
        shape, _ = read_clef(no_lines[ya:yb, xa:xb], lines[0] - ya, space)
        label = {"G": ClefType.G_CLEF, "F": ClefType.F_CLEF}.get(shape or "")
        if label is not None and label != clef.label:
            clef.label = label
            changed += 1
    return changed
