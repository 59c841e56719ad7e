"""Small IR fixtures and comparison helpers for the notation and render tests."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable
from fractions import Fraction
from typing import Literal

from music21 import corpus, stream

from etude.notation import ir_v2_from_source_fingering, score_to_ir_v1
from schemas.ir import (
    FingeringModelInfo,
    KeySignature,
    Measure,
    NoteV1,
    NoteV2,
    Pitch,
    ScoreIRV1,
    ScoreIRV2,
    ScoreMeta,
    TimeSignature,
)

CLARA_OP1 = tuple(f"schumann_clara/polonaise_op1n{i}" for i in range(1, 5))
# Editorial fingering marks in music21's copies of Clara Schumann's Op. 1 Nos. 1-4.
CLARA_OP1_FINGER_COUNTS = {CLARA_OP1[0]: 14, CLARA_OP1[1]: 5, CLARA_OP1[2]: 29, CLARA_OP1[3]: 9}

NoteKey = tuple[Fraction, int, int, str, Fraction, bool, str | None, int | None, int]


@functools.cache
def corpus_score(name: str) -> stream.Score:
    """Parsed once per test session: music21's parser is the slow part of these tests."""
    score = corpus.parse(name)
    assert isinstance(score, stream.Score)
    return score


@functools.cache
def corpus_ir_v2(name: str) -> ScoreIRV2:
    return ir_v2_from_source_fingering(score_to_ir_v1(corpus_score(name)))


def note_key(n: NoteV1) -> NoteKey:
    finger = n.finger if isinstance(n, NoteV2) else n.source_finger
    return (
        n.onset,
        n.staff,
        n.midi,
        n.spelled,
        n.duration,
        n.grace,
        n.tie,
        finger,
        n.voice,
    )


def note_keys(notes: Iterable[NoteV1]) -> Counter[NoteKey]:
    return Counter(note_key(n) for n in notes)


def chord_groups(notes: Iterable[NoteV1]) -> Counter[frozenset[tuple[Fraction, int, int]]]:
    groups: dict[str, set[tuple[Fraction, int, int]]] = {}
    for n in notes:
        if n.chord is not None:
            groups.setdefault(n.chord, set()).add((n.onset, n.staff, n.midi))
    return Counter(frozenset(g) for g in groups.values())


def make_note(
    step: str,
    octave: int,
    onset: Fraction | int,
    duration: Fraction | int,
    measure: Measure,
    *,
    alter: int = 0,
    staff: int = 1,
    voice: int = 1,
    chord: str | None = None,
    tie: Literal["start", "stop", "continue"] | None = None,
    grace: bool = False,
    finger: int | None = None,
) -> NoteV1:
    pitch = Pitch.model_validate({"step": step, "alter": alter, "octave": octave})
    onset = Fraction(onset)
    return NoteV1(
        id="tmp",
        pitch=pitch,
        spelled=pitch.spelled,
        midi=pitch.midi,
        onset=onset,
        duration=Fraction(duration),
        measure=measure.number,
        measure_onset=onset - measure.onset,
        staff=staff,
        hand="right" if staff == 1 else "left",
        voice=voice,
        chord=chord,
        tie=tie,
        grace=grace,
        source_finger=finger,
    )


def edge_case_ir_v1() -> ScoreIRV1:
    """Four bars with a pickup, a key change, chords with full and partial fingering, a tie
    across a barline, two voices in one staff, a grace note, a triplet and an empty bar."""
    m1 = Measure(number=1, onset=Fraction(0), length=Fraction(1))
    m2 = Measure(number=2, onset=Fraction(1), length=Fraction(4))
    m3 = Measure(number=3, onset=Fraction(5), length=Fraction(4))
    m4 = Measure(number=4, onset=Fraction(9), length=Fraction(3))
    third = Fraction(1, 3)
    notes = [
        # pickup
        make_note("D", 5, 0, 1, m1, finger=3),
        # bar 2, right hand: a fully fingered chord, then a tie into bar 3; voice 2 below
        make_note("G", 4, 1, 2, m2, chord="a", finger=1),
        make_note("B", 4, 1, 2, m2, chord="a", finger=3),
        make_note("D", 5, 1, 2, m2, chord="a", finger=5),
        make_note("C", 5, 3, 1, m2),
        make_note("E", 5, 4, 1, m2, tie="start", finger=4),
        make_note("D", 4, 1, 2, m2, voice=2),
        make_note("C", 4, 3, 2, m2, voice=2),
        # bar 2, left hand: a chord with one fingered note
        make_note("G", 2, 1, 4, m2, staff=2, chord="b", finger=5),
        make_note("D", 3, 1, 4, m2, staff=2, chord="b"),
        # bar 3 (B-flat major from here): tie stop, grace note, triplet, a rest at the end
        make_note("E", 5, 5, 1, m3, alter=-1, tie="stop"),
        make_note("C", 6, 6, 0, m3, grace=True),
        make_note("B", 5, 6, 1, m3, alter=-1, finger=4),
        make_note("D", 5, 7, third, m3, finger=1),
        make_note("E", 5, 7 + third, third, m3, alter=-1, finger=2),
        make_note("F", 5, 7 + 2 * third, third, m3, finger=3),
        make_note("B", 2, 5, 4, m3, alter=-1, staff=2, finger=5),
        # bar 4 completes the pickup; the left hand rests
        make_note("D", 5, 9, 3, m4),
    ]
    # The tie needs the same spelled pitch on both sides.
    notes[5] = make_note("E", 5, 4, 1, m2, alter=-1, tie="start", finger=4)
    ordered = sorted(notes, key=lambda n: (n.onset, n.staff, not n.grace, n.midi, n.voice))
    numbered = [n.model_copy(update={"id": f"n{i}"}) for i, n in enumerate(ordered, start=1)]
    return ScoreIRV1(
        meta=ScoreMeta(title="Edge cases", composer="Étude tests"),
        key_signatures=(
            KeySignature(measure=1, fifths=1, mode="major"),
            KeySignature(measure=3, fifths=-2, mode="major"),
        ),
        time_signatures=(TimeSignature(measure=1, numerator=4, denominator=4),),
        measures=(m1, m2, m3, m4),
        notes=tuple(numbered),
    )


def edge_case_ir_v2() -> ScoreIRV2:
    v1 = edge_case_ir_v1()
    notes = tuple(
        NoteV2.model_validate(
            {
                **n.model_dump(),
                "finger": n.source_finger,
                "finger_confidence": 0.9 if n.source_finger else None,
            }
        )
        for n in v1.notes
    )
    return ScoreIRV2(
        meta=v1.meta,
        key_signatures=v1.key_signatures,
        time_signatures=v1.time_signatures,
        measures=v1.measures,
        notes=notes,
        fingering_model=FingeringModelInfo(name="test", version="0"),
    )
