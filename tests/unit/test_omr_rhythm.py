"""Rhythm repair: every voice of every bar fits its time signature, voices kept."""

from __future__ import annotations

from collections import defaultdict
from fractions import Fraction as Fr

from consumers.omr.recognize import NoteBox
from consumers.omr.transform import (
    PageScore,
    RawNote,
    _columns,
    _placed_rests,
    _with_rests,
    infer_bar_length,
    repair_rhythm,
)


def _n(measure: int, staff: int, voice: int, offset: Fr, dur: Fr, chord: int) -> RawNote:
    return RawNote("C", 0, 4, measure, staff, voice, offset, dur, chord)


def _totals(page: PageScore) -> dict[tuple[int, int, int], Fr]:
    out: dict[tuple[int, int, int], Fr] = defaultdict(Fr)
    for n in page.notes:
        key = (n.measure, n.staff, n.voice)
        out[key] = max(out[key], n.offset + n.duration)
    return out


def test_overfull_bar_is_fitted_exactly() -> None:
    # oemer's usual error: an eighth read as a quarter, a half as a whole: 4/4 bar holds 5.5.
    durs = [Fr(1), Fr(1), Fr(1, 2), Fr(1), Fr(2)]  # truth: 1, 1/2, 1/2, 1, 1 ... over by 1.5
    notes, t = [], Fr(0)
    for i, d in enumerate(durs):
        notes.append(_n(0, 1, 1, t, d, i))
        t += d
    page = PageScore(page=1, notes=notes, measures=1)
    fixed = repair_rhythm(page, Fr(4))
    assert _totals(fixed)[(0, 1, 1)] == 4
    onsets = [n.offset for n in fixed.notes]
    assert onsets == sorted(onsets) and onsets[0] == 0
    assert all(n.duration in {Fr(1, 2), Fr(1), Fr(3, 2), Fr(2)} for n in fixed.notes)


def test_voices_chords_and_underfull_bars_are_kept() -> None:
    notes = [
        _n(0, 1, 1, Fr(0), Fr(2), 1),
        _n(0, 1, 1, Fr(0), Fr(2), 1),  # a chord: same onset, same duration after repair
        _n(0, 1, 1, Fr(2), Fr(2), 2),
        _n(0, 1, 1, Fr(4), Fr(1), 3),  # over-full by a quarter
        _n(0, 1, 2, Fr(0), Fr(4), 4),  # a second voice, full
        _n(0, 2, 1, Fr(0), Fr(1), 5),  # under-full left hand: untouched
        _n(1, 1, 1, Fr(0), Fr(4), 6),
    ]
    page = PageScore(page=1, notes=notes, measures=2)
    fixed = repair_rhythm(page, Fr(4))
    totals = _totals(fixed)
    assert all(v <= 4 for v in totals.values())
    assert totals[(0, 1, 1)] == 4
    assert {(n.staff, n.voice) for n in fixed.notes} == {(1, 1), (1, 2), (2, 1)}
    chord = [n for n in fixed.notes if n.chord_key == 1]
    assert len(chord) == 2 and chord[0].offset == chord[1].offset
    assert chord[0].duration == chord[1].duration
    lh = next(n for n in fixed.notes if n.staff == 2)
    assert (lh.offset, lh.duration) == (Fr(0), Fr(1))
    assert len(fixed.notes) == len(notes)


def test_gaps_count_as_rests_when_fitting() -> None:
    notes = [_n(0, 1, 1, Fr(1), Fr(2), 1), _n(0, 1, 1, Fr(3), Fr(2), 2)]  # 1 quarter gap, 5 long
    fixed = repair_rhythm(PageScore(page=1, notes=notes, measures=1), Fr(3))
    assert _totals(fixed)[(0, 1, 1)] == 3
    assert fixed.notes[0].offset > 0  # the leading silence survives


