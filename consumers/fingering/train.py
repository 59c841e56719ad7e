"""Training: CRF with partial labels over windows of events, split by work (see
``corpus/loader.py``); the held-out test works are never seen here. Single-threaded by default
(the build machines are shared)."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from consumers.fingering.corpus.types import HandSequence
from consumers.fingering.decode import DecodeInput, decode_batch
from consumers.fingering.features import Events, event_labels, feasible_labels, features, prepare
from consumers.fingering.hmm import pair_costs
from consumers.fingering.model import FingeringNet, NetConfig, crf_partial_nll
from consumers.fingering.predict import network_scores


@dataclass(slots=True)
class Prepared:
    seq: HandSequence
    events: Events
    x: npt.NDArray[np.float32]
    labels: npt.NDArray[np.int64]
    prior: npt.NDArray[np.float16] | None = None


def prepare_sequences(seqs: Sequence[HandSequence], *, prior: bool = True) -> list[Prepared]:
    out: list[Prepared] = []
    for s in seqs:
        ev = prepare(s.midi, s.onset, s.duration, is_left=s.hand == "left", chord_eps=s.chord_eps)
        costs = pair_costs(ev).clip(0, 60).astype(np.float16) if prior else None
        out.append(
            Prepared(s, ev, features(ev), feasible_labels(ev, event_labels(ev, s.finger)), costs)
        )
    return out


@dataclass
class TrainConfig:
    window: int = 256
    batch: int = 32
    epochs: int = 24
    lr: float = 2e-3
    weight_decay: float = 1e-3
    max_minutes: float = 30.0
    seed: int = 0
    threads: int = 1
    net: NetConfig = field(default_factory=NetConfig)


def _windows(data: Sequence[Prepared], window: int, rng: random.Random) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for i, p in enumerate(data):
        n = len(p.events)
        if n == 0:
            continue
        lab = p.labels > 0
        if not lab.any():
            continue
        start = -rng.randrange(window) if n > window else 0
        for s in range(start, n, window):
            lo, hi = max(0, s), min(n, s + window)
            if hi - lo >= 2 and lab[lo:hi].any():
                out.append((i, lo))
    return out


def _batch(
    data: Sequence[Prepared], wins: Sequence[tuple[int, int]], window: int
) -> tuple[torch.Tensor, ...]:
    b = len(wins)
    nf = data[0].x.shape[1]
    x = np.zeros((b, window, nf), dtype=np.float32)
    same = np.zeros((b, window), dtype=bool)
    labels = np.zeros((b, window), dtype=np.int64)
    valid = np.zeros((b, window), dtype=bool)
    prior = np.zeros((b, window, 5, 5), dtype=np.float32)
    for r, (i, lo) in enumerate(wins):
        p = data[i]
        hi = min(len(p.events), lo + window)
        n = hi - lo
        x[r, :n] = p.x[lo:hi]
        same[r, :n] = p.events.same_group[lo:hi]
        same[r, 0] = False
        labels[r, :n] = p.labels[lo:hi]
        valid[r, :n] = True
        if p.prior is not None:
            prior[r, :n] = p.prior[lo:hi]
            prior[r, 0] = 0.0  # the window's first event has no predecessor here
    return (
        torch.from_numpy(x),
        torch.from_numpy(same),
        torch.from_numpy(labels),
        torch.from_numpy(valid),
        torch.from_numpy(prior),
    )


def evaluate_exact(
    net: FingeringNet, data: Sequence[Prepared], *, hand_size: str = "M"
) -> dict[str, tuple[int, int]]:
    """Exact match on labelled events, per source: {source: (matches, labelled)}."""
    net.eval()
    todo = [p for p in data if (p.labels > 0).any()]
    priors = [p.prior for p in todo] if net.config.prior else None
    scores = network_scores(net, [p.x for p in todo], priors)  # type: ignore[arg-type]
    inputs = [
        DecodeInput(
            u,
            pr,
            p.events.same_group,
            p.events.d_prev,
            p.events.d_low,
            np.zeros(len(p.events), dtype=np.int64),
        )
        for p, (u, pr) in zip(todo, scores, strict=True)
    ]
    res = decode_batch(inputs, hand_size=hand_size)
    out: dict[str, tuple[int, int]] = {}
    for p, r in zip(todo, res, strict=True):
        lab = p.labels > 0
        m, n = out.get(p.seq.source, (0, 0))
        out[p.seq.source] = (m + int((r.fingers[lab] == p.labels[lab]).sum()), n + int(lab.sum()))
    return out


def accuracy(per_source: dict[str, tuple[int, int]]) -> float:
    m = sum(v[0] for v in per_source.values())
    n = sum(v[1] for v in per_source.values())
    return m / n if n else 0.0


def selection_accuracy(per_source: dict[str, tuple[int, int]]) -> float:
    """Model selection on the editions (and PIG), not the scale book: the held-out targets are
    editorial marks in real pieces, and the scale exercises would dominate by label count."""
    real = {k: v for k, v in per_source.items() if k != "pydactyl-beringer"}
    return accuracy(real or per_source)


def train(
    train_data: Sequence[Prepared],
    val_data: Sequence[Prepared],
    config: TrainConfig,
    log: Callable[[str], None] = print,
) -> tuple[FingeringNet, dict[str, Any]]:
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    net = FingeringNet(config.net)
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = max(1, len(_windows(train_data, config.window, rng)) // config.batch)
    total = steps_per_epoch * config.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: min(1.0, (s + 1) / 50) * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)),
    )
    started = time.monotonic()
    best_acc, best_state, best_epoch = -1.0, None, 0
    history: list[dict[str, float]] = []
    for epoch in range(1, config.epochs + 1):
        net.train()
        wins = _windows(train_data, config.window, rng)
        rng.shuffle(wins)
        losses = []
        for k in range(0, len(wins), config.batch):
            x, same, labels, valid, prior = _batch(
                train_data, wins[k : k + config.batch], config.window
            )
            scores = net(x, prior if config.net.prior else None)
            nll = crf_partial_nll(scores, same, labels, valid)
            n_lab = (labels > 0).sum().clamp(min=1)
            loss = nll * x.shape[0] / n_lab
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
        mean_loss = float(np.mean(losses)) if losses else float("nan")
        val = evaluate_exact(net, val_data)
        acc = selection_accuracy(val)
        minutes = (time.monotonic() - started) / 60
        history.append({"epoch": epoch, "loss": mean_loss, "val_acc": acc, "minutes": minutes})
        per_source = ", ".join(
            f"{k}: {100 * m / max(n, 1):.1f}% of {n}" for k, (m, n) in val.items()
        )
        log(
            f"epoch {epoch} loss {mean_loss:.4f} val {100 * acc:.2f}% ({per_source}) "
            f"{minutes:.1f} min"
        )
        if acc > best_acc:
            best_acc, best_epoch = acc, epoch
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        if minutes > config.max_minutes:
            log(f"time budget reached after epoch {epoch}")
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    record = {
        "best_epoch": best_epoch,
        "best_val_acc": best_acc,
        "history": history,
        "minutes": (time.monotonic() - started) / 60,
        "train_windows_per_epoch": steps_per_epoch * config.batch,
    }
    return net, record


MODEL_NAME = "etude-fingering-crfconv"


def split_corpus(
    seqs: Sequence[HandSequence],
) -> dict[str, list[HandSequence]]:
    from consumers.fingering.corpus.loader import split_of_work

    out: dict[str, list[HandSequence]] = {"train": [], "val": [], "test": []}
    for s in seqs:
        out[split_of_work(s.source, s.work)].append(s)
    return out


def corpus_stats(seqs: Sequence[HandSequence]) -> dict[str, dict[str, int]]:
    stats: dict[str, dict[str, int]] = {}
    for s in seqs:
        d = stats.setdefault(s.source, {"sequences": 0, "notes": 0, "labelled": 0, "works": 0})
        d["sequences"] += 1
        d["notes"] += len(s)
        d["labelled"] += s.labelled
    for src in stats:
        stats[src]["works"] = len({s.work for s in seqs if s.source == src})
    return stats


def run_training(
    *,
    data_dir: Any = None,
    out_path: str,
    version: str,
    pig_dir: Any = None,
    config: TrainConfig | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Load the corpus (and PIG's training split when given), train, save weights + record."""
    from pathlib import Path

    from consumers.fingering.corpus.loader import default_data_dir, load_corpus
    from consumers.fingering.model import save_checkpoint

    config = config or TrainConfig()
    t0 = time.monotonic()
    data_path = Path(data_dir) if data_dir else default_data_dir()
    seqs = load_corpus(data_path) if data_path.is_dir() else []
    splits = split_corpus(seqs)
    if pig_dir is not None:
        from consumers.fingering.evaluate import pig_sequences

        pig_train, _ = pig_sequences(Path(pig_dir))
        rng = random.Random(1)
        pig_train = sorted(pig_train, key=lambda s: s.piece)
        pig_val_pieces = {s.piece for s in pig_train if rng.random() < 0.1}
        splits["train"] += [s for s in pig_train if s.piece not in pig_val_pieces]
        splits["val"] += [s for s in pig_train if s.piece in pig_val_pieces]
    log(
        f"loaded {len(seqs)} sequences in {time.monotonic() - t0:.0f} s; "
        + ", ".join(
            f"{k}: {len(v)} seqs / {sum(s.labelled for s in v)} labels" for k, v in splits.items()
        )
    )
    prior = config.net.prior
    train_p = prepare_sequences(splits["train"], prior=prior)
    val_p = prepare_sequences(splits["val"], prior=prior)
    test_p = prepare_sequences(splits["test"], prior=prior)
    net, record = train(train_p, val_p, config, log)
    test = evaluate_exact(net, test_p)
    record.update(
        {
            "data_dir": str(data_path),
            "pig_dir": str(pig_dir) if pig_dir else None,
            "splits": {k: corpus_stats(v) for k, v in splits.items()},
            "test_exact": {
                k: {"match": m, "labelled": n, "pct": 100 * m / max(n, 1)}
                for k, (m, n) in test.items()
            },
            "config": {
                "window": config.window,
                "batch": config.batch,
                "epochs": config.epochs,
                "lr": config.lr,
                "weight_decay": config.weight_decay,
                "threads": config.threads,
                "net": config.net.to_dict(),
            },
            "wall_minutes_total": (time.monotonic() - t0) / 60,
        }
    )
    log(f"test exact match: {record['test_exact']}")
    save_checkpoint(out_path, net, name=MODEL_NAME, version=version, record=record)
    return record
