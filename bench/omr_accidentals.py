"""How often oemer's accidental labels are right, and how often the ink check
(consumers/omr/accidentals.py) puts them right or wrong.

    .venv/bin/python bench/omr_accidentals.py [--pages 30] [--seed 0] [--sweep]

Pages of *training* corpus pieces (never the held-out evaluation pieces), engraved with
random options like the training pages, 80 % degraded like a scan, are read through the
production path. Every accidental oemer found is compared with what verovio drew under its
box (flat, sharp or natural; none if nothing). Prints oemer's accuracy on the accidentals
that are real, and what the ink check changes: fixed (wrong to right), broken (right to
wrong), still wrong; with --sweep over the score and margin thresholds (what they were
chosen on).
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

from consumers.omr import accidentals, recognize  # noqa: E402
from consumers.omr.deskew import turn  # noqa: E402
from consumers.omr.synth import corpus, degrade, render  # noqa: E402

CODES = {"E260": 1, "E262": 2, "E261": 3}  # flat, sharp, natural as oemer's SfnType values
NAMES = {0: "none", 1: "FLAT", 2: "SHARP", 3: "NATURAL"}
Case = tuple[int, int, dict[str, float]]  # truth, oemer's label, the ink check's scores


def truth_label(root: ET.Element, width: int, height: int) -> NDArray[np.uint8]:
    """Per pixel, the SfnType value of the accidental verovio drew there (0: none)."""
    drawn = render.leaves(root)
    out = np.zeros((height, width), dtype=np.uint8)
    for code, value in CODES.items():
        ids: set[int] = set()
        for g in root.iter(f"{{{render.SVG_NS}}}g"):
            classes = g.attrib.get("class", "").split()
            if "accid" not in classes and "keyAccid" not in classes:
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
            out[:h, :w][mask[:h, :w]] = value
    return out


def page_cases(model: Any, piece: Path, seed: int) -> list[Case]:
    rng = random.Random(seed)
    opts = render.random_options(rng)
    pages = render.engrave(str(piece), opts, is_path=True)
    if not pages:
        return []
    svg = pages[rng.randrange(len(pages))]
    if "accid" not in svg:
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
    own = accidentals.relabel_accidentals

    def spy(sfns: list[Any], notes: list[Any], no_lines: NDArray[np.bool_], space: float) -> int:
        seen.append(
            ([(tuple(int(v) for v in s.bbox), s.label.value) for s in sfns], no_lines, space)
        )
        return 0  # oemer's labels stay: the cases are scored below

    accidentals.relabel_accidentals = spy
    try:
        maps = recognize.compute_maps(model, image)
        bgr = np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
        try:
            _xml, _b, degrees, _m, _t = recognize._oemer_extract(bgr, maps)
        except Exception:
            return []
    finally:
        accidentals.relabel_accidentals = own
    if not seen:
        return []
    boxes, no_lines, space = seen[0]
    if degrees:
        label = turn(label, degrees, nearest=True)
    cases: list[Case] = []
    for (x1, y1, x2, y2), oemer_label in boxes:
        under = label[max(0, y1 - 2) : y2 + 2, max(0, x1 - 2) : x2 + 2]
        values = Counter(under[under > 0].tolist())
        truth = values.most_common(1)[0][0] if values else 0
        _shape, scores = accidentals.read_accidental(no_lines, (x1, y1, x2, y2), space)
        cases.append((truth, oemer_label, scores))
    return cases


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
    real = [c for c in cases if c[0]]
    ok = sum(1 for t, o, _s in real if t == o)
    print(f"{done} pages, {len(cases)} accidentals found by oemer, {len(real)} real")
    print(f"oemer right on {ok}/{len(real)} = {ok / max(len(real), 1):.3f}")
    print(
        "oemer's confusion (truth -> label):",
        dict(Counter((NAMES[t], NAMES[o]) for t, o, _ in real)),
    )
    grid = (
        [(s, m) for s in (0.5, 0.6, 0.7, 0.8) for m in (0.0, 0.05, 0.1, 0.2)]
        if a.sweep
        else [(accidentals.MIN_SCORE, accidentals.MARGIN)]
    )
    value = {"FLAT": 1, "SHARP": 2, "NATURAL": 3}
    print(f"{'score':>6} {'margin':>6} {'fixed':>6} {'broken':>6} {'wrong':>6} {'right':>6}")
    for s_min, margin in grid:
        fixed = broken = wrong = 0
        for t, o, scores in real:
            best = max(scores, key=lambda k: scores[k])
            other = max(v for k, v in scores.items() if k != best)
            new = value[best] if scores[best] >= s_min and scores[best] - other >= margin else o
            fixed += o != t and new == t
            broken += o == t and new != t
            wrong += new != t
        print(
            f"{s_min:>6.2f} {margin:>6.2f} {fixed:>6} {broken:>6} {wrong:>6} "
            f"{(len(real) - wrong) / max(len(real), 1):>6.3f}"
        )


if __name__ == "__main__":
    main()
