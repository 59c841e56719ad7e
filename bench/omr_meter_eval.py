"""Time-signature reading (consumers/omr/meter.py) on synthetic first pages.

    .venv/bin/python bench/omr_meter_eval.py [--pages 60] [--seed 0] [--oracle] [--weights PATH]

Pieces are drawn from the OMR training corpus (the held-out evaluation pieces are never in it),
engraved with random fonts, sizes and spacing like the training pages; half are degraded like
scans. The truth is the signature verovio drew (the SMuFL glyphs of the first ``g.meterSig``).
Maps come from the segmentation network (or, with ``--oracle``, from the true labels). It
prints accuracy, how many were left unread (the stage then infers the bar length), and every
wrong reading: a wrong reading costs every onset after it, an unread one only falls back.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from consumers.omr import meter as mt
from consumers.omr import recognize as rec
from consumers.omr.synth import corpus, degrade, render

_USE = re.compile(r'href="#(E08[0-9A-F])[^"]*" transform="translate\((-?\d+), (-?\d+)\)')


def drawn_meter(svg: str) -> mt.Meter | None:
    """The first time signature verovio drew on the page."""
    i = svg.find('class="meterSig"')
    if i < 0:
        return None
    uses = _USE.findall(svg[i : svg.find("</g>", i)])
    if not uses:
        return None
    if uses[0][0] == "E08A":
        return mt.meter_of("common")
    if uses[0][0] == "E08B":
        return mt.meter_of("cut")
    rows = sorted({int(u[2]) for u in uses})
    if len(rows) != 2:
        return None
    num, den = ("".join(str(int(u[0][-1], 16)) for u in uses if int(u[2]) == r) for r in rows)
    return mt.meter_of((int(num), int(den)))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--pages", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--oracle", action="store_true", help="true label maps, not the network's")
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = rec.load_model(a.weights)
    rng = random.Random(a.seed)
    pieces = [corpus.corpus_root() / r for r in corpus.training_paths()]
    rng.shuffle(pieces)
    right = unread = wrong = tried = 0
    bar_right = 0
    truths: Counter[str] = Counter()
    errors: list[str] = []
    seconds: list[float] = []
    for path in pieces:
        if tried >= a.pages:
            break
        opts = render.random_options(rng)
        svgs = render.engrave(str(path), opts, is_path=True)
        truth = drawn_meter(svgs[0]) if svgs else None
        if truth is None:
            continue
        image, clean_label = render.render_page(svgs[0])
        label: NDArray[np.uint8] | None = clean_label
        degraded = rng.random() < 0.5
        if degraded:
            image, label = degrade.degrade(
                image, clean_label, degrade.random_degradation(rng), seed=rng.randrange(10**6)
            )
        assert label is not None
        t0 = time.perf_counter()
        maps = rec.label_maps(label) if a.oracle else rec.compute_maps(model, image)
        t1 = time.perf_counter()
        got = rec.page_meter(maps, image)
        seconds.append(time.perf_counter() - t1)
        tried += 1
        truths[str(truth)] += 1
        said = str(got) if got is not None else None
        if said is None:
            unread += 1
        elif said == str(truth):
            right += 1
        else:
            wrong += 1
            errors.append(f"{path.name} {opts.font} scale {opts.scale}: {truth} read as {said}")
        # what rhythm repair needs: common and 4/4, or 3/4 and 6/8, fill the same bar
        if got is not None and got.bar_length == truth.bar_length:
            bar_right += 1
        print(
            f"{tried:3d} {path.name:32.32} {opts.font:9} {'degraded' if degraded else 'clean':8}"
            f" truth {truth!s:6} read {said or '-':6} maps {t1 - t0:4.1f}s",
            flush=True,
        )
    print()
    print(f"maps: {'true labels (oracle)' if a.oracle else model.name}; pages {tried}")
    print(f"signatures drawn: {dict(truths.most_common())}")
    print(
        f"read exactly {right}/{tried} = {100 * right / max(tried, 1):.1f}%, "
        f"right bar length {bar_right}/{tried} = {100 * bar_right / max(tried, 1):.1f}%, "
        f"unread (falls back to inference) {unread}, wrong {wrong}"
    )
    print(f"reader time per page: median {1000 * float(np.median(seconds)):.0f} ms")
    for e in errors:
        print("  wrong:", e)


if __name__ == "__main__":
    main()
