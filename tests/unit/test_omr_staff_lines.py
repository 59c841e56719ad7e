"""A short page (one system) still reads: oemer's line finder sees lines it keeps."""

from __future__ import annotations

import contextlib
import io
import warnings
from typing import Any

import numpy as np
from numpy.typing import NDArray

from consumers.omr.recognize import lines_oemer_keeps


def _staff_map(systems: int) -> NDArray[np.int64]:
    page = np.zeros((2280, 1612), np.int64)
    for s in range(systems):
        for staff in range(2):
            top = 150 + 330 * s + 170 * staff
            for line in range(5):
                page[top + 14 * line, 150:1500] = 1
    return page


def _line_counts(staff: NDArray[np.integer[Any]]) -> list[list[int]]:
    """Lines per staff in each of oemer's zones, as its line finder reads them."""
    from oemer.staffline_extraction import extract_part, init_zones

    zones, *_ = init_zones(staff, splits=8)
    out: list[list[int]] = []
    for cols in zones:
        cols = np.asarray(cols, dtype=np.int64)
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # oemer's mean of no peaks
            staves = extract_part(staff[:, cols], x_offset=int(cols[0]))
        out.append([len(st.lines) for st in staves or []])
    return out


def test_one_system_is_lost_by_oemer_as_it_is() -> None:
    # every line stands more than 15 standard deviations above its zone: all are dropped (on
    # a scan, where some survive, oemer asserts instead)
    assert _line_counts(_staff_map(1)) == [[]] * 8


def test_one_system_reads_once_thickened() -> None:
    counts = _line_counts(lines_oemer_keeps(_staff_map(1)))
    assert counts and all(c == [5, 5] for c in counts)


def test_a_full_page_is_left_alone() -> None:
    full = _staff_map(6)
    assert lines_oemer_keeps(full) is full
    assert all(c == [5] * 12 for c in _line_counts(full))
