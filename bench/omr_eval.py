"""OMR evaluation on held-out pieces, clean and degraded (issue 3, item 5).

    .venv/bin/python bench/omr_eval.py [--weights PATH | --oemer-checkpoints DIR] [--oracle]
        [--dev | --dev-styles]
        [--pieces mozart-k545 ...] [--json out.json] [--threads 2]

Each held-out piece (never engraved for training: consumers/omr/synth/corpus.py HELD_OUT) is
engraved by verovio on A4, rendered at 300 dpi, optionally degraded like a scan, wrapped in a
PDF and run through the production transform. Per page it reports note F1 on
  * pitch+onset: (MIDI pitch, onset in quarters from the page's first bar),
  * pitch+bar position: (MIDI pitch, bar index on the page, onset within the bar),
  * pitch sequence: longest common subsequence of the onset-ordered pitch sequences,
with and without rhythm repair, the error classes of the notes it misses (`error_classes`),
plus the page's CPU seconds (all threads) and peak RSS; and per
document the field's Musical Correction Rate (`mcr-metric`: 0 = perfect, 1 = retype it all)
of the MusicXML Étude writes for the IR against the piece's own MusicXML, with the reference's
slurs and articulations and without them (the IR carries neither, so MCR with them charges
each one as a correction).
`--oracle` feeds oemer the true label maps of clean pages: an upper bound that separates
segmentation errors from oemer's own.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

# The budget is "2 cores": BLAS pools must be sized before numpy loads.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "2")

import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from consumers.omr import recognize as rec  # noqa: E402
from consumers.omr import transform as tf  # noqa: E402
from consumers.omr.synth import degrade, render  # noqa: E402

PIECES: dict[str, tuple[str, int | None]] = {
    # name: (music21 corpus path, last bar or None for the whole piece)
    "mozart-k545": ("mozart/k545/movement1_exposition.mxl", 12),
    "bach-bwv846": ("bach/bwv846.mxl", 12),
    "clara-op1no1": ("schumann_clara/polonaise_op1n1.mxl", None),
    "schoenberg-op19no2": ("schoenberg/opus19/movement2.mxl", None),
}
# Development pieces (from the training corpus, never the held-out ones): what the rhythm
# solver's two weights (consumers/omr/onsets.py) were chosen on, `--dev`.
DEV_PIECES: dict[str, tuple[str, int | None]] = {
    "joplin-maple-leaf": ("joplin/maple_leaf_rag.mxl", 16),
    "chopin-mazurka6-2": ("chopin/mazurka06-2.krn", 16),
    "cpebach-h186": ("cpebach/h186.mxl", 12),
}
# Training pieces in the held-out pieces' own styles (`--dev-styles`): Clara Schumann's other
# polonaises of op. 1 and Schoenberg's op. 19/6, whole, for rules about what those pages
# print (stacked accidentals, pick-ups, grace notes); never the held-out movements.
STYLE_DEV_PIECES: dict[str, tuple[str, int | None]] = {
    "clara-op1no2": ("schumann_clara/polonaise_op1n2.mxl", None),
    "clara-op1no3": ("schumann_clara/polonaise_op1n3.mxl", None),
    "clara-op1no4": ("schumann_clara/polonaise_op1n4.mxl", None),
    "schoenberg-op19no6": ("schoenberg/opus19/movement6.mxl", None),
}
DPI = 300
A4_PX = (2480, 3508)
ENGRAVING = render.EngraveOptions(font="Leipzig", scale=85, spacing_system=10)


@dataclass
class TruthNote:
    midi: int
    bar: int  # 0-based bar index on the page
    in_bar: Fraction
    onset: Fraction  # from the page's first bar


def _peak_rss_reset() -> None:
    # Linux: writing 5 to clear_refs resets VmHWM, so each page's peak is its own.
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _excerpt(rel: str, last_bar: int | None) -> Any:
    from music21 import corpus, layout, stream

    score = corpus.parse(rel)
    assert isinstance(score, stream.Score)
    if last_bar is not None:
        excerpt = score.measures(1, last_bar)
        assert isinstance(excerpt, stream.Score)
        score = excerpt
    parts = list(score.parts)
    if len(parts) == 2 and not score.recurse().getElementsByClass(layout.StaffGroup):
        # A piano score is one part on two braced staves with barlines through both; a corpus
        # file without that grouping (Humdrum's spines: two parts) would be engraved as two
        # separate instruments, a page no piano edition prints.
        piano = stream.Score()
        staves = []
        for part in parts:
            staff = stream.PartStaff()
            for el in part:
                staff.insert(el.getOffsetBySite(part), el)
            staves.append(staff)
            piano.insert(0, staff)
        piano.insert(0, layout.StaffGroup(staves, symbol="brace", barTogether=True))
        score = piano
    return score


def reference_musicxml(rel: str, last_bar: int | None) -> str:
    """The evaluated bars as MusicXML: what the page was engraved from."""
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    return bytes(GeneralObjectExporter(_excerpt(rel, last_bar)).parse()).decode()


def engrave_piece(rel: str, last_bar: int | None) -> tuple[list[str], list[list[TruthNote]]]:
    """SVG pages of the piece and, per page, its true notes (from music21)."""
    from music21 import chord, note, stream

    score = _excerpt(rel, last_bar)
    xml = reference_musicxml(rel, last_bar).encode()
    pages = render.engrave(xml, ENGRAVING)
    per_page_bars = [svg.count('class="measure"') for svg in pages]
    # Bar index (0-based, in score order) → (page, bar on page)
    where: list[tuple[int, int]] = []
    for p, n in enumerate(per_page_bars):
        where.extend((p, b) for b in range(n))
    truth: list[list[TruthNote]] = [[] for _ in pages]
    parts = list(score.parts)
    bar_starts: list[Fraction] = []
    for m in parts[0].getElementsByClass(stream.Measure):
        bar_starts.append(Fraction(m.getOffsetInHierarchy(score)).limit_denominator(96))
    for part in parts:
        for mi, m in enumerate(part.getElementsByClass(stream.Measure)):
            if mi >= len(where):
                break
            page, bar = where[mi]
            page_start = bar_starts[mi - bar]
            for el in m.recurse().notes:
                if el.duration.isGrace:
                    continue
                in_bar = Fraction(el.getOffsetInHierarchy(m)).limit_denominator(96)
                if not isinstance(el, chord.Chord | note.Note):
                    continue
                onset = bar_starts[mi] + in_bar - page_start
                for pitch in el.pitches:
                    truth[page].append(TruthNote(int(pitch.midi), bar, in_bar, onset))
    return pages, truth


def page_raster(svg: str, degraded: bool, seed: int) -> NDArray[np.uint8]:
    img = render.rasterize_svg(svg, *A4_PX)
    if degraded:
        d = degrade.random_degradation(random.Random(seed))
        img, _ = degrade.degrade(img, None, d, seed=seed)
    return img


def to_pdf(pages: list[NDArray[np.uint8]]) -> bytes:
    ims = [Image.fromarray(p) for p in pages]
    buf = io.BytesIO()
    ims[0].save(buf, format="PDF", save_all=True, append_images=ims[1:], resolution=DPI)
    return buf.getvalue()


def _f1(tp: int, n_pred: int, n_true: int) -> float:
    if n_pred == 0 and n_true == 0:
        return 1.0
    return 2 * tp / (n_pred + n_true) if (n_pred + n_true) else 0.0


def _multiset_tp(a: Iterable[Any], b: Iterable[Any]) -> int:
    ca, cb = Counter(a), Counter(b)
    return sum(min(v, cb[k]) for k, v in ca.items())


def _lcs(a: list[int], b: list[int]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def page_metrics(pred: list[TruthNote], truth: list[TruthNote]) -> dict[str, float]:
    n_p, n_t = len(pred), len(truth)
    onset_tp = _multiset_tp(((n.midi, n.onset) for n in pred), ((n.midi, n.onset) for n in truth))
    bar_tp = _multiset_tp(
        ((n.midi, n.bar, n.in_bar) for n in pred), ((n.midi, n.bar, n.in_bar) for n in truth)
    )
    order = sorted(pred, key=lambda n: (n.onset, n.midi))
    order_t = sorted(truth, key=lambda n: (n.onset, n.midi))
    seq_tp = _lcs([n.midi for n in order], [n.midi for n in order_t])
    return {
        "notes_true": n_t,
        "notes_pred": n_p,
        "f1_pitch_onset": round(_f1(onset_tp, n_p, n_t), 4),
        "f1_pitch_bar_position": round(_f1(bar_tp, n_p, n_t), 4),
        "f1_pitch_sequence": round(_f1(seq_tp, n_p, n_t), 4),
    }


ERROR_CLASSES = ("onset", "pitch_near", "pitch_octave", "pitch_far", "missed", "extra")


def error_classes(pred: list[TruthNote], truth: list[TruthNote]) -> dict[str, int]:
    """Where the notes that miss pitch+onset go wrong, one class per true note (or extra).

    After the exact (pitch, onset) matches, in this order: at the same onset, one or two
    semitones off is `pitch_near` (an accidental, or one staff step); in the same bar, the
    same pitch elsewhere is an `onset` error (nearest onsets first); at the same onset,
    whole octaves off is `pitch_octave` (an ottava, a ledger-line count) and anything else
    `pitch_far` (a clef or a staff misread); what is left is `missed` (true) or `extra`
    (predicted). A heuristic attribution, not an alignment: counts to read a page's limits.
    """
    left_t = Counter((n.midi, n.bar, n.in_bar) for n in truth)
    left_p = Counter((n.midi, n.bar, n.in_bar) for n in pred)
    exact = left_t & left_p
    left_t, left_p = left_t - exact, left_p - exact
    out = dict.fromkeys(ERROR_CLASSES, 0)

    def pair(same: Any, cost: Any, within: float = float("inf")) -> list[tuple[Any, Any]]:
        cands = sorted(
            (
                (cost(t, p), t, p)
                for t in left_t
                for p in left_p
                if same(t) == same(p) and cost(t, p) <= within
            ),
            key=lambda c: (c[0], repr(c[1]), repr(c[2])),
        )
        pairs = []
        for _c, t, p in cands:
            while left_t[t] > 0 and left_p[p] > 0:
                left_t[t] -= 1
                left_p[p] -= 1
                pairs.append((t, p))
        return pairs

    def when(n: Any) -> Any:
        return n[1:]

    def pitch_gap(t: Any, p: Any) -> int:
        return int(abs(t[0] - p[0]))

    out["pitch_near"] = len(pair(when, pitch_gap, within=2))
    out["onset"] = len(pair(lambda n: n[:2], lambda t, p: abs(t[2] - p[2])))
    for t, p in pair(when, pitch_gap):
        out["pitch_octave" if pitch_gap(t, p) % 12 == 0 else "pitch_far"] += 1
    out["missed"] = sum(left_t.values())
    out["extra"] = sum(left_p.values())
    return out


def predicted_by_page(ir: Any, page: int) -> list[TruthNote]:
    bars = [m for m in ir.measures if m.provenance is not None and m.provenance.page == page]
    if not bars:
        return []
    first = bars[0]
    out = []
    for n in ir.notes:
        if n.provenance is None or n.provenance.page != page:
            continue
        if n.grace:  # as in the truth: a grace note has no onset of its own in the bar
            continue
        out.append(
            TruthNote(n.midi, n.measure - first.number, n.measure_onset, n.onset - first.onset)
        )
    return out


_NOTATIONS = re.compile(r"<(slur|articulations|ornaments)\b[^>]*?(/>|>.*?</\1>)", re.S)


def without_slurs_and_articulations(musicxml: str) -> str:
    return _NOTATIONS.sub("", musicxml)


def document_mcr(ir: Any, reference: str) -> dict[str, float | None]:
    """MCR and content F1 of the IR, written as Étude's MusicXML, against the reference."""
    import mcr

    from consumers.render.transform import musicxml_bytes
    from etude.notation import ir_to_music21

    pred = musicxml_bytes(ir_to_music21(ir)).decode()
    full = mcr.score(pred, reference, pred_format="musicxml", ref_format="musicxml")
    bare = mcr.score(
        without_slurs_and_articulations(pred),
        without_slurs_and_articulations(reference),
        pred_format="musicxml",
        ref_format="musicxml",
    )

    def r4(v: float | None) -> float | None:
        return None if v is None else round(v, 4)

    return {
        "doc_mcr": r4(full.mcr),
        "doc_mcr_no_slurs_articulations": r4(bare.mcr),
        "doc_mcr_content_f1": r4(bare.content_f1),
    }


