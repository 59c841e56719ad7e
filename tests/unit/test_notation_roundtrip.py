"""music21 ⇄ Symbolic Score IR: conversion details and lossless round trips."""

from __future__ import annotations

from fractions import Fraction

import pytest
from music21 import articulations, chord, converter, note, stream
from music21.musicxml.m21ToXml import GeneralObjectExporter

from etude.errors import BadInputError
from etude.notation import ir_to_music21, ir_v2_from_source_fingering, score_to_ir_v1
from schemas.ir import Provenance, ScoreIRV1, ScoreIRV2
from tests.unit.notation_fixtures import (
    CLARA_OP1,
    CLARA_OP1_FINGER_COUNTS,
    chord_groups,
    corpus_score,
    edge_case_ir_v1,
    note_keys,
)


def _assert_same_music(a: ScoreIRV1 | ScoreIRV2, b: ScoreIRV1 | ScoreIRV2) -> None:
    assert note_keys(b.notes) == note_keys(a.notes)
    assert chord_groups(b.notes) == chord_groups(a.notes)
    assert [(m.number, m.onset, m.length) for m in b.measures] == [
        (m.number, m.onset, m.length) for m in a.measures
    ]
    assert b.key_signatures == a.key_signatures
    assert b.time_signatures == a.time_signatures


def _via_musicxml(score: stream.Score) -> stream.Score:
    data = GeneralObjectExporter(score).parse()
    parsed = converter.parseData(data, format="musicxml")
    assert isinstance(parsed, stream.Score)
    return parsed


@pytest.mark.parametrize("name", CLARA_OP1)
def test_clara_source_fingering_is_kept(name: str) -> None:
    ir = score_to_ir_v1(corpus_score(name))
    fingered = [n for n in ir.notes if n.source_finger is not None]
    assert len(fingered) == CLARA_OP1_FINGER_COUNTS[name]
    assert all(n.hand == ("right" if n.staff == 1 else "left") for n in fingered)


def test_clara_op1n1_ir_v1_shape() -> None:
    ir = score_to_ir_v1(corpus_score(CLARA_OP1[0]))
    assert [n.id for n in ir.notes] == [f"n{i}" for i in range(1, len(ir.notes) + 1)]
    assert [m.number for m in ir.measures] == list(range(1, 41))
    assert all(m.length == 3 for m in ir.measures)
    assert [(k.measure, k.fifths) for k in ir.key_signatures] == [(1, -3), (21, -4)]
    assert [(t.measure, t.numerator, t.denominator) for t in ir.time_signatures] == [(1, 3, 4)]
    assert {n.hand for n in ir.notes} == {"right", "left"}
    assert {n.voice for n in ir.notes} == {1, 2}
    assert all(n.confidence == 1.0 for n in ir.notes)
    # ids follow (onset, staff, pitch)
    keys = [(n.onset, n.staff, n.midi) for n in ir.notes if not n.grace]
    assert keys == sorted(keys)
    for n in ir.notes:
        assert n.onset == ir.measures[n.measure - 1].onset + n.measure_onset
        assert isinstance(n.onset, Fraction)
    # triplets stay exact
    assert any(n.duration == Fraction(1, 6) for n in ir.notes)
    # the same input always gives the same IR
    assert score_to_ir_v1(corpus_score(CLARA_OP1[0])) == ir


def test_clara_op1n1_round_trips_through_music21_and_musicxml() -> None:
    ir = score_to_ir_v1(corpus_score(CLARA_OP1[0]))
    built = ir_to_music21(ir)
    _assert_same_music(ir, score_to_ir_v1(built))
    _assert_same_music(ir, score_to_ir_v1(_via_musicxml(built)))


def test_pickup_bar_and_key_changes_from_corpus() -> None:
    ir = score_to_ir_v1(corpus_score("joplin/maple_leaf_rag"))
    assert ir.measures[0].number == 1  # music21 numbers the pickup 0: we renumber
    assert ir.measures[0].length == Fraction(1, 2)
    assert ir.measures[1].onset == Fraction(1, 2)
    assert [k.measure for k in ir.key_signatures] == [1, 52, 69]
    assert any(n.tie == "start" for n in ir.notes)


def test_edge_cases_round_trip_directly() -> None:
    ir = edge_case_ir_v1()
    _assert_same_music(ir, score_to_ir_v1(ir_to_music21(ir)))


