"""Symbolic Score IR (v1 or v2) → music21 score: one piano part on two staves."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Final

from music21 import (
    articulations,
    chord,
    clef,
    instrument,
    key,
    layout,
    metadata,
    meter,
    note,
    pitch,
    stream,
    tie,
)

from schemas.ir import KeySignature, Measure, NoteV1, NoteV2, ScoreIRV1, ScoreIRV2, TimeSignature

PART_ID: Final = "P1"
_STAFF_IDS: Final = {1: "P1-Staff1", 2: "P1-Staff2"}
# Median MIDI pitch of a bar beyond which the staff reads better in the other clef; the gap
# between the two keeps the clef from flapping from bar to bar.
_TO_BASS_BELOW: Final = 55  # G3: two ledger lines below the treble staff
_TO_TREBLE_ABOVE: Final = 66  # F#4: above the bass staff's top ledger lines
# Rest values a gap is cut into, each aligned on a multiple of itself (beat-aware rests).
_CLEFS: Final[dict[str, Callable[[], clef.Clef]]] = {"G": clef.TrebleClef, "F": clef.BassClef}
_REST_VALUES: Final = tuple(Fraction(4, 2**k) for k in range(8))


@dataclass(slots=True)
class _Event:
    """What one voice plays at one instant: a note, a chord, or a grace note/chord."""

    onset: Fraction  # from the start of the measure
    duration: Fraction
    grace: bool
    notes: list[NoteV1] = field(default_factory=list)

    @property
    def end(self) -> Fraction:
        return self.onset + self.duration


def ir_to_music21(ir: ScoreIRV1 | ScoreIRV2) -> stream.Score:
    """Build a music21 score for export: measures, signatures, clefs, voices, chords, ties,
    rests filling every gap, and a Fingering on each note whose finger is known (IR v2:
    `finger`; IR v1: the `source_finger` printed in the source)."""
    score = stream.Score(id="etude")
    md = metadata.Metadata()
    if ir.meta.title:
        md.title = ir.meta.title
    if ir.meta.composer:
        md.composer = ir.meta.composer
    score.metadata = md

    notes_by_cell: dict[tuple[int, int], list[NoteV1]] = defaultdict(list)
    for n in ir.notes:
        notes_by_cell[(n.staff, n.measure)].append(n)

    time_sigs = _time_signatures(ir)
    staves: list[stream.PartStaff] = []
    for staff in (1, 2):
        part = stream.PartStaff(id=_STAFF_IDS[staff])
        if staff == 1:
            piano = instrument.Piano()
            piano.partId = PART_ID
            piano.instrumentId = f"{PART_ID}-I1"
            part.insert(0, piano)
        clefs = _clefs(staff, ir.measures, [n for n in ir.notes if n.staff == staff])
        previous_clef: str | None = None
        for m_ir in ir.measures:
            clef_sign = clefs[m_ir.number]
            m = _measure(
                m_ir,
                notes_by_cell.get((staff, m_ir.number), []),
                first=m_ir is ir.measures[0],
                clef_obj=None if clef_sign == previous_clef else _CLEFS[clef_sign](),
                key_sigs=ir.key_signatures,
                time_sigs=time_sigs,
            )
            part.insert(m_ir.onset, m)
            previous_clef = clef_sign
        part.makeAccidentals(inPlace=True)
        staves.append(part)

    for part in staves:
        score.insert(0, part)
    score.insert(0, layout.StaffGroup(staves, name="Piano", symbol="brace", barTogether=True))
    return score


def _time_signatures(ir: ScoreIRV1 | ScoreIRV2) -> tuple[TimeSignature, ...]:
    if ir.time_signatures or not ir.measures:
        return ir.time_signatures
    # No time signature recognised: infer the commonest bar length so that bars still close.
    lengths = [m.length for m in ir.measures if m.length > 0]
    common = statistics.mode(lengths) if lengths else Fraction(4)
    denominator = 4
    while (common * denominator / 4).denominator != 1:
        denominator *= 2
    numerator = int(common * denominator / 4)
    return (TimeSignature(measure=1, numerator=max(numerator, 1), denominator=denominator),)


def _clefs(staff: int, measures: Sequence[Measure], notes: Sequence[NoteV1]) -> dict[int, str]:
    """Clef per measure for one staff: "G" or "F", changing only where the music moves well
    into the other clef's range (the IR does not carry the source's clefs)."""
    by_measure: dict[int, list[int]] = defaultdict(list)
    for n in notes:
        by_measure[n.measure].append(n.midi)
    current = "G" if staff == 1 else "F"
    first = next((by_measure[m.number] for m in measures if by_measure.get(m.number)), None)
    if first is not None:
        current = _clef_step(current, statistics.median(first))
    result: dict[int, str] = {}
    for m in measures:
        pitches = by_measure.get(m.number)
        if pitches:
            current = _clef_step(current, statistics.median(pitches))
        result[m.number] = current
    return result


def _clef_step(current: str, median: float) -> str:
    if current == "G" and median < _TO_BASS_BELOW:
        return "F"
    if current == "F" and median > _TO_TREBLE_ABOVE:
        return "G"
    return current


def _bar_length(number: int, time_sigs: Iterable[TimeSignature]) -> Fraction | None:
    current: TimeSignature | None = None
    for ts in time_sigs:
        if ts.measure <= number:
            current = ts
    return current.bar_length if current is not None else None


def _measure(
    m_ir: Measure,
    notes: Sequence[NoteV1],
    *,
    first: bool,
    clef_obj: clef.Clef | None,
    key_sigs: Sequence[KeySignature],
    time_sigs: Sequence[TimeSignature],
) -> stream.Measure:
    m = stream.Measure(number=m_ir.number)
    if clef_obj is not None:
        m.insert(0, clef_obj)
    for ks in key_sigs:
        if ks.measure == m_ir.number or (first and ks.measure < m_ir.number):
            m.insert(0, _key(ks))
    for ts in time_sigs:
        if ts.measure == m_ir.number:
            m.insert(0, meter.TimeSignature(f"{ts.numerator}/{ts.denominator}"))

    bar = _bar_length(m_ir.number, time_sigs)
    if bar is not None and m_ir.length < bar:
        # A short first bar is a pickup (anacrusis); a short later bar just ends early.
        if first:
            m.paddingLeft = bar - m_ir.length
        else:
            m.paddingRight = bar - m_ir.length

    lanes = dict(_lanes(notes))
    if not lanes:
        rest = note.Rest(quarterLength=m_ir.length)
        # A whole-bar rest is drawn centred; MusicXML readers take measure="yes" as a full bar,
        # so a pickup's rest must stay an ordinary rest or the bar grows back to full length.
        rest.fullMeasure = bar is None or m_ir.length == bar
        m.insert(0, rest)
        return m
    if list(lanes) == [1]:
        _fill(m, lanes[1], m_ir.length)
        return m
    for voice_id in range(1, max(lanes) + 1):
        v = stream.Voice(id=str(voice_id))
        if voice_id in lanes:
            _fill(v, lanes[voice_id], m_ir.length)
        else:
            # Readers number voices by rank within the bar: keep an invisible placeholder so
            # that the voices after it keep their numbers.
            placeholder = note.Rest(quarterLength=m_ir.length)
            placeholder.style.hideObjectOnPrint = True
            v.insert(0, placeholder)
        m.insert(0, v)
    return m


def _key(ks: KeySignature) -> key.KeySignature:
    sig = key.KeySignature(ks.fifths)
    return sig.asKey(ks.mode) if ks.mode is not None else sig


def _lanes(notes: Sequence[NoteV1]) -> list[tuple[int, list[_Event]]]:
    """Split one staff's notes of one measure into voices that never overlap.

    Each IR voice keeps its number; if the IR puts overlapping events in one voice (an OMR
    slip), the overlapping ones move to extra voices numbered after the highest one."""
    by_voice: dict[int, list[_Event]] = defaultdict(list)
    chord_events: dict[tuple[int, str], _Event] = {}
    for n in sorted(notes, key=_id_order):
        if n.chord is not None and (n.voice, n.chord) in chord_events:
            chord_events[(n.voice, n.chord)].notes.append(n)
            continue
        event = _Event(onset=n.measure_onset, duration=n.duration, grace=n.grace, notes=[n])
        by_voice[n.voice].append(event)
        if n.chord is not None:
            chord_events[(n.voice, n.chord)] = event

    result: list[tuple[int, list[_Event]]] = []
    extra = max(by_voice, default=0)
    for voice in sorted(by_voice):
        lanes: list[list[_Event]] = []
        ends: list[Fraction] = []
        for event in sorted(by_voice[voice], key=lambda e: (e.onset, not e.grace)):
            for i, end in enumerate(ends):
                if end <= event.onset:
                    lanes[i].append(event)
                    ends[i] = max(end, event.end)
                    break
            else:
                lanes.append([event])
                ends.append(event.end)
        for i, lane in enumerate(lanes):
            if i == 0:
                result.append((voice, lane))
            else:
                extra += 1
                result.append((extra, lane))
    return result


def _id_order(n: NoteV1) -> tuple[int, str]:
    digits = n.id[1:] if n.id[:1] == "n" else ""
    return (int(digits), "") if digits.isdigit() else (1 << 62, n.id)


def _fill(
    container: stream.Stream[note.GeneralNote], events: Sequence[_Event], length: Fraction
) -> None:
    cursor = Fraction(0)
    for event in events:
        _rests(container, cursor, event.onset)
        container.insert(event.onset, _element(event))
        cursor = max(cursor, event.end)
    _rests(container, cursor, length)


def _rests(container: stream.Stream[note.GeneralNote], start: Fraction, end: Fraction) -> None:
    """Fill [start, end) with rests that start on multiples of their own value, as engravers
    do (an eighth then a quarter after an off-beat, not one dotted quarter)."""
    cursor = start
    while cursor < end:
        value = next(
            (v for v in _REST_VALUES if cursor % v == 0 and cursor + v <= end), end - cursor
        )
        container.insert(cursor, note.Rest(quarterLength=value))
        cursor += value


def _element(event: _Event) -> note.NotRest:
    fingered = [n for n in event.notes if _finger(n) is not None]
    unfingered = [n for n in event.notes if _finger(n) is None]
    if len(event.notes) == 1:
        el: note.NotRest = _note(event.notes[0])
        if fingered:
            el.articulations.append(articulations.Fingering(_finger(fingered[0])))
    else:
        # music21 writes a chord's Fingering marks onto its notes by position, so the fingered
        # notes go first; the importer reads them back in pitch order (see from_music21).
        ordered = sorted(fingered, key=lambda n: n.midi) + sorted(unfingered, key=lambda n: n.midi)
        el = chord.Chord([_note(n) for n in ordered])
        for n in sorted(fingered, key=lambda n: n.midi):
            el.articulations.append(articulations.Fingering(_finger(n)))
    if event.grace:
        el.duration.type = "eighth"
        el = el.getGrace(appoggiatura=False)
    else:
        el.duration.quarterLength = event.duration
    return el


def _note(n: NoteV1) -> note.Note:
    p = pitch.Pitch(step=n.pitch.step, octave=n.pitch.octave)
    if n.pitch.alter:
        p.accidental = pitch.Accidental(n.pitch.alter)
    out = note.Note(p)
    if n.tie is not None:
        out.tie = tie.Tie(n.tie)
    return out


def _finger(n: NoteV1) -> int | None:
    if isinstance(n, NoteV2):
        return n.finger
    return n.source_finger
