"""The accidental reader tells flat, sharp and natural apart on engraved staves, from a box
that holds only part of the glyph, and leaves oemer's label alone where the ink is unclear."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from consumers.omr import accidentals
from tests.unit.engraved_staff import engrave_staff

ACCID = {"FLAT": "f", "SHARP": "s", "NATURAL": "n"}


def _page(shape: str, font: str) -> tuple[np.ndarray, list[tuple[int, int, int, int]], float]:
    """Ink without staff lines, the accidentals' boxes (from the label map) and the spacing."""
    notes = "".join(
        f'<note pname="{p}" oct="{o}" dur="4" accid="{ACCID[shape]}"/>'
        for p, o in (("e", 4), ("a", 4), ("d", 5), ("g", 5))
    )
    page = engrave_staff([notes], font)
    return page.no_lines(), page.boxes(3, 10, after_signatures=True), page.space


@pytest.mark.parametrize("font", ["Leipzig", "Bravura", "Leland"])
@pytest.mark.parametrize("shape", ["FLAT", "SHARP", "NATURAL"])
def test_reads_the_accidental_shape(shape: str, font: str) -> None:
    no_lines, boxes, space = _page(shape, font)
    assert len(boxes) == 4
    for x1, y1, x2, y2 in boxes:
        # the network often marks only part of a glyph: give the reader the top half
        read, scores = accidentals.read_accidental(no_lines, (x1, y1, x2, (y1 + y2) // 2), space)
        assert read == shape, scores


def test_an_empty_box_reads_nothing() -> None:
    read, _ = accidentals.read_accidental(np.zeros((200, 200), dtype=bool), (50, 50, 60, 80), 14)
    assert read is None


def test_relabelling_fixes_the_note_it_belongs_to() -> None:
    from oemer.symbol_extraction import SfnType

    no_lines, boxes, space = _page("NATURAL", "Leipzig")
    note = SimpleNamespace(invalid=False, sfn=SfnType.SHARP)
    sfn = SimpleNamespace(bbox=boxes[0], label=SfnType.SHARP, note_id=0)
    kept = SimpleNamespace(bbox=boxes[1], label=SfnType.NATURAL, note_id=None)
    changed = accidentals.relabel_accidentals([sfn, kept], [note], no_lines, space)
    assert changed == 1
    assert sfn.label == SfnType.NATURAL and note.sfn == SfnType.NATURAL
    assert kept.label == SfnType.NATURAL


def _chord_page(
    layer: str, font: str = "Leipzig"
) -> tuple[np.ndarray, list[tuple[int, int, int, int]], list[tuple[int, int, int, int]], float]:
    """Ink without staff lines and noteheads, the accidentals' and the heads' boxes."""
    page = engrave_staff([layer], font)
    ink = page.no_lines() & ~page.heads()
    return (
        ink,
        page.boxes(3, 10, after_signatures=True),
        page.boxes(2, 10, after_signatures=True),
        page.space,
    )


STACKED = (
    '<chord dur="4"><note pname="c" oct="5" accid="s"/><note pname="a" oct="5" accid="f"/>'
    '</chord><chord dur="4"><note pname="e" oct="4" accid="n"/><note pname="e" oct="5" '
    'accid="s"/></chord>'
)


@pytest.mark.parametrize("font", ["Leipzig", "Bravura"])
def test_a_box_over_stacked_accidentals_is_cut_into_one_per_glyph(font: str) -> None:
    from oemer.symbol_extraction import SfnType

    ink, marks, _heads, space = _chord_page(STACKED, font)
    marks.sort()
    assert len(marks) == 4
    # oemer's joined boxes: each chord's two accidentals as one
    joined = [
        (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
        for a, b in (marks[:2], marks[2:])
    ]
    sfns = [
        SimpleNamespace(bbox=box, label=SfnType.SHARP, track=0, group=0, note_id=k)
        for k, box in enumerate(joined)
    ]
    out = accidentals.split_accidentals(sfns, ink, space)
    assert len(out) == 4
    got = sorted(((s.bbox[0], s.bbox[1]), s.label.name) for s in out)
    by_chord = [sorted(got[:2], key=lambda g: g[0][1]), sorted(got[2:], key=lambda g: g[0][1])]
    assert [g[1] for g in by_chord[0]] == ["FLAT", "SHARP"]  # A flat above C sharp
    assert [g[1] for g in by_chord[1]] == ["SHARP", "NATURAL"]  # E sharp above E natural
    assert all((s.track, s.group, s.is_key) == (0, 0, False) for s in out)


def test_a_box_over_one_accidental_is_kept_as_it_is() -> None:
    from oemer.symbol_extraction import SfnType

    ink, marks, _heads, space = _chord_page(STACKED)
    sfn = SimpleNamespace(bbox=marks[0], label=SfnType.SHARP, track=0, group=0, note_id=0)
    assert accidentals.split_accidentals([sfn], ink, space) == [sfn]


def test_a_box_no_note_stands_beside_is_not_cut() -> None:
    """A key signature's glyphs: oemer pairs its box with no note and counts it its own way."""
    from oemer.symbol_extraction import SfnType

    ink, marks, _heads, space = _chord_page(STACKED)
    a, b = sorted(marks)[:2]
    box = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
    sfn = SimpleNamespace(bbox=box, label=SfnType.SHARP, track=0, group=0, note_id=None)
    assert accidentals.split_accidentals([sfn], ink, space) == [sfn]


def _one_staff(monkeypatch: pytest.MonkeyPatch) -> None:
    import oemer.utils

    staff = SimpleNamespace(track=0, group=0)
    monkeypatch.setattr(oemer.utils, "find_closest_staffs", lambda x, y: (staff, staff))


def test_accidentals_with_no_box_are_found_beside_their_heads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _one_staff(monkeypatch)
    ink, marks, heads, space = _chord_page(STACKED)
    notes = [SimpleNamespace(bbox=h, invalid=False) for h in heads]
    # oemer has a box for one of the four only (the first chord's flat, on top)
    kept = SimpleNamespace(bbox=sorted(marks)[0])
    found = accidentals.find_missing_accidentals([kept], notes, [], ink, space)
    assert sorted(s.label.name for s in found) == ["NATURAL", "SHARP", "SHARP"]
    # nothing is found where no head stands to the right
    assert accidentals.find_missing_accidentals([kept], [], [], ink, space) == []


def test_no_accidental_is_found_among_plain_notes_rests_and_flags(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _one_staff(monkeypatch)
    layer = (
        '<note pname="g" oct="4" dur="8"/><rest dur="8"/><note pname="b" oct="4" dur="16"/>'
        '<note pname="d" oct="5" dur="16"/><rest dur="4"/><chord dur="4"><note pname="e" '
        'oct="4"/><note pname="g" oct="4"/><note pname="c" oct="5"/></chord>'
    )
    ink, _marks, heads, space = _chord_page(layer)
    notes = [SimpleNamespace(bbox=h, invalid=False) for h in heads]
    assert accidentals.find_missing_accidentals([], notes, [], ink, space) == []
