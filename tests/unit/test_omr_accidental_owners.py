"""Which note each accidental belongs to (`accidental_owners.owners`), on hand-made layouts
with a staff space of 10 pixels."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from consumers.omr import accidental_owners as ao

SPACE = 10.0
STAFF = (0, 0)


def head(x: float, y: float, staff: tuple[int, int] = STAFF) -> ao.Head:
    return ao.Head((x, y - 5, x + 12, y + 5), staff)


def mark(x1: float, x2: float, anchor: float, staff: tuple[int, int] = STAFF) -> ao.Mark:
    return ao.Mark((x1, anchor - 14, x2, anchor + 14), anchor, staff)


def test_a_chords_columns_of_accidentals_go_to_their_notes_by_height() -> None:
    # a chord of three heads; its accidentals in three columns, the farthest 2.6 spaces off
    heads = [head(100, 50), head(100, 60), head(100, 70)]
    marks = [
        mark(88, 97, 60),  # beside the heads
        mark(76, 86, 50),  # a column farther
        mark(64, 74, 70),  # and another
    ]
    assert ao.owners(marks, heads, SPACE) == {0: 1, 1: 0, 2: 2}


def test_no_two_accidentals_share_a_note_and_a_far_one_is_left_alone() -> None:
    heads = [head(100, 50), head(100, 70)]
    marks = [mark(88, 97, 52), mark(76, 86, 49), mark(64, 74, 95)]
    got = ao.owners(marks, heads, SPACE)
    assert got == {1: 0}  # the nearer in height; the other has no note left within reach
    assert 2 not in got  # 2.5 spaces below every head of the chord


def test_a_key_signature_stays_a_key() -> None:
    # key signature sharps at the system's start; the first chord 2 spaces after them, with
    # its own accidental: the gap is wider than one column's, so the key keeps its sharps
    heads = [head(120, 40)]
    marks = [mark(60, 70, 40), mark(72, 82, 55), mark(106, 115, 40)]
    assert ao.owners(marks, heads, SPACE) == {2: 0}


def test_an_accidental_of_the_other_staff_is_not_given_to_this_one() -> None:
    heads = [head(100, 60)]
    assert ao.owners([mark(88, 97, 60, staff=(0, 1))], heads, SPACE) == {}


def test_a_flat_belongs_to_the_note_at_its_bowl() -> None:
    # a flat's ink reaches ~1.75 spaces above its note and 0.65 below
    assert ao.anchor_height("FLAT", top=100, bottom=124, space=SPACE) == pytest.approx(117.5)
    assert ao.anchor_height("SHARP", top=100, bottom=128, space=SPACE) == 114


def test_assign_accidentals_replaces_oemers_pairing() -> None:
    from oemer.symbol_extraction import SfnType

    notes = [
        SimpleNamespace(bbox=(100, 45, 112, 55), group=0, track=0, invalid=False, sfn=None),
        SimpleNamespace(bbox=(100, 65, 112, 75), group=0, track=0, invalid=False, sfn=None),
        SimpleNamespace(bbox=(300, 65, 312, 75), group=0, track=0, invalid=False, sfn=None),
    ]
    sfns = [
        SimpleNamespace(bbox=(88, 56, 97, 84), label=SfnType.SHARP, group=0, track=0),
        SimpleNamespace(bbox=(76, 36, 86, 64), label=SfnType.NATURAL, group=0, track=0),
    ]
    for s in sfns:
        s.note_id, s.is_key = None, None
    notes[2].sfn = SfnType.FLAT  # left over from elsewhere: nothing stands before it
    no_ink = np.zeros((200, 400), dtype=bool)  # heights from the boxes
    assert ao.assign_accidentals(sfns, notes, no_ink, SPACE) == 2
    assert (sfns[0].note_id, sfns[1].note_id) == (1, 0)
    assert notes[1].sfn == SfnType.SHARP and notes[0].sfn == SfnType.NATURAL
    assert notes[2].sfn is None
    assert sfns[0].is_key is False


def test_a_mark_inside_a_clef_is_no_accidental() -> None:
    from oemer.symbol_extraction import SfnType

    # a bass clef change just before a chord: the network marked its dots as a sharp
    notes = [SimpleNamespace(bbox=(100, 55, 112, 65), group=0, track=0, invalid=False, sfn=None)]
    sfns = [SimpleNamespace(bbox=(88, 52, 97, 68), label=SfnType.SHARP, group=0, track=0)]
    sfns[0].note_id, sfns[0].is_key = None, None
    clef = SimpleNamespace(bbox=(70, 30, 99, 90))
    no_ink = np.zeros((200, 400), dtype=bool)
    assert ao.assign_accidentals(sfns, notes, no_ink, SPACE, [clef]) == 0
    assert notes[0].sfn is None and sfns[0].note_id is None
    assert ao.assign_accidentals(sfns, notes, no_ink, SPACE) == 1  # without the clef it would
