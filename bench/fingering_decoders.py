"""Decoder choice for the fingering model, measured on the validation works.

The shipped model scores each note with a CRF; two decoders apply the same hard rules (rising
distinct fingers in a chord, hand span, anchors): ``viterbi`` returns the single most likely
sequence, ``posterior`` the sequence that maximises the sum of per-note log posteriors. The
default was chosen here, on the validation works (never on the test works or the Clara marks);
the test works are printed beside them for the record.

    .venv/bin/python bench/fingering_decoders.py [--data DIR] [--weights PATH] [--no-mutopia]

Mutopia needs LilyPond (or its extraction cache, see corpus/loader.py); without it, that
source is left out and the header says so.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from consumers.fingering.corpus.loader import default_data_dir, load_corpus
from consumers.fingering.evaluate import evaluate_sequences, hmm_fingerer, model_fingerer
from consumers.fingering.train import split_corpus
from consumers.fingering.transform import load_model

EDITIONS = ("nifc-chopin-first-editions", "nifc-polish-scores", "mutopia")


def _fmt(res: dict[str, tuple[int, int]], sources: tuple[str, ...]) -> str:
    parts = []
    for s in sources:
        if s in res:
            m, n = res[s]
            parts.append(f"{s} {100 * m / max(n, 1):5.1f}% ({n})")
    m = sum(res[s][0] for s in sources if s in res)
    n = sum(res[s][1] for s in sources if s in res)
    return f"editions {100 * m / max(n, 1):5.1f}% of {n} | " + ", ".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--no-mutopia", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = args.data or default_data_dir()
    sources = ["nifc-chopin-first-editions", "nifc-polish-scores", "pydactyl-beringer"]
    if not args.no_mutopia and shutil.which("lilypond"):
        sources.append("mutopia")
    model = load_model(args.weights)
    print(f"model {model.name} {model.version}; sources {', '.join(sources)}")
    splits = split_corpus(load_corpus(data, sources=tuple(sources)))
    fingerers = {
        "posterior": model_fingerer(model, method="posterior"),
        "viterbi": model_fingerer(model, method="viterbi"),
        "order-2 HMM": hmm_fingerer(),
    }
    for split in ("val", "test"):
        print(f"{split} works (exact match on labelled notes):")
        for name, fingerer in fingerers.items():
            t0 = time.perf_counter()
            res = evaluate_sequences(splits[split], fingerer)
            ber = res.get("pydactyl-beringer", (0, 0))
            print(
                f"  {name:12s} {_fmt(res, EDITIONS)}; "
                f"beringer {100 * ber[0] / max(ber[1], 1):5.1f}% ({ber[1]})"
                f"  [{time.perf_counter() - t0:.1f}s]"
            )


if __name__ == "__main__":
    main()
