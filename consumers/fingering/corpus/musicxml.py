"""MusicXML (``.xml``/``.musicxml``/``.mxl``) -> Symbolic IR v1 for a piano part, keeping printed
``<fingering>`` as ``source_finger``.

A small ElementTree reader rather than music21: music21 puts the fingerings of a chord on the
chord as a whole and loses which note each one belongs to. Times stay exact (divisions ->
Fraction). Only the first part with two staves (the piano) is read; staff 1 = RH, 2 = LH.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zipfile
from fractions import Fraction
from pathlib import Path
from typing import Final

from schemas.ir import Measure, NoteV1, Pitch, ScoreIRV1, ScoreMeta, TimeSignature

_STEPS: Final = ("C", "D", "E", "F", "G", "A", "B")


def read_musicxml_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] != b"PK":
        return data
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        root_file = None
        if "META-INF/container.xml" in zf.namelist():
            container = ET.fromstring(zf.read("META-INF/container.xml"))
            for el in container.iter():
                if el.tag.endswith("rootfile") and el.get("full-path"):
                    root_file = el.get("full-path")
                    break
        if root_file is None:
            root_file = next(
                n for n in zf.namelist() if n.endswith(".xml") and not n.startswith("META")
            )
        return zf.read(root_file)


def strip_fingering(xml: bytes) -> bytes:
    """The same MusicXML without ``<fingering>`` marks (to evaluate a fingerer on them)."""
    return re.sub(rb"<fingering\b[^>]*>[^<]*</fingering>|<fingering\b[^>]*/>", b"", xml)


def _text(el: ET.Element | None, default: str = "") -> str:
    return el.text.strip() if el is not None and el.text else default


def musicxml_to_ir(xml: bytes, *, title: str | None = None) -> ScoreIRV1:
    root = ET.fromstring(xml)
    if root.tag != "score-partwise":
        raise ValueError(f"only score-partwise MusicXML is supported, got <{root.tag}>")
    part = None
    for candidate in root.findall("part"):
        staves = candidate.find("measure/attributes/staves")
        if staves is not None and _text(staves) == "2":
            part = candidate
            break
    if part is None:
        raise ValueError("no two-staff (piano) part found")
    divisions = 1
    onset = Fraction(0)
    measures: list[Measure] = []
    notes: list[NoteV1] = []
    time_sigs: list[TimeSignature] = []
    bar_length = Fraction(4)
    chord_counter = 0
    for m_index, measure in enumerate(part.findall("measure"), start=1):
        cursor = Fraction(0)
        furthest = Fraction(0)
        last_start = Fraction(0)
        last_chord_id: str | None = None
        last_note_pos = -1
        for el in measure:
            if el.tag == "attributes":
                if el.find("divisions") is not None:
                    divisions = int(_text(el.find("divisions"), "1"))
                t = el.find("time")
                if t is not None and t.find("beats") is not None:
                    try:
                        num = int(_text(t.find("beats")))
                        den = int(_text(t.find("beat-type")))
                        bar_length = Fraction(4 * num, den)
                        time_sigs.append(
                            TimeSignature(measure=m_index, numerator=num, denominator=den)
                        )
                    except ValueError:
                        pass
            elif el.tag == "backup":
                cursor -= Fraction(int(_text(el.find("duration"), "0")), divisions)
            elif el.tag == "forward":
                cursor += Fraction(int(_text(el.find("duration"), "0")), divisions)
                furthest = max(furthest, cursor)
            elif el.tag == "note":
                is_chord = el.find("chord") is not None
                grace = el.find("grace") is not None
                dur = (
                    Fraction(int(_text(el.find("duration"), "0")), divisions)
                    if not grace
                    else Fraction(0)
                )
                start = last_start if is_chord else cursor
                if not is_chord:
                    last_start = cursor
                    cursor += dur
                    furthest = max(furthest, cursor)
                pitch_el = el.find("pitch")
                if pitch_el is None:  # rest or unpitched
                    last_chord_id = None
                    continue
                step = _text(pitch_el.find("step"))
                alter = round(float(_text(pitch_el.find("alter"), "0")))
                octave = int(_text(pitch_el.find("octave"), "4"))
                pitch = Pitch(step=step, alter=max(-2, min(2, alter)), octave=octave)
                staff = int(_text(el.find("staff"), "1"))
                staff = 1 if staff <= 1 else 2
                voice_txt = _text(el.find("voice"), "1")
                voice = int(voice_txt) if voice_txt.isdigit() and int(voice_txt) >= 1 else 1
                tie_types = {t.get("type") for t in el.findall("tie")}
                tie = (
                    "continue"
                    if {"start", "stop"} <= tie_types
                    else "start"
                    if "start" in tie_types
                    else "stop"
                    if "stop" in tie_types
                    else None
                )
                finger = None
                for f in el.iter("fingering"):
                    digits = re.findall(r"[1-5]", f.text or "")
                    if digits and f.get("substitution") != "yes" and f.get("alternate") != "yes":
                        finger = int(digits[0])
                        break
                chord_id: str | None = None
                if is_chord and notes and last_note_pos == len(notes) - 1:
                    prev = notes[-1]
                    if last_chord_id is None:
                        chord_counter += 1
                        last_chord_id = f"c{chord_counter}"
                        notes[-1] = prev.model_copy(update={"chord": last_chord_id})
                    chord_id = last_chord_id
                elif not is_chord:
                    last_chord_id = None
                notes.append(
                    NoteV1(
                        id=f"n{len(notes) + 1}",
                        pitch=pitch,
                        spelled=pitch.spelled,
                        midi=pitch.midi,
                        onset=onset + start,
                        duration=dur,
                        measure=m_index,
                        measure_onset=start,
                        staff=staff,
                        hand="right" if staff == 1 else "left",
                        voice=voice,
                        chord=chord_id,
                        tie=tie,
                        grace=grace,
                        source_finger=finger,
                    )
                )
                last_note_pos = len(notes) - 1
        length = furthest if furthest > 0 else bar_length
        measures.append(Measure(number=m_index, onset=onset, length=length))
        onset += length
    work_title = title
    if work_title is None:
        wt = root.find("work/work-title")
        work_title = _text(wt) or None
    return ScoreIRV1(
        meta=ScoreMeta(title=work_title),
        time_signatures=tuple(time_sigs),
        measures=tuple(measures),
        notes=tuple(notes),
    )


def read_musicxml_ir(path: Path) -> ScoreIRV1:
    return musicxml_to_ir(read_musicxml_bytes(path), title=path.stem)
