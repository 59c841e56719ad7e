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

Unlike `oemer_fast` (the same output, faster), these change what oemer writes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def patched(keys: dict[int, int] | None = None) -> Iterator[None]:
    """`keys`: per system (oemer's group), the key read on the ink (`keys.system_keys`),
    filled in before the builder runs; where it counts more sharps or flats than oemer did at
    the system's start, it replaces oemer's count."""
    from oemer import build_system as bs

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

    bs.Measure.has_key = has_key
    bs.Measure.get_key = get_key
    bs.Action.init_sfn_state = classmethod(init_sfn_state)
    bs.AddNote.perform = perform
    try:
        yield
    finally:
        bs.Measure.has_key = own_has_key
        bs.Measure.get_key = own_get_key
        bs.Action.init_sfn_state = classmethod(own_init)
        bs.AddNote.perform = own_perform
