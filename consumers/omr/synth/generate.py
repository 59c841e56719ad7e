"""Generate synthetic training pages.

    python -m consumers.omr.synth.generate --corpus .omrdata/corpus --out .omrdata/pages \
        --pages 2000 --workers 15

`--corpus` is a folder of music21 corpus files (``python -m consumers.omr.synth.corpus DIR``
exports the training selection, held-out pieces excluded); without it, music21's own corpus is
read in place. Each page is written as ``NNNNNN.img.npy`` (grey uint8) and ``NNNNNN.lab.npy``
(packed labels, see labels.py), at the size oemer works at (about 3.7 MP).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from consumers.omr.synth import corpus, degrade, render

DEGRADED_SHARE = 0.8  # the rest stay clean, as a born-digital PDF would be


def _pieces(corpus_dir: Path | None, held_out: bool = False) -> list[Path]:
    if corpus_dir is None:
        root = corpus.corpus_root()
        return [
            root / p for p in (sorted(corpus.HELD_OUT) if held_out else corpus.training_paths())
        ]
    found = sorted(p for p in corpus_dir.rglob("*") if p.suffix in corpus.FORMATS)
    # Belt and braces: a held-out piece copied in by hand is still never used for training.
    return [p for p in found if (str(p.relative_to(corpus_dir)) in corpus.HELD_OUT) == held_out]


def make_page(piece: Path, seed: int) -> tuple[np.ndarray, np.ndarray, dict[str, object]] | None:
    rng = random.Random(seed)
    opts = render.random_options(rng)
    pages = render.engrave(str(piece), opts, is_path=True)
    if not pages:
        return None
    index = rng.randrange(len(pages))
    image, label = render.render_page(pages[index])
    if not (label & 3).any():
        return None
    meta: dict[str, object] = {"piece": piece.name, "page": index + 1, **asdict(opts)}
    if rng.random() < DEGRADED_SHARE:
        d = degrade.random_degradation(rng)
        image, lab = degrade.degrade(image, label, d, seed=seed)
        assert lab is not None
        label = lab
        meta["degradation"] = asdict(d)
    return image, label, meta


def _job(args: tuple[int, list[Path], Path, int]) -> str | None:
    index, pieces, out, seed = args
    rng = random.Random(seed * 1_000_003 + index)
    for _attempt in range(4):
        piece = rng.choice(pieces)
        try:
            made = make_page(piece, rng.randrange(2**31))
        except Exception as exc:  # a piece verovio chokes on is skipped, not fatal
            print(f"skip {piece.name}: {exc}", flush=True)
            continue
        if made is None:
            continue
        image, label, _meta = made
        # Written under a temporary name and renamed, so a trainer watching the folder never
        # reads half a file; the label goes last because the trainer keys on it.
        for kind, arr in (("img", image), ("lab", label)):
            tmp = out / f".{index:06d}.{kind}.tmp"
            with tmp.open("wb") as fh:
                np.save(fh, arr)
            tmp.rename(out / f"{index:06d}.{kind}.npy")
        return piece.name
    return None


def generate(
    corpus_dir: Path | None,
    out: Path,
    pages: int,
    workers: int,
    seed: int,
    held_out: bool = False,
) -> int:
    out.mkdir(parents=True, exist_ok=True)
    pieces = _pieces(corpus_dir, held_out)
    jobs = [(i, pieces, out, seed) for i in range(pages)]
    done = 0
    t0 = time.time()
    with mp.get_context("fork").Pool(workers) as pool:
        for name in pool.imap_unordered(_job, jobs, chunksize=2):
            done += name is not None
            if done and done % 100 == 0:
                print(f"{done}/{pages} pages, {time.time() - t0:.0f}s", flush=True)
    print(f"generated {done} pages from {len(pieces)} pieces in {time.time() - t0:.0f}s")
    return done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpus", type=Path, default=None)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--pages", type=int, default=200)
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--held-out",
        action="store_true",
        help="engrave only the evaluation pieces (for evaluate.py), never training",
    )
    a = ap.parse_args()
    generate(a.corpus, a.out, a.pages, a.workers, a.seed, a.held_out)


if __name__ == "__main__":
    main()
