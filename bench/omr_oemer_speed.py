"""oemer's later stages with its own slow functions vs Étude's output-identical ones.

    .venv/bin/python bench/omr_oemer_speed.py [--pieces mozart-k545 ...] [--threads 2]

For every held-out evaluation page (bench/omr_eval.py's pieces, engraved on A4 at 300 dpi),
clean and degraded with the network's maps and clean with the true maps, runs oemer's later
stages twice (`recognize._oemer_extract(fast=False)` and `fast=True`), prints the CPU seconds
of each and exits non-zero unless the two MusicXML documents are byte-identical.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time
import warnings
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import omr_eval as ev  # noqa: E402

from consumers.omr import recognize as rec  # noqa: E402
from consumers.omr import transform as tf  # noqa: E402


def _timed(bgr: np.ndarray, maps: rec.PageMaps, fast: bool) -> tuple[bytes, float]:
    c0 = time.process_time()
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xml, *_ = rec._oemer_extract(bgr.copy(), maps, fast=fast)
    return xml, time.process_time() - c0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pieces", nargs="*", default=list(ev.PIECES))
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    model = tf.load_model(None)
    print(f"{'page':34} {'oemer s':>8} {'etude s':>8} {'x':>5}  musicxml")
    totals = [0.0, 0.0]
    mismatches = 0
    for name in a.pieces:
        rel, last = ev.PIECES[name]
        svgs, _ = ev.engrave_piece(rel, last)
        for cond in ("clean", "degraded", "oracle"):
            rasters = [ev.page_raster(s, cond == "degraded", 1000 + i) for i, s in enumerate(svgs)]
            grays = tf.rasterize_pdf(ev.to_pdf(rasters), dpi=ev.DPI, max_pages=50)
            for i, page in enumerate(grays, start=1):
                w, h = rec.oemer_size(page.shape[1], page.shape[0])
                gray = np.asarray(cv2.resize(page, (w, h), interpolation=cv2.INTER_AREA), np.uint8)
                if cond == "oracle":
                    maps = ev.oracle_maps(svgs[i - 1], (w, h))
                else:
                    maps = rec.compute_maps(model, gray)
                bgr = np.asarray(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
                slow, t_slow = _timed(bgr, maps, fast=False)
                fast, t_fast = _timed(bgr, maps, fast=True)
                same = slow == fast
                mismatches += not same
                totals[0] += t_slow
                totals[1] += t_fast
                label = f"{name} {cond} p{i}"
                print(
                    f"{label:34} {t_slow:8.1f} {t_fast:8.1f} {t_slow / t_fast:5.1f}  "
                    f"{'identical' if same else 'DIFFERENT'}",
                    flush=True,
                )
    print(
        f"{'total':34} {totals[0]:8.1f} {totals[1]:8.1f} {totals[0] / totals[1]:5.1f}  "
        f"{mismatches} page(s) differ"
    )
    return 1 if mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
