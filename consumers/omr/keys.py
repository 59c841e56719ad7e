"""Key signatures counted on the ink, one per system.

oemer counts a system's key from the accidentals the network marked between the clef and
the first note (`Measure.get_key`: the mean count over the staves). A sharp or flat the
network misses there drops the key by one, and every note of that letter in the system is a
semitone off: on the Chopin development page (four sharps) two of three systems read two
and three sharps. Here each staff's stretch after its opening clef is searched with the
accidental templates (`accidentals.templates`): the run of sharps or flats that follows the
clef is the key signature; a gap, the time signature or the first note ends it.
`oemer_rules` gives oemer's builder this count where it finds more glyphs of
oemer's sign than oemer did (`bench/omr_keys.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import cv2
import numpy as np
from numpy.typing import NDArray

from consumers.omr.accidentals import SCALE_U, templates

# The band read around a staff, in spaces beyond its outer lines (a sharp on the top line
# reaches 1.4 spaces above it).
BAND: Final = 2.0
# A key-signature glyph's width in spaces (one glyph found, the search moves on by this),
# the widest gap between two glyphs of one signature, a glyph's correlation and its lead
# over the other shape, and how far its ink may differ from the template's (e^0.7 = 2x).
GLYPH_WIDTH: Final = 0.8
GAP: Final = 0.8
MIN_SCORE: Final = 0.6
MARGIN: Final = 0.1
INK_RATIO: Final = 0.7
# The first glyph of a signature starts within this many spaces of the clef.
START: Final = 2.0
# A glyph ending within this many spaces of the end of the stretch (NOTE_ACCIDENTAL_ROOM
# before the first notehead) belongs to that note; a signature's last glyph stands a space
# or more before it.
HEAD_GAP: Final = 0.3
# A glyph with more than this share of its own ink above or below it, in its columns, is
# one of a time signature's stacked digits.
STACKED: Final = 0.5
# The stretch read ends this many spaces before the first notehead (the signature's last
# glyph can stand closer than a space to it); an accidental of the first note there is
# parted from the signature by more than GAP.
NOTE_ACCIDENTAL_ROOM: Final = 0.4
MAX_KEY: Final = 6  # oemer's Key goes to six sharps or flats


@dataclass
class _Profile:
    """Per column of a band: the best score of one shape, and where its template stood."""

    score: NDArray[np.float32]
    top: NDArray[np.int64]
    height: NDArray[np.int64]
    width: NDArray[np.int64]


def _profiles(band: NDArray[np.float32]) -> dict[str, _Profile]:
    """Per column of a normalised band, each shape's best correlation with a template whose
    left edge stands there (over every height and font), 0 where the window holds far more
    or less ink than the template (a normalised correlation is blind to how much ink)."""
    width = band.shape[1]
    out = {
        s: _Profile(
            np.zeros(width, np.float32),
            np.zeros(width, np.int64),
            np.zeros(width, np.int64),
            np.zeros(width, np.int64),
        )
        for s in ("FLAT", "SHARP")
    }
    cum = np.cumsum(np.pad(band, ((1, 0), (1, 0))), axis=0).cumsum(axis=1)
    for t in templates():
        if t.shape not in out:
            continue
        th, tw = t.scaled.shape
        if th > band.shape[0] or tw > width:
            continue
        res = np.nan_to_num(cv2.matchTemplate(band, t.scaled, cv2.TM_CCOEFF_NORMED), nan=0.0)
        ink = cum[th:, tw:] - cum[:-th, tw:] - cum[th:, :-tw] + cum[:-th, :-tw]
        ink = np.maximum(ink, 0.0)  # float sums can dip below 0 on empty stretches
        ok = np.abs(np.log((ink + 1e-6) / float(t.scaled.sum()))) <= INK_RATIO
        res = np.where(ok, res, 0.0)
        best, top = res.max(axis=0), res.argmax(axis=0)
        prof = out[t.shape]
        n = len(best)
        better = best > prof.score[:n]
        prof.score[:n][better] = best[better]
        prof.top[:n][better] = top[better]
        prof.height[:n][better] = th
        prof.width[:n][better] = tw
    return out


def _stacked(band: NDArray[np.float32], x: int, prof: _Profile) -> bool:
    """Whether the glyph matched at column x has ink of its size above or below it in its
    own columns: the two digits of a time signature stand one above the other; a key
    signature's glyphs stand side by side."""
    top, h, w = int(prof.top[x]), int(prof.height[x]), int(prof.width[x])
    cols = band[:, x : x + w]
    own = float(cols[top : top + h].sum())
    margin = SCALE_U // 3
    other = float(cols[: max(0, top - margin)].sum() + cols[top + h + margin :].sum())
    return own > 0 and other > STACKED * own


