from __future__ import annotations

from pathlib import Path

from consumers.fingering.corpus.beringer import abcd_fingerings
from consumers.fingering.corpus.kern import read_kern
from consumers.fingering.corpus.musicxml import musicxml_to_ir, strip_fingering

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "fingering"

KERN = "\n".join(
    [
        "!!!COM: test",
        "**kern\t**fing\t**kern\t**fing",
        "*staff2\t*\t*staff1\t*",
        "*Ipiano\t*\t*Ipiano\t*",
        "*M2/4\t*\t*M2/4\t*",
        "4C 4E\t5 3\t8c\t1",
        ".\t.\t8d\t2",
        "4G\t1\t4e 4g\t2 4",
        "=1\t=1\t=1\t=1",
        "*\t*\t*\t*^",
        "2C\t3\t4dd# 4b\t4\t1",
        "*\t*\t*\t*v\t*v",
        "*-\t*-\t*-\t*-",
    ]
)


def test_kern_reader_pairs_fingers_and_times() -> None:
    result = read_kern(KERN)
    hands = {hand: notes for _, hand, notes in result.hands}
    assert hands["left"] == [
        (48, 0.0, 1.0, 5),
        (52, 0.0, 1.0, 3),
        (55, 1.0, 1.0, 1),
        (48, 2.0, 2.0, 3),
    ]
    rh = sorted(hands["right"], key=lambda n: (n[1], n[0]))
    assert rh[:4] == [(60, 0.0, 0.5, 1), (62, 0.5, 0.5, 2), (64, 1.0, 1.0, 2), (67, 1.0, 1.0, 4)]
    # split **fing: the right-most sub-column fingers the lowest note (b = 1, d#5 = 4)
    assert rh[4:] == [(71, 2.0, 1.0, 1), (75, 2.0, 1.0, 4)]
    assert result.unmatched == 0


def test_abcd_header() -> None:
    text = "% abcD fingering 1: 123&45@54x&21\n% abcD fingering 2: x@x\n"
    assert abcd_fingerings(text) == [([1, 2, 3, 4, 5], [5, 4, 0, 2, 1])]


XML = b"""<?xml version="1.0"?><score-partwise version="3.1"><part-list><score-part id="P1">
<part-name>Piano</part-name></score-part></part-list><part id="P1"><measure number="1">
<attributes><divisions>2</divisions><time><beats>2</beats><beat-type>4</beat-type></time>
<staves>2</staves></attributes>
<note><pitch><step>C</step><octave>4</octave></pitch><duration>2</duration><voice>1</voice>
<staff>1</staff><notations><technical><fingering>1</fingering></technical></notations></note>
<note><chord/><pitch><step>G</step><octave>4</octave></pitch><duration>2</duration><voice>1</voice>
<staff>1</staff><notations><technical><fingering>5</fingering></technical></notations></note>
<note><pitch><step>E</step><alter>-1</alter><octave>4</octave></pitch><duration>2</duration>
<voice>1</voice><staff>1</staff></note>
<backup><duration>4</duration></backup>
<note><pitch><step>C</step><octave>3</octave></pitch><duration>4</duration><voice>2</voice>
<staff>2</staff><notations><technical><fingering>5</fingering></technical></notations></note>
</measure></part></score-partwise>"""


def test_musicxml_reader_keeps_chord_fingers() -> None:
    ir = musicxml_to_ir(XML)
    got = [
        (n.spelled, str(n.onset), n.hand, n.chord is not None, n.source_finger) for n in ir.notes
    ]
    assert got == [
        ("C4", "0", "right", True, 1),
        ("G4", "0", "right", True, 5),
        ("E-4", "1", "right", False, None),
        ("C3", "0", "left", False, 5),
    ]
    assert all(n.source_finger is None for n in musicxml_to_ir(strip_fingering(XML)).notes)


def test_clara_schumann_marks_are_read() -> None:
    from consumers.fingering.evaluate import load_marks_irs

    irs = load_marks_irs(DATA.resolve())
    marks = [n for ir in irs.values() for n in ir.notes if n.source_finger]
    assert len(irs) == 4 and len(marks) == 57
    assert sum(len(ir.notes) for ir in irs.values()) == 3111
