"""Read the time signature printed at the start of the first system.

oemer reads no time signature, and the bar length is what rhythm repair fits every bar to: a
3/4 piece repaired as 4/4 has every onset after bar 1 wrong. The signature sits in a fixed
place: on each staff of the first system, after the clef and the key signature, before the
first note. This module finds that place on the page and compares what is printed there with
the time signatures verovio engraves in each of the SMuFL fonts Étude trains on.

1. The page is levelled: the staff map's row profile is sharpest at the scan's skew angle.
2. Staves are found from the levelled staff map (five lines at an even spacing ``u``).
3. Along each staff of the first system, the ink in the staff band (staff lines and specks
   removed) is cut into column segments; the first is the clef, and every segment after it
   up to the first one the network calls notehead/stem is a candidate (key accidentals score
   low against every signature).
4. Each candidate is normalised to the staff spacing and correlated with every template
   (stacked digits or the common/cut C); a staff's best is kept if it is clearly a time
   signature, and the staves of the system must agree on the bar length.

Pure functions of arrays (no I/O); templates are engraved once per process (``templates``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any, Final

import cv2
import numpy as np
from numpy.typing import NDArray

# Normalised geometry: staff spacing NORM_U pixels, band = staff +- one space (6 spaces).
NORM_U: Final = 10
BAND_SPACES: Final = 1.0
# The signatures a template is engraved for: (count, unit) or a symbol.
METERS: Final[tuple[tuple[int, int] | str, ...]] = (
    (2, 2),
    (3, 2),
    (4, 2),
    (2, 4),
    (3, 4),
    (4, 4),
    (5, 4),
    (6, 4),
    (3, 8),
    (4, 8),
    (6, 8),
    (9, 8),
    (12, 8),
    (6, 16),
    "common",
    "cut",
)
# A staff reads a signature only this similar to its best template (zero-mean correlation of
# blurred masks within +-2 px, up to 1), ahead by MARGIN of any signature of another bar length.
MIN_SCORE: Final = 0.7
MARGIN: Final = 0.03


@dataclass(frozen=True)
class Meter:
    count: int
    unit: int
    symbol: str | None = None  # "common" or "cut" when printed as a C
    score: float = 1.0

    @property
    def bar_length(self) -> Fraction:
        """Quarters per bar."""
        return Fraction(4 * self.count, self.unit)

    def __str__(self) -> str:
        return self.symbol or f"{self.count}/{self.unit}"


def meter_of(spec: tuple[int, int] | str, score: float = 1.0) -> Meter:
    if spec == "common":
        return Meter(4, 4, "common", score)
    if spec == "cut":
        return Meter(2, 2, "cut", score)
    assert isinstance(spec, tuple)
    return Meter(spec[0], spec[1], None, score)


@dataclass(frozen=True)
class Template:
    spec: tuple[int, int] | str
    font: str
    mask: NDArray[np.float32]  # normalised band (6 * NORM_U rows), blurred


# ---------------------------------------------------------------------------------------------
# Geometry


def skew_angle(staff: NDArray[np.uint8], max_deg: float = 3.0, step: float = 0.25) -> float:
    """Degrees to rotate the page by (cv2 convention) so its staff lines are level."""
    small = cv2.resize(staff.astype(np.float32), None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    h, w = small.shape
    best, best_angle = -1.0, 0.0
    for angle in np.arange(-max_deg, max_deg + 1e-9, step):
        rot = cv2.getRotationMatrix2D((w / 2, h / 2), float(angle), 1.0)
        prof = cv2.warpAffine(small, rot, (w, h), flags=cv2.INTER_NEAREST).sum(axis=1)
        sharp = float((prof.astype(np.float64) ** 2).sum())
        if sharp > best:
            best, best_angle = sharp, float(angle)
    return best_angle


def rotate(a: NDArray[np.uint8], angle: float, fill: int) -> NDArray[np.uint8]:
    if abs(angle) < 1e-6:
        return a
    h, w = a.shape
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    return np.asarray(
        cv2.warpAffine(a, rot, (w, h), flags=cv2.INTER_NEAREST, borderValue=fill), np.uint8
    )


@dataclass(frozen=True)
class Staff:
    lines: tuple[float, ...]  # five row centres, top to bottom
    x0: int  # first column of the staff lines
    x1: int

    @property
    def space(self) -> float:
        return (self.lines[-1] - self.lines[0]) / 4


def find_staves(staff: NDArray[np.uint8]) -> list[Staff]:
    """Five-line staves of a levelled staff map, top to bottom."""
    prof = staff.sum(axis=1).astype(np.float64)
    if prof.max() <= 0:
        return []
    rows = np.flatnonzero(prof > 0.35 * np.percentile(prof[prof > 0], 99))
    if len(rows) == 0:
        return []
    # adjacent rows form one line; its centre is the profile-weighted mean
    lines: list[float] = []
    start = prev = int(rows[0])
    for r in [*rows[1:].tolist(), -10]:
        if r != prev + 1:
            seg = np.arange(start, prev + 1)
            lines.append(float((seg * prof[seg]).sum() / prof[seg].sum()))
            start = r
        prev = r
    staves: list[Staff] = []
    i = 0
    while i + 4 < len(lines):
        group = lines[i : i + 5]
        gaps = np.diff(group)
        if gaps.min() > 3 and gaps.max() < 1.35 * gaps.min():
            top, bottom = round(group[0]), round(group[-1])
            cols = staff[max(0, top - 1) : bottom + 2].sum(axis=0) >= 3
            xs = np.flatnonzero(cols)
            if len(xs):
                staves.append(Staff(tuple(group), int(xs[0]), int(xs[-1])))
                i += 5
                continue
        i += 1
    return staves


# ---------------------------------------------------------------------------------------------
# Normalisation and comparison


def without_staff_lines(
    ink: NDArray[np.bool_], staff_lines: NDArray[np.bool_] | NDArray[np.integer[Any]]
) -> NDArray[np.bool_]:
    """The ink with the staff lines (widened by a row each way) taken out."""
    lines = cv2.dilate(staff_lines.astype(np.uint8), np.ones((3, 1), np.uint8)) > 0
    return np.asarray(ink & ~lines, dtype=bool)


def resample_band(mask: NDArray[np.bool_], top_line: float, space: float) -> NDArray[np.float32]:
    """A band (rows = staff +- BAND_SPACES, all columns) at NORM_U rows per space, blurred."""
    h = round((4 + 2 * BAND_SPACES) * NORM_U)
    y0 = top_line - BAND_SPACES * space
    scale = NORM_U / space
    width = max(1, round(mask.shape[1] * scale))
    # resample rows so that y0 maps to row 0 and one space to NORM_U rows
    m = np.array([[scale, 0, 0], [0, scale, -y0 * scale]], dtype=np.float32)
    out = cv2.warpAffine(mask.astype(np.float32), m, (width, h), flags=cv2.INTER_AREA)
    return np.asarray(cv2.GaussianBlur(out, (0, 0), 1.2), dtype=np.float32)


def normalise(mask: NDArray[np.bool_], top_line: float, space: float) -> NDArray[np.float32]:
    """A band crop (rows = staff +- one space, columns = the symbol's extent) at NORM_U."""
    cols = np.flatnonzero(mask.any(axis=0))
    if len(cols) == 0:
        return np.zeros((round((4 + 2 * BAND_SPACES) * NORM_U), 1), dtype=np.float32)
    return resample_band(mask[:, cols[0] : cols[-1] + 1], top_line, space)


def similarity(a: NDArray[np.float32], b: NDArray[np.float32], shift: int = 2) -> float:
    """Best zero-mean normalised correlation of candidate `a` and template `b` within +-shift
    pixels (the normalised staff is placed to a pixel or two); 0 when widths differ by far."""
    wa, wb = a.shape[1], b.shape[1]
    if max(wa, wb) > 1.8 * min(wa, wb):
        return 0.0
    w = max(wa, wb) + 2 * shift
    left = (w - wa) // 2
    padded = np.pad(a, ((shift, shift), (left, w - wa - left)))
    res = cv2.matchTemplate(padded, b, cv2.TM_CCOEFF_NORMED)
    best = float(np.nanmax(res)) if res.size else 0.0
    return best if np.isfinite(best) else 0.0


# ---------------------------------------------------------------------------------------------
# Templates: each signature engraved by verovio in each font


def _mei(spec: tuple[int, int] | str) -> str:
    if isinstance(spec, str):
        meter = f'meter.sym="{spec}"'
    else:
        meter = f'meter.count="{spec[0]}" meter.unit="{spec[1]}"'

    from consumers.omr.synth.render import mei_document

    return mei_document(
        f'<scoreDef {meter}><staffGrp><staffDef n="1" lines="5" clef.shape="G" clef.line="2"/>'
        "</staffGrp></scoreDef>",
        '<measure n="1"><staff n="1"><layer n="1"><mRest/></layer></staff></measure>',
    )


def _template(spec: tuple[int, int] | str, font: str) -> Template | None:
    from consumers.omr.synth import labels as lc
    from consumers.omr.synth import render

    opts = render.EngraveOptions(font=font, page_width=1000, page_height=400, header=False)
    pages = render.engrave(_mei(spec), opts)
    if not pages:
        return None
    root = ET.fromstring(pages[0])
    width, height = render.target_size(*render.svg_size(root), pixels=400_000)
    drawn = render.leaves(root)
    in_sig = render.class_members(root, "meterSig")
    lines = render.draw_only(root, drawn, lambda _el, c: c == lc.STAFF_LINE, width, height)
    staves = find_staves(lines.astype(np.uint8))
    sig = render.draw_only(root, drawn, lambda el, _c: id(el) in in_sig, width, height)
    if not staves or not sig.any():
        return None
    st = staves[0]
    return Template(spec, font, normalise(sig, st.lines[0], st.space))


@lru_cache(maxsize=1)
def templates() -> tuple[Template, ...]:
    """Every signature in every training font (engraved on first use: 80 small pages, a few
    seconds, which the OMR stage spends at start-up in recognize.warm_up)."""
    from consumers.omr.synth.render import FONTS

    out = [t for font in FONTS for spec in METERS if (t := _template(spec, font)) is not None]
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True)
class Segment:
    x0: int
    x1: int
    mask: NDArray[np.bool_]  # band rows, this segment's columns only (others cleared)
    head_stem: float  # share of its ink the network calls notehead or stem/rest/barline


