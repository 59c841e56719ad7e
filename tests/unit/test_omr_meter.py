"""The time-signature reader on pages engraved here (true label maps: the reader alone)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from consumers.omr import meter as mt
from consumers.omr.recognize import ink_mask
from consumers.omr.synth import degrade, render
from consumers.omr.synth import labels as lc
from consumers.omr.transform import PageScore, RawNote, choose_time


def _grand_staff(meter: str) -> str:
    notes = "".join(f'<note pname="{p}" oct="4" dur="4"/>' for p in "ceg")
    bass = "".join(f'<note pname="{p}" oct="3" dur="4"/>' for p in "cgc")
    measures = "".join(
        f'<measure n="{i}"><staff n="1"><layer n="1">{notes}</layer></staff>'
        f'<staff n="2"><layer n="1">{bass}</layer></staff></measure>'
        for i in range(1, 9)
    )
    return render.mei_document(
        f'<scoreDef {meter} key.sig="3f"><staffGrp symbol="brace">'
        '<staffDef n="1" lines="5" clef.shape="G" clef.line="2"/>'
        '<staffDef n="2" lines="5" clef.shape="F" clef.line="4"/></staffGrp></scoreDef>',
        measures,
    )


def _read(mei: str, font: str = "Leipzig", degraded: bool = False) -> mt.Meter | None:
    svg = render.engrave(mei, render.EngraveOptions(font=font, scale=80))[0]
    image, clean_label = render.render_page(svg)
    label: np.ndarray | None = clean_label
    if degraded:
        d = degrade.Degradation(angle=1.2, blur=0.8, noise=8.0, light=0.2, jpeg=60)
        image, label = degrade.degrade(image, clean_label, d, seed=3)
    assert label is not None
    staff3, seg4 = lc.unpack(label)
    return mt.read_meter(
        (staff3 == 1).astype(np.uint8),
        ((seg4 == 1) | (seg4 == 2)).astype(np.uint8),
        ink_mask(image),
    )


@pytest.mark.parametrize(
    ("meter", "font", "expected"),
    [
        ('meter.count="3" meter.unit="4"', "Leipzig", "3/4"),
        ('meter.count="6" meter.unit="8"', "Bravura", "6/8"),
        ('meter.count="2" meter.unit="4"', "Leland", "2/4"),
        ('meter.sym="common"', "Petaluma", "common"),
    ],
)
def test_reads_the_printed_signature(meter: str, font: str, expected: str) -> None:
    got = _read(_grand_staff(meter), font)
    assert got is not None and str(got) == expected


def test_reads_a_skewed_noisy_scan() -> None:
    got = _read(_grand_staff('meter.count="3" meter.unit="4"'), degraded=True)
    assert got is not None and got.bar_length == 3


def test_no_signature_is_no_reading() -> None:
    assert _read(_grand_staff("")) is None


def test_bar_lengths() -> None:
    assert mt.meter_of((6, 8)).bar_length == Fraction(3)
    assert mt.meter_of("cut").bar_length == Fraction(4)
    assert mt.meter_of((3, 2)).bar_length == Fraction(6)


def _page(bar_total: Fraction) -> PageScore:
    notes = [
        RawNote(
            "C",
            0,
            4,
            measure=m,
            staff=1,
            voice=1,
            offset=Fraction(0),
            duration=bar_total,
            chord_key=m,
        )
        for m in range(4)
    ]
    return PageScore(page=1, notes=notes, measures=4)


def test_time_choice_order() -> None:
    pages = [_page(Fraction(4))]
    read = mt.meter_of((3, 4))
    assert choose_time(pages, [read], Fraction(2)).source == "given"
    chosen = choose_time(pages, [None, read])
    assert (chosen.bar, chosen.numerator, chosen.denominator, chosen.source) == (
        Fraction(3),
        3,
        4,
        "read",
    )
    inferred = choose_time(pages, [None])
    assert (inferred.bar, inferred.source) == (Fraction(4), "inferred")