def read_staff_key(
    no_lines: NDArray[np.bool_], lines: list[float], x_from: int, x_to: int, space: float
) -> int | None:
    """The key (sharps > 0, flats < 0) printed between x_from and x_to on a staff whose line
    rows are `lines`; None when the stretch is too short to read.

    The stretch (staff lines removed) is resampled to SCALE_U pixels per space and searched
    with every flat and sharp template: glyphs of a key signature touch each other often
    enough that they cannot be read one piece of ink at a time. Left to right, a column
    where one shape scores MIN_SCORE and MARGIN ahead of the other is a glyph (its best
    column within a glyph's width); the run ends at the first gap wider than GAP spaces or
    at a glyph of the other shape."""
    h, w = no_lines.shape
    ya, yb = max(0, int(lines[0] - BAND * space)), min(h, int(lines[-1] + BAND * space) + 1)
    xa, xb = max(0, x_from), min(w, x_to)
    if xb - xa < space or yb <= ya:
        return None
    scale = SCALE_U / space
    size = (max(1, round((xb - xa) * scale)), max(1, round((yb - ya) * scale)))
    ink = no_lines[ya:yb, xa:xb].astype(np.float32)
    small = cv2.resize(ink, size, interpolation=cv2.INTER_AREA)
    band = np.asarray(cv2.GaussianBlur(small, (0, 0), 0.8), dtype=np.float32)
    prof = _profiles(band)
    flat, sharp = prof["FLAT"].score, prof["SHARP"].score
    glyph = round(GLYPH_WIDTH * SCALE_U)
    run: list[str] = []
    last = -1
    x = 0
    both = np.maximum(flat, sharp)
    while x < len(flat):
        if both[x] < MIN_SCORE:
            x += 1
            continue
        # the glyph is where the best score of the next glyph's width stands
        peak = x + int(np.argmax(both[x : x + glyph]))
        best = "SHARP" if sharp[peak] >= flat[peak] else "FLAT"
        if abs(float(sharp[peak] - flat[peak])) < MARGIN:
            x = peak + 1
            continue
        if not run and peak > START * SCALE_U:
            break  # a signature starts right after the clef: this is the first note's
        if run and (run[-1] != best or peak - last > GAP * SCALE_U + glyph):
            break
        if _stacked(band, peak, prof[best]):
            break  # the digits of a time signature
        if peak + int(prof[best].width[peak]) > len(flat) - HEAD_GAP * SCALE_U:
            break  # standing against the first note: that note's own accidental
        run.append(best)
        last = peak
        x = peak + glyph
    if len(run) > MAX_KEY:
        return None
    sign = 1 if run and run[0] == "SHARP" else -1
    return sign * len(run)


def _distance(segment: Any, x: float) -> float:
    """How far x lies outside a staff segment's columns (0 inside)."""
    return max(float(segment.x_left) - x, x - float(segment.x_right), 0.0)


def system_keys(
    staffs: Any, clefs: Iterable[Any], notes: Iterable[Any], no_lines: NDArray[np.bool_]
) -> dict[int, int]:
    """Per system (oemer's group), the key its staves agree on. A staff reads from its opening
    clef's right edge to just before its first notehead; staves that read different counts
    of the same sign give the larger (a missed glyph is likelier than an invented one)."""
    first_clef: dict[tuple[int, int], Any] = {}
    for c in clefs:
        key = (int(c.track), int(c.group))
        if key not in first_clef or c.bbox[0] < first_clef[key].bbox[0]:
            first_clef[key] = c
    first_head: dict[tuple[int, int], float] = {}
    for nt in notes:
        if getattr(nt, "invalid", False) or nt.track is None or nt.group is None:
            continue
        key = (int(nt.track), int(nt.group))
        first_head[key] = min(first_head.get(key, float("inf")), float(nt.bbox[0]))
    # oemer cuts every staff into segments across the page (one per zone): read each staff
    # once, on the segment where its clef ends
    segments: dict[tuple[int, int], Any] = {}
    for st in np.asarray(staffs).reshape(-1):
        key = (int(st.track), int(st.group))
        if key not in first_clef:
            continue
        edge = float(first_clef[key].bbox[2])
        if key not in segments or _distance(st, edge) < _distance(segments[key], edge):
            segments[key] = st
    readings: dict[int, list[int]] = {}
    for key, st in segments.items():
        lines = sorted(float(line.y_center) for line in st.lines)
        if len(lines) != 5 or key not in first_head:
            continue
        space = float(np.mean(np.diff(lines)))
        clef = first_clef[key]
        x_from = int(clef.bbox[2] + 0.2 * space)
        x_to = int(first_head[key] - NOTE_ACCIDENTAL_ROOM * space)
        got = read_staff_key(no_lines, lines, x_from, x_to, space)
        if got is not None:
            readings.setdefault(key[1], []).append(got)
    out: dict[int, int] = {}
    for group, values in readings.items():
        signs = {np.sign(v) for v in values if v != 0}
        if len(signs) > 1:
            continue
        out[group] = max(values, key=abs)
    return out
