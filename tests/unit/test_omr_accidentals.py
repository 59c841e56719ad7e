"""The accidental reader tells flat, sharp and natural apart on engraved staves, from a box
that holds only part of the glyph, and leaves oemer's label alone where the ink is unclear."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from consumers.omr import accidentals
from consumers.omr.meter import find_staves, without_staff_lines
from consumers.omr.recognize import ink_mask
from consumers.omr.synth import labels as lc
from consumers.omr.synth import render

ACCID = {"FLAT": "f", "SHARP": "s", "NATURAL": "n"}


def _page(shape: str, font: str) -> tuple[np.ndarray, list[tuple[int, int, int, int]], float]:
    """Ink without staff lines, the accidentals' boxes (from the label map) and the spacing."""
    notes = "".join(
        f'<note pname="{p}" oct="{o}" dur="4" accid="{ACCID[shape]}"/>'
        for p, o in (("e", 4), ("a", 4), ("d", 5), ("g", 5))
    )
    mei = render.mei_document(
        '<scoreDef meter.count="4" meter.unit="4"><staffGrp><staffDef n="1" lines="5" '
        'clef.shape="G" clef.line="2"/></staffGrp></scoreDef>',
        f'<measure n="1"><staff n="1"><layer n="1">{notes}</layer></staff></measure>',
    )
    svg = render.engrave(mei, render.EngraveOptions(font=font, scale=80))[0]
    image, label = render.render_page(svg)
    staff3, seg4 = lc.unpack(label)
    staff = (staff3 == 1).astype(np.uint8)
    st = find_staves(staff)[0]
    marked = (seg4 == 3).astype(np.uint8)
    marked[:, : st.x0 + int(5 * st.space)] = 0  # the clef and the time signature
    n, _lab, stats, _c = cv2.connectedComponentsWithStats(marked, connectivity=8)
    boxes = [
        (int(x), int(y), int(x + w), int(y + h)) for x, y, w, h, area in stats[1:n] if area > 10
    ]
    return without_staff_lines(ink_mask(image), staff), boxes, st.space


@pytest.mark.parametrize("font", ["Leipzig", "Bravura", "Leland"])
@pytest.mark.parametrize("shape", ["FLAT", "SHARP", "NATURAL"])
def test_reads_the_accidental_shape(shape: str, font: str) -> None:
    no_lines, boxes, space = _page(shape, font)
    assert len(boxes) == 4
    for x1, y1, x2, y2 in boxes:
        # the network often marks only part of a glyph: give the reader the top half
        read, scores = accidentals.read_accidental(no_lines, (x1, y1, x2, (y1 + y2) // 2), space)
        assert read == shape, scores


def test_an_empty_box_reads_nothing() -> None:
    read, _ = accidentals.read_accidental(np.zeros((200, 200), dtype=bool), (50, 50, 60, 80), 14)
    assert read is None


def test_relabelling_fixes_the_note_it_belongs_to() -> None:
    from oemer.symbol_extraction import SfnType

    no_lines, boxes, space = _page("NATURAL", "Leipzig")
    note = SimpleNamespace(invalid=False, sfn=SfnType.SHARP)
    sfn = SimpleNamespace(bbox=boxes[0], label=SfnType.SHARP, note_id=0)
    kept = SimpleNamespace(bbox=boxes[1], label=SfnType.NATURAL, note_id=None)
    changed = accidentals.relabel_accidentals([sfn, kept], [note], no_lines, space)
    assert changed == 1
    assert sfn.label == SfnType.NATURAL and note.sfn == SfnType.NATURAL
    assert kept.label == SfnType.NATURAL
