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

from consumers.omr.meter import (
    BAND_SPACES,
    NORM_U,
    find_staves,
    normalise,
    resample_band,
    similarity,
)

SHAPES: Final = ("G", "F")  # oemer's ClefType knows these two
MIN_SCORE: Final = 0.5
MARGIN: Final = 0.05
# A clef found by scanning a staff (none was found there) must be at least this similar;
# chosen on the development pieces (0.8 to 0.9 scored the same there, 0.7 worse).
DETECT_SCORE: Final = 0.85
# ... and hold about as much ink as the template (within a factor of e^0.7 = 2).
INK_RATIO: Final = 0.7
# A clef oemer found after a staff's first one that scores below this against both shapes is
# not a clef. On the development pieces every real clef scored 0.88 or more, every false one
# (key-signature sharps read as a bass clef) 0.51 or less.
CLEF_SCORE: Final = 0.7


@dataclass(frozen=True)
class ClefTemplate:
    shape: str
    font: str
    image: NDArray[np.float32]
    change: bool = False  # the smaller glyph of a clef change


def _mei(shape: str) -> str:
    """A staff opening with clef `shape` that changes to the other clef and back."""
    line = {"G": 2, "F": 4}[shape]
    other, other_line = ("F", 4) if shape == "G" else ("G", 2)
    from consumers.omr.synth.render import mei_document

    return mei_document(
        f'<scoreDef><staffGrp><staffDef n="1" lines="5" clef.shape="{shape}" '
        f'clef.line="{line}"/></staffGrp></scoreDef>',
        '<measure n="1"><staff n="1"><layer n="1"><note pname="c" oct="4" dur="4"/>'
        f'<clef shape="{other}" line="{other_line}"/><note pname="c" oct="4" dur="4"/>'
        f'<clef shape="{shape}" line="{line}"/><note pname="c" oct="4" dur="2"/></layer>'
        "</staff></measure>",
    )


def _templates_in(shape: str, font: str) -> list[ClefTemplate]:
    """The opening clef (full size) and the two clef changes (smaller) of `_mei(shape)`."""
    from consumers.omr.synth import labels as lc
    from consumers.omr.synth import render

    opts = render.EngraveOptions(font=font, page_width=1000, page_height=400, header=False)
    pages = render.engrave(_mei(shape), opts)
    if not pages:
        return []
    root = ET.fromstring(pages[0])
    width, height = render.target_size(*render.svg_size(root), pixels=400_000)
    drawn = render.leaves(root)
    lines = render.draw_only(root, drawn, lambda _el, c: c == lc.STAFF_LINE, width, height)
    staves = find_staves(lines.astype(np.uint8))
    if not staves:
        return []
    st = staves[0]
    groups = [
        g for g in root.iter(f"{{{render.SVG_NS}}}g") if "clef" in g.attrib.get("class", "").split()
    ]
    other = "F" if shape == "G" else "G"
    roles = ((shape, False), (other, True), (shape, True))
    out = []
    for g, (sh, change) in zip(groups, roles, strict=False):
        members = {id(el) for el in g.iter()}

        def inside(el: ET.Element, _cls: int, members: set[int] = members) -> bool:
            return id(el) in members

        glyph = render.draw_only(root, drawn, inside, width, height)
        if glyph.any():
            out.append(ClefTemplate(sh, font, normalise(glyph, st.lines[0], st.space), change))
    return out


@lru_cache(maxsize=1)
def templates() -> tuple[ClefTemplate, ...]:
    """Both clefs, at full size and as clef changes, in every training font (10 small pages,
    engraved once at start-up)."""
    from consumers.omr.synth.render import FONTS

    return tuple(t for font in FONTS for s in SHAPES for t in _templates_in(s, font))


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


def _staff_band(st: Any, height: int) -> tuple[list[float], float, int, int] | None:
    """An oemer staff's line rows, its spacing and the page rows of its band (staff +- one
    space more than the templates' band); None unless it has five lines."""
    lines = sorted(float(line.y_center) for line in st.lines)
    if len(lines) != 5:
        return None
    space = float(np.mean(np.diff(lines)))
    ya = max(0, int(lines[0] - (BAND_SPACES + 1) * space))
    yb = min(height, int(lines[-1] + (BAND_SPACES + 1) * space) + 1)
    return lines, space, ya, yb


