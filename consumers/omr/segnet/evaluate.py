"""Per-class IoU of the network on held-out synthetic pages.

    python -m consumers.omr.synth.generate --held-out --out .omrdata/eval --pages 24
    python -m consumers.omr.segnet.evaluate --pages .omrdata/eval [--weights PATH] \
        [--scales 1.0 1.3 1.0,1.3]

The held-out pages come only from the evaluation pieces (consumers/omr/synth/corpus.py
HELD_OUT), which the training generator never engraves. `--scales` reads the pages at each
listed input scale (a comma joins scales whose probabilities are averaged; the default is
the production reading, `infer.SCALES`): how the reading scale was chosen, on fresh
*training-corpus* pages (`synth.generate --seed 777`), never these.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from consumers.omr.segnet.infer import DEFAULT_WEIGHTS, SCALES, load_weights, predict_maps
from consumers.omr.synth.labels import SEG4_NAMES, STAFF3_NAMES, unpack


def evaluate(
    pages: Path,
    weights: Path | None,
    device: str = "cpu",
    limit: int | None = None,
    scales: tuple[float, ...] | None = None,
) -> dict[str, Any]:
    model = load_weights(weights).to(device)
    inter = {"staff": np.zeros(3), "seg": np.zeros(4)}
    union = {"staff": np.zeros(3), "seg": np.zeros(4)}
    seconds = []
    files = sorted(pages.glob("*.img.npy"))[:limit]
    for img_path in files:
        img = np.load(img_path)
        lab = np.load(img_path.with_name(img_path.name.replace(".img.", ".lab.")))
        t = time.time()
        staff, seg = predict_maps(model, img, scales=scales)
        seconds.append(time.time() - t)
        truth = dict(zip(("staff", "seg"), unpack(lab), strict=True))
        for key, pred in (("staff", staff), ("seg", seg)):
            for c in range(len(inter[key])):
                p, g = pred == c, truth[key] == c
                inter[key][c] += np.logical_and(p, g).sum()
                union[key][c] += np.logical_or(p, g).sum()
    iou = {
        **{
            f"staff3/{n}": float(inter["staff"][i] / max(union["staff"][i], 1))
            for i, n in enumerate(STAFF3_NAMES)
        },
        **{
            f"seg4/{n}": float(inter["seg"][i] / max(union["seg"][i], 1))
            for i, n in enumerate(SEG4_NAMES)
        },
    }
    return {
        "pages": len(files),
        "scales": list(scales or SCALES),
        "iou": iou,
        "seconds_per_page": float(np.mean(seconds or [0])),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--pages", type=Path, required=True)
    ap.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument(
        "--scales",
        nargs="*",
        default=None,
        help="input scales to compare, e.g. 1.0 1.3 1.0,1.3 (default: the production reading)",
    )
    ap.add_argument(
        "--update-record", action="store_true", help="store the result in the weights' .json"
    )
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    readings = [tuple(float(v) for v in s.split(",")) for s in a.scales] if a.scales else [None]
    for scales in readings:
        result = evaluate(a.pages, a.weights, a.device, a.limit, scales)
        print(json.dumps(result, indent=1), flush=True)
    if a.update_record:
        record_path = a.weights.with_suffix(".json")
        record = json.loads(record_path.read_text()) if record_path.exists() else {}
        command = " ".join(["python -m consumers.omr.segnet.evaluate", *sys.argv[1:]])
        record["heldout_synthetic_eval"] = {"command": command, **result}
        record_path.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
