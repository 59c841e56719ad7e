"""The column-onset solver: misread note values are outvoted, the bar is filled exactly."""

from __future__ import annotations

import itertools
from fractions import Fraction as Fr

import pytest

from consumers.omr.onsets import Sound, path_cost, solve_onsets


def _sixteenths_over_held_bass(misread: dict[int, Fr]) -> tuple[list[Sound], list[Fr]]:
    """A 4/4 bar: sixteenths in the right hand (16 columns), a half note in the left hand at
    columns 0 and 8; `misread` replaces some right-hand values."""
    sounds = [Sound(c, misread.get(c, Fr(1, 4))) for c in range(16)]
    sounds += [Sound(0, Fr(2)), Sound(8, Fr(2))]
    return sounds, [Fr(c, 4) for c in range(16)]


def test_exact_reading_gives_exact_onsets() -> None:
    sounds, truth = _sixteenths_over_held_bass({})
    assert solve_onsets(16, sounds, Fr(4)) == truth


def test_misread_values_are_outvoted() -> None:
    # an eighth read for a sixteenth at column 3, a quarter at column 11 (a lost beam)
    sounds, truth = _sixteenths_over_held_bass({3: Fr(1, 2), 11: Fr(1)})
    x = [0.1 + 0.02 * c for c in range(16)]  # evenly spaced, as sixteenths are
    onsets = solve_onsets(16, sounds, Fr(4), x=x)
    assert onsets == truth
    assert path_cost(onsets, sounds, Fr(4), x) <= path_cost(truth, sounds, Fr(4), x) + 1e-9


def test_voices_merged_by_the_reader_do_not_matter() -> None:
    # Bach's prelude: a half note and a tied dotted eighth in the left hand that oemer reads
    # as one voice of quarters; the values still end on columns of the running sixteenths.
    sounds = [Sound(c, Fr(1, 4)) for c in (2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15)]
    sounds += [Sound(0, Fr(2)), Sound(1, Fr(3, 4)), Sound(8, Fr(2)), Sound(9, Fr(3, 4))]
    x = [0.1 + 0.02 * c for c in range(16)]
    assert solve_onsets(16, sounds, Fr(4), x=x) == [Fr(c, 4) for c in range(16)]


def test_triplets_and_dotted_values_fit_the_grid() -> None:
    # 3/4: dotted eighth + sixteenth, then an eighth triplet, then a quarter
    lengths = [Fr(3, 4), Fr(1, 4), Fr(1, 3), Fr(1, 3), Fr(1, 3), Fr(1)]
    sounds = [Sound(c, v) for c, v in enumerate(lengths)]
    onsets = solve_onsets(len(lengths), sounds, Fr(3))
    assert onsets == [Fr(0), Fr(3, 4), Fr(1), Fr(4, 3), Fr(5, 3), Fr(2)]


def test_always_fills_the_bar_in_order() -> None:
    sounds = [Sound(c, Fr(4)) for c in range(5)]  # nonsense values: still a valid bar
    onsets = solve_onsets(5, sounds, Fr(2))
    assert onsets[0] == 0
    assert all(a < b for a, b in itertools.pairwise(onsets))
    assert onsets[-1] < 2
    assert solve_onsets(1, [Sound(0, Fr(1))], Fr(4)) == [Fr(0)]


@pytest.mark.parametrize(
    "hints",
    [
        [Fr(0), Fr(1, 4), Fr(1, 2)],
        [Fr(0), Fr(1, 4), Fr(3, 4)],
        [Fr(0), Fr(1, 2), Fr(3, 4)],
    ],
)
def test_oemer_gaps_settle_what_the_values_leave_open(hints: list[Fr]) -> None:
    # three sixteenths in a quarter: a sixteenth's silence falls somewhere, the values
    # cannot say where; oemer's offsets can
    sounds = [Sound(c, Fr(1, 4)) for c in range(3)]
    assert solve_onsets(3, sounds, Fr(1), hints=hints) == hints
