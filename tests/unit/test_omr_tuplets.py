"""Triplet marks: the printed "3" is found on an engraved staff, and each mark gives two thirds
of their value to the three notes it stands over, and to nothing else."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from consumers.omr import tuplets
from consumers.omr.meter import find_staves, without_staff_lines
from consumers.omr.recognize import NoteBox, ink_mask
from consumers.omr.synth import labels as lc
from consumers.omr.synth import render
from consumers.omr.transform import PageScore, RawNote, repair_rhythm, with_triplets
from consumers.omr.tuplets import Head, triplet_groups

MEI_BAR = (
    '<measure n="1"><staff n="1"><layer n="1">'
    '<beam><note pname="c" oct="5" dur="16"/><note pname="d" oct="5" dur="16"/>'
    '<note pname="e" oct="5" dur="16"/><note pname="f" oct="5" dur="16"/></beam>'
    '<tuplet num="3" numbase="2" num.visible="true" bracket.visible="false">'
    '<beam><note pname="g" oct="4" dur="8"/><note pname="a" oct="4" dur="8"/>'
    '<note pname="b" oct="4" dur="8"/></beam></tuplet>'
    '<note pname="c" oct="5" dur="2"/></layer></staff></measure>'
)


# stem-down eighths (above the middle line): verovio sets their number under the beam
MEI_BAR_STEMS_DOWN = (
    '<measure n="1"><staff n="1"><layer n="1">'
    '<tuplet num="3" numbase="2" num.visible="true" bracket.visible="false">'
    '<beam><note pname="e" oct="5" dur="8"/><note pname="f" oct="5" dur="8"/>'
    '<note pname="g" oct="5" dur="8"/></beam></tuplet>'
    '<note pname="c" oct="5" dur="4"/><note pname="c" oct="5" dur="2"/></layer></staff></measure>'
)


def _page(font: str, bar: str = MEI_BAR) -> tuple[np.ndarray, float, np.ndarray]:
    mei = render.mei_document(
        '<scoreDef meter.count="4" meter.unit="4"><staffGrp><staffDef n="1" lines="5" '
        'clef.shape="G" clef.line="2"/></staffGrp></scoreDef>',
        bar,
    )
    svg = render.engrave(mei, render.EngraveOptions(font=font, scale=90))[0]
    image, label = render.render_page(svg)
    staff3, seg4 = lc.unpack(label)
    staff = (staff3 == 1).astype(np.uint8)
    space = find_staves(staff)[0].space
    return without_staff_lines(ink_mask(image), staff), space, seg4 == 2


# Petaluma (a hand-written look) sets the number touching the beam: one piece of ink with it,
# which the reader does not split (bench/omr_tuplets.py counts what that costs).
@pytest.mark.parametrize("font", ["Leipzig", "Bravura", "Leland", "Gootville"])
def test_finds_the_one_printed_three(font: str) -> None:
    no_lines, space, heads = _page(font)
    marks = tuplets.find_triplet_marks(no_lines, space, heads)
    # the time signature's 4s, the clef and the noteheads are no triplet mark
    assert len(marks) == 1, marks
    # the stem-up eighths' beam is under their number: the notes are below it
    assert marks[0][4] == 1


@pytest.mark.parametrize("font", ["Leipzig", "Bravura", "Leland", "Gootville"])
def test_a_number_under_a_stem_down_beam_has_its_notes_above(font: str) -> None:
    no_lines, space, heads = _page(font, MEI_BAR_STEMS_DOWN)
    marks = tuplets.find_triplet_marks(no_lines, space, heads)
    assert [m[4] for m in marks] == [-1], marks


def test_a_page_without_tuplets_has_no_marks() -> None:
    no_lines = np.zeros((400, 600), dtype=bool)
    no_lines[100:140, 100:104] = True  # a stem-like stroke
    no_lines[200:215, 300:318] = True  # a solid blob the size of a head
    assert tuplets.find_triplet_marks(no_lines, 14.0) == []


def test_the_side_of_a_mark_is_where_the_ink_comes_nearer() -> None:
    ink = np.zeros((200, 100), dtype=bool)
    box = (40, 90, 10, 16)  # the mark: rows 90-105
    ink[60:70, 30:60] = True  # a beam 20 rows above it
    ink[150:160, 30:60] = True  # the next staff's ink 44 rows below
    assert tuplets.group_side(ink, box, space=14.0) == -1
    assert tuplets.group_side(ink[::-1].copy(), (40, 94, 10, 16), space=14.0) == 1
    # ink beside the mark's columns, or nothing in reach, decides nothing
    far = np.zeros_like(ink)
    far[60:70, 0:20] = True
    assert tuplets.group_side(far, box, space=14.0) == 0


def _head(x: float, y: float, value: Fraction, staff: int = 1, bar: int = 0) -> Head:
    return Head(x, y, 10.0, 8.0, (bar, staff), value)


SIXTEENTH = Fraction(1, 4)


def test_the_group_is_the_three_columns_under_the_mark() -> None:
    heads = [_head(100 + 20 * k, 200, SIXTEENTH) for k in range(6)]
    # the mark over the middle of heads 2, 3, 4, above the beam
    assert triplet_groups([(160.0, 150.0, 0)], heads) == [([2, 3, 4], SIXTEENTH)]


def test_chords_in_the_group_come_along() -> None:
    heads = [_head(100 + 20 * k, 200, SIXTEENTH) for k in range(4)]
    heads.append(_head(140, 216, SIXTEENTH))  # a chord note under head 2
    assert triplet_groups([(140.0, 150.0, 0)], heads) == [([1, 2, 3, 4], SIXTEENTH)]


def test_a_mark_between_columns_or_over_disagreeing_values_is_left_out() -> None:
    heads = [_head(100 + 20 * k, 200, SIXTEENTH) for k in range(5)]
    assert triplet_groups([(150.0, 150.0, 0)], heads) == []  # between heads 2 and 3
    mixed = [*heads[:2], _head(140, 200, Fraction(1)), _head(160, 200, Fraction(1, 2)), heads[4]]
    assert triplet_groups([(160.0, 150.0, 0)], mixed) == []  # heads 2, 3, 4: three values


def test_one_misread_value_in_the_group_takes_the_others_value() -> None:
    heads = [_head(100 + 20 * k, 200, SIXTEENTH) for k in range(5)]
    heads[2] = _head(140, 200, Fraction(1))  # a beamed sixteenth read as a quarter
    assert triplet_groups([(160.0, 150.0, 0)], heads) == [([2, 3, 4], SIXTEENTH)]


def test_a_group_of_quarters_is_no_beamed_triplet() -> None:
    heads = [_head(100 + 20 * k, 200, Fraction(1)) for k in range(5)]
    assert triplet_groups([(160.0, 150.0, 0)], heads) == []


def test_a_mark_nearer_the_other_staff_finds_its_own_group() -> None:
    # stem-down sixteenths high above their staff, the mark under their beam, the next
    # staff's half-note chords nearer the mark than the group's own heads
    heads = [_head(100 + 20 * k, 100, SIXTEENTH) for k in range(5)]
    heads += [_head(100 + 20 * k, 205, Fraction(2), staff=2) for k in range(5)]
    assert triplet_groups([(140.0, 160.0, 0)], heads) == [([1, 2, 3], SIXTEENTH)]


def test_between_two_hands_the_side_read_on_the_ink_decides() -> None:
    # a right hand's stem-down triplet sixteenths far above the mark (its beam between), the
    # left hand's evenly spaced eighth chords nearer below it
    heads = [_head(100 + 20 * k, 100, SIXTEENTH) for k in range(5)]
    heads += [_head(100 + 20 * k, 200, Fraction(1, 2), staff=2) for k in range(5)]
    heads += [_head(100 + 20 * k, 208, Fraction(1, 2), staff=2) for k in range(5)]
    assert triplet_groups([(140.0, 160.0, -1)], heads) == [([1, 2, 3], SIXTEENTH)]
    assert triplet_groups([(140.0, 160.0, 1)], heads) == [([6, 7, 8, 11, 12, 13], Fraction(1, 2))]
    # undecided, the nearer heads' staff is tried first
    assert triplet_groups([(140.0, 160.0, 0)], heads)[0][1] == Fraction(1, 2)


def test_a_group_taken_by_another_mark_sends_the_next_to_its_other_staff() -> None:
    heads = [_head(100 + 20 * k, 100, SIXTEENTH) for k in range(5)]
    heads += [_head(100 + 20 * k, 220, SIXTEENTH, staff=2) for k in range(5)]
    # the first mark sits over the lower staff's group; the second, nearer that group too,
    # takes the upper staff's
    marks = [(140.0, 190.0, 0), (140.0, 150.0, 0)]
    assert triplet_groups(marks, heads) == [([6, 7, 8], SIXTEENTH), ([1, 2, 3], SIXTEENTH)]


def test_the_mark_is_centred_on_the_outer_columns_not_the_middle_one() -> None:
    # unevenly spaced (an accidental widens the second gap): the number stands over the
    # middle of the beam, between the first and last heads, 0.8 head widths off the middle one
    heads = [_head(x, 200, SIXTEENTH) for x in (60.0, 100.0, 120.0, 156.0, 200.0)]
    assert triplet_groups([(128.0, 150.0, 0)], heads) == [([1, 2, 3], SIXTEENTH)]


def test_a_mark_among_the_heads_is_no_triplet() -> None:
    heads = [_head(100 + 20 * k, 200 + 8 * (k % 2), SIXTEENTH) for k in range(5)]
    assert triplet_groups([(140.0, 204.0, 0)], heads) == []


def test_the_other_staff_and_far_marks_are_untouched() -> None:
    heads = [_head(100 + 20 * k, 200, SIXTEENTH) for k in range(5)]
    heads += [_head(100 + 20 * k, 400, SIXTEENTH, staff=2) for k in range(5)]
    assert triplet_groups([(140.0, 160.0, 0)], heads) == [([1, 2, 3], SIXTEENTH)]
    assert triplet_groups([(140.0, 20.0, 0)], heads) == []


def _raw(x: float, offset: Fraction, duration: Fraction) -> RawNote:
    # the page's second bar (a first bar read as half a bar or less is a pick-up)
    box = NoteBox(bbox=(x, 0.30, 0.01, 0.008), system=1, confidence=0.9)
    return RawNote("C", 0, 5, 1, 1, 1, offset, duration, chord_key=int(x * 1000), box=box)


def test_a_bar_with_a_triplet_mark_fills_exactly() -> None:
    # 4 sixteenths, then 3 triplet eighths read as plain eighths, then a half: 2 + 1.5 > 4 - 2
    # spaced as engravers do: a note's room grows like its value^0.6
    xs = [0.10, 0.13, 0.16, 0.19, 0.22, 0.256, 0.292, 0.328]
    values = [SIXTEENTH] * 4 + [Fraction(1, 2)] * 3 + [Fraction(2)]
    # oemer's offsets: each note after the value read before it
    offsets = [sum(values[:k], Fraction(0)) for k in range(len(values))]
    notes = [_raw(x, o, v) for x, o, v in zip(xs, offsets, values, strict=True)]
    page = PageScore(page=1, notes=notes, measures=2, triplet_marks=[(0.26, 0.27, 1)])
    marked = with_triplets(page)
    assert [n.duration for n in marked.notes][4:7] == [Fraction(1, 3)] * 3
    fixed = repair_rhythm(page, Fraction(4))
    onsets = sorted(n.offset for n in fixed.notes)
    assert onsets == [
        Fraction(0),
        Fraction(1, 4),
        Fraction(1, 2),
        Fraction(3, 4),
        Fraction(1),
        Fraction(4, 3),
        Fraction(5, 3),
        Fraction(2),
    ]


# a sextuplet of sixteenths (six in the time of four), then a dotted half
MEI_BAR_SEXTUPLET = (
    '<measure n="1"><staff n="1"><layer n="1">'
    '<tuplet num="6" numbase="4" num.visible="true" bracket.visible="false">'
    '<beam><note pname="c" oct="5" dur="16"/><note pname="d" oct="5" dur="16"/>'
    '<note pname="e" oct="5" dur="16"/><note pname="f" oct="5" dur="16"/>'
    '<note pname="g" oct="5" dur="16"/><note pname="a" oct="5" dur="16"/></beam></tuplet>'
    '<note pname="c" oct="5" dur="2" dots="1"/></layer></staff></measure>'
)


@pytest.mark.parametrize("font", ["Leipzig", "Bravura", "Leland"])
def test_finds_the_printed_six_and_no_three(font: str) -> None:
    no_lines, space, heads = _page(font, MEI_BAR_SEXTUPLET)
    found = tuplets.find_tuplet_marks(no_lines, space, heads, digits=(3, 6))
    assert [f[5] for f in found] == [6], found
    assert tuplets.find_triplet_marks(no_lines, space, heads) == []


def test_a_sextuplet_mark_groups_six_columns() -> None:
    heads = [_head(100 + 20 * k, 200, SIXTEENTH) for k in range(8)]
    # the mark over the middle of heads 1-6, above the beam
    assert triplet_groups([(170.0, 150.0, 0)], heads, size=6) == [([1, 2, 3, 4, 5, 6], SIXTEENTH)]
    # a "6" over the middle of three columns stands for none
    assert triplet_groups([(170.0, 150.0, 0)], heads[2:6], size=6) == []


def test_a_bar_with_a_sextuplet_mark_fills_exactly() -> None:
    # six sixteenths of a sextuplet read as plain ones (1.5 quarters), then a dotted half
    xs = [0.10 + 0.025 * k for k in range(6)] + [0.26]
    values = [SIXTEENTH] * 6 + [Fraction(3)]
    offsets = [sum(values[:k], Fraction(0)) for k in range(len(values))]
    notes = [_raw(x, o, v) for x, o, v in zip(xs, offsets, values, strict=True)]
    page = PageScore(page=1, notes=notes, measures=2, sextuplet_marks=[(0.1675, 0.27, 1)])
    assert [n.duration for n in with_triplets(page).notes][:6] == [Fraction(1, 6)] * 6
    fixed = repair_rhythm(page, Fraction(4))
    assert sorted(n.offset for n in fixed.notes) == [Fraction(k, 6) for k in range(7)]


def test_a_grace_note_is_no_member_of_a_triplet_group() -> None:
    # three triplet eighths with a grace note printed before the second: the grace head
    # would make the middle of four columns; left out, the mark stands over the three eighths
    xs = [0.10, 0.13, 0.14, 0.16]
    values = [Fraction(1, 2), Fraction(1, 4), Fraction(1, 2), Fraction(1, 2)]
    notes = [_raw(x, Fraction(k, 2), v) for k, (x, v) in enumerate(zip(xs, values, strict=True))]
    notes[1].grace = True
    page = PageScore(page=1, notes=notes, measures=2, triplet_marks=[(0.135, 0.27, 1)])
    marked = with_triplets(page).notes
    assert [n.duration for n in marked] == [Fraction(1, 3), Fraction(1, 4)] + [Fraction(1, 3)] * 2
