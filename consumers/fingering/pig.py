"""Read and write the PIG piano-fingering text format (Nakamura et al. 2020).

One file = one annotator's fingering of one piece, e.g. ``001-1_fingering.txt`` (piece 001,
annotator 1). Lines::

    //Version: PianoFingering_v170101
    0<TAB>0.00000<TAB>0.25000<TAB>C#4<TAB>64<TAB>80<TAB>0<TAB>1
    1<TAB>0.25000<TAB>0.50000<TAB>Bb3<TAB>64<TAB>80<TAB>1<TAB>-4_1

Columns: note id, onset (s), offset (s), spelled pitch (sharps ``#``, flats ``b``), onset and
offset velocity, channel (0 = right hand, 1 = left hand), finger (1..5 right, -1..-5 left;
``4_1`` is a substitution on a held note: first finger 4, then 1).

Only parsing and formatting live here; reading files is a thin helper so the rest of the package
can work on text (and tests need no files).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

PIG_HEADER: Final = "//Version: PianoFingering_v170101"
_STEP_SEMITONES: Final = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_PITCH_RE: Final = re.compile(r"^([A-Ga-g])([#b\-]*)(-?\d+)$")
_FILE_RE: Final = re.compile(r"^(?P<piece>[^-]+)-(?P<annotator>\d+)_fingering\.txt$")


@dataclass(frozen=True, slots=True)
class PigNote:
    """One row of a PIG file. ``fingers`` holds the finger sequence with its sign dropped
    (``-4_1`` -> (4, 1)); the hand comes from ``channel``. An empty tuple = no finger."""

    id: int
    onset: float
    offset: float
    spelled: str
    onset_velocity: int
    offset_velocity: int
    channel: int
    fingers: tuple[int, ...]

    @property
    def hand(self) -> str:
        return "right" if self.channel == 0 else "left"

    @property
    def finger(self) -> int:
        """The finger that strikes the note (first of a substitution); 0 when unannotated."""
        return self.fingers[0] if self.fingers else 0

    @property
    def midi(self) -> int:
        return spelled_to_midi(self.spelled)


def spelled_to_midi(spelled: str) -> int:
    """``C#4`` -> 61, ``Bb3`` -> 58, ``E-4`` (music21 spelling) -> 63."""
    m = _PITCH_RE.match(spelled.strip())
    if m is None:
        raise ValueError(f"not a spelled pitch: {spelled!r}")
    step, accidentals, octave = m.group(1).upper(), m.group(2), int(m.group(3))
    alter = accidentals.count("#") - accidentals.count("b") - accidentals.count("-")
    return 12 * (octave + 1) + _STEP_SEMITONES[step] + alter


def _parse_finger(token: str) -> tuple[int, ...]:
    # Some PIG files contain "_" alone or "0" for unannotated notes; treat both as no finger.
    fingers: list[int] = []
    for part in token.split("_"):
        part = part.strip()
        if not part or part in {"0", "-0", "x"}:
            continue
        value = abs(int(part))
        if not 1 <= value <= 5:
            raise ValueError(f"finger out of range: {token!r}")
        fingers.append(value)
    return tuple(fingers)


def parse_pig(text: str) -> list[PigNote]:
    """Parse the text of one PIG file. Header/comment lines start with ``//``."""
    notes: list[PigNote] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("//"):
            continue
        cols = line.split()
        if len(cols) < 7:
            raise ValueError(f"line {lineno}: expected 8 columns, got {len(cols)}")
        finger = cols[7] if len(cols) > 7 else ""
        notes.append(
            PigNote(
                id=int(cols[0]),
                onset=float(cols[1]),
                offset=float(cols[2]),
                spelled=cols[3],
                onset_velocity=int(float(cols[4])) if cols[4] not in {"None", "-"} else 64,
                offset_velocity=int(float(cols[5])) if cols[5] not in {"None", "-"} else 64,
                channel=int(cols[6]),
                fingers=_parse_finger(finger),
            )
        )
    return notes


def format_finger(fingers: Sequence[int], channel: int) -> str:
    if not fingers:
        return "0"
    sign = "-" if channel == 1 else ""
    return "_".join(f"{sign}{f}" for f in fingers)


def format_pig(notes: Iterable[PigNote]) -> str:
    """Inverse of :func:`parse_pig` (times with 6 decimals, ids as given)."""
    lines = [PIG_HEADER]
    for n in notes:
        lines.append(
            "\t".join(
                (
                    str(n.id),
                    f"{n.onset:.6f}",
                    f"{n.offset:.6f}",
                    n.spelled,
                    str(n.onset_velocity),
                    str(n.offset_velocity),
                    str(n.channel),
                    format_finger(n.fingers, n.channel),
                )
            )
        )
    return "\n".join(lines) + "\n"


def read_pig(path: Path) -> list[PigNote]:
    return parse_pig(path.read_text(encoding="utf-8", errors="replace"))


def write_pig(path: Path, notes: Iterable[PigNote]) -> None:
    path.write_text(format_pig(notes), encoding="utf-8")


@dataclass(frozen=True, slots=True)
class PigFile:
    piece: str
    annotator: int
    path: Path


def list_pig_files(root: Path) -> dict[str, list[PigFile]]:
    """All ``<piece>-<annotator>_fingering.txt`` under ``root`` (any depth), by piece id."""
    by_piece: dict[str, list[PigFile]] = {}
    for path in sorted(root.rglob("*_fingering.txt")):
        m = _FILE_RE.match(path.name)
        if m is None:
            continue
        entry = PigFile(m.group("piece"), int(m.group("annotator")), path)
        by_piece.setdefault(entry.piece, []).append(entry)
    for files in by_piece.values():
        files.sort(key=lambda f: f.annotator)
    return by_piece


def official_split(piece_ids: Iterable[str]) -> tuple[list[str], list[str]]:
    """The split of Nakamura et al. 2020: pieces 001-030 (those with several annotators) are the
    test set, 031-150 the training set. Returns (train, test)."""
    train: list[str] = []
    test: list[str] = []
    for pid in sorted(piece_ids):
        try:
            number = int(pid)
        except ValueError:
            train.append(pid)
            continue
        (test if number <= 30 else train).append(pid)
    return train, test
