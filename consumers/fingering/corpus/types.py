"""Per-hand note sequences with partial finger labels: the unit every corpus reader produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

HandName = Literal["right", "left"]


@dataclass(slots=True)
class HandSequence:
    """The notes one hand plays in one piece, in score order.

    ``onset``/``duration`` are in the source's unit (quarter notes for scores, seconds for PIG);
    the features only use ratios of them, so the unit does not matter. ``finger`` is 0 where the
    source gives no finger (most notes of a printed edition)."""

    source: str
    piece: str
    work: str
    hand: HandName
    midi: npt.NDArray[np.int64]
    onset: npt.NDArray[np.float64]
    duration: npt.NDArray[np.float64]
    finger: npt.NDArray[np.int64]
    licence: str = ""
    chord_eps: float = 1e-6
    extra: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.midi.shape[0])

    @property
    def labelled(self) -> int:
        return int((self.finger > 0).sum())


def make_sequence(
    *,
    source: str,
    piece: str,
    work: str,
    hand: HandName,
    notes: list[tuple[int, float, float, int]],
    licence: str = "",
    chord_eps: float = 1e-6,
) -> HandSequence:
    """Build a sequence from (midi, onset, duration, finger) tuples, sorted by onset then pitch."""
    notes = sorted(notes, key=lambda n: (n[1], n[0]))
    arr = np.asarray(notes, dtype=np.float64).reshape(-1, 4)
    return HandSequence(
        source=source,
        piece=piece,
        work=work,
        hand=hand,
        midi=arr[:, 0].astype(np.int64),
        onset=arr[:, 1].copy(),
        duration=arr[:, 2].copy(),
        finger=arr[:, 3].astype(np.int64),
        licence=licence,
        chord_eps=chord_eps,
    )