def test_edge_cases_round_trip_through_musicxml() -> None:
    ir = edge_case_ir_v1()
    back = score_to_ir_v1(_via_musicxml(ir_to_music21(ir)))
    _assert_same_music(ir, back)
    assert back.meta.title == "Edge cases"
    assert back.meta.composer == "Étude tests"


def test_edge_case_ir_v2_round_trip_keeps_v2_fingers() -> None:
    ir = ir_v2_from_source_fingering(edge_case_ir_v1())
    back = ir_v2_from_source_fingering(score_to_ir_v1(_via_musicxml(ir_to_music21(ir))))
    _assert_same_music(ir, back)


def test_ir_v2_from_source_fingering_invents_nothing() -> None:
    v1 = edge_case_ir_v1()
    v2 = ir_v2_from_source_fingering(v1)
    assert v2.fingering_model.name == "source-editorial"
    assert [n.id for n in v2.notes] == [n.id for n in v1.notes]
    for a, b in zip(v1.notes, v2.notes, strict=True):
        assert b.finger == a.source_finger
        assert b.finger_fixed is (a.source_finger is not None)
        assert b.finger_confidence == (1.0 if a.source_finger is not None else None)
        assert b.source_finger == a.source_finger
        assert b.alternatives == ()


def _two_staff_score(rh: stream.Measure, lh: stream.Measure) -> stream.Score:
    score = stream.Score()
    for m in (rh, lh):
        part = stream.PartStaff()
        part.append(m)
        score.insert(0, part)
    return score


def test_chord_fingering_maps_in_pitch_order() -> None:
    rh = stream.Measure(number=1)
    c = chord.Chord(["E4", "C4", "G4"], quarterLength=4)
    # as music21's MusicXML importer leaves them: on the chord, in pitch order
    c.articulations = [articulations.Fingering(1), articulations.Fingering(2)]
    c.articulations.append(articulations.Fingering(5))
    rh.append(c)
    lh = stream.Measure(number=1)
    lh.append(note.Rest(quarterLength=4))
    ir = score_to_ir_v1(_two_staff_score(rh, lh))
    assert {(n.spelled, n.source_finger) for n in ir.notes} == {
        ("C4", 1),
        ("E4", 2),
        ("G4", 5),
    }
    assert len({n.chord for n in ir.notes}) == 1


def test_fingering_on_chord_notes_and_substitution_text() -> None:
    rh = stream.Measure(number=1)
    c = chord.Chord(["C4", "E4"], quarterLength=2)
    c.notes[1].articulations.append(articulations.Fingering(3))
    rh.append(c)
    n = note.Note("G4", quarterLength=2)
    n.articulations.append(articulations.Fingering("4-1"))
    rh.append(n)
    lh = stream.Measure(number=1)
    lh.append(note.Rest(quarterLength=4))
    ir = score_to_ir_v1(_two_staff_score(rh, lh))
    assert [(x.spelled, x.source_finger) for x in ir.notes] == [
        ("C4", None),
        ("E4", 3),
        ("G4", 4),
    ]


def test_provenance_per_measure() -> None:
    score = ir_to_music21(edge_case_ir_v1())
    pages = {1: Provenance(page=1), 2: Provenance(page=1), 3: Provenance(page=2)}
    ir = score_to_ir_v1(score, provenance=pages)
    assert [m.provenance for m in ir.measures] == [pages[1], pages[2], pages[3], None]
    assert all(n.provenance == pages.get(n.measure) for n in ir.notes)
    whole = score_to_ir_v1(score, provenance=Provenance(page=1))
    assert all(n.provenance == Provenance(page=1) for n in whole.notes)


def test_three_parts_is_bad_input() -> None:
    score = stream.Score()
    for _ in range(3):
        part = stream.Part()
        m = stream.Measure(number=1)
        m.append(note.Note("C4", quarterLength=4))
        part.append(m)
        score.insert(0, part)
    with pytest.raises(BadInputError, match="3 parts"):
        score_to_ir_v1(score)


def test_single_part_goes_to_the_right_hand() -> None:
    score = stream.Score()
    part = stream.Part()
    m = stream.Measure(number=1)
    m.append(note.Note("C4", quarterLength=4))
    part.append(m)
    score.insert(0, part)
    ir = score_to_ir_v1(score)
    assert [(n.staff, n.hand) for n in ir.notes] == [(1, "right")]
    built = ir_to_music21(ir)
    assert len(built.parts) == 2  # the left-hand staff is there, with a bar rest