def test_bar_length_inferred_from_content() -> None:
    def page(total: Fr) -> PageScore:
        notes = [_n(m, 1, 1, Fr(0), total, m) for m in range(8)]
        return PageScore(page=1, notes=notes, measures=8)

    assert infer_bar_length([page(Fr(3))]) == 3
    assert infer_bar_length([page(Fr(4))]) == 4
    assert infer_bar_length([page(Fr(2))]) == 2


def test_stray_rests_do_not_make_a_full_bar_overfull() -> None:
    notes = [_n(0, 1, 1, Fr(i), Fr(1), i) for i in range(4)]
    stray = RawNote("C", 0, 4, 0, 1, 1, Fr(1), Fr(4), -1, is_rest=True)  # on top of notes
    tail = RawNote("C", 0, 4, 0, 1, 1, Fr(3), Fr(4), -1, is_rest=True)  # past the barline
    page = PageScore(page=1, notes=[*notes, stray, tail], measures=1)
    fixed = repair_rhythm(page, Fr(4))
    sounding = [n for n in fixed.notes if not n.is_rest]
    assert [(n.offset, n.duration) for n in sounding] == [(Fr(i), Fr(1)) for i in range(4)]


def test_columns_of_noteheads_give_onsets_when_oemer_stacks_them() -> None:
    # oemer's voice bookkeeping collapsed: four sixteenths all at offset 0, plus a half note
    # in the left hand under the first one. The page order (x) still tells the sequence.
    def boxed(staff: int, x: float, dur: Fr, key: int) -> RawNote:
        n = _n(0, staff, 1, Fr(0), dur, key)
        n.box = NoteBox((x, 0.2 if staff == 1 else 0.4, 0.01, 0.01), system=1, confidence=1.0)
        return n

    rh = [boxed(1, 0.10 + 0.03 * i, Fr(1, 4), i) for i in range(4)]
    lh = [boxed(2, 0.102, Fr(2), 9)]
    fixed = repair_rhythm(PageScore(page=1, notes=[*rh, *lh], measures=1), Fr(4))
    onsets = sorted(n.offset for n in fixed.notes if n.staff == 1)
    assert onsets == [Fr(0), Fr(1, 4), Fr(1, 2), Fr(3, 4)]
    left = next(n for n in fixed.notes if n.staff == 2)
    assert (left.offset, left.duration, left.voice) == (Fr(0), Fr(2), 1)


def _boxed(staff: int, x: float, dur: Fr, key: int, rest: bool = False) -> RawNote:
    n = _n(0, staff, 1, Fr(0), dur, key)
    n.box = NoteBox((x, 0.2 if staff == 1 else 0.4, 0.01, 0.01), system=1, confidence=1.0)
    n.is_rest = rest
    return n


def test_a_bar_that_opens_with_a_rest_starts_its_notes_after_it() -> None:
    # Left hand: quarter rest, then three quarter chords; oemer's offsets put the first chord
    # at 0 and the rest after the last one (where it does not overlap a note of its voice).
    rest = _boxed(2, 0.10, Fr(1), 0, rest=True)
    rest.offset = Fr(3)
    chords = [_boxed(2, 0.16 + 0.06 * i, Fr(1), 1 + i) for i in range(3)]
    for i, c in enumerate(chords):
        c.offset = Fr(i)
    fixed = repair_rhythm(PageScore(page=1, notes=[rest, *chords], measures=1), Fr(4))
    assert sorted(n.offset for n in fixed.notes if not n.is_rest) == [Fr(1), Fr(2), Fr(3)]
    # without the rest the same notes start at the barline
    plain = repair_rhythm(PageScore(page=1, notes=chords, measures=1), Fr(4))
    assert sorted(n.offset for n in plain.notes)[0] == Fr(0)


def test_a_rest_on_a_note_column_does_not_move_notes() -> None:
    # four quarters in the right hand; in the left a rest under the second (it sounds against
    # it)
    rh = [_boxed(1, 0.10 + 0.06 * i, Fr(1), i) for i in range(4)]
    for i, n in enumerate(rh):
        n.offset = Fr(i)
    under = _boxed(2, 0.163, Fr(1), 9, rest=True)
    under.offset = Fr(1)
    fixed = repair_rhythm(PageScore(page=1, notes=[*rh, under], measures=1), Fr(4))
    assert sorted(n.offset for n in fixed.notes if not n.is_rest) == [Fr(i) for i in range(4)]


