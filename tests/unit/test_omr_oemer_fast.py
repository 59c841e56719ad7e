"""oemer_fast's versions of oemer's slow functions give oemer's MusicXML byte for byte.

A dense page (beams, chords, two voices, rests, accidentals) is engraved here and read with
its true label maps, level and (degraded: rotated, so oemer dewarps) skewed, once with oemer's
own functions and once with Étude's.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from functools import cache

import cv2
import numpy as np
import pytest

from consumers.omr import oemer_fast
from consumers.omr import recognize as rec
from consumers.omr.synth import degrade, render


@cache
def _page() -> tuple[np.ndarray, np.ndarray]:
    from music21 import corpus, stream
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    score = corpus.parse("schumann_clara/polonaise_op1n1.mxl")
    assert isinstance(score, stream.Score)
    excerpt = score.measures(1, 8)
    xml = GeneralObjectExporter(excerpt).parse()
    svg = render.engrave(xml, render.EngraveOptions(font="Bravura", scale=80))[0]
    return render.render_page(svg)


def _extract(image: np.ndarray, label: np.ndarray, fast: bool) -> bytes:
    rec.warm_up()
    maps = rec.label_maps(label)
    bgr = np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xml, *_ = rec._oemer_extract(bgr, maps, fast=fast)
    return xml


@pytest.mark.parametrize("degraded", [False, True], ids=["level", "skewed"])
def test_fast_functions_give_oemers_musicxml(degraded: bool) -> None:
    image, label = _page()
    if degraded:
        d = degrade.Degradation(angle=1.5, blur=0.6, noise=6.0, light=0.2, jpeg=70)
        image, skewed = degrade.degrade(image, label, d, seed=5)
        assert skewed is not None
        label = skewed
        assert rec.needs_dewarp(rec.label_maps(label).staff)
    ours = _extract(image, label, fast=True)
    theirs = _extract(image, label, fast=False)
    assert ours.count(b"<note") > 100  # a real page, not an empty read
    assert ours == theirs


def test_patch_is_undone() -> None:
    import oemer.note_group_extraction as nge

    original = nge.group_noteheads
    with oemer_fast.patched():
        assert nge.group_noteheads is oemer_fast.group_noteheads
    assert nge.group_noteheads is original
