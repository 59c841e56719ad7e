"""Fingering benchmark, all figures from one run.

1. Exact match on the held-out Clara Schumann Op.1 editorial marks (music21 corpus, 57 marks):
   our model, the order-2 HMM baseline, and pianoplayer 3.0.2 (if installed), each given the
   scores with the printed fingers removed.
2. Inference throughput of our model in notes/s: the core
   (features + network + constrained decoding, with posteriors) and the whole IR v1 -> IR v2
   transform (which also builds the pydantic output). One torch thread per process: on the
   shared 2-core machines two OpenMP threads spin against each other and run 10-30x slower,
   so the 2-core figure uses two processes.

    .venv/bin/python bench/fingering_bench.py [--data DIR] [--weights PATH] [--workers 2]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from consumers.fingering.corpus.loader import default_data_dir
from consumers.fingering.corpus.musicxml import (
    musicxml_to_ir,
    read_musicxml_bytes,
    strip_fingering,
)
from consumers.fingering.evaluate import (
    evaluate_marks,
    hmm_fingerer,
    ir_hand_inputs,
    load_marks_irs,
    model_fingerer,
)
from consumers.fingering.predict import FingeringModel, HandInput, predict_hands
from consumers.fingering.transform import assign_fingering, load_model


def pianoplayer_marks(data_dir: Path, hand_size: str) -> tuple[int, int, int, float] | str:
    """(matches, marks, notes, seconds) for pianoplayer on the stripped Clara scores."""
    try:
        from importlib.metadata import version

        from pianoplayer.core import run_annotate
    except ImportError:
        return "pianoplayer not installed (pip install pianoplayer==3.0.2)"
    logging.getLogger("pianoplayer").setLevel(logging.ERROR)
    hits = total = notes = 0
    seconds = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for path in sorted((data_dir / "music21-clara-schumann").glob("*.mxl")):
            xml = read_musicxml_bytes(path)
            truth_ir = musicxml_to_ir(xml)
            src = Path(tmp) / f"{path.stem}.xml"
            out = Path(tmp) / f"{path.stem}_pp.xml"
            src.write_bytes(strip_fingering(xml))
            t0 = time.perf_counter()
            with (
                contextlib.redirect_stdout(io.StringIO()),
                contextlib.redirect_stderr(io.StringIO()),
            ):
                run_annotate(str(src), outputfile=str(out), quiet=True, hand_size=hand_size)
            seconds += time.perf_counter() - t0
            pred_ir = musicxml_to_ir(out.read_bytes())
            predicted = {n.id: n.source_finger for n in pred_ir.notes}
            for n in truth_ir.notes:
                if n.source_finger:
                    total += 1
                    hits += int(predicted.get(n.id) == n.source_finger)
            notes += len(truth_ir.notes)
    print(f"  (pianoplayer {version('pianoplayer')})")
    return hits, total, notes, seconds


_WORKER: dict[str, object] = {}


def _worker_init(weights: str | None, data_dir: str) -> None:
    torch.set_num_threads(1)
    model = load_model(weights)
    irs = load_marks_irs(Path(data_dir))
    _WORKER["model"] = model
    _WORKER["hands"] = [h for ir in irs.values() for h in ir_hand_inputs(ir)[0]]


def _worker_run(repeat: int) -> int:
    model = cast(FingeringModel, _WORKER["model"])
    hands = cast(list[HandInput], _WORKER["hands"])
    done = 0
    for _ in range(repeat):
        predict_hands(model, hands)
        done += sum(len(h.midi) for h in hands)
    return done


def processes_throughput(weights: Path | None, data_dir: Path, workers: int, repeat: int) -> float:
    """notes/s of ``workers`` processes with one torch thread each (after a warm-up pass)."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(
        workers,
        initializer=_worker_init,
        initargs=(str(weights) if weights else None, str(data_dir)),
    ) as pool:
        list(pool.map(_worker_run, [1] * workers))
        t0 = time.perf_counter()
        done = sum(pool.map(_worker_run, [repeat] * workers))
        return done / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=1, help="torch threads in this process")
    ap.add_argument("--workers", type=int, default=2, help="processes for the multi-core figure")
    ap.add_argument("--hand-size", default="M")
    ap.add_argument("--repeat", type=int, default=20, help="passes over the scores for timing")
    ap.add_argument("--skip-pianoplayer", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data_dir = args.data or default_data_dir()
    model = load_model(args.weights)
    print(f"model {model.name} {model.version}; data {data_dir}; torch threads {args.threads}")

    irs = load_marks_irs(data_dir)
    ours = evaluate_marks(irs, model_fingerer(model, args.hand_size))
    hmm = evaluate_marks(irs, hmm_fingerer(args.hand_size))
    print("Held-out editorial marks, Clara Schumann Op.1 nos.1-4 (exact match):")
    print(f"  ours (CRF-conv)   {ours.matches:3d}/{ours.total} = {ours.pct:5.1f}%")
    print(f"  order-2 HMM       {hmm.matches:3d}/{hmm.total} = {hmm.pct:5.1f}%")
    pp = None if args.skip_pianoplayer else pianoplayer_marks(data_dir, args.hand_size)
    if isinstance(pp, tuple):
        m, t, n, s = pp
        print(f"  pianoplayer 3.0.2 {m:3d}/{t} = {100 * m / t:5.1f}%   ({n / s:.0f} notes/s)")
        print(f"  margin over pianoplayer: {ours.pct - 100 * m / t:+.1f} points")
    elif pp is not None:
        print(f"  pianoplayer: {pp}")
    for name, res in (("ours", ours), ("hmm", hmm)):
        print(
            f"  per file, {name}: "
            + ", ".join(f"{k} {a}/{b}" for k, (a, b) in res.per_file.items())
        )

    # throughput
    scores = list(irs.values())
    n_notes = sum(len(ir.notes) for ir in scores)
    hands = [h for ir in scores for h in ir_hand_inputs(ir)[0]]
    n_press = sum(len(h.midi) for h in hands)
    predict_hands(model, hands)  # warm-up
    t0 = time.perf_counter()
    for _ in range(args.repeat):
        predict_hands(model, hands, hand_size=args.hand_size)
    core = args.repeat * n_press / (time.perf_counter() - t0)
    big = [h for _ in range(args.repeat) for h in hands]
    t0 = time.perf_counter()
    predict_hands(model, big, hand_size=args.hand_size)
    batched = len(big) and sum(len(h.midi) for h in big) / (time.perf_counter() - t0)
    reps = max(1, args.repeat // 4)
    t0 = time.perf_counter()
    for _ in range(reps):
        for ir in scores:
            assign_fingering(ir, model=model, hand_size=args.hand_size)
    transform = reps * n_notes / (time.perf_counter() - t0)
    print(f"Throughput ({args.threads} threads, {len(scores)} scores, {n_notes} notes):")
    multi = processes_throughput(args.weights, data_dir, args.workers, args.repeat)
    print(f"  core, the {len(hands)} hands of the 4 scores per call: {core:9.0f} notes/s")
    print(f"  core, {len(big)} hands in one call:              {batched:9.0f} notes/s")
    print(f"  core, {args.workers} processes x 1 thread:                {multi:9.0f} notes/s")
    print(f"  full IR v1 -> IR v2 transform (1 process):        {transform:9.0f} notes/s")
    _ = np  # keep numpy import for users extending the bench


if __name__ == "__main__":
    main()
