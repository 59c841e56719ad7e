"""Which note each accidental goes to: oemer's pairing against `accidental_owners.owners`.

    .venv/bin/python bench/omr_accidental_owners.py [--pages 30] [--seed 0] [--sweep]

Pages of *training* corpus pieces (never the held-out evaluation pieces), engraved with
random options like the training pages, 80 % degraded like a scan, are read through the
production path up to the accidental check. verovio's SVG says which notehead each printed
accidental belongs to: each note with an accidental is drawn in its own colour, heads in one
picture and accidentals in another, and the pictures are moved with the page when it is
degraded. Every accidental oemer found is then scored: given to its own note (right), to
another note (wrong) or to none (lost); and every box that holds no printed note's
accidental (a key signature's, or a false find) that is given to a note (false).
`--stacked` keeps only pages with a chord that prints two accidentals or more (few
training pieces have them; they are where the pairing rule matters). `--sweep` tries the
rule's distances on the same cases (what they were chosen on).
"""

from __future__ import annotations

import argparse
import io
import itertools
import os
import random
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import resvg_py  # noqa: E402
from numpy.typing import NDArray  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from consumers.omr import accidental_owners as owners_mod  # noqa: E402
from consumers.omr import accidentals, recognize  # noqa: E402
from consumers.omr.deskew import turn  # noqa: E402
from consumers.omr.synth import corpus, degrade, render  # noqa: E402

# The lowest reading the sweep keeps a found glyph at.
FIND_FLOOR = 0.4


@dataclass
class PageCase:
    marks: list[owners_mod.Mark]
    heads: list[owners_mod.Head]
    space: float
    mark_truth: list[int]  # the printed note (colour) under each accidental box, 0: none
    head_truth: list[int]  # the printed note under each head box, 0: none
    oemer: dict[int, int]  # oemer's own pairing, mark index -> head index
    flats: list[bool]
    # the marks with their heights read each way (`accidental_owners.marks_and_heads`)
    variants: dict[str, list[owners_mod.Mark]]
    in_clef: list[bool]  # marks inside a clef's box (never given to a note)
    # per mark: None for oemer's boxes; for a glyph `accidentals.find_missing_accidentals`
    # found on the ink, its best shape score and its lead over the other two shapes
    found: list[tuple[float, float] | None]
    printed: int  # accidentals printed before notes on the page (verovio's own)


def oemer_marks(c: PageCase) -> set[int]:
    return {i for i, f in enumerate(c.found) if f is None}


def with_found(score_at: float, margin: float) -> Any:
    """The marks production would pass on with the ink finder at these thresholds."""

    def use(c: PageCase) -> set[int]:
        return {
            i for i, f in enumerate(c.found) if f is None or (f[0] >= score_at and f[1] >= margin)
        }

    return use


def paired(
    c: PageCase, marks: list[owners_mod.Mark], use: set[int] | None = None
) -> dict[int, int]:
    """`owners` on the marks outside clefs (of `use`, default oemer's), as production calls
    it."""
    use = oemer_marks(c) if use is None else use
    kept = [i for i in range(len(marks)) if not c.in_clef[i] and i in use]
    got = owners_mod.owners([marks[i] for i in kept], c.heads, c.space)
    return {kept[k]: h for k, h in got.items()}


def _classes(el: ET.Element) -> list[str]:
    return el.attrib.get("class", "").split()


def note_colours(root: ET.Element, width: int, height: int) -> NDArray[np.uint8]:
    """Two channels: per pixel, the number (1..) of the note with an accidental whose head
    (channel 0) or accidental (channel 1) verovio drew there; 0 elsewhere."""
    drawn = render.leaves(root)
    head_of: dict[int, int] = {}
    accid_of: dict[int, int] = {}
    k = 0
    for g in root.iter(f"{{{render.SVG_NS}}}g"):
        if "note" not in _classes(g) or not any("accid" in _classes(a) for a in g.iter()):
            continue
        k += 1
        if k > 250:
            break
        for sub in g.iter(f"{{{render.SVG_NS}}}g"):
            target = head_of if "notehead" in _classes(sub) else accid_of
            if "notehead" in _classes(sub) or "accid" in _classes(sub):
                for el in sub.iter():
                    target[id(el)] = k
    out = np.zeros((height, width, 2), dtype=np.uint8)
    for channel, chosen in enumerate((head_of, accid_of)):
        for el, _cls in drawn:
            if id(el) in chosen:
                el.attrib.pop("visibility", None)
                colour = f"rgb({chosen[id(el)]},0,0)"
                el.set("fill", colour)
                el.set("color", colour)
            else:
                el.set("visibility", "hidden")
        png = resvg_py.svg_to_bytes(
            svg_string=ET.tostring(root, encoding="unicode"),
            width=width,
            height=height,
            background="#ffffff",
        )
        with Image.open(io.BytesIO(bytes(png))) as im:
            rgb = np.asarray(im.convert("RGB"))
        # only fully covered pixels carry an exact colour (edges blend with the white)
        exact = (rgb[..., 1] == 0) & (rgb[..., 2] == 0) & (rgb[..., 0] > 0)
        h, w = min(height, rgb.shape[0]), min(width, rgb.shape[1])
        out[:h, :w, channel][exact[:h, :w]] = rgb[:h, :w, 0][exact[:h, :w]]
    for el, _cls in drawn:
        for attr in ("visibility", "fill", "color"):
            el.attrib.pop(attr, None)
    return out


