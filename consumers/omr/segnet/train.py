"""Train the segmentation network on synthetic pages.

GPU:
    python -m consumers.omr.segnet.train --pages .omrdata/pages --minutes 7 --batch 48
CPU, 2 cores (the issue's budget: under an hour):
    python -m consumers.omr.segnet.train --pages .omrdata/pages --device cpu --threads 2 \
        --minutes 55 --batch 8

The learning-rate schedule runs on the wall clock (`--minutes`), so one command fits any
machine; `--watch` keeps picking up pages that a generator is still writing to `--pages`.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as nnf

from consumers.omr.segnet.infer import DEFAULT_WEIGHTS, downscale, save_weights
from consumers.omr.segnet.model import FACTOR, SegNet
from consumers.omr.synth.labels import downsample

# Thin, rare classes (staff lines, stems) need weight or argmax swallows them into background.
STAFF_WEIGHTS = (1.0, 3.0, 2.0)
SEG_WEIGHTS = (1.0, 4.0, 3.0, 3.0)


class PagePool:
    """Pages held in (device) memory as uint8; crops are cut from them on the fly."""

    def __init__(
        self, folder: Path, device: torch.device, limit: int | None = None, factor: int = FACTOR
    ) -> None:
        self.folder, self.device, self.limit, self.factor = folder, device, limit, factor
        self.images: list[Tensor] = []
        self.labels: list[Tensor] = []
        self.boxes: list[tuple[int, int, int, int]] = []
        self.seen: set[str] = set()

    def refresh(self) -> int:
        for img_path in sorted(self.folder.glob("*.img.npy")):
            stem = img_path.name.removesuffix(".img.npy")
            lab_path = self.folder / f"{stem}.lab.npy"
            if stem in self.seen or not lab_path.exists():
                continue
            if self.limit is not None and len(self.seen) >= self.limit:
                break
            img, lab = np.load(img_path), np.load(lab_path)
            # Train at the network's working scale (see model.FACTOR).
            img, lab = downscale(img, self.factor), downsample(lab, self.factor)
            img = img[: lab.shape[0], : lab.shape[1]]
            self.seen.add(stem)
            ys, xs = np.nonzero(lab)
            if len(ys) == 0:
                continue
            self.boxes.append((int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())))
            self.images.append(torch.from_numpy(img).to(self.device))
            self.labels.append(torch.from_numpy(lab).to(self.device))
        return len(self.images)

    def batch(self, rng: random.Random, size: int, crop: int) -> tuple[Tensor, Tensor]:
        # One scale per batch: staff spaces in real scans vary more than the engraving spread.
        scale = math.exp(rng.uniform(math.log(0.8), math.log(1.25)))
        side = round(crop * scale)
        imgs, labs = [], []
        for _ in range(size):
            i = rng.randrange(len(self.images))
            img, lab = self.images[i], self.labels[i]
            h, w = img.shape
            y0, y1, x0, x1 = self.boxes[i]
            # Mostly inside the engraved area: margins teach nothing after the first minute.
            if rng.random() < 0.9:
                y = rng.randint(max(0, y0 - side // 2), max(0, min(h - side, y1 - side // 2)))
                x = rng.randint(max(0, x0 - side // 2), max(0, min(w - side, x1 - side // 2)))
            else:
                y, x = rng.randint(0, max(0, h - side)), rng.randint(0, max(0, w - side))
            ci, cl = img[y : y + side, x : x + side], lab[y : y + side, x : x + side]
            ph, pw = side - ci.shape[0], side - ci.shape[1]
            if ph or pw:
                ci = nnf.pad(ci[None], (0, pw, 0, ph), value=255)[0]
                cl = nnf.pad(cl[None], (0, pw, 0, ph), value=0)[0]
            imgs.append(ci)
            labs.append(cl)
        x_t = torch.stack(imgs)[:, None].float()
        y_t = torch.stack(labs)[:, None].float()
        if side != crop:
            x_t = nnf.interpolate(x_t, size=(crop, crop), mode="bilinear", align_corners=False)
            y_t = nnf.interpolate(y_t, size=(crop, crop), mode="nearest")
        x_t = SegNet.normalize(x_t)
        # Photometric jitter per crop: ink darkness, paper tone, sensor noise.
        n = x_t.shape[0]
        gain = torch.empty(n, 1, 1, 1, device=x_t.device).uniform_(0.6, 1.15)
        offset = torch.empty(n, 1, 1, 1, device=x_t.device).uniform_(-0.05, 0.15)
        noise = torch.randn_like(x_t) * torch.empty(n, 1, 1, 1, device=x_t.device).uniform_(0, 0.06)
        x_t = (x_t * gain + offset + noise).clamp(0, 1)
        return x_t, y_t[:, 0].long()


def train(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    pool = PagePool(args.pages, device, args.limit)
    while pool.refresh() < args.min_pages:
        if not args.watch:
            raise SystemExit(f"only {len(pool.images)} pages in {args.pages}")
        time.sleep(5)
    model = SegNet().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sw = torch.tensor(STAFF_WEIGHTS, device=device)
    gw = torch.tensor(SEG_WEIGHTS, device=device)
    use_amp = device.type == "cuda"
    budget = args.minutes * 60
    t0 = time.time()
    step = 0
    history: list[dict[str, float]] = []
    running = 0.0
    while True:
        frac = (time.time() - t0) / budget
        if frac >= 1 or (args.steps and step >= args.steps):
            break
        warm = min(1.0, (step + 1) / 200, max(frac, 1e-3) / 0.03)  # short warm-up on slow runs
        lr = args.lr * warm * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = pool.batch(rng, args.batch, args.crop)
        staff_t, seg_t = y & 3, y >> 2
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            s_logits, g_logits = model(x)
        loss = nnf.cross_entropy(s_logits.float(), staff_t, weight=sw) + nnf.cross_entropy(
            g_logits.float(), seg_t, weight=gw
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        step += 1
        lval = loss.item()
        running = 0.98 * running + 0.02 * lval if step > 1 else lval
        if step % args.log_every == 0:
            el = time.time() - t0
            history.append({"step": step, "seconds": round(el, 1), "loss": round(running, 4)})
            print(
                f"step {step} {el:.0f}s loss {running:.4f} lr {lr:.2e} pages {len(pool.images)}",
                flush=True,
            )
        if args.watch and step % 250 == 0:
            pool.refresh()
    elapsed = time.time() - t0
    model = model.cpu().eval()
    record: dict[str, Any] = {
        "command": " ".join(args.argv),
        "device": torch.cuda.get_device_name(0) if use_amp else platform.processor() or "cpu",
        "threads": args.threads,
        "torch": torch.__version__,
        "steps": step,
        "seconds": round(elapsed, 1),
        "batch": args.batch,
        "crop": args.crop,
        "pages": len(pool.images),
        "factor": model.factor,
        "parameters": sum(p.numel() for p in model.parameters()),
        "final_loss": round(running, 4),
        "history": history,
        "data": "synthetic pages: music21 corpus pieces (held-out evaluation pieces excluded, "
        "see consumers/omr/synth/corpus.py) engraved by verovio, rasterized by resvg, "
        "80% degraded (consumers/omr/synth/degrade.py)",
    }
    save_weights(model, args.out, record)
    print(json.dumps({k: v for k, v in record.items() if k != "history"}, indent=1))
    return record


def main(argv: list[str] | None = None) -> None:
    import sys

    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--pages", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--minutes", type=float, default=55.0)
    ap.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: none)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="use at most this many pages")
    ap.add_argument("--min-pages", type=int, default=1)
    ap.add_argument("--watch", action="store_true", help="keep loading pages as they appear")
    ap.add_argument("--log-every", type=int, default=50)
    args = ap.parse_args(argv)
    args.argv = ["python -m consumers.omr.segnet.train", *(argv if argv else sys.argv[1:])]
    train(args)


if __name__ == "__main__":
    main()