def _segments(
    ink: NDArray[np.bool_], heads_stems: NDArray[np.bool_], space: float
) -> list[Segment]:
    cols = ink.sum(axis=0) >= 2
    gap = max(2, round(0.25 * space))
    out: list[Segment] = []
    x = 0
    n = len(cols)
    while x < n:
        if not cols[x]:
            x += 1
            continue
        start, empty = x, 0
        while x < n and empty < gap:
            empty = 0 if cols[x] else empty + 1
            x += 1
        end = x - empty
        m = np.zeros_like(ink)
        m[:, start:end] = ink[:, start:end]
        total = max(1, int(m.sum()))
        out.append(Segment(start, end, m, float((m & heads_stems).sum()) / total))
    return out


def _despeckle(mask: NDArray[np.bool_], min_area: int) -> NDArray[np.bool_]:
    """Drop specks (scanner noise, dust) that would join neighbouring symbols' columns."""
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, dtype=bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    return np.asarray(keep[lab], dtype=bool)


def read_staff(
    staff: Staff,
    ink: NDArray[np.bool_],
    staff_lines: NDArray[np.bool_],
    heads_stems: NDArray[np.bool_],
) -> dict[tuple[int, int] | str, float]:
    """Best template score per signature for the symbols after this staff's clef."""
    u = staff.space
    y0 = max(0, round(staff.lines[0] - BAND_SPACES * u))
    y1 = round(staff.lines[-1] + BAND_SPACES * u) + 1
    x0, x1 = staff.x0, min(staff.x1, staff.x0 + round(30 * u))
    band = without_staff_lines(ink[y0:y1, x0:x1], staff_lines[y0:y1, x0:x1])
    band = _despeckle(band, min_area=max(4, round(0.1 * u * u)))
    segs = _segments(band, heads_stems[y0:y1, x0:x1], u)
    # the system's opening barline is a thin full-height stroke at the very start
    segs = [s for s in segs if not (s.x1 - s.x0 < 0.6 * u and s.x0 < u)]
    scores: dict[tuple[int, int] | str, float] = {}
    if len(segs) < 2:
        return scores
    top = staff.lines[0] - y0
    for seg in segs[1:8]:  # segs[0] is the clef
        if seg.head_stem > 0.5:
            break  # the first note: the signature, if any, came before
        if seg.x1 - seg.x0 > 4 * u:
            continue
        crop = normalise(seg.mask, top, u)
        for t in templates():
            s = similarity(crop, t.mask)
            if s > scores.get(t.spec, 0.0):
                scores[t.spec] = s
    return scores


