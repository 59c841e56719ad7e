"""Barlines oemer missed are found on the ink: a thin line through every staff of a system."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

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


def test_the_barlines_of_a_system_are_found_and_nothing_else() -> None:
    svg = render.engrave(_grand_staff(), render.EngraveOptions(font="Leipzig", scale=90))[0]
    image, label = render.render_page(svg)
    staff3, seg4 = lc.unpack(label)
    staff = (staff3 == 1).astype(np.uint8)
    staves = find_staves(staff)[:2]
    assert len(staves) == 2
    oemer_staffs = [
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
    symbols = (seg4 == 2) | (seg4 == 3)  # noteheads, clefs/keys/accidentals
    no_lines = without_staff_lines(ink_mask(image), staff)
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
