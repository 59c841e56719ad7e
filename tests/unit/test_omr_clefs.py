"""The clef reader tells treble from bass on engraved staves (fonts it was and was not
templated on would both do; these are the training fonts)."""

from __future__ import annotations

import numpy as np
import pytest

from consumers.omr import clefs
from consumers.omr.meter import find_staves
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