def read_meter(
    staff_map: NDArray[np.uint8],
    heads_stems: NDArray[np.uint8],
    ink: NDArray[np.bool_],
    staves: int = 2,
) -> Meter | None:
    """The time signature of the page's first system, or None when none is read clearly.

    All arrays share one size (oemer's working size); `ink` is the page's dark pixels."""
    angle = skew_angle(staff_map)
    sm = rotate(staff_map, angle, 0)
    found = find_staves(sm)
    if not found:
        return None
    ink_r = rotate(ink.astype(np.uint8), angle, 0) > 0
    hs = rotate(heads_stems, angle, 0) > 0
    votes: list[Meter] = []
    for st in found[:staves]:
        # a second staff counts only as the first one's partner in the same system
        if st is not found[0] and st.lines[0] - found[0].lines[-1] > 12 * found[0].space:
            break
        meter = decide(read_staff(st, ink_r, sm > 0, hs))
        if meter is not None:  # a staff read unclearly (a wide clef, a crowded band) abstains
            votes.append(meter)
    if not votes or len({m.bar_length for m in votes}) > 1:
        return None
    return max(votes, key=lambda m: m.score)


def decide(scores: dict[tuple[int, int] | str, float]) -> Meter | None:
    """The best signature of one staff, if it is similar enough and clearly ahead."""
    if not scores:
        return None
    ranked = sorted(((s, spec) for spec, s in scores.items()), key=lambda r: -r[0])
    best_score, best = ranked[0]
    # Common and cut time, or 3/4 and 6/8, may look alike at scan resolution; what rhythm
    # repair needs is the bar length, so only a rival of another bar length must be beaten.
    bar = meter_of(best).bar_length
    runner = max((s for s, spec in ranked[1:] if meter_of(spec).bar_length != bar), default=0.0)
    if best_score < MIN_SCORE or best_score - runner < MARGIN:
        return None
    return meter_of(best, best_score)
