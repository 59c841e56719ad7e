"""oemer-style MusicXML → IR v1 via music21, and pages merged into one score."""

from __future__ import annotations

from fractions import Fraction

from consumers.omr.recognize import NoteBox
from consumers.omr.transform import merge_pages, musicxml_to_page
from schemas.ir import ScoreIRV1

# What oemer 0.1.8 writes: one part, two staves, <staff> and <voice> per note, chords with
# <chord/>, a second voice after <backup>; here with a key change and a tie added.
_OEMER_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<score-partwise version="4.0">
  <part-list><score-part id="P1"><part-name>Piano</part-name></score-part></part-list>
  <part id="P1">
    <measure number="1">
      <attributes><divisions>16</divisions><key><fifths>-1</fifths></key><staves>2</staves>
        <clef number="1"><sign>G</sign><line>2</line></clef>
        <clef number="2"><sign>F</sign><line>4</line></clef></attributes>
      <note><pitch><step>F</step><alter>0</alter><octave>5</octave></pitch>
        <duration>32</duration><type>half</type><staff>1</staff><voice>1</voice></note>
      <note><chord/><pitch><step>A</step><alter>0</alter><octave>5</octave></pitch>
        <duration>32</duration><type>half</type><staff>1</staff><voice>1</voice></note>
      <note><pitch><step>B</step><alter>-1</alter><octave>4</octave></pitch>
        <duration>32</duration><tie type="start"/><type>half</type><staff>1</staff>
        <voice>1</voice><notations><tied type="start"/></notations></note>
      <backup><duration>64</duration></backup>
      <note><pitch><step>C</step><alter>0</alter><octave>5</octave></pitch>
        <duration>64</duration><type>whole</type><staff>1</staff><voice>2</voice></note>
      <backup><duration>64</duration></backup>
      <note><pitch><step>F</step><alter>0</alter><octave>2</octave></pitch>
        <duration>16</duration><type>quarter</type><staff>2</staff><voice>1</voice></note>
      <note><rest/><duration>16</duration><type>quarter</type><staff>2</staff>
        <voice>1</voice></note>
      <note><pitch><step>C</step><alter>1</alter><octave>3</octave></pitch>
        <duration>32</duration><type>half</type><staff>2</staff><voice>1</voice></note>
    </measure>
    <measure number="2">
      <attributes><key><fifths>2</fifths></key></attributes>
      <note><pitch><step>B</step><alter>-1</alter><octave>4</octave></pitch>
        <duration>64</duration><tie type="stop"/><type>whole</type><staff>1</staff>
        <voice>1</voice><notations><tied type="stop"/></notations></note>
      <backup><duration>64</duration></backup>
      <note><pitch><step>D</step><alter>0</alter><octave>3</octave></pitch>
        <duration>64</duration><type>whole</type><staff>2</staff><voice>1</voice></note>
    </measure>
  </part>
</score-partwise>
"""

_BOXES = [NoteBox((0.1 * i, 0.2, 0.01, 0.01), system=1 + i // 4, confidence=0.9) for i in range(8)]


def _ir() -> ScoreIRV1:
    page1 = musicxml_to_page(_OEMER_XML, _BOXES, page=1)
    page2 = musicxml_to_page(_OEMER_XML, _BOXES, page=2)
    return merge_pages([page1, page2], Fraction(4), page_count=2)


def test_pitches_staves_and_hands() -> None:
    ir = _ir()
    first = [n for n in ir.notes if n.provenance and n.provenance.page == 1]
    assert len(first) == 8
    right = sorted(n.spelled for n in first if n.hand == "right")
    left = sorted(n.spelled for n in first if n.hand == "left")
    assert right == ["A5", "B-4", "B-4", "C5", "F5"]
    assert left == ["C#3", "D3", "F2"]
    assert all(n.staff == (1 if n.hand == "right" else 2) for n in ir.notes)


def test_chords_voices_ties_and_onsets() -> None:
    ir = _ir()
    m1 = [n for n in ir.notes if n.measure == 1]
    f5 = next(n for n in m1 if n.spelled == "F5")
    a5 = next(n for n in m1 if n.spelled == "A5")
    assert f5.chord is not None and f5.chord == a5.chord
    assert f5.duration == Fraction(2)
    c5 = next(n for n in m1 if n.spelled == "C5")
    assert c5.voice == 2 and c5.onset == 0 and c5.duration == 4
    bflat = next(n for n in m1 if n.spelled == "B-4")
    assert bflat.tie == "start" and bflat.onset == 2
    c_sharp = next(n for n in m1 if n.spelled == "C#3")
    assert c_sharp.measure_onset == 2  # after a quarter note and a quarter rest
    stop = next(n for n in ir.notes if n.measure == 2 and n.spelled == "B-4")
    assert stop.tie == "stop"


def test_pages_merge_with_renumbered_measures_and_provenance() -> None:
    ir = _ir()
    assert [m.number for m in ir.measures] == [1, 2, 3, 4]
    assert [m.onset for m in ir.measures] == [0, 4, 8, 12]
    assert ir.measures[2].provenance is not None and ir.measures[2].provenance.page == 2
    page2 = [n for n in ir.notes if n.provenance and n.provenance.page == 2]
    assert min(n.measure for n in page2) == 3
    assert min(n.onset for n in page2) == 8
    assert all(n.provenance and n.provenance.bbox is not None for n in ir.notes)
    assert {n.confidence for n in ir.notes} == {0.9}
    assert [k.fifths for k in ir.key_signatures] == [-1, 2, -1, 2]
    assert [k.measure for k in ir.key_signatures] == [1, 2, 3, 4]
    ts = ir.time_signatures[0]
    assert (ts.numerator, ts.denominator) == (4, 4)
    assert ir.meta.page_count == 2
    assert len({n.id for n in ir.notes}) == len(ir.notes)


def _with_measure(xml: bytes, measure: bytes) -> bytes:
    """The fixture with one more measure inserted between its two."""
    return xml.replace(b'    <measure number="2">', measure + b'    <measure number="2">', 1)


def _silent_measure(number: int) -> bytes:
    """oemer's output for a bar of silence: whole-bar rests in both staves."""
    return f"""    <measure number="{number}">
      <note><rest/><duration>64</duration><type>whole</type><staff>1</staff>
        <voice>1</voice></note>
      <backup><duration>64</duration></backup>
      <note><rest/><duration>64</duration><type>whole</type><staff>2</staff>
        <voice>1</voice></note>
    </measure>
""".encode()