def relabel_clefs(clefs: list[Any], no_lines: NDArray[np.bool_]) -> list[Any]:
    """Check every oemer clef against the page (`no_lines`: its ink without the staff lines,
    `meter.without_staff_lines`): relabelled where the ink clearly shows the other shape, and
    left out where a clef after the staff's first one looks like neither (oemer reads the
    sharps of a key signature as a bass clef, which then rules the staff). Returns the clefs
    kept."""
    from oemer.symbol_extraction import ClefType
    from oemer.utils import find_closest_staffs

    h, w = no_lines.shape
    first: dict[tuple[Any, Any], float] = {}
    for clef in clefs:
        key = (clef.track, clef.group)
        first[key] = min(first.get(key, float("inf")), float(clef.bbox[0]))
    kept: list[Any] = []
    for clef in clefs:
        kept.append(clef)
        x1, y1, x2, y2 = (int(v) for v in clef.bbox)
        st, _ = find_closest_staffs((x1 + x2) / 2, (y1 + y2) / 2)
        rows = _staff_band(st, h)
        if rows is None:
            continue
        lines, space, ya, yb = rows
        xa, xb = max(0, x1 - 1), min(w, x2 + 2)
        if xb - xa < 2 or yb - ya < 2:
            continue
        shape, scores = read_clef(no_lines[ya:yb, xa:xb], lines[0] - ya, space)
        if (
            max(scores.values()) < CLEF_SCORE
            and float(clef.bbox[0]) > first[(clef.track, clef.group)]
        ):
            kept.pop()
            continue
        label = {"G": ClefType.G_CLEF, "F": ClefType.F_CLEF}.get(shape or "")
        if label is not None and label != clef.label:
            clef.label = label
    return kept


def find_missing_clefs(clefs: list[Any], staffs: Any, no_lines: NDArray[np.bool_]) -> list[Any]:
    """Clefs on the page that oemer did not find (mostly clef changes inside a system, whose
    smaller glyph the network marks only in part): every staff is scanned with the clef
    templates and a clear, strong match away from every clef already known becomes a new
    oemer `Clef`."""
    from oemer.symbol_extraction import Clef, ClefType

    h, w = no_lines.shape
    found: list[Any] = []
    for st in np.asarray(staffs).reshape(-1):
        rows = _staff_band(st, h)
        if rows is None:
            continue
        lines, space, ya, yb = rows
        xa, xb = max(0, int(st.x_left)), min(w, int(st.x_right) + 1)
        if xb - xa < 4 * space:
            continue
        band = resample_band(no_lines[ya:yb, xa:xb], lines[0] - ya, space)
        scale = NORM_U / space
        # a normalised correlation is blind to how much ink there is: a near-empty window
        # (staff-line remnants) can match any shape; a clef brings its own ink
        cum = np.concatenate([[0.0], np.cumsum(band.sum(axis=0))])
        best: dict[str, NDArray[np.float32]] = {}
        widths: dict[str, int] = {}
        for t in templates():
            if t.image.shape[1] >= band.shape[1]:
                continue
            res = cv2.matchTemplate(band, t.image, cv2.TM_CCOEFF_NORMED)[0]
            res = np.nan_to_num(res, nan=0.0)
            tw = t.image.shape[1]
            ink_here = cum[tw : tw + len(res)] - cum[: len(res)]
            res = np.where(np.abs(np.log((ink_here + 1e-6) / t.image.sum())) <= INK_RATIO, res, 0)
            pad = np.zeros(band.shape[1], dtype=np.float32)
            pad[: len(res)] = res
            best[t.shape] = np.maximum(best.get(t.shape, pad), pad)
            widths[t.shape] = max(widths.get(t.shape, 0), t.image.shape[1])
        if len(best) < len(SHAPES):
            continue
        known = [
            (float(c.bbox[0]), float(c.bbox[2]))
            for c in [*clefs, *found]
            if c.track == st.track and c.group == st.group
        ]
        for shape in SHAPES:
            score = best[shape]
            other = np.max([best[s] for s in SHAPES if s != shape], axis=0)
            tw = widths[shape]
            x = 0
            while x < len(score):
                window = score[x : x + tw]
                k = x + int(np.argmax(window))
                if score[k] >= DETECT_SCORE and score[k] - other[k] >= MARGIN:
                    x1 = xa + k / scale
                    x2 = x1 + tw / scale
                    near = any(a - space < x2 and x1 < b + space for a, b in known)
                    if not near:
                        clef = Clef()
                        clef.bbox = (int(x1), ya, int(x2), yb)
                        clef.track, clef.group = st.track, st.group
                        clef.label = ClefType.G_CLEF if shape == "G" else ClefType.F_CLEF
                        found.append(clef)
                        known.append((x1, x2))
                    x = k + tw
                else:
                    x += tw
    return found