def _under(label: NDArray[np.uint8], box: tuple[float, ...], pad: int = 2) -> int:
    x1, y1, x2, y2 = (int(v) for v in box)
    cut = label[max(0, y1 - pad) : y2 + pad, max(0, x1 - pad) : x2 + pad]
    values = Counter(cut[cut > 0].tolist())
    return int(values.most_common(1)[0][0]) if values else 0


def printed_accidentals(root: ET.Element) -> int:
    """How many accidentals verovio drew before notes on the page (not the key signature's,
    nor the undrawn ones of notes whose sign the key or the bar already gives)."""
    drawn = {id(el) for el, _cls in render.leaves(root)}
    return sum(
        1
        for g in root.iter(f"{{{render.SVG_NS}}}g")
        if "accid" in _classes(g) and any(id(el) in drawn for el in g.iter())
    )


def stacked_chords(root: ET.Element) -> int:
    """How many chords on the page print two or more accidentals (in columns)."""
    return sum(
        1
        for g in root.iter(f"{{{render.SVG_NS}}}g")
        if "chord" in _classes(g) and sum("accid" in _classes(a) for a in g.iter()) >= 2
    )


def page_case(model: Any, piece: Path, seed: int, stacked: bool = False) -> PageCase | None:
    rng = random.Random(seed)
    opts = render.random_options(rng)
    pages = render.engrave(str(piece), opts, is_path=True)
    if not pages:
        return None
    svg = pages[rng.randrange(len(pages))]
    if 'class="accid"' not in svg:
        return None
    root = ET.fromstring(svg)
    if stacked and not stacked_chords(root):
        return None
    width, height = render.target_size(*render.svg_size(root))
    image = render.rasterize_svg(svg, width, height)
    label = note_colours(root, image.shape[1], image.shape[0])
    if rng.random() < 0.8:
        d = degrade.random_degradation(rng)
        image, moved = degrade.degrade(image, label, d, seed=seed)
        assert moved is not None
        label = moved
    seen: list[PageCase] = []
    own_assign = owners_mod.assign_accidentals
    own_find = accidentals.find_missing_accidentals
    found_scores: dict[int, tuple[float, float]] = {}

    def find_spy(
        sfns: list[Any], notes: list[Any], clefs: list[Any], ink: NDArray[np.bool_], space: float
    ) -> list[Any]:
        # every candidate down to a low floor, each with its reading, for the sweep
        kept = accidentals.FIND_SCORE, accidentals.FIND_MARGIN
        accidentals.FIND_SCORE, accidentals.FIND_MARGIN = FIND_FLOOR, 0.0
        try:
            new = own_find(sfns, notes, clefs, ink, space)
        finally:
            accidentals.FIND_SCORE, accidentals.FIND_MARGIN = kept
        for s in new:
            x1, y1, x2, y2 = (int(v) for v in s.bbox)
            glyph = accidentals.ink_glyph(ink, (x1, y1, x2, y2), space, 0.0, 0.0)
            sc = accidentals.shape_scores(glyph[0], space) if glyph else {}
            ranked = [*sorted(sc.values(), reverse=True), 0.0, 0.0]
            found_scores[id(s)] = (ranked[0], ranked[0] - ranked[1])
        return new

    from oemer.symbol_extraction import get_nearby_note_id as own_nearby

    def spy(
        sfns: list[Any],
        notes: list[Any],
        no_lines: NDArray[np.bool_],
        space: float,
        clefs: Any = (),
    ) -> int:
        marks, heads, usable = owners_mod.marks_and_heads(sfns, notes, no_lines, space)
        from oemer import layers

        note_id_map = layers.get_layer("note_id")
        index = {j: h for h, j in enumerate(usable)}
        oemer: dict[int, int] = {}
        for i, s in enumerate(sfns):
            nid = own_nearby(s.bbox, note_id_map)
            n = notes[nid] if nid is not None else None
            if n is not None and (n.track, n.group) == (s.track, s.group) and nid in index:
                oemer[i] = index[nid]
        flats = [s.label.name == "FLAT" for s in sfns]
        variants = {
            how: owners_mod.marks_and_heads(sfns, notes, no_lines, space, how)[0]
            for how in ("box", "ink", "short")
        }
        boxes = [tuple(float(v) for v in c.bbox) for c in clefs]
        in_clef = [owners_mod.inside_clef(m.box, boxes) for m in marks]
        found = [found_scores.get(id(s)) for s in sfns]
        seen.append(
            PageCase(marks, heads, space, [], [], oemer, flats, variants, in_clef, found, 0)
        )
        return own_assign(sfns, notes, no_lines, space, clefs)

    owners_mod.assign_accidentals = spy
    accidentals.find_missing_accidentals = find_spy
    try:
        maps = recognize.compute_maps(model, image)
        bgr = np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
        try:
            _xml, _b, degrees, _m, _t = recognize._oemer_extract(bgr, maps)
        except Exception:
            return None
    finally:
        owners_mod.assign_accidentals = own_assign
        accidentals.find_missing_accidentals = own_find
    if not seen:
        return None
    case = seen[0]
    if degrees:
        label = turn(label, degrees, nearest=True)
    case.mark_truth = [_under(label[..., 1], m.box) for m in case.marks]
    case.head_truth = [_under(label[..., 0], h.box, pad=0) for h in case.heads]
    case.printed = printed_accidentals(root)
    return case


