"""Synthetic pages: labels sit exactly on the ink, and degradation keeps them there."""

from __future__ import annotations

from functools import cache

import numpy as np
from numpy.typing import NDArray

from consumers.omr.synth import degrade, render
from consumers.omr.synth import labels as lc

_XML = """<?xml version="1.0" encoding="UTF-8"?>
<score-partwise version="4.0"><part-list><score-part id="P1"><part-name>Pno</part-name>
</score-part></part-list><part id="P1">
<measure number="1"><attributes><divisions>2</divisions><key><fifths>2</fifths></key>
<time><beats>4</beats><beat-type>4</beat-type></time><staves>2</staves>
<clef number="1"><sign>G</sign><line>2</line></clef>
<clef number="2"><sign>F</sign><line>4</line></clef></attributes>
<note><pitch><step>C</step><alter>1</alter><octave>5</octave></pitch><duration>4</duration>
<voice>1</voice><type>half</type><staff>1</staff></note>
<note><pitch><step>E</step><octave>5</octave></pitch><duration>2</duration>
<voice>1</voice><type>quarter</type><staff>1</staff></note>
<note><rest/><duration>2</duration><voice>1</voice><type>quarter</type><staff>1</staff></note>
<backup><duration>8</duration></backup>
<note><pitch><step>D</step><octave>3</octave></pitch><duration>8</duration>
<voice>2</voice><type>whole</type><staff>2</staff></note>
</measure></part></score-partwise>"""


@cache
def _page() -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    # A small page full of music: fast, and still ~10 px per staff space.
    opts = render.EngraveOptions(scale=100, page_width=900, page_height=600, margin=50)
    svg = render.engrave(_XML, opts)[0]
    return render.render_page(svg, pixels=700_000)


def test_every_class_is_present_and_on_ink() -> None:
    image, label = _page()
    staff3, seg4 = lc.unpack(label)
    assert {1, 2} <= set(np.unique(staff3).tolist())
    assert {1, 2, 3} <= set(np.unique(seg4).tolist())
    ink = image < render.INK_THRESHOLD
    # Staff lines and stems/accidentals are labelled only where there is ink; noteheads may
    # also cover the filled hole of a hollow head.
    assert ink[staff3 == 1].all()
    assert ink[(seg4 == 1) | (seg4 == 3)].all()
    heads = seg4 == 2
    assert ink[heads].mean() > 0.6
    # And nearly all ink carries a label (text such as titles is "symbols").
    assert (staff3[ink] > 0).mean() > 0.95


def test_hollow_noteheads_are_filled() -> None:
    image, label = _page()
    _, seg4 = lc.unpack(label)
    heads = seg4 == 2
    ink = image < render.INK_THRESHOLD
    assert (heads & ~ink).sum() > 0  # the half/whole-note holes


def test_classify_leaf_uses_innermost_verovio_group() -> None:
    path = f"{{{render.SVG_NS}}}path"
    use = f"{{{render.SVG_NS}}}use"
    assert render.classify_leaf([{"staff"}, {"measure"}], path) == lc.STAFF_LINE
    assert render.classify_leaf([{"notehead"}, {"note"}, {"staff"}], use) == lc.NOTEHEAD
    assert render.classify_leaf([{"stem"}, {"note"}], path) == lc.STEM_REST_BAR
    assert render.classify_leaf([{"keyAccid"}, {"keySig"}], use) == lc.CLEF_KEY_ACCID
    assert render.classify_leaf([{"ledgerLines", "above"}, {"staff"}], path) == lc.OTHER
    assert render.classify_leaf([{"beam"}, {"layer"}], path) == lc.OTHER


def test_degradation_keeps_image_and_labels_aligned() -> None:
    image, label = _page()
    d = degrade.Degradation(angle=1.7, scale=1.03, shift=(9.0, -6.0))
    warped, wlab = degrade.degrade(image, label, d, seed=3)
    assert wlab is not None and warped.shape == image.shape == wlab.shape
    ink = warped < 128
    marked = (wlab & 3) > 0

    def overlap(a: NDArray[np.bool_], b: NDArray[np.bool_]) -> float:
        return float((a & b).sum() / max((a | b).sum(), 1))

    aligned = overlap(ink, marked)
    shifted = overlap(ink, np.roll(marked, 3, axis=0))
    assert aligned > 0.75
    assert aligned > shifted + 0.3
    # Nearest-neighbour warping never invents a class value.
    assert set(np.unique(wlab).tolist()) <= set(np.unique(label).tolist())


def test_photometric_damage_changes_pixels_not_geometry() -> None:
    image, label = _page()
    d = degrade.Degradation(blur=1.0, noise=8.0, light=0.3, jpeg=40, contrast=0.8)
    out, lab = degrade.degrade(image, label, d, seed=1)
    assert lab is not None and np.array_equal(lab, label)
    assert not np.array_equal(out, image)
    assert out.dtype == np.uint8


def test_downsample_keeps_thin_lines() -> None:
    _, label = _page()
    small = lc.downsample(label, 2)
    assert small.shape == (label.shape[0] // 2, label.shape[1] // 2)
    staff_rows_full = ((label & 3) == 1).any(axis=1).sum()
    staff_rows_small = ((small & 3) == 1).any(axis=1).sum()
    assert staff_rows_small >= staff_rows_full // 2 - 2
    assert ((small >> 2) == 2).any()
