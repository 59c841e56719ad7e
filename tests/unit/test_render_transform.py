"""Render transform: fingered MusicXML 4.0, MIDI and SVG, byte for byte reproducible."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest
from music21 import converter, midi, stream

from consumers.render.transform import (
    RENDER_TRANSFORM_VERSION,
    RenderedScore,
    RenderOptions,
    render,
)
from etude.notation import score_to_ir_v1
from schemas.ir import FingeringModelInfo, Measure, NoteV2, ScoreIRV2
from tests.unit.musicxml_xsd import musicxml_errors
from tests.unit.notation_fixtures import (
    CLARA_OP1,
    chord_groups,
    corpus_ir_v2,
    edge_case_ir_v2,
    make_note,
    note_keys,
)

SVG_NS = "{http://www.w3.org/2000/svg}"
REPO = Path(__file__).resolve().parents[2]

_cache: dict[str, RenderedScore] = {}


def _rendered(name: str) -> RenderedScore:
    if name not in _cache:
        ir = edge_case_ir_v2() if name == "edge" else corpus_ir_v2(name)
        _cache[name] = render(ir)
    return _cache[name]


def _ir(name: str) -> ScoreIRV2:
    return edge_case_ir_v2() if name == "edge" else corpus_ir_v2(name)


CASES = ["edge", CLARA_OP1[0]]


@pytest.mark.parametrize("name", CASES)
def test_musicxml_reads_back_to_the_same_notes_and_fingers(name: str) -> None:
    ir = _ir(name)
    parsed = converter.parseData(_rendered(name).musicxml, format="musicxml")
    assert isinstance(parsed, stream.Score)
    back = score_to_ir_v1(parsed)
    assert note_keys(back.notes) == note_keys(ir.notes)
    assert chord_groups(back.notes) == chord_groups(ir.notes)
    assert {(n.onset, n.midi, n.hand) for n in back.notes} == {
        (n.onset, n.midi, n.hand) for n in ir.notes
    }


@pytest.mark.parametrize("name", CASES)
def test_musicxml_validates_against_the_4_0_xsd(name: str) -> None:
    data = _rendered(name).musicxml
    assert musicxml_errors(data) == []
    root = ET.fromstring(data)
    assert root.tag == "score-partwise"
    assert root.get("version") == "4.0"
    assert len(root.findall("part")) == 1  # one piano part, two staves
    assert root.find("part/measure/attributes/staves").text == "2"  # type: ignore[union-attr]


def test_xsd_validation_catches_errors() -> None:
    broken = _rendered("edge").musicxml.replace(b"<staves>2</staves>", b"<staves>two</staves>")
    assert musicxml_errors(broken)


@pytest.mark.parametrize("name", CASES)
def test_every_fingered_note_has_a_technical_fingering(name: str) -> None:
    ir = _ir(name)
    root = ET.fromstring(_rendered(name).musicxml)
    found: Counter[tuple[str | None, int, str | None, int]] = Counter()
    for n in root.iter("note"):
        fingering = n.find("notations/technical/fingering")
        if fingering is not None:
            step = n.findtext("pitch/step")
            alter = int(n.findtext("pitch/alter") or 0)
            octave = n.findtext("pitch/octave")
            found[(step, alter, octave, int(fingering.text or 0))] += 1
    expected = Counter(
        (x.pitch.step, x.pitch.alter, str(x.pitch.octave), x.finger)
        for x in ir.notes
        if x.finger is not None
    )
    assert found == expected
    assert sum(expected.values()) > 0


def test_musicxml_has_no_run_dependent_fields() -> None:
    data = _rendered(CLARA_OP1[0]).musicxml
    assert b"encoding-date" not in data
    assert b"music21 v." not in data
    assert f"Étude render {RENDER_TRANSFORM_VERSION}".encode() in data
    assert b'<score-instrument id="P1-I1">' in data
    assert b"Music21" not in data  # no placeholder title/composer


@pytest.mark.parametrize("name", CASES)
def test_svg_pages_are_well_formed(name: str) -> None:
    pages = _rendered(name).svg_pages
    assert len(pages) >= 1
    for page in pages:
        root = ET.fromstring(page)
        assert root.tag == f"{SVG_NS}svg"


def test_fingering_is_engraved() -> None:
    svg = b"".join(_rendered("edge").svg_pages)
    assert svg.count(b'class="fing"') == sum(1 for n in edge_case_ir_v2().notes if n.finger)


@pytest.mark.parametrize("name", CASES)
def test_midi_has_the_same_pitches(name: str) -> None:
    ir = _ir(name)
    mf = midi.MidiFile()
    mf.readstr(_rendered(name).midi)
    onsets = Counter(
        e.pitch
        for track in mf.tracks
        for e in track.events
        if e.type == midi.ChannelVoiceMessages.NOTE_ON and e.velocity
    )
    # A tied note sounds once; grace notes sound.
    expected = Counter(n.midi for n in ir.notes if n.tie not in ("stop", "continue"))
    assert onsets == expected


def test_render_twice_gives_identical_bytes() -> None:
    ir = _ir(CLARA_OP1[0])
    first, second = _rendered(CLARA_OP1[0]), render(ir)
    assert first == second


def test_render_is_identical_in_a_fresh_process() -> None:
    code = (
        "import hashlib, sys\n"
        "from tests.unit.notation_fixtures import edge_case_ir_v2\n"
        "from consumers.render.transform import render\n"
        "r = render(edge_case_ir_v2())\n"
        "for b in (r.musicxml, r.midi, *r.svg_pages):\n"
        "    print(hashlib.sha256(b).hexdigest())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    r = _rendered("edge")
    assert out == [hashlib.sha256(b).hexdigest() for b in (r.musicxml, r.midi, *r.svg_pages)]


def test_concurrent_renders_are_serialised_and_identical() -> None:
    ir = edge_case_ir_v2()
    results: list[RenderedScore] = []
    threads = [threading.Thread(target=lambda: results.append(render(ir))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3
    assert all(r == _rendered("edge") for r in results)


def test_options() -> None:
    ir = edge_case_ir_v2()
    no_svg = render(ir, options=RenderOptions(svg=False))
    assert no_svg.svg_pages == ()
    assert no_svg.musicxml == _rendered("edge").musicxml
    small = render(ir, options=RenderOptions(page_width=1000, page_height=1000))
    assert small.svg_pages != _rendered("edge").svg_pages
    assert RenderOptions().parameters() == {
        "page_width": 2100,
        "page_height": 2970,
        "scale": 40,
        "svg": True,
    }


def test_messy_omr_like_ir_still_renders_valid_musicxml() -> None:
    """No time signature, odd durations, overlapping notes in one voice, an overfull bar."""
    m1 = Measure(number=1, onset=Fraction(0), length=Fraction(4))
    m2 = Measure(number=2, onset=Fraction(4), length=Fraction(4))
    raw = [
        make_note("C", 4, 0, Fraction(5, 4), m1),
        make_note("D", 4, Fraction(5, 4), Fraction(1, 5), m1),
        make_note("E", 4, Fraction(5, 4), Fraction(1, 2), m1),
        make_note("F", 4, 2, Fraction(7, 3), m1),
        make_note("G", 4, 4, 8, m2),
        make_note("A", 2, 4, Fraction(3, 8), m2, staff=2),
    ]
    notes = tuple(
        NoteV2.model_validate({**n.model_dump(), "id": f"n{i}"}) for i, n in enumerate(raw, 1)
    )
    ir = ScoreIRV2(
        measures=(m1, m2), notes=notes, fingering_model=FingeringModelInfo(name="t", version="0")
    )
    rendered = render(ir)
    assert musicxml_errors(rendered.musicxml) == []
    assert len(rendered.svg_pages) == 1
