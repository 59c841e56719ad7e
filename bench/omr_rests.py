"""How often oemer's rest values are right, and how often the ink check
(consumers/omr/rests.py) puts them right or wrong.

    .venv/bin/python bench/omr_rests.py [--pages 30] [--seed 0] [--sweep]

Pages of *training* corpus pieces (never the held-out evaluation pieces), engraved with
random options like the training pages, 80 % degraded like a scan, are read through the
production path. Every rest oemer found is compared with the rest verovio drew under its box
(whole, half, quarter, eighth, 16th, 32nd; none if nothing). oemer's block (its "whole or
half", written as a half) counts as right on a half rest. Prints oemer's accuracy on the
rests that are real and what the ink check changes: fixed (wrong to right), broken (right to
wrong), still wrong; with --sweep over the score and margin thresholds (what they were chosen
on).
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

from consumers.omr import recognize, rests  # noqa: E402
from consumers.omr.deskew import turn  # noqa: E402
from consumers.omr.synth import corpus, degrade, render  # noqa: E402

# SMuFL code -> oemer's RestType name
CODES = {
    "E4E3": "WHOLE",
    "E4E4": "HALF",
    "E4E5": "QUARTER",
    "E4E6": "EIGHTH",
    "E4E7": "SIXTEENTH",
    "E4E8": "THIRTY_SECOND",
}
VALUES = {name: i + 1 for i, name in enumerate(CODES.values())}  # pixel value per name
NAMES = {0: "none", **{v: k for k, v in VALUES.items()}}
# truth, oemer's label, the ink check's scores and its block reading (WHOLE / HALF / None)
Case = tuple[str, str, dict[str, float], str | None]


def truth_label(root: ET.Element, width: int, height: int) -> NDArray[np.uint8]:
    """Per pixel, which rest verovio drew there (VALUES; 0: none)."""
    drawn = render.leaves(root)
    out = np.zeros((height, width), dtype=np.uint8)
    for code, name in CODES.items():
        ids: set[int] = set()
        for g in root.iter(f"{{{render.SVG_NS}}}g"):
            if "rest" not in g.attrib.get("class", "").split():
                continue
            for el in g.iter():
                if code in el.attrib.get(f"{{{render.XLINK_NS}}}href", ""):
                    ids.add(id(el))
        if ids:

            def chosen(el: ET.Element, _cls: int, ids: set[int] = ids) -> bool:
                return id(el) in ids

            mask = render.draw_only(root, drawn, chosen, width, height)
            # resvg may round the raster a pixel off the size asked for
            h, w = min(height, mask.shape[0]), min(width, mask.shape[1])
            out[:h, :w][mask[:h, :w]] = VALUES[name]
    return out


def page_cases(model: Any, piece: Path, seed: int) -> list[Case]:
    rng = random.Random(seed)
    opts = render.random_options(rng)
    pages = render.engrave(str(piece), opts, is_path=True)
    if not pages:
        return []
    svg = pages[rng.randrange(len(pages))]
    if 'class="rest"' not in svg:
        return []
    root = ET.fromstring(svg)
    width, height = render.target_size(*render.svg_size(root))
    image = render.rasterize_svg(svg, width, height)
    label = truth_label(root, image.shape[1], image.shape[0])
    if rng.random() < 0.8:
        d = degrade.random_degradation(rng)
        image, moved = degrade.degrade(image, label, d, seed=seed)
        assert moved is not None
        label = moved
    seen: list[tuple[list[Any], NDArray[np.bool_], float]] = []
    own = rests.relabel_rests

    def spy(found: list[Any], no_lines: NDArray[np.bool_], space: float) -> int:
        from oemer.utils import find_closest_staffs

        boxes = []
        for r in found:
            x1, y1, x2, y2 = (int(v) for v in r.bbox)
            staff, _ = find_closest_staffs((x1 + x2) / 2, (y1 + y2) / 2)
            lines = [float(line.y_center) for line in staff.lines]
            boxes.append(((x1, y1, x2, y2), r.label.name, lines))
        seen.append((boxes, no_lines, space))
        return 0  # oemer's labels stay: the cases are scored below

    rests.relabel_rests = spy
    try:
        maps = recognize.compute_maps(model, image)
        bgr = np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
        try:
            _xml, _b, degrees, _m, _t = recognize._oemer_extract(bgr, maps)
        except Exception:
            return []
    finally:
        rests.relabel_rests = own
    if not seen:
        return []
    boxes, no_lines, space = seen[0]
    if degrees:
        label = turn(label, degrees, nearest=True)
    cases: list[Case] = []
    for (x1, y1, x2, y2), oemer_label, lines in boxes:
        under = label[max(0, y1 - 2) : y2 + 2, max(0, x1 - 2) : x2 + 2]
        values = Counter(under[under > 0].tolist())
        truth = NAMES[values.most_common(1)[0][0]] if values else "none"
        found = rests._glyph(no_lines, (x1, y1, x2, y2), space)
        scores = rests.shape_scores(found[0], space) if found else dict.fromkeys(rests.SHAPES, 0.0)
        block = (
            rests.block_value(found[1], found[1] + found[0].shape[0], lines, space)
            if found
            else None
        )
        cases.append((truth, oemer_label, scores, block))
    return cases


def right(truth: str, label: str) -> bool:
    return truth == label or (truth == "HALF" and label == "WHOLE_HALF")


def reading(scores: dict[str, float], block: str | None, s_min: float, margin: float) -> str | None:
    best = max(scores, key=lambda k: scores[k])
    other = max(v for k, v in scores.items() if k != best)
    if scores[best] < s_min or scores[best] - other < margin:
        return None
    return (block or "WHOLE_HALF") if best == "BLOCK" else best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pages", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sweep", action="store_true")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(2)
    model = recognize.load_model(None)
    root = corpus.corpus_root()
    pieces = [root / p for p in corpus.training_paths()]
    rng = random.Random(a.seed)
    cases: list[Case] = []
    done = 0
    while done < a.pages:
        got = page_cases(model, rng.choice(pieces), rng.randrange(10**9))
        if got:
            done += 1
            cases.extend(got)
    real = [c for c in cases if c[0] != "none"]
    ok = sum(1 for t, o, _s, _b in real if right(t, o))
    print(f"{done} pages, {len(cases)} rests found by oemer, {len(real)} real")
    print(f"oemer right on {ok}/{len(real)} = {ok / max(len(real), 1):.3f}")
    print("truth:", dict(Counter(t for t, *_ in real)))
    print("oemer's confusion (truth -> label):", dict(Counter((t, o) for t, o, *_ in real)))
    grid = (
        [(s, m) for s in (0.3, 0.4, 0.5, 0.6, 0.7) for m in (0.0, 0.05, 0.1, 0.2)]
        if a.sweep
        else [(rests.MIN_SCORE, rests.MARGIN)]
    )
    print(f"{'score':>6} {'margin':>6} {'fixed':>6} {'broken':>6} {'wrong':>6} {'right':>6}")
    for s_min, margin in grid:
        fixed = broken = wrong = 0
        for t, o, scores, block in real:
            new = reading(scores, block, s_min, margin) or o
            fixed += not right(t, o) and right(t, new)
            broken += right(t, o) and not right(t, new)
            wrong += not right(t, new)
        print(
            f"{s_min:>6.2f} {margin:>6.2f} {fixed:>6} {broken:>6} {wrong:>6} "
            f"{(len(real) - wrong) / max(len(real), 1):>6.3f}"
        )
    if a.sweep:
        after = Counter(
            (t, reading(s, b, rests.MIN_SCORE, rests.MARGIN) or o) for t, o, s, b in real
        )
        print("after the check (truth -> label):", dict(after))


if __name__ == "__main__":
    main()
