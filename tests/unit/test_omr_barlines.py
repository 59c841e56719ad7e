"""Barlines oemer missed are found on the ink: a thin line through every staff of a system."""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from consumers.omr.barlines import find_missing_barlines
from consumers.omr.meter import find_staves, without_staff_lines
from consumers.omr.recognize import ink_mask
from consumers.omr.synth import labels as lc
from consumers.omr.synth import render


def _grand_staff() -> str:
    notes = "".join(f'<note pname="{p}" oct="4" dur="4"/>' for p in "cdef")
    bass = "".join(f'<note pname="{p}" oct="3" dur="4"/>' for p in "cgec")
    measures = "".join(
        f'<measure n="{i}"><staff n="1"><layer n="1">{notes}</layer></staff>'
        f'<staff n="2"><layer n="1">{bass}</layer></staff></measure>'
        for i in range(1, 4)
    )
    return render.mei_document(
        '<scoreDef meter.count="4" meter.unit="4"><staffGrp symbol="brace" bar.thru="true">'
        '<staffDef n="1" lines="5" clef.shape="G" clef.line="2"/>'
        '<staffDef n="2" lines="5" clef.shape="F" clef.line="4"/></staffGrp></scoreDef>',
        measures,
    )


def _level_system() -> tuple[
    list[Any], NDArray[np.bool_], NDArray[np.bool_], NDArray[np.uint8], float
]:
    """The engraved grand staff as the finder gets it: oemer-like staffs (one per staff,
    group 0), the ink without staff lines, the symbols (noteheads, clefs/keys/accidentals),
    the seg_net label and the staff space."""
    svg = render.engrave(_grand_staff(), render.EngraveOptions(font="Leipzig", scale=90))[0]
    image, label = render.render_page(svg)
    staff3, seg4 = lc.unpack(label)
    staff = (staff3 == 1).astype(np.uint8)
    staves = find_staves(staff)[:2]
    assert len(staves) == 2
    oemer_staffs: list[Any] = [
        SimpleNamespace(
            lines=[SimpleNamespace(y_center=y) for y in st.lines],
            x_left=st.x0,
            x_right=st.x1,
            y_center=float(np.mean(st.lines)),
            track=track,
            group=0,
        )
        for track, st in enumerate(staves)
    ]
    symbols = (seg4 == 2) | (seg4 == 3)
    no_lines = without_staff_lines(ink_mask(image), staff)
    return oemer_staffs, no_lines, symbols, seg4, staves[0].space


def test_the_barlines_of_a_system_are_found_and_nothing_else() -> None:
    oemer_staffs, no_lines, symbols, seg4, _space = _level_system()
    found = find_missing_barlines([], oemer_staffs, no_lines, symbols, seg4 == 2)
    xs = sorted(int(b.bbox[0]) for b in found)
    # three measures: two barlines between them and the final one; nothing in the opening
    # clefs and time signature, nothing at a stem
    assert len(xs) == 3, xs
    heads = np.flatnonzero((seg4 == 2).any(axis=0))
    assert xs[0] > heads[0]
    assert all(b.group == 0 for b in found)
    # a barline oemer found is not found again
    again = find_missing_barlines(found[:1], oemer_staffs, no_lines, symbols, seg4 == 2)
    assert len(again) == 2


def test_barlines_that_lean_are_followed_along_their_lean() -> None:
    """oemer levels a turned page's staff lines but leaves its verticals leaning: a barline then
    drifts several pixels between the top staff and the bottom one. The lean is measured on a
    barline oemer did find, and the others are followed along it."""
    from oemer.symbol_extraction import Barline

    svg = render.engrave(_grand_staff(), render.EngraveOptions(font="Leipzig", scale=90))[0]
    image, label = render.render_page(svg)
    staff_level = (lc.unpack(label)[0] == 1).astype(np.uint8)
    y0 = find_staves(staff_level)[0].lines[0]
    lean = 0.025  # about 1.4 degrees
    shear = np.array([[1.0, lean, -lean * y0], [0.0, 1.0, 0.0]])
    h, w = image.shape
    image = np.asarray(cv2.warpAffine(image, shear, (w, h), borderValue=255), np.uint8)
    label = np.asarray(cv2.warpAffine(label, shear, (w, h), flags=cv2.INTER_NEAREST), np.uint8)
    staff3, seg4 = lc.unpack(label)
    staff = (staff3 == 1).astype(np.uint8)
    staves = find_staves(staff)[:2]
    assert len(staves) == 2
    # oemer's strips: each staff cut into four, as its zones do
    x0, x1 = max(st.x0 for st in staves), min(st.x1 for st in staves)
    edges = np.linspace(x0, x1, 5).astype(int)
    strips = [
        SimpleNamespace(
            lines=[SimpleNamespace(y_center=y) for y in st.lines],
            x_left=int(a),
            x_right=int(b) - 1,
            track=track,
            group=0,
        )
        for a, b in itertools.pairwise(edges)
        for track, st in enumerate(staves)
    ]
    symbols = (seg4 == 2) | (seg4 == 3)
    no_lines = without_staff_lines(ink_mask(image), staff)
    top, bottom = round(staves[0].lines[0]), round(staves[1].lines[-1])
    # the final barline, as oemer boxes it: from its top end to its bottom end
    ink_cols = np.flatnonzero(no_lines[top : bottom + 1].any(axis=0))
    end = int(ink_cols[-1])
    final = Barline()
    final.bbox = (end - round(lean * (bottom - top)) - 3, top, end + 1, bottom)
    final.group = 0
    found = find_missing_barlines([final], strips, no_lines, symbols, seg4 == 2)
    assert len(found) == 2, [b.bbox for b in found]
    for bar in found:  # each box spans the leaning line, top end to bottom end
        assert bar.bbox[2] - bar.bbox[0] >= lean * (bottom - top)
    # followed straight down instead (no barline to measure the lean on), some are missed
    assert len(find_missing_barlines([], strips, no_lines, symbols, seg4 == 2)) < 3


def test_a_head_just_after_a_barline_leaves_it_a_barline_and_one_on_it_does_not() -> None:
    oemer_staffs, no_lines, symbols, seg4, space = _level_system()
    found = find_missing_barlines([], oemer_staffs, no_lines, symbols, seg4 == 2)
    first = min(found, key=lambda b: b.bbox[0])
    x1, y1, x2, y2 = (int(v) for v in first.bbox)
    # a notehead a third of a space right of the first barline (a crowded bar's first note)
    near = symbols.copy()
    gap = int(np.ceil(space / 3))
    near[(y1 + y2) // 2 - 5 : (y1 + y2) // 2 + 5, x2 + gap : x2 + gap + int(space)] = True
    again = find_missing_barlines([], oemer_staffs, no_lines, near, seg4 == 2)
    assert sorted(b.bbox[0] for b in again) == sorted(b.bbox[0] for b in found)
    # a symbol on the line itself (a clef's stroke) is no barline
    on = symbols.copy()
    on[y1 + 5 : y2 - 5, x1 : x2 + 1] = True
    kept = find_missing_barlines([], oemer_staffs, no_lines, on, seg4 == 2)
    assert first.bbox[0] not in [b.bbox[0] for b in kept]
