"""Beringer & Dunhill (1900) scales/arpeggios/broken chords, as transcribed in pydactyl's
``beringer2`` corpus: ABC notes plus an ``abcD`` fingering header (one digit per note,
``@`` between RH and LH, ``&`` between segments, ``x`` = not annotated)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

from consumers.fingering.corpus.types import HandName

_FING_RE: Final = re.compile(r"^% abcD fingering (\d+):\s*(\S*)", re.MULTILINE)


def abcd_fingerings(text: str) -> list[tuple[list[int], list[int]]]:
    """Every non-empty annotation as (RH digits, LH digits); 0 = not annotated."""
    out: list[tuple[list[int], list[int]]] = []
    for m in _FING_RE.finditer(text):
        raw = m.group(2)
        if "@" not in raw:
            continue
        rh_raw, lh_raw = raw.split("@", 1)

        def digits(s: str) -> list[int]:
            return [int(c) if c in "12345" else 0 for c in s.replace("&", "") if c not in " \t"]

        rh, lh = digits(rh_raw), digits(lh_raw)
        if any(rh) or any(lh):
            out.append((rh, lh))
    return out


def read_beringer(path: Path) -> list[tuple[HandName, int, list[tuple[int, float, float, int]]]]:
    """(hand, annotation number, notes as (midi, onset, duration, finger)) for one exercise.
    Sequences whose digit count differs from the note count are dropped."""
    import music21  # heavy import, only for training/evaluation

    text = path.read_text(encoding="utf-8", errors="replace")
    annotations = abcd_fingerings(text)
    if not annotations:
        return []
    score: Any = music21.converter.parse(text, format="abc")
    voices: list[list[tuple[int, float, float]]] = []
    for part in score.parts:
        seq: list[tuple[int, float, float]] = []
        for n in part.flatten().notes:
            if n.isChord:
                for p in sorted(n.pitches, key=lambda p: p.midi):
                    seq.append((p.midi, float(n.offset), float(n.quarterLength)))
            else:
                seq.append((n.pitch.midi, float(n.offset), float(n.quarterLength)))
        if seq:
            voices.append(seq)
    if len(voices) < 2:
        return []
    out: list[tuple[HandName, int, list[tuple[int, float, float, int]]]] = []
    for number, (rh, lh) in enumerate(annotations, start=1):
        for hand, seq, digits in (("right", voices[0], rh), ("left", voices[1], lh)):
            if len(digits) != len(seq) or not any(digits):
                continue
            hand_name: HandName = "right" if hand == "right" else "left"
            out.append(
                (
                    hand_name,
                    number,
                    [(m, o, d, f) for (m, o, d), f in zip(seq, digits, strict=True)],
                )
            )
    return out
