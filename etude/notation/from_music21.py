"""music21 score → Symbolic Score IR v1 (and the honest IR v2 of a symbolic source)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final, Literal, cast

from music21 import articulations, chord, harmony, key, meter, note, stream

from etude.errors import BadInputError
from etude.notation._fractions import to_fraction
from schemas.ir import (
    FingeringModelInfo,
    KeySignature,
    Measure,
    NoteV1,
    NoteV2,
    Pitch,
    Provenance,
    ScoreIRV1,
    ScoreIRV2,
    ScoreMeta,
    TimeSignature,
)

SOURCE_FINGERING_MODEL: Final = "source-editorial"

_HANDS: Final[dict[int, Literal["right", "left"]]] = {1: "right", 2: "left"}
_TIE_TYPES: Final = frozenset({"start", "stop", "continue"})
_FINGER_TEXT: Final = re.compile(r"^\s*([1-5])")
_FILE_NAME: Final = re.compile(r"\.(mxl|xml|musicxml|krn|mid|midi|abc|mei|ly)$", re.IGNORECASE)

ProvenanceArg = Provenance | Mapping[int, Provenance] | None


@dataclass(frozen=True, slots=True)
class _RawNote:
    """A note as read from music21, before ids are assigned."""

    pitch: Pitch
    onset: Fraction
    duration: Fraction
    measure: int
    measure_onset: Fraction
    staff: int
    voice: int
    chord_key: int | None  # index of the music21 Chord it belongs to, if any
    tie: Literal["start", "stop", "continue"] | None
    grace: bool
    finger: int | None
    order: int  # position in reading order, to keep grace-note sequences stable


def score_to_ir_v1(score: stream.Score, *, provenance: ProvenanceArg = None) -> ScoreIRV1:
    """Convert a piano score to IR v1.

    Two parts (or a two-staff part, which music21 imports as two PartStaffs): the first is the
    right hand on staff 1, the second the left hand on staff 2. One part: everything is staff 1.
    Measures are renumbered 1.. in order; a pickup keeps its actual (short) length.

    `provenance` is either one Provenance for the whole score or a mapping from the renumbered
    measure number to the measure's Provenance (e.g. the page and system an OMR engine found
    it on); notes inherit the provenance of their measure.
    """
    parts = list(score.parts)
    if not parts:
        raise BadInputError("the score has no parts")
    if len(parts) > 2:
        raise BadInputError(
            f"expected a piano score with one or two staves, got {len(parts)} parts"
        )

    staff_measures = [list(p.getElementsByClass(stream.Measure)) for p in parts]
    if not staff_measures[0]:
        raise BadInputError("the score has no measures")
    counts = {len(ms) for ms in staff_measures}
    if len(counts) != 1:
        raise BadInputError(f"the staves have different measure counts: {sorted(counts)}")

    measures = _measures(staff_measures, provenance)
    raw: list[_RawNote] = []
    chord_counter = [0]
    for staff_index, ms in enumerate(staff_measures, start=1):
        raw.extend(_staff_notes(staff_index, ms, measures, chord_counter))

    return ScoreIRV1(
        meta=_meta(score),
        key_signatures=tuple(_key_signatures(staff_measures[0])),
        time_signatures=tuple(_time_signatures(staff_measures[0])),
        measures=tuple(measures),
        notes=_assign_ids(raw, measures),
    )


def ir_v2_from_source_fingering(
    ir: ScoreIRV1, model_name: str = SOURCE_FINGERING_MODEL, version: str = "1"
) -> ScoreIRV2:
    """IR v2 that carries only the fingers printed in the source: nothing is invented."""
    notes = tuple(
        NoteV2.model_validate(
            {
                **n.model_dump(),
                "finger": n.source_finger,
                "finger_confidence": 1.0 if n.source_finger is not None else None,
                "finger_fixed": n.source_finger is not None,
            }
        )
        for n in ir.notes
    )
    return ScoreIRV2(
        meta=ir.meta,
        key_signatures=ir.key_signatures,
        time_signatures=ir.time_signatures,
        measures=ir.measures,
        notes=notes,
        fingering_model=FingeringModelInfo(name=model_name, version=version),
    )


def _meta(score: stream.Score) -> ScoreMeta:
    md = score.metadata
    if md is None:
        return ScoreMeta()
    title = md.title
    if not title and md.movementName and not _FILE_NAME.search(str(md.movementName)):
        # music21 puts the file name in movementName when the source has no title.
        title = md.movementName
    composer = md.composer
    return ScoreMeta(
        title=str(title) if title else None, composer=str(composer) if composer else None
    )


def _measures(
    staff_measures: Sequence[Sequence[stream.Measure]], provenance: ProvenanceArg
) -> list[Measure]:
    reference = staff_measures[0]
    onsets = [to_fraction(m.offset) for m in reference]
    result: list[Measure] = []
    for i, m in enumerate(reference):
        if i + 1 < len(reference):
            length = onsets[i + 1] - onsets[i]
        else:
            # The last bar has no successor: take what the staves actually fill, which for a
            # final bar that completes a pickup is shorter than the time signature says.
            length = max(to_fraction(ms[i].duration.quarterLength) for ms in staff_measures)
            if length == 0:
                length = _bar_length(m)
        number = i + 1
        result.append(
            Measure(
                number=number,
                onset=onsets[i],
                length=length,
                provenance=_provenance_for(provenance, number),
            )
        )
    return result


def _bar_length(m: stream.Measure) -> Fraction:
    ts = m.getContextByClass(meter.TimeSignature)
    if ts is None:
        return Fraction(4)
    return to_fraction(ts.barDuration.quarterLength)


def _provenance_for(provenance: ProvenanceArg, measure: int) -> Provenance | None:
    if provenance is None or isinstance(provenance, Provenance):
        return provenance
    return provenance.get(measure)


def _key_signatures(measures: Sequence[stream.Measure]) -> Iterator[KeySignature]:
    last: tuple[int, str | None] | None = None
    for number, m in enumerate(measures, start=1):
        for ks in m.getElementsByClass(key.KeySignature):
            mode = ks.mode if isinstance(ks, key.Key) and ks.mode in ("major", "minor") else None
            current = (int(ks.sharps), mode)
            if current != last:
                yield KeySignature(measure=number, fifths=current[0], mode=mode)
                last = current


def _time_signatures(measures: Sequence[stream.Measure]) -> Iterator[TimeSignature]:
    last: tuple[int, int] | None = None
    for number, m in enumerate(measures, start=1):
        for ts in m.getElementsByClass(meter.TimeSignature):
            current = (int(ts.numerator), int(ts.denominator))
            if current != last:
                yield TimeSignature(measure=number, numerator=current[0], denominator=current[1])
                last = current


def _voice_numbers(m: stream.Measure) -> dict[int, int]:
    """Voices of one bar (by object id) → 1, 2, ... in the order of their music21 ids.

    Numbered by rank within the bar, not by id: MusicXML writers number the voices of a
    two-staff part across both staves (left hand '5', '6'; music21 renumbers to avoid the
    right hand's), so ids are not comparable between bars or staves.
    """

    def sort_key(v: stream.Voice) -> tuple[int, int, str]:
        vid = str(v.id)
        return (0, int(vid), "") if vid.isdigit() else (1, 0, vid)

    return {id(v): i for i, v in enumerate(sorted(m.voices, key=sort_key), start=1)}


def _staff_notes(
    staff: int,
    measures_in: Sequence[stream.Measure],
    measures: Sequence[Measure],
    chord_counter: list[int],
) -> Iterator[_RawNote]:
    order = 0
    for m_in, m_ir in zip(measures_in, measures, strict=True):
        voice_numbers = _voice_numbers(m_in)
        containers: list[tuple[int, Fraction, stream.Stream[Any]]] = [(1, Fraction(0), m_in)]
        containers.extend((voice_numbers[id(v)], to_fraction(v.offset), v) for v in m_in.voices)
        for voice, container_offset, container in containers:
            for el in container.getElementsByClass(note.GeneralNote):
                if isinstance(el, harmony.Harmony) or not isinstance(el, note.Note | chord.Chord):
                    continue  # rests, chord symbols, unpitched percussion
                measure_onset = container_offset + to_fraction(el.offset)
                base = {
                    "onset": m_ir.onset + measure_onset,
                    "duration": Fraction(0)
                    if el.duration.isGrace
                    else to_fraction(el.duration.quarterLength),
                    "measure": m_ir.number,
                    "measure_onset": measure_onset,
                    "staff": staff,
                    "voice": voice,
                    "grace": bool(el.duration.isGrace),
                }
                if isinstance(el, chord.Chord):
                    chord_counter[0] += 1
                    fingers = _chord_fingers(el)
                    for n, finger in zip(el.notes, fingers, strict=True):
                        order += 1
                        yield _RawNote(
                            pitch=_pitch(n),
                            chord_key=chord_counter[0],
                            tie=_tie(n) or _tie(el),
                            finger=finger,
                            order=order,
                            **base,  # type: ignore[arg-type]
                        )
                else:
                    order += 1
                    yield _RawNote(
                        pitch=_pitch(el),
                        chord_key=None,
                        tie=_tie(el),
                        finger=_first_finger(el.articulations),
                        order=order,
                        **base,  # type: ignore[arg-type]
                    )


def _pitch(n: note.Note) -> Pitch:
    p = n.pitch
    alter = float(p.accidental.alter) if p.accidental is not None else 0.0
    if not alter.is_integer():
        raise BadInputError(f"microtonal pitch {p.nameWithOctave} is not supported")
    octave = p.octave if p.octave is not None else p.implicitOctave
    try:
        return Pitch(step=p.step, alter=int(alter), octave=int(octave))
    except ValueError as exc:
        raise BadInputError(f"unsupported pitch {p.nameWithOctave}: {exc}") from exc


def _tie(el: note.NotRest) -> Literal["start", "stop", "continue"] | None:
    if el.tie is None or el.tie.type not in _TIE_TYPES:
        return None
    return cast(Literal["start", "stop", "continue"], el.tie.type)


def _finger_value(f: articulations.Fingering) -> int | None:
    number = f.fingerNumber
    if isinstance(number, int) and not isinstance(number, bool):
        return number if 1 <= number <= 5 else None
    # Substitutions ("3-2") and other text: the finger that strikes the note comes first.
    match = _FINGER_TEXT.match(str(number)) if number is not None else None
    return int(match.group(1)) if match else None


def _fingerings(arts: Sequence[articulations.Articulation]) -> list[articulations.Fingering]:
    return [
        a
        for a in arts
        if isinstance(a, articulations.Fingering) and not getattr(a, "alternate", False)
    ]


def _first_finger(arts: Sequence[articulations.Articulation]) -> int | None:
    for f in _fingerings(arts):
        value = _finger_value(f)
        if value is not None:
            return value
    return None


def _chord_fingers(c: chord.Chord) -> list[int | None]:
    """One finger (or None) per note of `c`, in `c.notes` order.

    A finger attached to a chord note itself wins. Otherwise the chord's own Fingering marks
    are used: music21's MusicXML importer moves every note's <fingering> onto the Chord,
    sorted by the pitch of the note that carried it, so with one mark per note they map to
    the notes in pitch order. With fewer marks than notes the importer has lost which notes
    carried them; they go to the first notes of the chord (as written), in pitch order, which
    is also the order in which music21's exporter writes them back.
    """
    notes = list(c.notes)
    own = [_first_finger(n.articulations) for n in notes]
    if any(f is not None for f in own):
        return own
    marks = [_finger_value(f) for f in _fingerings(c.articulations)]
    if not marks:
        return [None] * len(notes)
    result: list[int | None] = [None] * len(notes)
    candidates = list(range(len(notes))) if len(marks) >= len(notes) else list(range(len(marks)))
    candidates.sort(key=lambda i: notes[i].pitch.ps)
    for i, mark in zip(candidates, marks, strict=False):
        result[i] = mark
    return result


def _assign_ids(raw: Sequence[_RawNote], measures: Sequence[Measure]) -> tuple[NoteV1, ...]:
    provenance = {m.number: m.provenance for m in measures}

    def sort_key(r: _RawNote) -> tuple[Fraction, int, int, int, int, int, int]:
        # Grace notes sound before the main note that shares their onset, in written order.
        return (
            r.onset,
            r.staff,
            0 if r.grace else 1,
            r.order if r.grace else 0,
            r.pitch.midi,
            r.voice,
            r.order,
        )

    ordered = sorted(raw, key=sort_key)
    chord_ids: dict[int, str] = {}
    notes: list[NoteV1] = []
    for i, r in enumerate(ordered, start=1):
        chord_id: str | None = None
        if r.chord_key is not None:
            chord_id = chord_ids.setdefault(r.chord_key, f"c{len(chord_ids) + 1}")
        notes.append(
            NoteV1(
                id=f"n{i}",
                pitch=r.pitch,
                spelled=r.pitch.spelled,
                midi=r.pitch.midi,
                onset=r.onset,
                duration=r.duration,
                measure=r.measure,
                measure_onset=r.measure_onset,
                staff=r.staff,
                hand=_HANDS[r.staff],
                voice=r.voice,
                chord=chord_id,
                tie=r.tie,
                grace=r.grace,
                confidence=1.0,
                source_finger=r.finger,
                provenance=provenance[r.measure],
            )
        )
    return tuple(notes)
