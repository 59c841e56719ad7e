"""Mutopia LilyPond sources -> per-hand notes with fingers, through LilyPond itself.

LilyPond (2.24, ``apt-get install lilypond``) is run on each piece with a small Scheme engraver
(``lilypond_engraver.ly``, passed with ``-dinclude-settings``) that prints every note event
(voice, staff, staff group, pitch, moment, duration, fingers inside chords, tie) and every
separate fingering/tie event; typesetting is skipped. Files older than 2.24 are first updated
with ``convert-ly`` in a temporary copy (the shared data is never modified). Output is cached
per piece (outside the repository) because LilyPond takes seconds per piece.

Hands: the two staves of one staff group (PianoStaff/GrandStaff); the one with the higher mean
pitch is the RH. Tied continuations are dropped (not key presses).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Final

from consumers.fingering.corpus.types import HandName

ENGRAVER: Final = Path(__file__).resolve().parent / "lilypond_engraver.ly"


@dataclass(slots=True)
class _LyNote:
    voice: int
    staff: int
    group: int
    midi: int
    onset: float
    duration: float
    digits: list[int]
    tie: bool
    finger: int = 0


@dataclass(slots=True)
class LyResult:
    hands: list[tuple[str, HandName, list[tuple[int, float, float, int]]]] = field(
        default_factory=list
    )
    unmatched: int = 0


def lilypond_available() -> bool:
    return shutil.which("lilypond") is not None and shutil.which("convert-ly") is not None


def run_lilypond(piece_dir: Path, main_file: str, *, timeout: float = 300) -> str:
    """Engraver output (stdout) for one piece."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "piece"
        shutil.copytree(piece_dir, work, symlinks=False, ignore_dangling_symlinks=True)
        for f in sorted(work.rglob("*")):
            if f.suffix in {".ly", ".ily", ".lyi"} and f.is_file():
                cmd = ["convert-ly", "-e", str(f)]
                if "\\version" not in f.read_text(encoding="utf-8", errors="replace"):
                    cmd[1:1] = ["-f", "2.10.0"]
                subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
        proc = subprocess.run(
            [
                "lilypond",
                f"-dinclude-settings={ENGRAVER}",
                "-o",
                str(Path(tmp) / "out"),
                "--loglevel=ERROR",
                main_file,
            ],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return proc.stdout


def _moment(main: str, grace: str) -> float:
    return float(Fraction(main) + Fraction(grace))


def parse_engraver_output(text: str) -> LyResult:
    notes: list[_LyNote] = []
    separate: dict[tuple[int, float], list[int]] = {}
    ties: set[tuple[int, float]] = set()
    pending: tuple[int, float] | None = None
    for line in text.splitlines():
        if not line.startswith("ETUDE\t"):
            continue
        cols = line.split("\t")
        kind = cols[1]
        if kind == "N" and len(cols) >= 10:
            main, grace = cols[6].split()
            digits = [int(d) for d in cols[8].strip("()").split() if d.lstrip("-").isdigit()]
            notes.append(
                _LyNote(
                    voice=int(cols[2]),
                    staff=int(cols[3]),
                    group=int(cols[4]),
                    midi=int(cols[5]),
                    onset=_moment(main, grace),
                    duration=0.0 if Fraction(grace) != 0 else float(Fraction(cols[7])),
                    digits=digits,
                    tie=cols[9] == "1",
                )
            )
        elif kind == "F" and len(cols) >= 4:
            main, grace = cols[3].split()
            pending = (int(cols[2]), _moment(main, grace))
        elif kind == "D" and pending is not None:
            if cols[2].lstrip("-").isdigit():
                separate.setdefault(pending, []).append(int(cols[2]))
            pending = None
        elif kind == "T" and len(cols) >= 4:
            main, grace = cols[3].split()
            ties.add((int(cols[2]), _moment(main, grace)))
    result = LyResult()
    by_voice_moment: dict[tuple[int, float], list[_LyNote]] = {}
    for n in notes:
        by_voice_moment.setdefault((n.voice, n.onset), []).append(n)
        inner = [d for d in n.digits if 1 <= d <= 5]
        if inner:
            n.finger = inner[0]
    for key, digits in separate.items():
        group = by_voice_moment.get(key, [])
        valid = [d for d in digits if 1 <= d <= 5]
        if not valid or not group:
            result.unmatched += len(digits)
            continue
        if len(group) == 1:
            group[0].finger = valid[0]
        elif len(valid) == len(group):
            for n, d in zip(sorted(group, key=lambda n: n.midi), valid, strict=True):
                n.finger = d
        else:
            result.unmatched += len(valid)
    # drop tied continuations: same voice and pitch, starting where a tied note ended
    open_ties: dict[tuple[int, int], float] = {}
    kept: list[_LyNote] = []
    for n in notes:
        key = (n.voice, n.midi)
        end = open_ties.pop(key, None)
        is_continuation = end is not None and abs(end - n.onset) < 1e-6
        if n.tie or (n.voice, n.onset) in ties:
            open_ties[key] = n.onset + n.duration
        if not is_continuation:
            kept.append(n)
    staves_by_group: dict[int, dict[int, list[_LyNote]]] = {}
    for n in kept:
        staves_by_group.setdefault(n.group, {}).setdefault(n.staff, []).append(n)
    for group_no, staves in staves_by_group.items():
        if len(staves) != 2:
            continue
        n1, n2 = staves.values()
        mean1 = sum(x.midi for x in n1) / len(n1)
        mean2 = sum(x.midi for x in n2) / len(n2)
        rh, lh = (n1, n2) if mean1 >= mean2 else (n2, n1)
        for hand, seq in (("right", rh), ("left", lh)):
            hand_name: HandName = "right" if hand == "right" else "left"
            result.hands.append(
                (
                    f"g{group_no}",
                    hand_name,
                    [(x.midi, x.onset * 4, x.duration * 4, x.finger) for x in seq],
                )
            )
    return result


def extract_cached(
    piece_dir: Path, main_file: str, cache_dir: Path, *, run_missing: bool = True
) -> str | None:
    """Engraver output for a piece, from the cache or by running LilyPond (None if absent,
    or if not cached and ``run_missing`` is false)."""
    key = hashlib.sha1(f"{piece_dir.resolve()}:{main_file}".encode()).hexdigest()[:16]
    cached = cache_dir / f"{key}.txt"
    if cached.exists():
        return cached.read_text(encoding="utf-8")
    if not run_missing or not lilypond_available():
        return None
    text = run_lilypond(piece_dir, main_file)
    cache_dir.mkdir(parents=True, exist_ok=True)
    cached.write_text(text, encoding="utf-8")
    return text
