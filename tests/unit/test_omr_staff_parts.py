"""A staff that oemer's line finder misreads in one strip is mended from its other strips."""

from __future__ import annotations

import numpy as np
import pytest

from consumers.omr.staff_parts import mend


def _part(x0: int, y0: float, space: float, lines: int = 5, width: int = 100) -> object:
    from oemer.staffline_extraction import Line, Staff

    st = Staff()
    for k in range(lines):
        line = Line()
        for x in range(x0, x0 + width, 5):
            line.add_point(round(y0 + k * space), x)
        st.add_line(line)
    return st


def _grid(rows: list[list[tuple[float, float, int]]]) -> np.ndarray:
    """rows[strip][staff] = (top line y, spacing, lines)"""
    grid = np.empty((len(rows), len(rows[0])), dtype=object)
    for i, row in enumerate(rows):
        for j, (y0, space, lines) in enumerate(row):
            grid[i, j] = _part(100 * i, y0, space, lines)
    return grid


def test_a_strip_that_took_two_wrong_lines_is_replaced_by_its_neighbour() -> None:
    good, shifted = (200.0, 14.0, 5), (228.0, 16.4, 5)  # two rows lower, a hairpin's lines
    other = (500.0, 14.0, 5)
    grid = _grid([[good, other]] * 3 + [[shifted, other]] + [[good, other]] * 4)
    out = mend(grid)
    assert out[3, 0] is not grid[3, 0] and out[3, 0].is_interp
    assert out[3, 0].y_center == pytest.approx(grid[2, 0].y_center)
    assert out[3, 0].unit_size == pytest.approx(14.0, abs=0.5)
    # moved along the staff into the strip it replaces
    assert out[3, 0].x_left == pytest.approx(grid[2, 0].x_left + 100, abs=5)
    # everything else as it was
    assert all(out[i, 1] is grid[i, 1] for i in range(8))
    assert all(out[i, 0] is grid[i, 0] for i in range(8) if i != 3)


def test_a_part_with_six_lines_is_replaced() -> None:
    good, six = (200.0, 14.0, 5), (200.0, 14.0, 6)
    grid = _grid([[good]] * 5 + [[six]] + [[good]] * 2)
    out = mend(grid)
    assert len(out[5, 0].lines) == 5 and out[5, 0].is_interp


def test_a_staff_that_mostly_disagrees_is_left_to_oemer() -> None:
    good, shifted = (200.0, 14.0, 5), (228.0, 16.4, 5)
    grid = _grid([[good]] * 4 + [[shifted]] * 4)
    out = mend(grid)
    assert all(out[i, 0] is grid[i, 0] for i in range(8))


def test_a_sound_page_is_unchanged() -> None:
    grid = _grid([[(200.0, 14.0, 5), (400.0, 14.1, 5)]] * 8)
    out = mend(grid)
    assert all(out[i, j] is grid[i, j] for i in range(8) for j in range(2))
