"""Rules of notation oemer's builder breaks, kept while it writes a page (`oemer_rules`)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from consumers.omr import oemer_rules


def test_a_key_changes_only_at_a_system_start_or_a_double_barline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from oemer.build_system import Measure

    # oemer's own test: every bar that opens with accidentals on each staff "has a key"
    monkeypatch.setattr(Measure, "has_key", lambda self: True)

    def bar(at_beginning: bool, double: bool) -> Measure:
        m = Measure()
        m.at_beginning, m.double_barline = at_beginning, double
        return m

    with oemer_rules.patched():
        assert bar(True, False).has_key()
        assert bar(False, True).has_key()
        assert not bar(False, False).has_key()  # a chord's flats after a plain barline
    assert bar(False, False).has_key()  # oemer's own, restored


def test_an_accidental_holds_on_its_own_line_of_its_own_staff_until_the_barline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from oemer import build_system as bs
    from oemer.symbol_extraction import ClefType, SfnType

    written: list[Any] = []
    monkeypatch.setattr(bs, "decode_note", lambda note, *_a: written.append(note.sfn))
    treble = SimpleNamespace(label=ClefType.G_CLEF)
    b_lines = [p for p in range(-12, 16) if bs.get_chroma_pitch(p, ClefType.G_CLEF) == "B"]
    low, high = b_lines[0], b_lines[1]  # two B's an octave apart on the treble staff

    def play(track: int, pos: int, sfn: Any = None) -> None:
        note = SimpleNamespace(track=track, staff_line_pos=pos, sfn=sfn)
        bs.AddNote(note).perform()

    def bar() -> list[Any]:
        written.clear()
        bs.Action.ctx.key = None
        bs.Action.ctx.clefs = [treble, treble]
        bs.Action.init_sfn_state()  # a new bar
        play(0, low, SfnType.FLAT)  # B flat
        play(0, low)  # the same B: still flat
        play(0, high)  # the B an octave up: as the key says
        play(1, low)  # the same line on the other staff: as the key says
        bs.Action.init_sfn_state()  # the barline
        play(0, low)
        return list(written)

    with oemer_rules.patched():
        assert bar() == [SfnType.FLAT, SfnType.FLAT, None, None, None]
    # oemer's own rule flattens every B of the bar on both staves
    assert bar() == [SfnType.FLAT] * 4 + [None]


@pytest.mark.parametrize(
    ("oemer_count", "ink_count", "written"),
    [
        (2, 4, 4),  # the network missed two sharps of the signature
        (-3, -4, -4),
        (4, 2, 4),  # the ink missed some: oemer's stands
        (2, -3, 2),  # the signs disagree: oemer's stands
        (0, 2, 2),
    ],
)
def test_a_system_key_counted_on_the_ink_wins_only_with_more_glyphs(
    monkeypatch: pytest.MonkeyPatch, oemer_count: int, ink_count: int, written: int
) -> None:
    from oemer import build_system as bs

    monkeypatch.setattr(bs.Measure, "has_key", lambda self: True)
    monkeypatch.setattr(bs.Measure, "get_key", lambda self: bs.Key(oemer_count))
    m = bs.Measure()
    m.at_beginning, m.double_barline, m.group = True, False, 3
    with oemer_rules.patched({3: ink_count}):
        assert m.get_key() == bs.Key(written)
        other = bs.Measure()
        other.at_beginning, other.double_barline, other.group = True, False, 4
        assert other.get_key() == bs.Key(oemer_count)  # no ink count for that system
    assert m.get_key() == bs.Key(oemer_count)  # oemer's own, restored


def _beams(n: int, space: float = 14.0) -> np.ndarray:
    """A beam map window as oemer cuts it at a group's first stem (half a head wide, the
    region starts at the stem): `n` beams half a space thick, a quarter space apart, in the
    last of 7 columns; the 6 before are the blurred stem's (no beam pixels there)."""
    out = np.zeros((60, 7), dtype=np.int64)
    for b in range(n):
        top = 5 + round(b * 0.75 * space)
        out[top : top + round(0.5 * space), 6:] = 1
    return out


@pytest.mark.parametrize("n", [1, 2, 3])
def test_the_beams_beside_a_wide_stem_are_counted(n: int) -> None:
    # oemer's own count wants 15 % of all 7 columns to agree: one column is not enough
    assert oemer_rules.beam_count(_beams(n), 0, 7, 0, 60, 14.0) == n


def test_no_beam_pixels_count_no_beam() -> None:
    assert oemer_rules.beam_count(np.zeros((60, 14), np.int64), 0, 14, 0, 60, 14.0) == 0


def test_oemer_counts_the_beams_it_sees_with_the_rule_in_place() -> None:
    from oemer import rhythm_extraction as rx

    own = rx.scan_beam_flag
    with oemer_rules.patched():
        assert rx.scan_beam_flag is not own
    assert rx.scan_beam_flag is own


def test_a_whole_rest_takes_no_time_when_oemer_lines_up_the_staves() -> None:
    from oemer import build_system as bs
    from oemer.symbol_extraction import Rest, RestType

    def rest(label: RestType) -> Rest:
        r = Rest()
        r.label, r.has_dot = label, False
        return r

    whole, quarter = rest(RestType.WHOLE), rest(RestType.QUARTER)
    own, quarter_own = bs.get_duration(whole), bs.get_duration(quarter)
    with oemer_rules.patched():
        # oemer stretched the other staff's notes to fill a whole rest's four quarters
        assert bs.get_duration(whole) == 0
        assert bs.get_duration(quarter) == quarter_own
    assert bs.get_duration(whole) == own > 0