def oracle_maps(svg: str, size: tuple[int, int]) -> rec.PageMaps:
    _, label = render.render_page(svg, size=size)
    return rec.label_maps(label)


def run_document(
    model: rec.OmrModel,
    name: str,
    svgs: list[str],
    truth: list[list[TruthNote]],
    condition: str,
    reference: str | None = None,
) -> list[dict[str, Any]]:
    degraded = condition == "degraded"
    rasters = [page_raster(s, degraded, seed=1000 + i) for i, s in enumerate(svgs)]
    pdf = to_pdf(rasters)
    c_r = time.process_time()
    grays = tf.rasterize_pdf(pdf, dpi=DPI, max_pages=50)
    raster_cpu = (time.process_time() - c_r) / max(len(grays), 1)  # each page's share
    pages: list[tf.PageScore] = []
    meters: list[Any] = []
    costs: list[dict[str, float]] = []
    for i, gray in enumerate(grays, start=1):
        _peak_rss_reset()
        c0, w0 = time.process_time(), time.perf_counter()
        override = None
        if condition == "oracle":
            override = oracle_maps(svgs[i - 1], rec.oemer_size(gray.shape[1], gray.shape[0]))
        result = rec.recognize_page(model, gray, page=i, maps=override)
        page = tf.musicxml_to_page(
            result.musicxml,
            result.notes,
            page=i,
            rest_boxes=result.rests,
            triplet_marks=result.triplets,
            sextuplet_marks=result.sextuplets,
            ties=result.ties,
        )
        costs.append(
            {
                "cpu_s": round(time.process_time() - c0 + raster_cpu, 2),
                "wall_s": round(time.perf_counter() - w0, 2),
                "peak_rss_mb": round(_peak_rss_mb(), 1),
            }
        )
        pages.append(page)
        meters.append(result.meter)
    time_choice = tf.choose_time(pages, meters)
    bar = time_choice.bar
    raw_ir = tf.merge_pages(pages, bar, page_count=len(pages))
    fixed_ir = tf.merge_pages([tf.repair_rhythm(p, bar) for p in pages], bar, len(pages))
    doc = document_mcr(fixed_ir, reference) if reference is not None else {}
    rows = []
    for i in range(len(pages)):
        raw = page_metrics(predicted_by_page(raw_ir, i + 1), truth[i])
        predicted = predicted_by_page(fixed_ir, i + 1)
        fixed = page_metrics(predicted, truth[i])
        errors = error_classes(predicted, truth[i])
        rows.append(
            {
                "piece": name,
                "condition": condition,
                "page": i + 1,
                "bar_length": str(bar),
                "time": f"{time_choice.numerator}/{time_choice.denominator} {time_choice.source}",
                "meter_read": str(meters[i]) if meters[i] is not None else None,
                **{f"{k}": v for k, v in fixed.items()},
                "f1_pitch_onset_unrepaired": raw["f1_pitch_onset"],
                "errors": errors,
                **costs[i],
                **doc,
            }
        )
    return rows