def _pickup_page(page: int) -> PageScore:
    """A quarter up-beat, then a bar of four quarters (4/4), one note per column."""
    notes = []
    up = _boxed(1, 0.10, Fr(1), 0)
    notes.append(up)
    for i in range(4):
        n = _boxed(1, 0.20 + 0.06 * i, Fr(1), 1 + i)
        n.measure, n.offset = 1, Fr(i)
        notes.append(n)
    return PageScore(page=page, notes=notes, measures=2)


def test_a_pickup_bar_is_laid_out_short_and_the_next_bar_starts_after_it() -> None:
    from consumers.omr.transform import merge_pages

    fixed = repair_rhythm(_pickup_page(1), Fr(4))
    assert fixed.pickup == Fr(1)
    ir = merge_pages([fixed], Fr(4), page_count=1)
    assert [(m.onset, m.length) for m in ir.measures] == [(Fr(0), Fr(1)), (Fr(1), Fr(4))]
    assert sorted(n.onset for n in ir.notes) == [Fr(0), Fr(1), Fr(2), Fr(3), Fr(4)]


def test_only_the_first_page_opens_with_a_pickup() -> None:
    from consumers.omr.transform import merge_pages

    pages = [repair_rhythm(_pickup_page(p), Fr(4)) for p in (1, 2)]
    ir = merge_pages(pages, Fr(4), page_count=2)
    # page 2's short first bar is a bar oemer read short, not an up-beat: full length
    assert [m.length for m in ir.measures] == [Fr(1), Fr(4), Fr(4), Fr(4)]
    assert [m.onset for m in ir.measures] == [Fr(0), Fr(1), Fr(5), Fr(9)]
    assert min(n.onset for n in ir.notes if n.provenance and n.provenance.page == 2) == Fr(5)


def test_two_heads_side_by_side_are_two_voices_notes() -> None:
    """A bass note two voices share, printed as two touching heads: one box twice a head wide."""
    from consumers.omr.transform import with_twin_heads

    notes = []
    for i in range(8):  # a bar of eighths, one head wide each
        n = _boxed(1, 0.10 + 0.03 * i, Fr(1, 2), i)
        n.offset = Fr(i, 2)
        notes.append(n)
    bass = _boxed(2, 0.10, Fr(3), 20)
    bass.box = NoteBox((0.10, 0.4, 0.02, 0.01), system=1, confidence=1.0)  # two heads wide
    chord_mate = _boxed(2, 0.10, Fr(3), 20)
    chord_mate.box = NoteBox((0.10, 0.38, 0.02, 0.01), system=1, confidence=1.0)
    tall = _boxed(2, 0.2, Fr(1), 21)
    tall.box = NoteBox((0.2, 0.4, 0.02, 0.02), system=1, confidence=1.0)  # two heads high
    out = with_twin_heads([*notes, bass, chord_mate, tall])
    assert len(out) == len(notes) + 5
    # each wide head followed by its twin; the tall box (a chord's second) has none
    assert out[len(notes) :: 2][:2] == [bass, chord_mate] and out[-1] is tall
    new = [out[len(notes) + 1], out[len(notes) + 3]]
    assert all(n.box is not None and n.box.bbox[2] == 0.02 for n in new)
    assert all((n.offset, n.duration, n.staff) == (Fr(0), Fr(3), 2) for n in new)
    # the twins of one chord: one chord of a voice of their own
    assert {n.voice for n in new} == {2} and len({n.chord_key for n in new}) == 1
    assert new[0].chord_key not in {n.chord_key for n in [*notes, bass, tall]}


