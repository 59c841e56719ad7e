"""Which music21 corpus pieces train the network, and which are held out for evaluation."""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Final

# Evaluation pieces (bench/omr_eval.py), never engraved for training. Paths relative to
# music21's corpus folder.
HELD_OUT: Final = frozenset(
    {
        "mozart/k545/movement1_exposition.mxl",
        "bach/bwv846.mxl",
        "schumann_clara/polonaise_op1n1.mxl",
        "schoenberg/opus19/movement2.mxl",
    }
)
# verovio reads these directly; music21's .abc files hold many tunes it cannot load, and
# .rntxt is roman-numeral analysis, not notation.
FORMATS: Final = (".mxl", ".krn", ".xml", ".musicxml")
MAX_BYTES: Final = 900_000
# Hundreds of near-identical chorales and motets would drown the keyboard pieces.
PER_COLLECTION_CAP: Final = {"palestrina": 120, "bach": 160, "beethoven": 30, "trecento": 15}


def corpus_root() -> Path:
    from music21 import corpus

    return Path(corpus.__file__).parent


def training_paths(seed: int = 0) -> list[str]:
    from music21 import corpus

    root = corpus_root()
    rel = sorted(
        str(Path(p).relative_to(root))
        for p in corpus.getCorePaths()
        if Path(p).suffix in FORMATS and Path(p).stat().st_size <= MAX_BYTES
    )
    rel = [r for r in rel if r not in HELD_OUT]
    rng = random.Random(seed)
    rng.shuffle(rel)
    kept: list[str] = []
    counts: dict[str, int] = {}
    for r in rel:
        top = r.split("/")[0]
        if counts.get(top, 0) >= PER_COLLECTION_CAP.get(top, 10_000):
            continue
        counts[top] = counts.get(top, 0) + 1
        kept.append(r)
    return sorted(kept)


def export(out: Path, seed: int = 0, held_out: bool = False) -> list[str]:
    """Copy the training pieces (or the held-out ones) to `out`, for a machine without
    music21, keeping their corpus-relative paths."""
    paths = sorted(HELD_OUT) if held_out else training_paths(seed)
    for r in paths:
        dst = out / r
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(corpus_root() / r, dst)
    return paths


if __name__ == "__main__":
    import sys

    exported = export(Path(sys.argv[1]), held_out="--held-out" in sys.argv[2:])
    print(f"exported {len(exported)} pieces to {sys.argv[1]}")
