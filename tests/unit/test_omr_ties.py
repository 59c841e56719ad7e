"""Ties read on the ink, and what a tie carries across a barline."""

from __future__ import annotations

from fractions import Fraction as Fr

import numpy as np
import pytest

from consumers.omr import ties
from consumers.omr.recognize import NoteBox
from consumers.omr.transform import RawNote, _tie
from tests.unit.engraved_staff import engrave_staff

# bar 1: F#5 then F#5 tied into bar 2; bar 2: F5 (tied end), then E5 and E5 not tied
BARS = (
    '<note pname="f" oct="5" dur="2" accid="s"/><note pname="f" oct="5" dur="2" tie="i"/>',
    '<note pname="f" oct="5" dur="2" tie="t"/><note pname="e" oct="5" dur="4"/>'
    '<note pname="e" oct="5" dur="4"/>',
)


def _page(font: str) -> tuple[np.ndarray, list[tuple[int, int, int, int]], float]:
    page = engrave_staff(list(BARS), font)
    return page.no_lines() & ~page.heads(), page.boxes(2, 20), page.space


@pytest.mark.parametrize("font", ["Leipzig", "Bravura", "Leland", "Petaluma"])
def test_a_tie_across_the_barline_is_read_and_plain_neighbours_are_not(font: str) -> None:
    ink, boxes, space = _page(font)
    assert len(boxes) == 5
    f1, f2, f3, e1, e2 = boxes
    assert ties.tied(ink, f2, f3, space)
    assert not ties.tied(ink, f1, f2, space)  # same pitch, not tied
    assert not ties.tied(ink, e1, e2, space)


def test_tied_pairs_follow_each_staff_position() -> None:
    from types import SimpleNamespace

    ink, boxes, space = _page("Leipzig")
    pos = [7, 7, 7, 6, 6]  # F5, F5, F5, E5, E5 on oemer's staff positions
    notes = [
        SimpleNamespace(bbox=b, invalid=False, staff_line_pos=p, track=0, group=0)
        for b, p in zip(boxes, pos, strict=True)
    ]
    assert ties.tied_pairs(notes, ink, space) == [(1, 2)]


def _raw(measure: int, step: str, alter: int, x: float) -> RawNote:
    box = NoteBox((x, 0.2, 0.01, 0.01), system=1, confidence=1.0)
    return RawNote(step, alter, 5, measure, 1, 1, Fr(0), Fr(2), 0, box=box)


def test_a_tie_carries_its_accidental_into_the_next_bar() -> None:
    a, b, c = _raw(0, "F", 1, 0.3), _raw(1, "F", 0, 0.5), _raw(2, "F", 0, 0.7)
    _tie({0: a, 1: b, 2: c}, [(1, 2), (0, 1)])  # out of order: a chain is followed in order
    assert (a.alter, b.alter, c.alter) == (1, 1, 1)
    assert (a.tie, b.tie, c.tie) == ("start", "continue", "stop")


def test_a_pair_of_different_pitches_is_no_tie() -> None:
    a, b = _raw(0, "F", 1, 0.3), _raw(1, "G", 0, 0.5)
    _tie({0: a, 1: b}, [(0, 1)])
    assert (a.tie, b.tie, b.alter) == (None, None, 0)


def test_a_tie_inside_a_bar_marks_the_notes_only() -> None:
    a, b = _raw(0, "F", 1, 0.3), _raw(0, "F", 0, 0.4)
    _tie({0: a, 1: b}, [(0, 1)])
    assert (a.tie, b.tie, b.alter) == ("start", "stop", 0)


def test_heads_at_the_page_edge_or_without_a_staff_tie_nothing() -> None:
    from types import SimpleNamespace

    ink = np.ones((40, 200), bool)
    assert not ties.tied(ink, (10, 38, 20, 48), (60, 38, 70, 48), 10.0)  # band off the page
    assert not ties.tied(ink, (150, 10, 160, 20), (250, 10, 260, 20), 10.0)  # past the edge
    stray = SimpleNamespace(bbox=(0, 0, 5, 5), invalid=False, staff_line_pos=3, track=0, group=None)
    assert ties.tied_pairs([stray, stray], ink, 10.0) == []