def test_twins_are_added_after_the_onsets_are_solved() -> None:
    rh = [_boxed(1, 0.10 + 0.06 * i, Fr(1), i) for i in range(4)]
    for i, n in enumerate(rh):
        n.offset = Fr(i)
    lh = []
    for i in range(4):
        n = _boxed(2, 0.10 + 0.06 * i, Fr(1), 10 + i)
        n.offset = Fr(i)
        lh.append(n)
    lh[0].box = NoteBox((0.10, 0.4, 0.02, 0.01), system=1, confidence=1.0)
    fixed = repair_rhythm(PageScore(page=1, notes=[*rh, *lh], measures=1), Fr(4))
    assert sorted(n.offset for n in fixed.notes) == sorted([Fr(i) for i in range(4)] * 2 + [Fr(0)])


def _grace_bar() -> list[RawNote]:
    """A 3/4 bar of six eighths in the right hand whose second eighth has a grace note (a
    sixteenth with a slash, three quarters of a head wide) printed before it; quarters below."""
    rh = [_boxed(1, 0.10 + 0.06 * i, Fr(1, 2), i) for i in range(6)]
    grace = _boxed(1, 0.145, Fr(1, 4), 9)
    grace.box = NoteBox((0.145, 0.2, 0.0075, 0.0075), system=1, confidence=1.0)
    grace.tie = "start"
    lh = [_boxed(2, 0.10 + 0.12 * i, Fr(1), 10 + i) for i in range(3)]
    t = Fr(0)
    for n in [*rh[:1], grace, *rh[1:]]:  # oemer's offsets count the grace note's value
        n.offset = t
        t += n.duration
    for i, n in enumerate(lh):
        n.offset = Fr(i)
    return [*rh, grace, *lh]


def test_a_small_head_is_a_grace_note_that_takes_no_time() -> None:
    fixed = repair_rhythm(PageScore(page=1, notes=_grace_bar(), measures=1), Fr(3))
    grace = [n for n in fixed.notes if n.grace]
    assert len(grace) == 1 and grace[0].duration == 0 and grace[0].tie is None
    # at the onset of the eighth it leads to; the eighths keep their places
    assert grace[0].offset == Fr(1, 2)
    rh = sorted((n for n in fixed.notes if n.staff == 1 and not n.grace), key=lambda n: n.offset)
    assert [n.offset for n in rh] == [Fr(i, 2) for i in range(6)]
    assert sorted(n.offset for n in fixed.notes if n.staff == 2) == [Fr(0), Fr(1), Fr(2)]
    # a chord of its own (a grace note in a chord with full-size heads would sound with them)
    assert grace[0].chord_key not in {n.chord_key for n in fixed.notes if not n.grace}


def test_grace_notes_reach_the_ir_as_grace() -> None:
    from consumers.omr.transform import merge_pages

    page = repair_rhythm(PageScore(page=1, notes=_grace_bar(), measures=1), Fr(3))
    ir = merge_pages([page], Fr(3), page_count=1)
    grace = [n for n in ir.notes if n.grace]
    assert len(grace) == 1 and (grace[0].onset, grace[0].duration) == (Fr(1, 2), Fr(0))
    assert len(ir.notes) == 10


def test_heads_of_the_page_size_are_not_grace_notes() -> None:
    from consumers.omr.transform import with_grace_notes

    notes = _grace_bar()
    grace = notes[6]
    assert grace.box is not None
    grace.box = NoteBox((0.145, 0.2, 0.009, 0.01), system=1, confidence=1.0)  # 0.9 wide
    assert not any(n.grace for n in with_grace_notes(notes))
    grace.box = NoteBox((0.145, 0.2, 0.007, 0.012), system=1, confidence=1.0)  # narrow, tall
    assert not any(n.grace for n in with_grace_notes(notes))


