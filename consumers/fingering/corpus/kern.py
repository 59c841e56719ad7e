"""Humdrum ``**kern`` + ``**fing`` reader (NIFC Chopin first editions, NIFC Polish scores).

A small line-based parser: it follows spine splits/merges/exchanges, keeps time from the kern
durations, and pairs each ``**fing`` token with the notes of the nearest ``**kern`` spine on
its left (see ../shared/data/fingering/SOURCES.md for the conventions it relies on).
music21's Humdrum reader drops ``**fing``, hence this parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Final

from consumers.fingering.corpus.types import HandName

_DUR_RE: Final = re.compile(r"(\d+)(?:%(\d+))?(\.*)")
_PITCH_RE: Final = re.compile(r"([a-gA-G])\1*")
_CODE_RE: Final = re.compile(r"^\*I([a-z]+)$")
_KEYBOARD: Final = frozenset(
    {"piano", "forte", "organ", "hpschd", "clavi", "clavch", "cemba", "harmon", "kbd", "pf"}
)
_ENGLISH: Final = {"+": 1, "1": 2, "2": 3, "3": 4, "4": 5}


@dataclass(slots=True)
class KernNote:
    midi: int
    onset: Fraction
    duration: Fraction
    grace: bool
    continuation: bool  # tied continuation: not a new key press


@dataclass(slots=True)
class _Staff:
    index: int
    part: str = ""
    staff: int = 0
    code: str = ""
    notes: list[tuple[KernNote, int]] = field(default_factory=list)  # (note, finger)


@dataclass(slots=True)
class _Spine:
    kind: str
    owner: int  # staff index (kern) or the staff a **fing spine belongs to; -1 = none
    end: Fraction = Fraction(0)


def parse_kern_token(token: str, onset: Fraction) -> tuple[list[KernNote], Fraction | None, bool]:
    """Notes of one kern token (a chord is space-separated). Returns (notes, duration of the
    event or None for a null token, whether it is a grace event)."""
    if token == "." or not token:
        return [], None, False
    notes: list[KernNote] = []
    duration: Fraction | None = None
    grace = False
    for sub in token.split(" "):
        if not sub or sub == ".":
            continue
        is_grace = "q" in sub or "Q" in sub
        m = _DUR_RE.search(sub)
        dur = Fraction(0)
        if m is not None and not is_grace:
            num = int(m.group(1))
            scale = int(m.group(2)) if m.group(2) else 1
            # recip n = 1/n of a whole note; 0 = breve; n%m = m/n whole notes.
            base = Fraction(8) if num == 0 else Fraction(4 * scale, num)
            dots = len(m.group(3))
            dur = base * (2 - Fraction(1, 2**dots))
        grace = grace or is_grace
        duration = dur if duration is None else max(duration, dur)
        if "r" in sub:
            continue
        pm = _PITCH_RE.search(sub)
        if pm is None:
            continue
        letters = pm.group(0)
        step = letters[0].lower()
        semis = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}[step]
        octave = 3 + len(letters) if letters[0].islower() else 4 - len(letters)
        rest = sub[pm.end() :]
        alter = 0
        for ch in rest:
            if ch == "#":
                alter += 1
            elif ch == "-":
                alter -= 1
            elif ch == "n":
                continue
            else:
                break
        midi = 12 * (octave + 1) + semis + alter
        continuation = "_" in sub or "]" in sub
        notes.append(KernNote(midi, onset, dur, is_grace, continuation))
    return notes, duration, grace


def _finger_items(tokens: list[str], english: bool, n_notes: int) -> list[int]:
    """Fingers low->high from the **fing sub-columns of one staff on one line. The right-most
    sub-column fingers the lowest note, so the sub-columns are read right to left."""
    items: list[str] = []
    for tok in reversed(tokens):
        if tok == ".":
            continue
        parts = tok.split(" ")
        # Digits glued together ("21") on a chord of as many notes: one finger per digit.
        if len(parts) == 1 and parts[0].isdigit() and len(parts[0]) == n_notes > 1:
            parts = list(parts[0])
        items.extend(parts)
    fingers: list[int] = []
    for item in items:
        item = item.strip()
        finger = 0
        if item:
            ch = item[0]
            if english and ch in _ENGLISH:
                finger = _ENGLISH[ch]
            elif ch in "12345":
                # "4-3", "3:4", "4\xa03": substitution/alternative; the striking finger is first.
                finger = int(ch)
        fingers.append(finger)
    return fingers


def _pair(
    staff_notes: list[list[KernNote]], fingers: list[int]
) -> list[tuple[KernNote, int]] | None:
    if not any(fingers):
        return []
    flat = [n for sub in staff_notes for n in sub]
    fresh = [n for n in flat if not n.continuation]
    for candidates in (fresh, flat, *(list(s) for s in staff_notes)):
        if candidates and len(candidates) == len(fingers):
            ordered = sorted(candidates, key=lambda n: n.midi)
            return [(n, f) for n, f in zip(ordered, fingers, strict=True) if not n.continuation]
    return None


@dataclass(slots=True)
class KernResult:
    hands: list[tuple[str, HandName, list[tuple[int, float, float, int]]]]
    unmatched: int


def read_kern(text: str, *, english: bool = False) -> KernResult:
    """Keyboard notes per (part, hand) with fingers (0 = none) from one Humdrum file."""
    spines: list[_Spine] = []
    staves: list[_Staff] = []
    time = Fraction(0)
    unmatched = 0
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        if not line or line.startswith("!"):
            continue
        tokens = line.split("\t")
        if line.startswith("**") and not spines:
            for tok in tokens:
                if tok == "**kern":
                    staves.append(_Staff(len(staves)))
                    spines.append(_Spine(tok, staves[-1].index))
                else:
                    owner = next((s.owner for s in reversed(spines) if s.kind == "**kern"), -1)
                    spines.append(_Spine(tok, owner if tok == "**fing" else -1))
            continue
        if not spines or len(tokens) != len(spines):
            continue
        if line.startswith("*"):
            if any(t in {"*^", "*v", "*x", "*-", "*+"} for t in tokens):
                spines = _manipulate(spines, tokens)
                continue
            for sp, tok in zip(spines, tokens, strict=True):
                if sp.kind != "**kern":
                    if tok.startswith("**") and sp.kind == "?":
                        sp.kind = tok
                    continue
                st = staves[sp.owner]
                if tok.startswith("*part"):
                    st.part = tok[5:]
                elif tok.startswith("*staff") and tok[6:].isdigit():
                    st.staff = int(tok[6:])
                else:
                    cm = _CODE_RE.match(tok)
                    if cm is not None:
                        st.code = cm.group(1)
            continue
        if line.startswith("="):
            continue
        # data line
        by_staff: dict[int, list[list[KernNote]]] = {}
        fing_by_staff: dict[int, list[str]] = {}
        any_grace = False
        for sp, tok in zip(spines, tokens, strict=True):
            if sp.kind == "**kern":
                notes, dur, grace = parse_kern_token(tok, time)
                if dur is not None:
                    any_grace = any_grace or (grace and dur == 0)
                    if not grace:
                        sp.end = time + dur
                by_staff.setdefault(sp.owner, []).append(notes)
            elif sp.kind == "**fing" and sp.owner >= 0:
                fing_by_staff.setdefault(sp.owner, []).append(tok)
        for owner, subs in by_staff.items():
            ftoks = fing_by_staff.get(owner, [])
            n_fresh = sum(1 for s in subs for n in s if not n.continuation)
            fingers = _finger_items(ftoks, english, n_fresh) if ftoks else []
            paired = _pair(subs, fingers) if fingers else []
            if paired is None:
                unmatched += 1
                paired = []
            fingered = {id(n): f for n, f in paired}
            for sub in subs:
                for n in sub:
                    if not n.continuation:
                        staves[owner].notes.append((n, fingered.get(id(n), 0)))
        candidates = [sp.end for sp in spines if sp.kind == "**kern" and sp.end > time]
        if any_grace:
            candidates.append(time)
        if candidates:
            time = min(candidates)
    return KernResult(_assign_hands(staves), unmatched)


def _manipulate(spines: list[_Spine], tokens: list[str]) -> list[_Spine]:
    out: list[_Spine] = []
    i = 0
    while i < len(tokens):
        tok, sp = tokens[i], spines[i]
        if tok == "*^":
            out += [sp, _Spine(sp.kind, sp.owner, sp.end)]
        elif tok == "*v":
            j = i
            while j < len(tokens) and tokens[j] == "*v":
                j += 1
            merged = spines[i:j]
            out.append(_Spine(sp.kind, sp.owner, min(s.end for s in merged)))
            i = j
            continue
        elif tok == "*x" and i + 1 < len(tokens) and tokens[i + 1] == "*x":
            out += [spines[i + 1], sp]
            i += 2
            continue
        elif tok == "*-":
            pass
        elif tok == "*+":
            out += [sp, _Spine("?", -1, sp.end)]
        else:
            out.append(sp)
        i += 1
    return out


def _assign_hands(
    staves: list[_Staff],
) -> list[tuple[str, HandName, list[tuple[int, float, float, int]]]]:
    """Pair keyboard staves into hands. Spines run from the bottom staff to the top one, so in
    each run of adjacent keyboard staves the right-most is a RH and the one left of it the LH;
    a third staff in a run of 3 is an organ pedal (skipped); a run of 4 is two players. The
    ``*part`` tokens cannot be used: NIFC files give the two piano staves different parts."""
    runs: list[list[_Staff]] = [[]]
    for st in staves:
        if st.code in _KEYBOARD or st.code == "":
            runs[-1].append(st)
        elif runs[-1]:
            runs.append([])
    out: list[tuple[str, HandName, list[tuple[int, float, float, int]]]] = []
    for run_no, run in enumerate(runs):
        pairs = 0
        while len(run) >= 2:
            rh, lh = run[-1], run[-2]
            run = run[:-2] if len(run) != 3 else []
            pairs += 1
            for st, hand in ((rh, "right"), (lh, "left")):
                notes = [
                    (n.midi, float(n.onset), float(n.duration) if not n.grace else 0.0, f)
                    for n, f in st.notes
                ]
                if notes:
                    hand_name: HandName = "right" if hand == "right" else "left"
                    out.append((f"{run_no + 1}.{pairs}", hand_name, notes))
    return out


def read_kern_file(path: Path, *, english: bool = False) -> KernResult:
    return read_kern(path.read_text(encoding="utf-8", errors="replace"), english=english)
