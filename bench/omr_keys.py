"""How often a system's key signature is counted right: oemer's own count, and the count on
the ink (consumers/omr/keys.py) that replaces it.

    .venv/bin/python bench/omr_keys.py [--pages 30] [--seed 0]

Pages of *training* corpus pieces (never the held-out evaluation pieces), engraved with
random options like the training pages, 80 % degraded like a scan, are read through the
production path. The truth per system is the key signature verovio drew at its start (its
sharps or flats counted; none drawn is 0). Prints, over the systems both read, how many
each count gets right, and the systems where the ink count differs from the truth.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from consumers.omr import recognize  # noqa: E402
from consumers.omr.synth import corpus, degrade, render  # noqa: E402

SHARP, FLAT = "E262", "E260"


def true_keys(root: ET.Element) -> list[int]:
    """Per system, top to bottom: the key signature drawn at its start."""
    out = []
    for system in root.iter(f"{{{render.SVG_NS}}}g"):
        if "system" not in system.attrib.get("class", "").split():
            continue
        key = 0
        for g in system.iter(f"{{{render.SVG_NS}}}g"):
            if "keySig" in g.attrib.get("class", "").split():
                refs = [el.attrib.get(f"{{{render.XLINK_NS}}}href", "") for el in g.iter()]
                sharps = sum(SHARP in r for r in refs)
                flats = sum(FLAT in r for r in refs)
                key = sharps - flats
                break
        out.append(key)
    return out


Row = tuple[int, int | None, int | None]


def page_keys(model: Any, piece: Path, seed: int) -> list[Row]:
    """(truth, oemer's count, the ink count) per system of one random page."""
    from oemer import build_system as bs

    rng = random.Random(seed)
    opts = render.random_options(rng)
    pages = render.engrave(str(piece), opts, is_path=True)
    if not pages:
        return []
    svg = pages[rng.randrange(len(pages))]
    root = ET.fromstring(svg)
    truth = true_keys(root)
    width, height = render.target_size(*render.svg_size(root))
    image = render.rasterize_svg(svg, width, height)
    if rng.random() < 0.8:
        image, _ = degrade.degrade(image, None, degrade.random_degradation(rng), seed=seed)
    ours: dict[int, int] = {}
    theirs: dict[int, int] = {}
    own_keys, own_get_key = vars(recognize)["system_keys"], bs.Measure.get_key

    def spy_keys(*args: Any) -> dict[int, int]:
        got: dict[int, int] = own_keys(*args)
        ours.update(got)
        return got

    def spy_get_key(self: Any) -> Any:
        key = own_get_key(self)
        if self.at_beginning and self.group is not None:
            theirs.setdefault(int(self.group), int(key.value))
        return key

    setattr(recognize, "system_keys", spy_keys)  # noqa: B010 (a spy, not an attribute)
    bs.Measure.get_key = spy_get_key
    try:
        maps = recognize.compute_maps(model, image)
        bgr = np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
        recognize._oemer_extract(bgr, maps)
    except Exception:
        return []
    finally:
        setattr(recognize, "system_keys", own_keys)  # noqa: B010
        bs.Measure.get_key = own_get_key
    return [(t, theirs.get(i), ours.get(i)) for i, t in enumerate(truth)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pages", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verbose", action="store_true", help="name each page the ink misreads")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(2)
    model = recognize.load_model(None)
    root = corpus.corpus_root()
    pieces = [root / p for p in corpus.training_paths()]
    rng = random.Random(a.seed)
    rows: list[Row] = []
    done = 0
    while done < a.pages:
        piece, seed = rng.choice(pieces), rng.randrange(10**9)
        got = page_keys(model, piece, seed)
        if got:
            done += 1
            rows.extend(got)
            bad = [r for r in got if r[2] is not None and r[0] != r[2]]
            if bad and a.verbose:
                print(piece, seed, bad, flush=True)
    both = [(t, o, k) for t, o, k in rows if o is not None and k is not None]
    print(f"{done} pages, {len(rows)} systems, {len(both)} read by both oemer and the ink")
    print(f"oemer's count right: {sum(t == o for t, o, _k in both)}/{len(both)}")
    print(f"ink count right:     {sum(t == k for t, _o, k in both)}/{len(both)}")
    with_key = [(t, o, k) for t, o, k in both if t != 0]
    print(
        f"systems with a key signature: oemer {sum(t == o for t, o, _k in with_key)}, "
        f"ink {sum(t == k for t, _o, k in with_key)} of {len(with_key)}"
    )
    wrong = [(t, o, k) for t, o, k in both if t != k]
    print("ink count wrong (truth, oemer, ink):", wrong)
    # the builder takes the ink's count only where it has more glyphs of oemer's sign
    chosen = [(t, k if o is not None and k * o >= 0 and abs(k) > abs(o) else o) for t, o, k in both]
    print(f"more-glyphs rule right: {sum(t == c for t, c in chosen)}/{len(both)}")


if __name__ == "__main__":
    main()