def test_a_misread_barline_measure_is_dropped() -> None:
    # oemer's output for a spurious barline: a measure with a stray eighth rest and the
    # whole-bar rest it fills the other staff with.
    stray = b"""    <measure number="9">
      <note><rest/><duration>8</duration><type>eighth</type><staff>1</staff>
        <voice>1</voice></note>
      <backup><duration>8</duration></backup>
      <note><rest/><duration>64</duration><type>whole</type><staff>2</staff>
        <voice>1</voice></note>
    </measure>
"""
    page = musicxml_to_page(_with_measure(_OEMER_XML, stray), _BOXES, page=1)
    assert page.measures == 2
    assert {n.measure for n in page.notes} == {0, 1}
    assert page.key_fifths == {0: -1, 1: 2}


def test_a_silent_bar_is_kept() -> None:
    page = musicxml_to_page(_with_measure(_OEMER_XML, _silent_measure(9)), _BOXES, page=1)
    assert page.measures == 3
    assert {n.measure for n in page.notes if not n.is_rest} == {0, 2}


def test_a_silent_bar_of_rests_oemer_made_up_is_dropped() -> None:
    xml = _with_measure(_OEMER_XML, _silent_measure(9))
    seen = NoteBox((0.15, 0.4, 0.01, 0.02), system=1, confidence=0.5)
    # the bar's two whole rests have no box (oemer fills a bar it found nothing in with rests
    # of its own: a misread barline), while the page's other rest was seen
    page = musicxml_to_page(xml, _BOXES, page=1, rest_boxes=[seen, None, None])
    assert page.measures == 2
    assert {n.measure for n in page.notes if not n.is_rest} == {0, 1}
    # one of them seen on the page: a bar of silence
    page = musicxml_to_page(xml, _BOXES, page=1, rest_boxes=[seen, seen, None])
    assert page.measures == 3


def test_a_silent_bar_before_the_first_note_is_dropped() -> None:
    first = b'    <measure number="1">'
    xml = _OEMER_XML.replace(first, _silent_measure(0) + first, 1)
    assert xml != _OEMER_XML
    page = musicxml_to_page(xml, _BOXES, page=1)
    assert page.measures == 2
    assert {n.measure for n in page.notes if not n.is_rest} == {0, 1}


def test_a_rest_oemer_saw_keeps_its_box_and_its_place() -> None:
    rest_box = NoteBox((0.15, 0.4, 0.01, 0.02), system=1, confidence=0.5)
    page = musicxml_to_page(_OEMER_XML, _BOXES, page=1, rest_boxes=[rest_box])
    rests = [n for n in page.notes if n.is_rest]
    assert len(rests) == 1 and rests[0].box == rest_box
    assert (rests[0].staff, rests[0].offset) == (2, Fraction(1))
    # pitched notes still get their own boxes, in document order (the rest is not counted)
    f2 = next(n for n in page.notes if (n.step, n.octave) == ("F", 2))
    c3 = next(n for n in page.notes if (n.step, n.octave) == ("C", 3))
    assert f2.box == _BOXES[4] and c3.box == _BOXES[5]
    # a rest oemer made up to balance the staves (no box) places nothing
    page = musicxml_to_page(_OEMER_XML, _BOXES, page=1, rest_boxes=[None])
    assert all(n.box is None for n in page.notes if n.is_rest)


def test_a_rest_keeps_the_value_read_on_the_page_not_the_one_oemer_stretched_it_to() -> None:
    # oemer wrote the left hand's quarter rest (lining the staves up, it may stretch an eighth
    # rest to a whole one); the box carries what it read before that
    eighth = Fraction(1, 2)
    read_as_eighth = NoteBox((0.15, 0.4, 0.01, 0.02), system=1, confidence=0.5, value=eighth)
    page = musicxml_to_page(_OEMER_XML, _BOXES, page=1, rest_boxes=[read_as_eighth])
    assert [n.duration for n in page.notes if n.is_rest] == [Fraction(1, 2)]
    # without a reading, the MusicXML's value stands
    page = musicxml_to_page(_OEMER_XML, _BOXES, page=1, rest_boxes=[None])
    assert [n.duration for n in page.notes if n.is_rest] == [Fraction(1)]
