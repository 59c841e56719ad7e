"""Rules of printed music that oemer 0.1.8's MusicXML builder gets wrong, put right while it
builds a page (`patched()`).

* A key changes at a system's start or after a double barline. oemer reads a key signature
  wherever a bar opens with an accidental on every staff: the flats of a chord just after a
  barline become a key, and every later note of the system takes it.
* An accidental holds for the rest of its bar on its own staff line or space of its own
  staff. oemer keeps one accidental per note name for the whole bar and both staves: a B flat
  in the right hand flattens every B of the left hand, in every octave, until the barline.
* A system's key signature has as many sharps or flats as are printed: oemer counts those
  the network marked, and a missed one drops the key by one for the whole system. The count
  on the ink (`keys.py`) replaces oemer's where it finds more of the same sign.
* A beamed note has as many beams as cross the columns beside its stem that show any.
  oemer counts beams in a window a head wide around the stem, cut to the beam's region, and
  takes the count that at least 15 % of the window's columns agree on; the stem itself is
  not in the beam map, so at a group's first or last stem half the window is stem or
  outside the region, and where the network's stem is a few pixels wide (a blurred scan)
  the beams show in a column or two: the group's end notes came out as eighths or quarters
  among sixteenths. Only the columns that show a beam or flag vote now, and a window cut
  short by the region is widened back to its full width.
* A whole rest rests the whole bar, whatever the bar's length. oemer lines the two staves
  up column by column and stretches the other staff's notes to fill a rest's value: against
  a whole rest read as such (`rests.py`), an eighth of the other hand became a dotted half.
* An accidental belongs to the note of its chord at its height, however many columns of
  accidentals stand between them (`accidental_owners.py`); oemer's own pairing (the first
  head one space right of the accidental's centre) is switched off, so that it neither
  pairs nor, across staves, drops notes; recognize.py pairs them after the ink check.

Unlike `oemer_fast` (the same output, faster), these change what oemer writes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

# oemer's own: a run of beam pixels this many staff spaces tall counts (at least one beam),
# and each this many more is another beam; the count needs this share of the voting columns.
_MIN_RUN: Final = 0.25
_PER_BEAM: Final = 0.9
_AGREE: Final = 0.15
# Switches for the ablations the README reports (each rule measured on its own).
WIDEN = True  # a beam window cut short by its region is widened back to full width
WHOLE_FREE = True  # a whole rest takes no time when oemer lines the staves up
OWNERS = True  # accidentals paired with notes by accidental_owners, not by oemer


def beam_count(
    beam_map: NDArray[np.integer[Any]], x0: int, x1: int, y0: int, y1: int, space: float
) -> int:
    """Beams (or flags) crossing columns x0..x1 between rows y0 and y1 of `beam_map`: the
    largest count that at least `_AGREE` of the columns showing any agree with (0 if none)."""
    ya, yb = sorted((int(y0), int(y1)))
    window = np.asarray(beam_map[ya:yb, int(x0) : int(x1)] > 0, dtype=np.int8)
    if window.size == 0:
        return 0
    edges = np.diff(np.pad(window, ((1, 1), (0, 0))), axis=0)
    counts = []
    for col in range(window.shape[1]):
        starts = np.flatnonzero(edges[:, col] == 1)
        ends = np.flatnonzero(edges[:, col] == -1)
        runs = (ends - starts)[(ends - starts) >= _MIN_RUN * space]
        counts.append(int(np.ceil(runs / (_PER_BEAM * space)).sum()))
    voting = sorted((c for c in counts if c > 0), reverse=True)
    need = _AGREE * len(voting)
    for seen, c in enumerate(voting, start=1):
        if seen > need:
            return c
    return 0


@contextlib.contextmanager
def patched(keys: dict[int, int] | None = None) -> Iterator[None]:
    """`keys`: per system (oemer's group), the key read on the ink (`keys.system_keys`),
    filled in before the builder runs; where it counts more sharps or flats than oemer did at
    the system's start, it replaces oemer's count."""
    from oemer import build_system as bs
    from oemer import rhythm_extraction as rx
    from oemer import symbol_extraction as se
    from oemer.utils import get_unit_size

    read = keys if keys is not None else {}
    own_has_key = bs.Measure.has_key
    own_get_key = bs.Measure.get_key
    own_init = bs.Action.init_sfn_state.__func__
    own_perform = bs.AddNote.perform
    # (track, staff position) -> accidental in force, for the bar being written
    held: dict[tuple[int, int], Any] = {}

    def has_key(self: Any) -> bool:
        return bool((self.at_beginning or self.double_barline) and own_has_key(self))

    def get_key(self: Any) -> Any:
        key = own_get_key(self)  # also marks the signature's accidentals as the key's
        if self.at_beginning and self.group in read and own_has_key(self):
            ink = read[self.group]
            # oemer's count loses the glyphs the network missed, the ink's can take a note's
            # accidental or a digit for one: the ink wins only with more glyphs of oemer's
            # sign (bench/omr_keys.py: 61 of 67 systems right; oemer alone 60, the ink 60)
            if ink * key.value >= 0 and abs(ink) > abs(key.value):
                return bs.Key(ink)
        return key

    def init_sfn_state(cls: Any) -> None:
        own_init(cls)  # the key signature's accidentals, per note name
        held.clear()

    def perform(self: Any, parent_elem: Any = None) -> Any:
        note = self.note
        clef_type = self.ctx.clefs[note.track].label
        at = (int(note.track), int(note.staff_line_pos))
        current = held.get(
            at, self.ctx.sfn_state[bs.get_chroma_pitch(note.staff_line_pos, clef_type)]
        )
        if note.sfn is not None and note.sfn != current:
            held[at] = note.sfn
        else:
            note.sfn = current
        elem = bs.decode_note(note, clef_type, self.chord, self.voice)
        if elem is not None and parent_elem is not None:
            parent_elem.append(elem)
        return elem

    own_scan = rx.scan_beam_flag

    def scan_beam_flag(
        poly_map: Any, start_x: int, start_y: int, end_x: int, end_y: int, **_kw: Any
    ) -> int:
        space = float(get_unit_size(int(start_x), int(start_y)))
        if WIDEN:
            short = 2 * round(space / 2) - (int(end_x) - int(start_x))
            if short > 0:
                start_x = max(0, int(start_x) - short)
                end_x = min(poly_map.shape[1], int(end_x) + short)
        return beam_count(poly_map, start_x, end_x, start_y, end_y, space)

    rx.scan_beam_flag = scan_beam_flag
    own_duration = bs.get_duration

    def get_duration(sym: Any) -> int:
        # a whole rest rests the whole bar, whatever the bar's length: lining the staves up
        # against its four quarters stretched the other staff's notes to fill them
        if WHOLE_FREE and isinstance(sym, bs.Rest) and sym.label == bs.RestType.WHOLE:
            return 0
        return int(own_duration(sym))

    bs.get_duration = get_duration
    own_nearby = se.get_nearby_note_id
    if OWNERS:
        se.get_nearby_note_id = lambda _box, _note_ids: None
    bs.Measure.has_key = has_key
    bs.Measure.get_key = get_key
    bs.Action.init_sfn_state = classmethod(init_sfn_state)
    bs.AddNote.perform = perform
    try:
        yield
    finally:
        rx.scan_beam_flag = own_scan
        se.get_nearby_note_id = own_nearby
        bs.get_duration = own_duration
        bs.Measure.has_key = own_has_key
        bs.Measure.get_key = own_get_key
        bs.Action.init_sfn_state = classmethod(own_init)
        bs.AddNote.perform = own_perform
