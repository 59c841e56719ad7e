"""Load the redistributable fingering corpus from ../shared/data/fingering and split it by work.

The data is read in place (never copied into the repository). Split: the Clara Schumann Op.1
editorial marks (music21 corpus) and the OpenScore songs are held out entirely as test sets; of
the other sources, works whose stable hash falls in 0..7 (of 100) are test, 8..13 validation,
the rest training. A *work* groups the editions of one piece (the Chopin first editions hold
2-3 editions of each opus), so no edition of a test work is trained on.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Final, Literal

from consumers.fingering.corpus.types import HandSequence, make_sequence

Split = Literal["train", "val", "test"]
HELD_OUT_SOURCES: Final = frozenset({"music21-clara-schumann", "openscore-lieder"})
SOURCES: Final = (
    "nifc-chopin-first-editions",
    "mutopia",
    "nifc-polish-scores",
    "pydactyl-beringer",
    "music21-clara-schumann",
    "openscore-lieder",
)
LICENCES: Final = {
    "nifc-chopin-first-editions": "CC BY 4.0 (The Fryderyk Chopin Institute)",
    "nifc-polish-scores": "CC BY 4.0 (The Fryderyk Chopin Institute)",
    "mutopia": "per piece (Public Domain / CC BY / CC BY-SA), see mutopia/INDEX.tsv",
    "pydactyl-beringer": "MIT transcription (D. Randolph); Beringer & Dunhill 1900, PD",
    "music21-clara-schumann": "CC BY-SA 4.0 (Cypressdome for IMSLP)",
    "openscore-lieder": "CC0 1.0",
}


def repo_root() -> Path:
    return Path(__file__).resolve().parents[3]


def default_data_dir() -> Path:
    """``$ETUDE_FINGERING_DATA`` or ``<repo>/../shared/data/fingering``."""
    env = os.environ.get("ETUDE_FINGERING_DATA")
    if env:
        return Path(env)
    return (repo_root() / ".." / "shared" / "data" / "fingering").resolve()


def split_of_work(source: str, work: str) -> Split:
    if source in HELD_OUT_SOURCES:
        return "test"
    bucket = int(hashlib.sha1(f"{source}:{work}".encode()).hexdigest(), 16) % 100
    if bucket < 8:
        return "test"
    if bucket < 14:
        return "val"
    return "train"


def _chopin_work(name: str) -> str:
    # "010_1-6-1b-KI-006.krn" and "010-1b-Sm-007.krn" are both Op.10.
    m = re.match(r"^([0-9A-Za-z]+?)(?:[_-]|$)", name)
    key = m.group(1) if m else name
    return f"chopin-op-{int(key)}" if key.isdigit() else f"chopin-{key.lower()}"


def _polish_work(path: str) -> str:
    stem = Path(path).stem
    title = stem.split("_", 1)[1] if "_" in stem else stem
    m = re.search(r"chopin-fryderyk.*?-op-(\d+)", title)
    if m:  # the same Chopin opus can appear in both NIFC collections
        return f"chopin-op-{int(m.group(1))}"
    return title


def _index(path: Path) -> list[list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    return [line.split("\t") for line in lines if line.strip()]


def load_kern_source(data_dir: Path, source: str) -> list[HandSequence]:
    from consumers.fingering.corpus.kern import read_kern_file

    out: list[HandSequence] = []
    for cols in _index(data_dir / source / "INDEX.tsv"):
        rel = cols[0]
        english = len(cols) > 8 and cols[8].strip() == "yes"
        result = read_kern_file(data_dir / source / rel, english=english)
        work = (
            _chopin_work(Path(rel).name)
            if source == "nifc-chopin-first-editions"
            else _polish_work(rel)
        )
        for part, hand, notes in result.hands:
            if not notes:
                continue
            out.append(
                make_sequence(
                    source=source,
                    piece=f"{rel}#{part}",
                    work=work,
                    hand=hand,
                    notes=notes,
                    licence=LICENCES[source],
                )
            )
    return out


def load_beringer(data_dir: Path) -> list[HandSequence]:
    from consumers.fingering.corpus.beringer import read_beringer

    root = data_dir / "pydactyl-beringer" / "beringer2"
    out: list[HandSequence] = []
    seen: set[tuple[str, tuple[tuple[int, int], ...]]] = set()
    files = sorted(root.glob("*/*.abcd")) + sorted(root.glob("*/*.abc"))
    for path in files:
        stem = re.sub(r"_\d+$", "", path.stem)
        work = f"{path.parent.name}/{stem}"
        for hand, number, notes in read_beringer(path):
            key = (hand, tuple((n[0], n[3]) for n in notes))
            if key in seen:  # the .abc variants repeat some .abcd exercises
                continue
            seen.add(key)
            out.append(
                make_sequence(
                    source="pydactyl-beringer",
                    piece=f"{path.parent.name}/{path.name}#{number}",
                    work=work,
                    hand=hand,
                    notes=notes,
                    licence=LICENCES["pydactyl-beringer"],
                )
            )
    return out


def default_cache_dir() -> Path:
    """LilyPond extraction cache (outside the repository): ``$ETUDE_CACHE`` or ~/.cache/etude."""
    return Path(os.environ.get("ETUDE_CACHE", Path.home() / ".cache" / "etude")) / "fingering"


def load_mutopia(
    data_dir: Path, cache_dir: Path | None = None, *, run_missing: bool | None = None
) -> list[HandSequence]:
    """Mutopia pieces extracted with LilyPond (cached); pieces LilyPond cannot read are skipped,
    as is the whole source when LilyPond is not installed and nothing is cached."""
    from consumers.fingering.corpus.lilypond import extract_cached, parse_engraver_output

    root = data_dir / "mutopia"
    cache = (cache_dir or default_cache_dir()) / "mutopia"
    out: list[HandSequence] = []
    for cols in _index(root / "INDEX.tsv"):
        if len(cols) < 12 or cols[11].strip() != "yes":
            continue
        rel, main_file, licence = cols[0], cols[1], cols[3]
        if run_missing is None:
            run_missing = os.environ.get("ETUDE_MUTOPIA_CACHE_ONLY", "") != "1"
        text = extract_cached(root / rel, main_file, cache, run_missing=run_missing)
        if not text:
            continue
        parts = rel.split("/")
        work = "/".join(parts[1:3]) if len(parts) > 2 else rel
        for group, hand, notes in parse_engraver_output(text).hands:
            if notes:
                out.append(
                    make_sequence(
                        source="mutopia",
                        piece=f"{rel}#{group}",
                        work=work,
                        hand=hand,
                        notes=notes,
                        licence=licence,
                    )
                )
    return out


def load_musicxml_source(data_dir: Path, source: str) -> list[HandSequence]:
    from consumers.fingering.corpus.musicxml import read_musicxml_ir

    out: list[HandSequence] = []
    for path in sorted((data_dir / source).rglob("*.mxl")):
        ir = read_musicxml_ir(path)
        for hand in ("right", "left"):
            notes = [
                (
                    n.midi,
                    float(n.onset),
                    float(n.duration),
                    n.source_finger or 0,
                )
                for n in ir.notes
                if n.hand == hand and n.tie not in ("stop", "continue")
            ]
            if notes:
                out.append(
                    make_sequence(
                        source=source,
                        piece=str(path.relative_to(data_dir / source)),
                        work=path.stem,
                        hand=hand,
                        notes=notes,
                        licence=LICENCES[source],
                    )
                )
    return out


def load_corpus(
    data_dir: Path | None = None, sources: Iterable[str] = SOURCES
) -> list[HandSequence]:
    data_dir = data_dir or default_data_dir()
    if not data_dir.is_dir():
        raise FileNotFoundError(f"fingering data not found at {data_dir}")
    out: list[HandSequence] = []
    for source in sources:
        if not (data_dir / source).is_dir():
            continue
        if source.startswith("nifc-"):
            out += load_kern_source(data_dir, source)
        elif source == "pydactyl-beringer":
            out += load_beringer(data_dir)
        elif source == "mutopia":
            out += load_mutopia(data_dir)
        else:
            out += load_musicxml_source(data_dir, source)
    return out
