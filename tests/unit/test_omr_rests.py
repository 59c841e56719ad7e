"""The rest reader tells a rest's value from its glyph on engraved staves, from a box that
holds only part of it, tells a whole rest (hanging from a line) from a half rest (sitting on
one), and leaves oemer's label alone where the ink is unclear."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from consumers.omr import rests
from consumers.omr.synth import render
from tests.unit.engraved_staff import engrave_staff

Box = tuple[int, int, int, int]


def _page(font: str) -> tuple[np.ndarray, list[Box], list[float], float]:
    """Ink without staff lines, each rest's box (a whole, a half, a quarter, an eighth and a
    16th rest, one a bar, in that order), the staff's line rows, the spacing."""
    page = engrave_staff(
        [
            f'<rest dur="{d}"/>' + '<note pname="c" oct="5" dur="4"/>' * (4 - 4 // int(d))
            for d in ("1", "2", "4", "8", "16")
        ],
        font,
    )
    root = ET.fromstring(page.svg)
    drawn = render.leaves(root)
    height, width = page.image.shape
    boxes = []
    for g in root.iter(f"{{{render.SVG_NS}}}g"):
        if "rest" not in g.attrib.get("class", "").split():
            continue
        members = {id(el) for el in g.iter()}

        def inside(el: ET.Element, _cls: int, members: set[int] = members) -> bool:
            return id(el) in members

        mask = render.draw_only(root, drawn, inside, width, height)
        ys, xs = np.nonzero(mask)
        boxes.append((int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))
    return page.no_lines(), boxes, list(page.staff.lines), page.space


@pytest.mark.parametrize("font", ["Leipzig", "Bravura", "Leland"])
def test_reads_each_rest_value(font: str) -> None:
    no_lines, boxes, lines, space = _page(font)
    assert len(boxes) == 5
    got = []
    for x1, y1, x2, y2 in boxes:
        # the network often marks only part of a glyph: give the reader the lower two thirds
        read, _scores = rests.read_rest(no_lines, (x1, y1 + (y2 - y1) // 3, x2, y2), space, lines)
        got.append(read)
    assert got == ["WHOLE", "HALF", "QUARTER", "EIGHTH", "SIXTEENTH"]


def test_a_block_away_from_the_lines_is_not_told() -> None:
    assert rests.block_value(83.5, 86.5, [50.0, 64.0, 78.0, 92.0, 106.0], 14.0) is None
    assert rests.block_value(78.5, 85.0, [50.0, 64.0, 78.0, 92.0, 106.0], 14.0) == "WHOLE"
    assert rests.block_value(71.0, 78.2, [50.0, 64.0, 78.0, 92.0, 106.0], 14.0) == "HALF"


def test_an_empty_box_reads_nothing() -> None:
    read, _ = rests.read_rest(np.zeros((200, 200), dtype=bool), (50, 50, 60, 80), 14, [])
    assert read is None


def _repeat_dots(font: str) -> tuple[np.ndarray, list[Box], float]:
    """Ink without staff lines of a staff whose second bar is repeated (a start and an end
    repeat sign), and the box of each sign's two dots."""
    import cv2

    note = '<note pname="c" oct="5" dur="4"/>'
    page = engrave_staff([note * 4] * 3, font, ["", ' left="rptstart" right="rptend"', ""])
    root = ET.fromstring(page.svg)
    members = render.class_members(root, "barLine")
    height, width = page.image.shape
    mask = render.draw_only(
        root, render.leaves(root), lambda el, _cls: id(el) in members, width, height
    )
    n, _labels, stats, _c = cv2.connectedComponentsWithStats(mask.astype(np.uint8))
    dots = sorted(
        (int(x), int(y), int(x + w), int(y + h))
        for x, y, w, h, _area in stats[1:n]
        if w < page.space and h < page.space  # the barlines are a staff high
    )
    boxes = []
    for k in range(0, len(dots) - 1, 2):
        (ax1, ay1, ax2, ay2), (bx1, by1, bx2, by2) = dots[k], dots[k + 1]
        boxes.append((min(ax1, bx1), min(ay1, by1), max(ax2, bx2), max(ay2, by2)))
    return page.no_lines(), boxes, page.space


@pytest.mark.parametrize("font", ["Leipzig", "Bravura", "Leland"])
def test_a_repeat_signs_dots_are_no_rest(font: str) -> None:
    no_lines, boxes, space = _repeat_dots(font)
    assert len(boxes) == 2  # the start repeat's and the end repeat's
    for x1, y1, x2, y2 in boxes:
        assert rests.is_repeat_dots(no_lines, (x1, y1, x2, y2), space)
        # oemer's box may hold one dot only
        assert rests.is_repeat_dots(no_lines, (x1, y1, x2, (y1 + y2) // 2), space)


@pytest.mark.parametrize("font", ["Leipzig", "Bravura", "Leland"])
def test_no_rest_is_taken_for_repeat_dots(font: str) -> None:
    no_lines, boxes, _lines, space = _page(font)
    for x1, y1, x2, y2 in boxes:
        assert not rests.is_repeat_dots(no_lines, (x1, y1, x2, y2), space)
        assert not rests.is_repeat_dots(no_lines, (x1, y1 + (y2 - y1) // 3, x2, y2), space)