def score(cases: list[PageCase], pairing: Any, use: Any = oemer_marks) -> Counter[str]:
    out: Counter[str] = Counter()
    for c in cases:
        pairs = pairing(c)
        out["printed"] += c.printed
        chosen = use(c)
        for i, t in enumerate(c.mark_truth):
            if i not in chosen:
                continue
            h = pairs.get(i)
            if t == 0:
                out["false"] += h is not None
                out["not real"] += 1
                continue
            out["real"] += 1
            if h is None:
                out["lost"] += 1
            elif c.head_truth[h] == t:
                out["right"] += 1
            else:
                out["wrong"] += 1
    return out


def _line(name: str, s: Counter[str]) -> str:
    real = max(s["real"], 1)
    return (
        f"{name:34} right {s['right']:4} ({s['right'] / real:.3f})  wrong {s['wrong']:3}  "
        f"lost {s['lost']:4}  false {s['false']:3} of {s['not real']}  "
        f"(right of printed {s['right'] / max(s['printed'], 1):.3f})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pages", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument(
        "--find-sweep", action="store_true", help="the ink finder's thresholds (FIND_SCORE/MARGIN)"
    )
    ap.add_argument(
        "--stacked", action="store_true", help="only pages with a chord of two accidentals or more"
    )
    ap.add_argument(
        "--no-split", action="store_true", help="oemer's boxes as it joined them (no cutting)"
    )
    a = ap.parse_args()
    recognize.SPLIT_ACCIDENTALS = not a.no_split
    import torch

    torch.set_num_threads(2)
    model = recognize.load_model(None)
    root = corpus.corpus_root()
    pieces = [root / p for p in corpus.training_paths()]
    rng = random.Random(a.seed)
    cases: list[PageCase] = []
    while len(cases) < a.pages:
        got = page_case(model, rng.choice(pieces), rng.randrange(10**9), a.stacked)
        if got is not None:
            cases.append(got)
    print(f"{len(cases)} pages")
    print(_line("oemer (one space right, centre row)", score(cases, lambda c: c.oemer)))

    def ours(c: PageCase) -> dict[int, int]:
        return paired(c, c.marks)

    print(_line("accidental_owners", score(cases, ours)))
    at = with_found(accidentals.FIND_SCORE, accidentals.FIND_MARGIN)

    def with_ink(c: PageCase) -> dict[int, int]:
        return paired(c, c.marks, at(c))

    print(_line("  + accidentals found on the ink", score(cases, with_ink, at)))
    if a.find_sweep:
        for score_at, margin in itertools.product(
            (0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8), (0.0, 0.05, 0.1, 0.15, 0.2)
        ):
            use = with_found(score_at, margin)

            def swept(c: PageCase, use: Any = use) -> dict[int, int]:
                return paired(c, c.marks, use(c))

            print(_line(f"  find {score_at} / {margin}", score(cases, swept, use)))
        return
    for how in ("box", "ink", "short"):

        def variant(c: PageCase, how: str = how) -> dict[int, int]:
            return paired(c, c.variants[how])

        print(_line(f"  heights from {how}", score(cases, variant)))
    if not a.sweep:
        return
    grid = {
        "NEXT_TO_HEAD": (0.6, 1.0, 1.5),
        "COLUMN_GAP": (0.3, 0.6, 1.0),
        "MAX_DY": (0.5, 0.75, 1.0),
        "FLAT_BOTTOM": (0.5, 0.65, 0.8),
    }
    kept = {k: getattr(owners_mod, k) for k in grid}
    for values in itertools.product(*grid.values()):
        for k, v in zip(grid, values, strict=True):
            setattr(owners_mod, k, v)
        # marks' heights were computed with the shipped FLAT_BOTTOM: shift flats by the change
        shift = values[3] - kept["FLAT_BOTTOM"]

        def moved(c: PageCase, shift: float = shift) -> dict[int, int]:
            marks = [
                owners_mod.Mark(m.box, m.anchor_y - shift * c.space if f else m.anchor_y, m.staff)
                for m, f in zip(c.marks, c.flats, strict=True)
            ]
            return paired(c, marks)

        name = " ".join(f"{k}={v}" for k, v in zip(grid, values, strict=True))
        print(_line(name, score(cases, moved)))
    for k, v in kept.items():
        setattr(owners_mod, k, v)


if __name__ == "__main__":
    main()
