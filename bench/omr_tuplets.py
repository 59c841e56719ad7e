"""How well the tuplet-mark reader (consumers/omr/tuplets.py) finds the printed "3"s (or,
with --digit 6, the sextuplets' "6"s).

    .venv/bin/python bench/omr_tuplets.py [--pages 40] [--seed 0] [--sweep] [--digit 3]

Pages of the *training* corpus pieces that print tuplets (never the held-out evaluation
pieces) are engraved with random options like the training pages, 80 % degraded like a scan,
and read through the production path (Étude's network for the staff lines, the page's ink,
`find_triplet_marks`). The truth is every single-digit "3" verovio drew (its tupletNum
group), moved with the page by the same warp. A mark within one staff space of a true
"3"'s centre is a hit. Prints precision and recall (and, with --sweep, both over the score
and margin thresholds): what the reader's thresholds were chosen on.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from consumers.omr import recognize as rec  # noqa: E402
from consumers.omr import tuplets  # noqa: E402
from consumers.omr.deskew import skew_degrees, turn  # noqa: E402
from consumers.omr.meter import find_staves, without_staff_lines  # noqa: E402
from consumers.omr.synth import corpus, degrade, render  # noqa: E402

TUPLET0 = 0xE880  # SMuFL tuplet0; tupletN is N code points on
Found = tuple[float, float, float, float, int]  # x, y, score, margin, side


def pieces_with_tuplets() -> list[Path]:
    root = corpus.corpus_root()
    out = []
    for rel in corpus.training_paths():
        p = root / rel
        if p.suffix == ".mxl":
            with zipfile.ZipFile(p) as z:
                text = "".join(
                    z.read(n).decode("utf8", "ignore")
                    for n in z.namelist()
                    if n.endswith(".xml") and "META" not in n
                )
        elif p.suffix in (".xml", ".musicxml"):
            text = p.read_text(errors="ignore")
        else:
            continue
        if "<tuplet " in text and "nested" not in rel:
            out.append(p)
    return out


def true_marks(root: ET.Element, width: int, height: int, digit: int) -> NDArray[np.bool_]:
    """Ink of every tuplet number drawn as the single glyph `digit`."""
    glyph = f"{TUPLET0 + digit:04X}"
    drawn = render.leaves(root)
    keep: set[int] = set()
    for g in root.iter(f"{{{render.SVG_NS}}}g"):
        if "tupletNum" not in g.attrib.get("class", "").split():
            continue
        uses = [el for el in g.iter() if el.tag == f"{{{render.SVG_NS}}}use"]
        href = f"{{{render.XLINK_NS}}}href"
        refs = [el.attrib.get(href, el.attrib.get("href", "")) for el in uses]
        if len(refs) == 1 and glyph in refs[0]:
            keep.update(id(el) for el in g.iter())
    return render.draw_only(root, drawn, lambda el, _c: id(el) in keep, width, height)


def page_sample(
    piece: Path, seed: int, digit: int = 3
) -> tuple[NDArray[np.uint8], list[tuple[float, float]]] | None:
    """(grey page at oemer's size, centres of its true marks) or None without any tuplet."""
    rng = random.Random(seed)
    opts = render.random_options(rng)
    pages = render.engrave(str(piece), opts, is_path=True)
    with_threes = [i for i, svg in enumerate(pages) if "tupletNum" in svg]
    if not with_threes:
        return None
    svg = pages[rng.choice(with_threes)]
    root = ET.fromstring(svg)
    width, height = render.target_size(*render.svg_size(root))
    image = render.rasterize_svg(svg, width, height)
    marks = true_marks(root, width, height, digit).astype(np.uint8)
    if rng.random() < 0.8:
        d = degrade.random_degradation(rng)
        image, moved = degrade.degrade(image, marks, d, seed=seed)
        assert moved is not None
        marks = moved
    _n, _lab, stats, cents = cv2.connectedComponentsWithStats(marks, connectivity=8)
    centres = [(float(c[0]), float(c[1])) for k, c in enumerate(cents) if k and stats[k][4] > 4]
    return image, centres


def detect(model: Any, gray: NDArray[np.uint8], digit: int = 3) -> tuple[list[Found], float]:
    maps = rec.compute_maps(model, gray)
    # the staff spacing as production has it (oemer's staves, read on the levelled page)
    staves = find_staves(turn(maps.staff, skew_degrees(maps.staff), nearest=True))
    space = float(np.median([s.space for s in staves])) if staves else 0.0
    no_lines = without_staff_lines(rec.ink_mask(gray), maps.staff)
    found = tuplets.find_tuplet_marks(
        no_lines, space, maps.notehead > 0, digits=(digit,), min_score=0.5, margin=-1
    )
    return [f[:5] for f in found], space


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pages", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--digit", type=int, default=3, choices=(3, 6))
    a = ap.parse_args()
    import torch

    torch.set_num_threads(2)
    model = rec.load_model(None)
    pieces = pieces_with_tuplets()
    rng = random.Random(a.seed)
    samples: list[tuple[list[Found], list[tuple[float, float]], float]] = []
    tries = 0
    while len(samples) < a.pages and tries < 4 * a.pages:
        tries += 1
        got = page_sample(rng.choice(pieces), rng.randrange(10**9), a.digit)
        if got is None:
            continue
        gray, truth = got
        found, space = detect(model, gray, a.digit)
        samples.append((found, truth, space))
    printed = sum(len(t) for _f, t, _s in samples)
    print(f"{len(samples)} pages, {printed} printed {a.digit}s")

    def count(min_score: float, margin: float) -> tuple[int, int, int]:
        tp = fp = fn = 0
        for found, truth, space in samples:
            kept = [(x, y) for x, y, s, m, _side in found if s >= min_score and m >= margin]
            used: set[int] = set()
            for x, y in kept:
                near = [
                    i
                    for i, (tx, ty) in enumerate(truth)
                    if i not in used and np.hypot(tx - x, ty - y) <= max(space, 4.0)
                ]
                if near:
                    used.add(near[0])
                    tp += 1
                else:
                    fp += 1
            fn += len(truth) - len(used)
        return tp, fp, fn

    grid = (
        [(s, m) for s in (0.6, 0.65, 0.7, 0.72, 0.75, 0.8, 0.85) for m in (0.0, 0.03, 0.05, 0.1)]
        if a.sweep
        else [(tuplets.MIN_SCORE, tuplets.MARGIN)]
    )
    print(f"{'score':>6} {'margin':>6} {'tp':>5} {'fp':>5} {'fn':>5} {'prec':>6} {'recall':>6}")
    for s, m in grid:
        tp, fp, fn = count(s, m)
        prec = tp / (tp + fp) if tp + fp else 1.0
        rec_ = tp / (tp + fn) if tp + fn else 1.0
        print(f"{s:>6.2f} {m:>6.2f} {tp:>5} {fp:>5} {fn:>5} {prec:>6.3f} {rec_:>6.3f}")


if __name__ == "__main__":
    main()
