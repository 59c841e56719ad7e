"""Label classes shared by the synthetic generator, the network and the recogniser.

oemer runs two networks whose outputs its later stages read:
  * ``unet_big``: 0 background, 1 staff lines, 2 every other symbol;
  * ``seg_net``: 0 background, 1 stems + rests + barlines, 2 noteheads (hollow heads filled),
    3 clefs + key signatures + accidentals.
We store both in one uint8 map, ``staff3 | (seg4 << 2)``, so one array travels per page.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

# Leaf classes assigned to each drawn SVG element (see render.classify_leaf).
BACKGROUND: Final = 0
STAFF_LINE: Final = 1
STEM_REST_BAR: Final = 2
NOTEHEAD: Final = 3
CLEF_KEY_ACCID: Final = 4
OTHER: Final = 5
LEAF_CLASSES: Final = (STAFF_LINE, STEM_REST_BAR, NOTEHEAD, CLEF_KEY_ACCID, OTHER)

# oemer resizes every page to about this many pixels before its networks and later stages.
OEMER_PIXELS: Final = 3_675_000

STAFF3_NAMES: Final = ("background", "staff", "symbols")
SEG4_NAMES: Final = ("background", "stems_rests_barlines", "noteheads", "clefs_keys_accidentals")


def pack(staff3: NDArray[np.uint8], seg4: NDArray[np.uint8]) -> NDArray[np.uint8]:
    return (staff3 | (seg4 << 2)).astype(np.uint8)


def unpack(label: NDArray[np.uint8]) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    return (label & 3).astype(np.uint8), (label >> 2).astype(np.uint8)


# seg4 values by priority when several classes fall in one down-sampled pixel: a notehead
# beats a clef/accidental beats a stem/rest/barline beats background.
_SEG_TO_RANK: Final = np.array([0, 1, 3, 2], dtype=np.uint8)
_RANK_TO_SEG: Final = np.array([0, 1, 3, 2], dtype=np.uint8)


def downsample(label: NDArray[np.uint8], factor: int) -> NDArray[np.uint8]:
    """Packed label at 1/factor size; a class present anywhere in a cell keeps the cell, so
    one-pixel staff lines and stems survive (staff3 values are already in priority order)."""
    if factor == 1:
        return label
    staff3, seg4 = unpack(label)
    h, w = (label.shape[0] // factor) * factor, (label.shape[1] // factor) * factor

    def pool(a: NDArray[np.uint8]) -> NDArray[np.uint8]:
        cells = a[:h, :w].reshape(h // factor, factor, w // factor, factor)
        return np.asarray(cells.max(axis=(1, 3)), dtype=np.uint8)

    return pack(pool(staff3), _RANK_TO_SEG[pool(_SEG_TO_RANK[seg4])])
