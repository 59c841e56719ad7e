"""Key signatures counted on the ink: every key from six flats to six sharps, in training
fonts, with a time signature or a first note (with its own accidental) after it."""

from __future__ import annotations

import numpy as np
import pytest

from consumers.omr import keys
from consumers.omr.meter import find_staves, without_staff_lines
from consumers.omr.recognize import ink_mask
from consumers.omr.synth import labels as lc
from consumers.omr.synth import render


def _staff(fifths: int, font: str, meter: bool) -> tuple[np.ndarray, list[float], int, int, float]:
    sig = f'key.sig="{abs(fifths)}{"s" if fifths > 0 else "f"}"' if fifths else 'key.sig="0"'
    meter_attrs = 'meter.count="3" meter.unit="4"' if meter else 'meter.visible="false"'
    mei = render.mei_document(
        f"<scoreDef {sig} {meter_attrs}><staffGrp>"
        '<staffDef n="1" lines="5" clef.shape="G" clef.line="2"/></staffGrp></scoreDef>',
        '<measure n="1"><staff n="1"><layer n="1">'
        # the first note carries an accidental of its own, right after the signature
        '<note pname="f" oct="5" dur="4" accid="s"/><note pname="a" oct="4" dur="2"/>'
        "</layer></staff></measure>",
    )
    svg = render.engrave(mei, render.EngraveOptions(font=font, scale=80))[0]
    image, label = render.render_page(svg)
    staff3, seg4 = lc.unpack(label)
    staff = (staff3 == 1).astype(np.uint8)
    st = find_staves(staff)[0]
    clefs = (seg4 == 3) & (np.arange(seg4.shape[1])[None, :] < st.x0 + 3.5 * st.space)
    clef_right = int(np.flatnonzero(clefs[int(st.lines[0]) : int(st.lines[-1])].any(axis=0))[-1])
    heads = np.flatnonzero((seg4 == 2).any(axis=0))
    no_lines = without_staff_lines(ink_mask(image), staff)
    x_from = int(clef_right + 0.2 * st.space)
    x_to = int(heads[0] - keys.NOTE_ACCIDENTAL_ROOM * st.space)
    return no_lines, list(st.lines), x_from, x_to, st.space


@pytest.mark.parametrize("font", ["Leipzig", "Bravura"])
@pytest.mark.parametrize("fifths", [-6, -4, -3, -1, 0, 1, 2, 4, 6])
def test_counts_the_key_signature(fifths: int, font: str) -> None:
    no_lines, lines, x_from, x_to, space = _staff(fifths, font, meter=False)
    assert keys.read_staff_key(no_lines, lines, x_from, x_to, space) == fifths


@pytest.mark.parametrize("fifths", [-3, 0, 3])
def test_the_time_signature_ends_the_key(fifths: int) -> None:
    no_lines, lines, x_from, x_to, space = _staff(fifths, "Leipzig", meter=True)
    assert keys.read_staff_key(no_lines, lines, x_from, x_to, space) == fifths


def test_staves_that_disagree_give_the_larger_count_of_one_sign(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Line:
        def __init__(self, y: float) -> None:
            self.y_center = y

    class Staff:
        def __init__(self, track: int) -> None:
            self.track, self.group = track, 0
            self.lines = [Line(100.0 + 10 * i) for i in range(5)]

    read = iter([3, 4])
    monkeypatch.setattr(keys, "read_staff_key", lambda *_a: next(read))
    clefs = [type("Clef", (), {"track": t, "group": 0, "bbox": (10, 90, 30, 150)}) for t in (0, 1)]
    heads = [
        type("Head", (), {"track": t, "group": 0, "bbox": (200, 100, 210, 108)}) for t in (0, 1)
    ]
    got = keys.system_keys([Staff(0), Staff(1)], clefs, heads, np.zeros((300, 300), bool))
    assert got == {0: 4}
