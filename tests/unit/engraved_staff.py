"""One treble staff engraved by verovio for the OMR tests: the page, its label map and the
staff found on it."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from consumers.omr.meter import Staff, find_staves, without_staff_lines
from consumers.omr.recognize import ink_mask
from consumers.omr.synth import labels as lc
from consumers.omr.synth import render

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class EngravedStaff:
    image: np.ndarray  # grey page
    staff_map: np.ndarray  # uint8, the staff lines' label
    seg4: np.ndarray  # the stems/heads/clefs-keys label
    staff: Staff
    svg: str  # what verovio engraved: its groups name each symbol's class

    @property
    def space(self) -> float:
        return float(self.staff.space)

    def no_lines(self) -> np.ndarray:
        """The page's ink with the staff lines removed."""
        return np.asarray(without_staff_lines(ink_mask(self.image), self.staff_map))

    def heads(self) -> np.ndarray:
        """The noteheads' label, grown by a pixel (as production takes heads out of the ink)."""
        return cv2.dilate((self.seg4 == 2).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0

    def boxes(self, cls: int, min_area: int, after_signatures: bool = False) -> list[Box]:
        """Boxes of the pieces of label `cls` (2 heads, 3 clefs/keys/accidentals) larger than
        `min_area`, left to right; `after_signatures` leaves out the opening clef and time
        signature."""
        marked = (self.seg4 == cls).astype(np.uint8)
        if after_signatures:
            marked[:, : self.staff.x0 + int(5 * self.staff.space)] = 0
        n, _lab, stats, _c = cv2.connectedComponentsWithStats(marked, connectivity=8)
        return sorted(
            (int(x), int(y), int(x + w), int(y + h))
            for x, y, w, h, area in stats[1:n]
            if area > min_area
        )


def engrave_staff(
    measures: list[str], font: str, attributes: list[str] | None = None
) -> EngravedStaff:
    """`measures`: each bar's layer content (MEI) on one treble staff in 4/4; `attributes`:
    each bar's own MEI attributes (' left="rptstart"'), if any."""
    attrs = attributes or [""] * len(measures)
    bars = "".join(
        f'<measure n="{i + 1}"{a}><staff n="1"><layer n="1">{m}</layer></staff></measure>'
        for i, (m, a) in enumerate(zip(measures, attrs, strict=True))
    )
    mei = render.mei_document(
        '<scoreDef meter.count="4" meter.unit="4"><staffGrp><staffDef n="1" lines="5" '
        'clef.shape="G" clef.line="2"/></staffGrp></scoreDef>',
        bars,
    )
    svg = render.engrave(mei, render.EngraveOptions(font=font, scale=80))[0]
    image, label = render.render_page(svg)
    staff3, seg4 = lc.unpack(label)
    staff_map = (staff3 == 1).astype(np.uint8)
    return EngravedStaff(image, staff_map, seg4, find_staves(staff_map)[0], svg)