def test_a_small_head_where_no_grace_note_stands_is_a_note() -> None:
    """A head read narrow in a column of full-size heads (a chord's second, a head cut by a
    ledger line), or after the last full-size note of its staff, is no grace note."""
    from consumers.omr.transform import with_grace_notes

    notes = _grace_bar()
    grace = notes[6]
    assert grace.box is not None
    grace.box = NoteBox((0.161, 0.25, 0.0075, 0.0075), system=1, confidence=1.0)  # under rh[1]
    assert not any(n.grace for n in with_grace_notes(notes))
    grace.box = NoteBox((0.42, 0.2, 0.0075, 0.0075), system=1, confidence=1.0)  # after rh[5]
    assert not any(n.grace for n in with_grace_notes(notes))
    grace.box = NoteBox((0.145, 0.2, 0.0075, 0.0075), system=1, confidence=1.0)
    assert [n.grace for n in with_grace_notes(notes)].count(True) == 1


def test_a_rest_beside_another_voices_note_joins_its_column() -> None:
    # an eighth rest of the right hand over the left hand's chord sounds from the chord's
    # onset and tells where the next column starts; a rest on a note of its own voice is a
    # misread and adds nothing
    chord = _boxed(2, 0.10, Fr(3), 0)
    eighths = [_boxed(1, 0.13 + 0.03 * i, Fr(1, 2), 1 + i) for i in range(2)]
    columns = _columns([chord, *eighths])
    beside = _boxed(1, 0.101, Fr(1, 2), -1, rest=True)
    on_a_note = _boxed(1, 0.131, Fr(1), -1, rest=True)
    joined = _with_rests(columns, [beside, on_a_note])
    assert [len(col) for col in joined] == [2, 1, 1]
    assert beside in joined[0]


def test_a_rest_oemer_put_past_the_barline_still_takes_its_place() -> None:
    # 3/4 (Clara Schumann op. 1/4, bar 18): three eighths over a dotted half chord, then an
    # eighth rest (read as a whole rest: it weighs nothing) and a quarter rest. oemer's
    # offsets put the second eighth at 3/2 and the quarter rest at 3, past the barline.
    notes = [_boxed(1, x, Fr(1, 2), i) for i, x in enumerate([0.819, 0.852, 0.876])]
    chord = _boxed(2, 0.823, Fr(3), 5)
    eighth_rest = _boxed(1, 0.900, Fr(4), -1, rest=True)
    quarter_rest = _boxed(1, 0.922, Fr(1), -1, rest=True)
    for offset, n in zip([Fr(0), Fr(3, 2), Fr(2), Fr(5, 2)], [*notes, eighth_rest], strict=True):
        n.offset = offset
    quarter_rest.offset = Fr(3)
    page = PageScore(page=1, notes=[*notes, chord, eighth_rest, quarter_rest], measures=1)
    fixed = repair_rhythm(page, Fr(3))
    assert sorted(n.offset for n in fixed.notes if n.staff == 1) == [Fr(0), Fr(1, 2), Fr(1)]


def test_a_chord_with_a_second_is_one_column_not_a_chain() -> None:
    # Left hand: eighth chords whose second puts one head beside the stem, a head's width to
    # the right; the right hand's sixteenths stand between them. The displaced head must not
    # pull the next sixteenth into the chord's column.
    lh: list[RawNote] = []
    for i in range(3):
        x = 0.10 + 0.04 * i
        lh += [_boxed(2, x, Fr(1, 2), 10 + i), _boxed(2, x + 0.009, Fr(1, 2), 10 + i)]
    rh = [_boxed(1, 0.10 + 0.02 * i, Fr(1, 4), i) for i in range(6)]
    for n in [*lh, *rh]:
        n.offset = Fr(0)  # oemer's bookkeeping collapsed
        n.measure = 1  # not the page's first bar, which may be a pick-up
    fixed = repair_rhythm(PageScore(page=1, notes=[*lh, *rh], measures=2), Fr(3, 2))
    assert sorted(n.offset for n in fixed.notes if n.staff == 1) == [Fr(i, 4) for i in range(6)]
    assert sorted({n.offset for n in fixed.notes if n.staff == 2}) == [Fr(0), Fr(1, 2), Fr(1)]


