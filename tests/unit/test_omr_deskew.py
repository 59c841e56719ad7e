"""A turned page is measured and turned back: staff lines level, barlines upright."""

from __future__ import annotations

from fractions import Fraction
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from consumers.omr import recognize as rec
from consumers.omr.deskew import skew_degrees, turn
from consumers.omr.meter import find_staves
from consumers.omr.synth import degrade, render
from tests.unit.test_omr_barlines import _grand_staff


@pytest.fixture(scope="module")
def page() -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    svg = render.engrave(_grand_staff(), render.EngraveOptions(font="Leipzig", scale=90))[0]
    return render.render_page(svg)


@pytest.mark.parametrize("angle", [-2.0, -0.7, 0.0, 1.3])
def test_the_turn_of_a_page_is_measured_and_undone(
    page: tuple[NDArray[np.uint8], NDArray[np.uint8]], angle: float
) -> None:
    image, label = page
    d = degrade.Degradation(angle=angle, blur=0.5, noise=4.0, light=0.1, jpeg=80)
    _, turned = degrade.degrade(image, label, d, seed=3)
    assert turned is not None
    staff = np.asarray(rec.label_maps(turned).staff, np.uint8)
    degrees = skew_degrees(staff)
    # cv2 turns counter-clockwise for a positive angle, the degradation the same way, so the
    # page comes back by the opposite turn
    assert degrees == pytest.approx(-angle, abs=0.1)
    back = turn(staff, degrees, nearest=True)
    assert skew_degrees(back) == pytest.approx(0.0, abs=0.06)
    staves = find_staves(back)
    assert len(staves) == 2  # the grand staff, each with five evenly spaced level lines


def test_a_blank_map_is_not_turned() -> None:
    assert skew_degrees(np.zeros((50, 60), np.uint8)) == 0.0


def test_turn_keeps_size_and_fills_with_paper() -> None:
    gray = np.zeros((40, 80), np.uint8)
    out = turn(gray, 10.0, nearest=False)
    assert out.shape == gray.shape and out.dtype == gray.dtype
    assert out[0, 0] == 255  # a corner turned in from outside the page is paper, not ink


def test_boxes_are_turned_back_and_made_up_rests_have_none() -> None:
    from oemer.build_system import AddNote, AddRest
    from oemer.symbol_extraction import Rest

    w, h = 1000, 1400
    head = SimpleNamespace(invalid=False, bbox=(700, 300, 712, 310), group=0)
    seen, made_up = Rest(), Rest()
    seen.bbox, seen.group = (400, 500, 410, 530), 0
    made_up.bbox, made_up.group = (450, 0, 450, 0), 0  # oemer's balancing rest: a point
    builder = SimpleNamespace(actions=[AddNote(head), AddRest(seen), AddRest(made_up)])
    blank = np.zeros((h, w), np.uint8)
    maps = rec.PageMaps(blank, blank, blank, blank, blank)
    degrees = 1.5
    notes, rests, _order = rec._note_boxes(builder, maps, w, h, degrees)
    assert len(notes) == 1 and len(rests) == 2 and rests[1] is None
    assert rests[0] is not None
    # the head's centre, turned by `degrees` about the page centre, lands where oemer saw it
    x, y, bw, bh = notes[0].bbox
    centre = np.array([(x + bw / 2) * w, (y + bh / 2) * h, 1.0])
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    assert m @ centre == pytest.approx([706, 305], abs=1.5)
    assert (bw * w, bh * h) == pytest.approx((12, 10))


def test_a_rest_box_reports_the_value_read_before_oemer_stretched_it() -> None:
    from oemer.build_system import AddRest
    from oemer.symbol_extraction import Rest, RestType

    rest, dotted = Rest(), Rest()
    for r, y in ((rest, 500), (dotted, 600)):
        r.bbox, r.group, r.label, r.has_dot = (400, y, 410, y + 30), 0, RestType.EIGHTH, False
    dotted.has_dot = True
    rec.keep_read_values([rest, dotted])
    # the builder lines the staves up (`extend_symbol_length`): the eighth rest becomes a
    # whole one
    rest.label = RestType.WHOLE
    blank = np.zeros((1400, 1000), np.uint8)
    maps = rec.PageMaps(blank, blank, blank, blank, blank)
    builder = SimpleNamespace(actions=[AddRest(rest), AddRest(dotted)])
    _notes, rests, _order = rec._note_boxes(builder, maps, 1000, 1400)
    assert [r.value for r in rests if r is not None] == [Fraction(1, 2), Fraction(3, 4)]
