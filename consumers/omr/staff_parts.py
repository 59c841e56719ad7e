"""A staff that oemer's line finder misreads in one strip of the page is mended, not dropped.

oemer finds staff lines strip by strip (eight vertical zones across the page), lines the
strips' staves up, and then drops every staff whose parts disagree anywhere: a part with
other than five lines, a centre off its row, or a line spacing more than 10 % off the
others'. One strip where a hairpin or a run of ledger lines under the staff is taken for
lines (five lines chosen two rows too low, the spacing 16.4 px against 14.1) is enough to
drop the whole staff, and every note on it is then given to the staff above or below: the
right hand of a system read in the left hand's clef, its bars merged into the neighbour's.
Here a part that disagrees with most of its staff's parts is replaced by the nearest good
part, moved along the staff (as oemer itself fills a strip where it found nothing); a staff
whose parts mostly disagree is left for oemer to drop.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

# How far a part may stray from its staff's median before it is replaced: the centre in
# staff spaces, the spacing as a ratio (oemer drops the staff at 0.1).
MAX_CENTRE_SHIFT: Final = 0.5
MAX_SPACING_RATIO: Final = 0.08


def _bad_parts(parts: list[Any]) -> list[int]:
    good5 = [p for p in parts if len(p.lines) == 5]
    if not good5:
        return list(range(len(parts)))
    unit = float(np.median([p.unit_size for p in good5]))
    centre = float(np.median([p.y_center for p in good5]))
    return [
        i
        for i, p in enumerate(parts)
        if len(p.lines) != 5
        or abs(p.unit_size / unit - 1) > MAX_SPACING_RATIO
        or abs(p.y_center - centre) > MAX_CENTRE_SHIFT * unit
    ]


def mend(grid: NDArray[Any]) -> NDArray[Any]:
    """`grid` (strips × staves of oemer `Staff` parts, as `align_staffs` returns it) with
    each staff's minority of stray parts replaced by a copy of its nearest good part."""
    if grid.ndim != 2 or grid.shape[0] < 3:
        return grid
    out = grid.copy()
    for j in range(grid.shape[1]):
        parts = list(grid[:, j])
        bad = _bad_parts(parts)
        if not bad or len(bad) * 2 >= len(parts):
            continue
        good = [i for i in range(len(parts)) if i not in bad]
        for i in bad:
            k = min(good, key=lambda g: (abs(g - i), g))
            ref = parts[k]
            width = ref.x_right - ref.x_left
            new = ref.duplicate(x_offset=width * (i - k))
            new.is_interp = True
            out[i, j] = new
    return out


@contextlib.contextmanager
def patched() -> Iterator[None]:
    """oemer's staff finder with its strips' staves mended before it validates them."""
    from oemer import staffline_extraction as sx

    own = sx.align_staffs

    def align_staffs(*args: Any, **kwargs: Any) -> Any:
        return mend(own(*args, **kwargs))

    sx.align_staffs = align_staffs
    try:
        yield
    finally:
        sx.align_staffs = own
