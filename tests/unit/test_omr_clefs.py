"""The clef reader tells treble from bass on engraved staves (fonts it was and was not
templated on would both do; these are the training fonts)."""

from __future__ import annotations

import numpy as np
import pytest

from consumers.omr import clefs
from consumers.omr.meter import find_staves, without_staff_lines
from consumers.omr.recognize import ink_mask
from consumers.omr.synth import labels as lc
from consumers.omr.synth import render


def _staff_with_clef(shape: str, font: str) -> tuple[np.ndarray, float, float]:
    svg = render.engrave(clefs._mei(shape), render.EngraveOptions(font=font, scale=90))[0]
    image, label = render.render_page(svg)
    staff3, _ = lc.unpack(label)
    staff = (staff3 == 1).astype(np.uint8)
    st = find_staves(staff)[0]
    glyph = ink_mask(image) & (staff == 0)
    # the clef: from the staff's left end, about three spaces wide
    x0 = st.x0
    band = glyph[:, x0 : x0 + int(3.2 * st.space)]
    return band, st.lines[0], st.space


@pytest.mark.parametrize("font", ["Leipzig", "Bravura", "Petaluma"])
@pytest.mark.parametrize("shape", ["G", "F"])
def test_reads_the_clef_shape(shape: str, font: str) -> None:
    band, top, space = _staff_with_clef(shape, font)
    read, scores = clefs.read_clef(band, top, space)
    assert read == shape, scores


def test_an_empty_crop_reads_nothing() -> None:
    read, _ = clefs.read_clef(np.zeros((120, 40), dtype=bool), 30.0, 14.0)
    assert read is None


def test_clef_changes_oemer_missed_are_found() -> None:
    from types import SimpleNamespace

    from oemer.symbol_extraction import Clef, ClefType

    # G clef, change to F, change back to G: oemer found only the opening clef
    svg = render.engrave(clefs._mei("G"), render.EngraveOptions(font="Leland", scale=90))[0]
    image, label = render.render_page(svg)
    staff3, _ = lc.unpack(label)
    staff = (staff3 == 1).astype(np.uint8)
    st = find_staves(staff)[0]
    lines = [SimpleNamespace(y_center=y) for y in st.lines]
    oemer_staff = SimpleNamespace(lines=lines, x_left=st.x0, x_right=st.x1, track=0, group=0)
    opening = Clef()
    opening.bbox = (st.x0, int(st.lines[0] - 2 * st.space), int(st.x0 + 3 * st.space), 0)
    opening.track, opening.group, opening.label = 0, 0, ClefType.G_CLEF
    no_lines = without_staff_lines(ink_mask(image), staff)
    found = clefs.find_missing_clefs([opening], [oemer_staff], no_lines)
    assert [c.label for c in sorted(found, key=lambda c: c.bbox[0])] == [
        ClefType.F_CLEF,
        ClefType.G_CLEF,
    ]
    assert all(c.bbox[0] > opening.bbox[2] for c in found)


def test_clef_changes_are_kept_and_what_is_no_clef_is_left_out() -> None:
    from types import SimpleNamespace

    from oemer import layers
    from oemer.symbol_extraction import Clef, ClefType

    class _Staff(SimpleNamespace):
        def __sub__(self, _xy: object) -> float:  # oemer's distance to a point: one staff
            return 0.0

    svg = render.engrave(clefs._mei("G"), render.EngraveOptions(font="Leipzig", scale=90))[0]
    image, label = render.render_page(svg)
    staff3, seg4 = lc.unpack(label)
    staff = (staff3 == 1).astype(np.uint8)
    st = find_staves(staff)[0]
    lines = [SimpleNamespace(y_center=y) for y in st.lines]
    oemer_staff = _Staff(lines=lines, x_left=st.x0, x_right=st.x1, track=0, group=0)
    # (oemer squeezes a one-staff page to a scalar; the staff twice is still the nearest)
    # (oemer keeps its layers module-wide and ignores a second registration: another test
    # may have left its own staffs there)
    layers.delete_layer("staffs")
    layers.register_layer("staffs", np.array([oemer_staff, oemer_staff], dtype=object))
    no_lines = without_staff_lines(ink_mask(image), staff)

    def clef(x0: int, x1: int, kind: ClefType) -> Clef:
        c = Clef()
        c.bbox = (x0, int(st.lines[0] - 2 * st.space), x1, int(st.lines[-1] + 2 * st.space))
        c.track, c.group, c.label = 0, 0, kind
        return c

    opening = clef(st.x0, int(st.x0 + 3 * st.space), ClefType.G_CLEF)
    changes = sorted(
        clefs.find_missing_clefs([opening], [oemer_staff], no_lines), key=lambda c: c.bbox[0]
    )
    assert len(changes) == 2
    # the last note's head, read by oemer as a bass clef (as it reads a key's sharps)
    heads = np.flatnonzero((seg4 == 2).any(axis=0))
    last = heads[heads > max(c.bbox[2] for c in changes)]
    fake = clef(int(last[0]) - 2, int(last[-1]) + 2, ClefType.F_CLEF)
    try:
        kept = clefs.relabel_clefs([opening, *changes, fake], no_lines)
    finally:
        layers.delete_layer("staffs")
    assert kept == [opening, *changes]
    assert [c.label for c in kept] == [ClefType.G_CLEF, ClefType.F_CLEF, ClefType.G_CLEF]
