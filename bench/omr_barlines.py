"""Barlines oemer misses, and which of the ink finder's lines (consumers/omr/barlines.py) are
barlines, under the rule that a symbol at the line makes it no barline.

    .venv/bin/python bench/omr_barlines.py [--pages 30] [--seed 0]

Pages of *training* corpus pieces (never the held-out evaluation pieces), engraved with
random options like the training pages, 80 % degraded like a scan, are read through the
production path up to the barline finder. verovio's barlines are drawn alone and moved with
the page; each line the finder sees on the ink (every staff covered, clear of known
barlines) is a barline where it meets a drawn one. Printed: the barlines oemer found and
missed, then for each rule how many of the missed ones the finder adds and how many lines
it adds that are no barline (one such line merges or splits a bar: every later onset of
the page moves).
  * "any symbol pixel within 0.5 space" (the rule until 2026-12-06),
  * "a symbol of ≥ 0.5 square spaces within 0.1 / 0.25 / 0.5 space in every staff" or "in
    any staff".
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from consumers.omr import barlines as bl  # noqa: E402
from consumers.omr import recognize  # noqa: E402
from consumers.omr.deskew import turn  # noqa: E402
from consumers.omr.synth import corpus, degrade, render  # noqa: E402

Line = tuple[int, int, int, int]  # x1, top, x2, bottom


def drawn_barlines(root: ET.Element, width: int, height: int) -> NDArray[np.uint8]:
    drawn = render.leaves(root)
    inside = render.class_members(root, "barLine")

    def chosen(el: ET.Element, _cls: int) -> bool:
        return id(el) in inside

    mask = render.draw_only(root, drawn, chosen, width, height)
    out = np.zeros((height, width), dtype=np.uint8)
    h, w = min(height, mask.shape[0]), min(width, mask.shape[1])
    out[:h, :w][mask[:h, :w]] = 1
    return out


def is_barline(truth: NDArray[np.uint8], line: Line, space: float) -> bool:
    x1, top, x2, bottom = line
    pad = int(0.5 * space) + 1
    cut = truth[top : bottom + 1, max(0, x1 - pad) : x2 + pad + 1]
    # a drawn barline runs through most of the line's rows
    return bool(cut.any(axis=1).mean() > 0.5) if cut.size else False


def kept(
    symbols: NDArray[np.bool_],
    line: Line,
    space: float,
    rows: list[tuple[int, int]],
    pad_spaces: float,
    every_staff: bool,
) -> bool:
    return not bl.stems_or_clefs(symbols, line, rows, space, pad_spaces, every_staff)


def old_rule(symbols: NDArray[np.bool_], line: Line, space: float) -> bool:
    """The rule until 2026-12-06: any symbol pixel within 0.5 space, anywhere along it."""
    x1, top, x2, bottom = line
    pad = int(0.5 * space) + 1
    return not symbols[top : bottom + 1, max(0, x1 - pad) : x2 + pad].any()


RULES = [(p, e) for p in (0.1, 0.25, 0.5) for e in (True, False)]


def page_counts(model: Any, piece: Path, seed: int) -> Counter[str] | None:
    rng = random.Random(seed)
    opts = render.random_options(rng)
    pages = render.engrave(str(piece), opts, is_path=True)
    if not pages:
        return None
    svg = pages[rng.randrange(len(pages))]
    root = ET.fromstring(svg)
    width, height = render.target_size(*render.svg_size(root))
    image = render.rasterize_svg(svg, width, height)
    truth = drawn_barlines(root, image.shape[1], image.shape[0])
    if rng.random() < 0.8:
        d = degrade.random_degradation(rng)
        image, moved = degrade.degrade(image, truth, d, seed=seed)
        assert moved is not None
        truth = moved
    seen: list[Any] = []
    own = bl.find_missing_barlines

    def spy(
        barlines: list[Any],
        staffs: Any,
        no_lines: NDArray[np.bool_],
        symbols: NDArray[np.bool_],
        heads: NDArray[np.bool_],
    ) -> list[Any]:
        lines = own(barlines, staffs, no_lines, np.zeros_like(symbols), heads)
        seen.append((barlines, staffs, lines, symbols))
        return own(barlines, staffs, no_lines, symbols, heads)

    setattr(recognize, "find_missing_barlines", spy)  # noqa: B010 (recognize imports it by name)
    try:
        maps = recognize.compute_maps(model, image)
        bgr = np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
        try:
            _xml, _b, degrees, _m, _t = recognize._oemer_extract(bgr, maps)
        except Exception:
            return None
    finally:
        setattr(recognize, "find_missing_barlines", own)  # noqa: B010
    if not seen:
        return None
    barlines, staffs, lines, symbols = seen[0]
    if degrees:
        truth = turn(truth, degrees, nearest=True)
    out: Counter[str] = Counter()
    # the drawn barlines, one per system and column (a thick final bar is one)
    n_true = 0
    for group, sts in bl.systems_of(staffs).items():
        top = min(bl._staff_rows(st)[0] for st in sts)
        bottom = max(bl._staff_rows(st)[1] for st in sts)
        cols = np.flatnonzero(truth[top : bottom + 1].mean(axis=0) > 0.5)
        if len(cols):
            n_true += len(np.split(cols, np.flatnonzero(np.diff(cols) > 3) + 1))
        space = float(np.median([bl._staff_rows(st)[2] for st in sts]))
        for b in barlines:
            if b.group != group:
                continue
            x1, y1, x2, y2 = (int(v) for v in b.bbox)
            out["oemer right" if is_barline(truth, (x1, y1, x2, y2), space) else "oemer false"] += 1
        rows = sorted({bl._staff_rows(st)[:2] for st in sts})
        for b in lines:
            if b.group != group:
                continue
            line: Line = tuple(int(v) for v in b.bbox)  # type: ignore[assignment]
            real = is_barline(truth, line, space)
            kind = "barline" if real else "no barline"
            out[f"lines that are {kind}"] += 1
            out[f"old keeps {kind}"] += old_rule(symbols, line, space)
            for pad, every in RULES:
                out[f"{pad} {every} keeps {kind}"] += kept(symbols, line, space, rows, pad, every)
    out["drawn"] += n_true
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pages", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(2)
    model = recognize.load_model(None)
    root = corpus.corpus_root()
    pieces = [root / p for p in corpus.training_paths()]
    rng = random.Random(a.seed)
    total: Counter[str] = Counter()
    done = 0
    while done < a.pages:
        got = page_counts(model, rng.choice(pieces), rng.randrange(10**9))
        if got is not None:
            done += 1
            total.update(got)
    print(f"{done} pages, {total['drawn']} barlines drawn (system by system)")
    print(
        f"oemer's barline boxes: {total['oemer right']} on a drawn barline (a barline may "
        f"have one box per staff), {total['oemer false']} on none"
    )
    print(
        f"the finder's candidate lines: {total['lines that are barline']} barlines, "
        f"{total['lines that are no barline']} not"
    )
    names = {"old": "any symbol pixel within 0.5 space (until 2026-12-06)"}
    for pad, every in RULES:
        where = "every staff" if every else "any staff"
        names[f"{pad} {every}"] = f"a symbol within {pad} space in {where}"
    for rule, name in names.items():
        print(
            f"{name:56} keeps {total[f'{rule} keeps barline']:4} barlines, "
            f"{total[f'{rule} keeps no barline']:4} lines that are not"
        )


if __name__ == "__main__":
    main()