def _fmt(v: float | None) -> str:
    return "   n/a" if v is None else f"{v:6.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--oemer-checkpoints", type=Path, default=None)
    ap.add_argument("--pieces", nargs="*", default=None)
    ap.add_argument("--dev", action="store_true", help="the development pieces instead")
    ap.add_argument(
        "--dev-styles", action="store_true", help="the held-out pieces' styles, from training"
    )
    ap.add_argument("--conditions", nargs="*", default=["clean", "degraded"])
    ap.add_argument("--oracle", action="store_true", help="also run oracle maps on clean pages")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    model = tf.load_model(a.oemer_checkpoints or a.weights)
    conditions = list(a.conditions) + (["oracle"] if a.oracle else [])
    rows: list[dict[str, Any]] = []
    catalogue = STYLE_DEV_PIECES if a.dev_styles else DEV_PIECES if a.dev else PIECES
    for name in a.pieces or list(catalogue):
        rel, last = {**PIECES, **DEV_PIECES, **STYLE_DEV_PIECES}[name]
        svgs, truth = engrave_piece(rel, last)
        reference = reference_musicxml(rel, last)
        for cond in conditions:
            try:
                rows.extend(run_document(model, name, svgs, truth, cond, reference))
            except Exception as exc:  # one failing document must not hide the others
                rows.append({"piece": name, "condition": cond, "error": repr(exc)[:300]})
            print(json.dumps(rows[-1]), flush=True)
    print()
    header = (
        f"{'piece':20} {'cond':9} {'pg':>2} {'true':>4} {'pred':>4} {'onsetF1':>7} "
        f"{'(raw)':>6} {'barF1':>6} {'seqF1':>6} {'cpu_s':>6} {'rssMB':>6}  time"
    )
    print(header)
    for r in rows:
        if "error" in r:
            print(f"{r['piece']:20} {r['condition']:9} ERROR {r['error'][:80]}")
            continue
        print(
            f"{r['piece']:20} {r['condition']:9} {r['page']:>2} {r['notes_true']:>4} "
            f"{r['notes_pred']:>4} {r['f1_pitch_onset']:>7.3f} "
            f"{r['f1_pitch_onset_unrepaired']:>6.3f} {r['f1_pitch_bar_position']:>6.3f} "
            f"{r['f1_pitch_sequence']:>6.3f} {r['cpu_s']:>6.1f} {r['peak_rss_mb']:>6.0f}"
            f"  {r['time']}"
        )
    ok = [r for r in rows if "error" not in r]
    for cond in conditions:
        sel = [r for r in ok if r["condition"] == cond]
        if sel:
            print(
                f"mean {cond:9} onsetF1 {np.mean([r['f1_pitch_onset'] for r in sel]):.3f} "
                f"(unrepaired {np.mean([r['f1_pitch_onset_unrepaired'] for r in sel]):.3f}) "
                f"barF1 {np.mean([r['f1_pitch_bar_position'] for r in sel]):.3f} "
                f"seqF1 {np.mean([r['f1_pitch_sequence'] for r in sel]):.3f} "
                f"cpu_s {np.mean([r['cpu_s'] for r in sel]):.1f} "
                f"max_rss_mb {max(r['peak_rss_mb'] for r in sel):.0f}"
            )
    print(
        f"\n{'error classes':20} {'cond':9} {'pg':>2} "
        + " ".join(f"{c:>12}" for c in ERROR_CLASSES)
    )
    for r in ok:
        print(
            f"{r['piece']:20} {r['condition']:9} {r['page']:>2} "
            + " ".join(f"{r['errors'][c]:>12}" for c in ERROR_CLASSES)
        )
    docs = [r for r in ok if r["page"] == 1 and "doc_mcr" in r]
    if docs:
        print(f"\n{'piece (document)':20} {'cond':9} {'MCR':>6} {'MCR-sa':>6} {'contentF1':>9}")
        for r in docs:
            print(
                f"{r['piece']:20} {r['condition']:9} {_fmt(r['doc_mcr'])} "
                f"{_fmt(r['doc_mcr_no_slurs_articulations'])} {_fmt(r['doc_mcr_content_f1']):>9}"
            )
        for cond in conditions:
            sel = [r for r in docs if r["condition"] == cond and r["doc_mcr"] is not None]
            if sel:
                print(
                    f"mean {cond:9} MCR {np.mean([r['doc_mcr'] for r in sel]):.3f} "
                    "without slurs/articulations "
                    f"{np.mean([r['doc_mcr_no_slurs_articulations'] for r in sel]):.3f} "
                    f"content F1 {np.mean([r['doc_mcr_content_f1'] for r in sel]):.3f}"
                )
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
