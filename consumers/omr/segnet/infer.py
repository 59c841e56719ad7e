"""Run the network over a whole page, tile by tile, and load/save weights."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np
import torch
from numpy.typing import NDArray
from torch.nn import functional as nnf

from consumers.omr.segnet.model import MULTIPLE, SegNet

DEFAULT_WEIGHTS: Final = Path(__file__).parent / "weights" / "segnet_v2.pt"
TILE: Final = 768  # a full page at once would hold ~1 GB of activations; tiles keep it small
MARGIN: Final = 64  # context discarded at each tile edge, where the U-Net sees padding
# The page is read at the network's own scale. Read enlarged 1.3x, the pixel IoU of every
# class rose on fresh synthetic pages (noteheads 0.72 -> 0.77) and development pitch+onset F1
# rose (degraded 0.808 -> 0.840, clean 0.759 -> 0.761), but the held-out pages fell (degraded
# 0.892 -> 0.882) and the network took 2.3 s a page, not 1.6; consumers/omr/README.md has it all.
SCALES: Final[tuple[float, ...]] = (1.0,)


def save_weights(model: SegNet, path: Path, record: dict[str, Any]) -> None:
    """fp16 state dict (halves the file; the network runs in fp32) plus its training record."""
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    buf = io.BytesIO()
    torch.save({"channels": list(model.channels), "factor": model.factor, "state": state}, buf)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    path.with_suffix(".json").write_text(json.dumps(record, indent=2, default=str) + "\n")


def load_weights(path: Path | None = None) -> SegNet:
    blob = torch.load(path or DEFAULT_WEIGHTS, map_location="cpu", weights_only=True)
    model = SegNet(tuple(blob["channels"]), int(blob.get("factor", 1)))
    model.load_state_dict({k: v.float() for k, v in blob["state"].items()})
    return model.eval()


def _pad_to(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    # Paper is white: pad with 255 so the border looks like margin, not ink.
    return nnf.pad(x, (0, pw, 0, ph), value=255.0), h, w


def downscale(gray: NDArray[np.uint8], factor: int) -> NDArray[np.uint8]:
    if factor == 1:
        return gray
    h, w = gray.shape
    return np.asarray(
        cv2.resize(gray, (w // factor, h // factor), interpolation=cv2.INTER_AREA), np.uint8
    )


def _tiled_probs(
    model: SegNet, small: NDArray[np.uint8], tile: int, margin: int
) -> NDArray[np.float32]:
    """Softmax of both heads (3 staff classes, then 4 seg classes) over a page, tile by tile."""
    device = next(model.parameters()).device
    h, w = small.shape
    probs = np.zeros((7, h, w), dtype=np.float32)
    step = tile - 2 * margin
    for y0 in range(0, h, step):
        for x0 in range(0, w, step):
            ya, xa = max(0, y0 - margin), max(0, x0 - margin)
            yb, xb = min(h, y0 + step + margin), min(w, x0 + step + margin)
            patch = torch.from_numpy(np.ascontiguousarray(small[ya:yb, xa:xb]))[None, None]
            padded, ph, pw = _pad_to(patch.float(), MULTIPLE)
            s_logits, g_logits = model(SegNet.normalize(padded.to(device)))
            p = torch.cat([s_logits[0].softmax(0), g_logits[0].softmax(0)])[:, :ph, :pw]
            yc, xc = min(step, h - y0), min(step, w - x0)
            probs[:, y0 : y0 + yc, x0 : x0 + xc] = (
                p[:, y0 - ya : y0 - ya + yc, x0 - xa : x0 - xa + xc].float().cpu().numpy()
            )
    return probs


def _resized(probs: NDArray[np.float32], w: int, h: int) -> NDArray[np.float32]:
    if probs.shape[1:] == (h, w):
        return probs
    return np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR) for c in probs])


@torch.inference_mode()
def predict(
    model: SegNet,
    gray: NDArray[np.uint8],
    *,
    tile: int = TILE,
    margin: int = MARGIN,
    scales: tuple[float, ...] | None = None,
) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.float32]]:
    """(staff3, seg4) class maps of a grey page, same size as the page, and the notehead
    probability (for per-note confidence).

    With several `scales` the page is also read larger or smaller and the probabilities are
    averaged: music is printed at many sizes, and the network, trained on 55-110 % engraving,
    errs differently at each."""
    scales = scales or SCALES
    full_h, full_w = gray.shape
    total = np.zeros((7, full_h, full_w), dtype=np.float32)
    for scale in scales:
        if scale == 1.0:
            small = downscale(gray, model.factor)
        else:
            h = max(MULTIPLE, round(full_h * scale / model.factor))
            w = max(MULTIPLE, round(full_w * scale / model.factor))
            small = np.asarray(cv2.resize(gray, (w, h), interpolation=cv2.INTER_AREA), np.uint8)
        total += _resized(_tiled_probs(model, small, tile, margin), full_w, full_h)
    probs = total / len(scales)
    staff = probs[:3].argmax(0).astype(np.uint8)
    seg = probs[3:].argmax(0).astype(np.uint8)
    return staff, seg, np.ascontiguousarray(probs[5])


def predict_maps(
    model: SegNet,
    gray: NDArray[np.uint8],
    *,
    tile: int = TILE,
    margin: int = MARGIN,
    scales: tuple[float, ...] | None = None,
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    staff, seg, _ = predict(model, gray, tile=tile, margin=margin, scales=scales)
    return staff, seg
