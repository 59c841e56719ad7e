"""Which note each accidental belongs to.

oemer gives an accidental to the first notehead its centre row meets within one staff space
to its right. Before a chord the accidentals stand in columns, the farthest two or three
spaces from the heads, so every accidental but the nearest column is lost; a flat's centre
row lies half a space above its note, so it can meet the head above; and an accidental of
one staff that meets a head of the other marks that note invalid (dropped). Printed music is
more regular than that: an accidental stands left of its chord, at its note's height (a
flat's bowl, a sharp's or natural's middle), and a chord's accidentals stand in a row of
columns with next to no gap between them.

So each accidental is placed before a chord: the heads of its staff just right of it, or the
chord of the accidental just right of it when the gap between them is a column's. Each chord
then gives its accidentals to its heads, one each, nearest in height first
(`scipy.optimize.linear_sum_assignment`), none farther than `MAX_DY` from its note. The
key signature stays a key: a gap wider than a column separates it from a first chord's
accidentals, and no head stands right beside it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

# All in staff spaces, chosen on synthetic pages of the training pieces
# (bench/omr_accidental_owners.py), never on the evaluation pieces.
# A head this far right of an accidental's right edge stands beside it (oemer: one space).
NEXT_TO_HEAD: Final = 1.0
# ... or this far left (an accidental's box may reach into the head's).
OVERLAP: Final = 0.5
# Two accidentals with at most this gap between them are columns of one chord's row.
COLUMN_GAP: Final = 0.6
# The accidentals of one chord stand within this height of each other.
ROW_SPAN: Final = 5.0
# The heads of one chord: from its nearest head to this far right (heads both sides of a stem).
CHORD_WIDTH: Final = 1.6
# An accidental's note is at most this far from its anchor height.
MAX_DY: Final = 0.75
# A flat's note sits this far above the bottom of its ink (the bowl's middle).
FLAT_BOTTOM: Final = 0.65
# Where a mark's height is read (`marks_and_heads`), and the height in spaces below which
# oemer's box is taken for part of a glyph.
HEIGHTS: Final = "short"
FULL_HEIGHT: Final = 2.0


@dataclass(frozen=True)
class Mark:
    """One accidental: its box (x1, y1, x2, y2, pixels), the height its note should be at,
    and its staff (oemer's track within group)."""

    box: tuple[float, float, float, float]
    anchor_y: float
    staff: tuple[int, int]


@dataclass(frozen=True)
class Head:
    box: tuple[float, float, float, float]
    staff: tuple[int, int]

    @property
    def y(self) -> float:
        return (self.box[1] + self.box[3]) / 2


def anchor_height(shape: str, top: float, bottom: float, space: float) -> float:
    """Where the note of an accidental whose ink spans rows top..bottom sits."""
    if shape == "FLAT":
        return bottom - FLAT_BOTTOM * space
    return (top + bottom) / 2


def _beside(mark: Mark, heads: list[Head], space: float) -> list[int]:
    """The heads of the chord standing just right of `mark` (none if none)."""
    x2 = mark.box[2]
    near = [
        (heads[j].box[0] - x2, j)
        for j in range(len(heads))
        if heads[j].staff == mark.staff
        and -OVERLAP * space <= heads[j].box[0] - x2 <= NEXT_TO_HEAD * space
        and abs(heads[j].y - mark.anchor_y) <= ROW_SPAN * space
    ]
    if not near:
        return []
    first = min(near)[1]
    x0 = heads[first].box[0]
    return [
        j
        for j, h in enumerate(heads)
        if h.staff == mark.staff
        and x0 - OVERLAP * space <= h.box[0] <= x0 + CHORD_WIDTH * space
        and abs(h.y - mark.anchor_y) <= 2 * ROW_SPAN * space
    ]


def owners(marks: list[Mark], heads: list[Head], space: float) -> dict[int, int]:
    """Mark index → head index, for the accidentals that belong to a note."""
    chord_of: dict[int, tuple[int, ...]] = {}
    # right to left: an accidental in a farther column joins the chord of its right neighbour
    for i in sorted(range(len(marks)), key=lambda k: -marks[k].box[2]):
        m = marks[i]
        beside = _beside(m, heads, space)
        if beside:
            chord_of[i] = tuple(sorted(beside))
            continue
        neighbours = [
            (marks[k].box[0] - m.box[2], k)
            for k in chord_of
            if marks[k].staff == m.staff
            and -OVERLAP * space <= marks[k].box[0] - m.box[2] <= COLUMN_GAP * space
            and abs(marks[k].anchor_y - m.anchor_y) <= ROW_SPAN * space
        ]
        if neighbours:
            chord_of[i] = chord_of[min(neighbours)[1]]
    rows: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, heads_of in chord_of.items():
        rows[heads_of].append(i)
    out: dict[int, int] = {}
    for chord, row in rows.items():
        cost = np.array([[abs(marks[i].anchor_y - heads[j].y) / space for j in chord] for i in row])
        big = 1e6
        rr, cc = linear_sum_assignment(np.where(cost <= MAX_DY, cost, big))
        for r, c in zip(rr, cc, strict=True):
            if cost[r, c] <= MAX_DY:
                out[row[r]] = chord[c]
    return out


def marks_and_heads(
    sfns: list[Any],
    notes: list[Any],
    no_lines: NDArray[np.bool_],
    space: float,
    heights: str | None = None,
) -> tuple[list[Mark], list[Head], list[int]]:
    """oemer's accidentals (`Sfn`) and valid notes as `Mark`s and `Head`s, with each head's
    index in `notes`. A mark's height comes from `heights` (default `HEIGHTS`): "box",
    oemer's box; "ink", the glyph's ink (staff lines and heads removed) in the box's columns;
    "short", the ink where oemer's box is shorter than `FULL_HEIGHT` (the network marked
    part of the glyph), else the box."""
    from consumers.omr.accidentals import REACH_Y, ink_glyph

    how = heights or HEIGHTS
    marks = []
    for s in sfns:
        x1, y1, x2, y2 = (int(v) for v in s.bbox)
        top, bottom = y1, y2
        if how == "ink" or (how == "short" and y2 - y1 < FULL_HEIGHT * space):
            # only the box's own columns: the next column's accidental would join the glyph,
            # and every stroke of an accidental spans its full height anyway
            found = ink_glyph(no_lines, (x1, y1, x2, y2), space, 0.0, REACH_Y)
            if found is not None:
                top, bottom = found[1], found[1] + found[0].shape[0]
        anchor = anchor_height(s.label.name, top, bottom, space)
        marks.append(Mark((x1, y1, x2, y2), anchor, (int(s.group), int(s.track))))
    usable = [j for j, n in enumerate(notes) if not n.invalid]
    heads = []
    for j in usable:
        a, b, c, d = (float(v) for v in notes[j].bbox)
        heads.append(Head((a, b, c, d), (int(notes[j].group), int(notes[j].track))))
    return marks, heads, usable


def inside_clef(box: tuple[float, ...], clef_boxes: list[tuple[float, ...]]) -> bool:
    """Whether the middle of `box` lies in a clef's box: a bass clef's dots or a piece of a
    clef change that the network marked as an accidental."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return any(x1 <= cx <= x2 and y1 <= cy <= y2 for x1, y1, x2, y2 in clef_boxes)


def assign_accidentals(
    sfns: list[Any],
    notes: list[Any],
    no_lines: NDArray[np.bool_],
    space: float,
    clefs: Sequence[Any] = (),
) -> int:
    """Give each of oemer's accidentals to its note by `owners`, replacing oemer's pairing;
    none that stands inside one of `clefs` (oemer's `Clef`s). Returns how many were given."""
    marks, heads, usable = marks_and_heads(sfns, notes, no_lines, space)
    clef_boxes = [tuple(float(v) for v in c.bbox) for c in clefs]
    kept = [i for i, m in enumerate(marks) if not inside_clef(m.box, clef_boxes)]
    pairs = owners([marks[i] for i in kept], heads, space)
    for s in sfns:
        s.note_id = None
    for n in notes:
        n.sfn = None
    for k, h in pairs.items():
        i, j = kept[k], usable[h]
        sfns[i].note_id = j
        sfns[i].is_key = False
        notes[j].sfn = sfns[i].label
    return len(pairs)