def test_rests_of_both_staves_one_above_the_other_are_one_column() -> None:
    # a bar that ends with an eighth rest in each hand, one above the other, ends with one
    # column lasting an eighth, not two in a row (Clara Schumann op. 1/2, bar 16)
    columns = _columns([_boxed(1, 0.33, Fr(1, 2), 0), _boxed(2, 0.331, Fr(1, 2), 1)])
    rests = [_boxed(1, 0.390, Fr(1, 2), -1, rest=True), _boxed(2, 0.391, Fr(1, 2), -1, rest=True)]
    later = _boxed(2, 0.42, Fr(1, 2), -1, rest=True)
    joined = _with_rests(columns, [*rests, later])
    assert [len(col) for col in joined] == [2, 2, 1]
    assert set(map(id, joined[1])) == set(map(id, rests))


def test_a_rest_keeps_its_value_where_oemers_offset_runs_past_the_barline() -> None:
    # 3/4, one voice as oemer offset it: quarter, quarter, eighth rest at 9/4 (over-full:
    # the rest really starts at 2), eighth rest at 11/4, quarter rest at 3, and a rest
    # oemer put on the first note
    notes = [_boxed(1, 0.10, Fr(1), 0), _boxed(1, 0.13, Fr(1), 1)]
    rests = [_boxed(1, 0.16 + 0.02 * i, v, -1, rest=True) for i, v in enumerate([Fr(1, 2)] * 2)]
    quarter_rest = _boxed(1, 0.20, Fr(1), -1, rest=True)
    on_a_note = _boxed(1, 0.101, Fr(1, 2), -1, rest=True)
    oemer = [Fr(0), Fr(1), Fr(9, 4), Fr(11, 4), Fr(3)]
    for n, offset in zip([*notes, *rests, quarter_rest], oemer, strict=True):
        n.offset = offset
    placed = _placed_rests([*notes, *rests, quarter_rest, on_a_note], Fr(3))
    # each with its own value, none cut at the barline; the rest on a note left out
    assert [(r.offset, r.duration) for r in placed] == [
        (Fr(9, 4), Fr(1, 2)),
        (Fr(11, 4), Fr(1, 2)),
        (Fr(3), Fr(1)),
    ]


def test_a_dotted_rest_value_places_its_column_but_weighs_nothing() -> None:
    # 2/4 (Joplin, bar 5): sixteenth rests over the left hand's eighths, read as dotted
    # sixteenths (a dot of ink beside them); counted, they put the next right-hand chord
    # late
    def at(staff: int, x: float, value: Fr, key: int, rest: bool = False) -> RawNote:
        n = _boxed(staff, x, value, key, rest=rest)
        n.measure = 1
        return n

    dotted = Fr(3, 8)
    notes = [
        at(1, 0.185, Fr(4), -1, rest=True),  # a sixteenth rest read as a whole one
        at(2, 0.186, Fr(1), 0),
        at(1, 0.201, Fr(1, 4), 1),
        at(1, 0.225, Fr(1, 4), 2),
        at(1, 0.249, Fr(1, 4), 3),
        at(1, 0.267, dotted, -1, rest=True),
        at(2, 0.267, Fr(1, 2), 4),
        at(1, 0.282, Fr(1, 4), 5),
        at(1, 0.303, dotted, -1, rest=True),
        at(2, 0.303, Fr(1, 2), 6),
        at(1, 0.318, Fr(1, 4), 7),
    ]
    oemer = [Fr(0), Fr(0), Fr(1, 4), Fr(1, 2), Fr(3, 4), Fr(1), Fr(1)]
    oemer += [Fr(11, 8), Fr(3, 2), Fr(3, 2), Fr(15, 8)]
    for n, offset in zip(notes, oemer, strict=True):
        n.offset = offset
    fixed = repair_rhythm(PageScore(page=1, notes=notes, measures=2), Fr(2))
    right = sorted(n.offset for n in fixed.notes if n.staff == 1)
    assert right == [Fr(1, 4), Fr(1, 2), Fr(3, 4), Fr(5, 4), Fr(7, 4)]
