"""Which notes each printed triplet "3" is given to (`tuplets.triplet_groups`), on engraved pages.

    .venv/bin/python bench/omr_triplet_groups.py [--pages 100] [--seed 0] [--no-sides] [--read]

Pages of the *training* corpus pieces that print tuplets (never the held-out evaluation
pieces) are engraved with random options like the training pages. Everything the grouping is
given comes from verovio, so this measures the grouping rule alone, as the held-out pages'
true maps would: every sounding notehead (its box from the glyph's position, its bar and
staff, the value printed) and the centre of every single-glyph "3" tuplet number (its ink),
with the side of it its notes are on as `tuplets.group_side` reads it on the page's ink
(`--no-sides`: undecided for every mark). The truth for a mark is the notes of its
`g.tuplet`.

A group given is *right* when it is exactly the mark's tuplet, *wrong* otherwise (its notes
lose a third of their value for nothing, and the real triplet is not fixed). A mark is
*missed* when no group is given for it although its tuplet is three columns of notes of at
most an eighth (what the rule can stand for); marks over other tuplets (a rest or a longer
note inside) are counted apart. Prints the counts and the wrong groups' pieces.

`--read` puts the same pages (clean) through the production path instead: oemer's heads and
values, the marks the reader found, the grouping as `transform.with_triplets` calls it, scored
against the true three-column tuplets by position (`read_score`). It calls nothing newer
than `tuplets.triplet_groups(page.triplet_marks, heads)`, so a checkout from before a change
to the grouping can run it too (with `--no-sides`).
"""

from __future__ import annotations

import argparse
import random
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from omr_tuplets import TUPLET0, pieces_with_tuplets, true_marks

from consumers.omr import tuplets
from consumers.omr.synth import labels as lc
from consumers.omr.synth import render

G = f"{{{render.SVG_NS}}}g"
USE = f"{{{render.SVG_NS}}}use"
HREF = f"{{{render.XLINK_NS}}}href"
# A black notehead in SMuFL fonts is about 1.18 staff spaces wide and one space high.
HEAD_W, HEAD_H = 1.18, 1.0


def _classes(el: ET.Element) -> set[str]:
    return set(el.attrib.get("class", "").split())


def _translate(el: ET.Element) -> tuple[float, float]:
    t = el.attrib.get("transform", "")
    inner = t[t.index("translate(") + 10 : t.index(")", t.index("translate("))]
    x, y = (float(v) for v in inner.replace(",", " ").split())
    return x, y


def _value(attrs: dict[str, str], chord: dict[str, str]) -> Fraction | None:
    dur = attrs.get("dur") or chord.get("dur")
    if not dur or not dur.isdigit() or attrs.get("grace") or chord.get("grace"):
        return None
    value = Fraction(4, int(dur))
    dots = int(attrs.get("dots") or chord.get("dots") or 0)
    return value * (2 - Fraction(1, 2**dots))


@dataclass
class PageCase:
    piece: str
    heads: list[tuplets.Head]
    marks: list[tuple[float, float, int]]  # centre, side of the notes (group_side)
    truth: list[frozenset[int]]  # per mark, the heads of its tuplet
    fittable: list[bool]  # per mark: its tuplet is three columns of at most eighths
    svg: str = ""


def _staff_space(root: ET.Element) -> float:
    for g in root.iter(G):
        if "staff" in _classes(g):
            ys = sorted(
                float(p.attrib["d"].split()[1])
                for p in g
                if p.tag == f"{{{render.SVG_NS}}}path" and p.attrib.get("d", "").startswith("M")
            )
            if len(ys) >= 2:
                return float(np.median(np.diff(ys)))
    return 0.0


def _glyph_offset(
    origins: list[tuple[float, float]], ink: np.ndarray
) -> tuple[float, float] | None:
    """From a "3"'s drawing origin to its ink's centre (one glyph size per page): the median
    over the origins and ink pieces that are each other's nearest (pieces of ink can merge or
    be missed, so a mark's centre is its origin moved by this, not its own nearest ink)."""
    _n, _lab, stats, cents = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    blobs = [(float(c[0]), float(c[1])) for k, c in enumerate(cents) if k and stats[k][4] > 4]
    if not blobs or not origins:
        return None

    def nearest(p: tuple[float, float], among: list[tuple[float, float]]) -> int:
        return int(np.argmin([np.hypot(p[0] - q[0], p[1] - q[1]) for q in among]))

    pairs = [
        (blobs[b][0] - o[0], blobs[b][1] - o[1])
        for i, o in enumerate(origins)
        if nearest(blobs[b := nearest(o, blobs)], origins) == i
    ]
    if not pairs:
        return None
    dx, dy = np.median(np.asarray(pairs), axis=0)
    return float(dx), float(dy)


def page_case(piece: Path, seed: int, sides: bool = True) -> PageCase | None:
    import verovio

    rng = random.Random(seed)
    verovio.enableLog(verovio.LOG_OFF)
    tk = verovio.toolkit()
    tk.setOptions(render.random_options(rng).to_verovio())
    if not tk.loadFile(str(piece)):
        return None
    with_threes = [
        svg for i in range(1, tk.getPageCount() + 1) if "tupletNum" in (svg := tk.renderToSVG(i))
    ]
    if not with_threes:
        return None
    svg = rng.choice(with_threes)
    root = ET.fromstring(svg)
    width, height = render.target_size(*render.svg_size(root))
    inner = next(el for el in root.iter() if "viewBox" in el.attrib)
    per_unit = width / float(inner.attrib["viewBox"].split()[2])
    margin = next(g for g in root.iter(G) if "page-margin" in _classes(g))
    mx, my = _translate(margin)

    def to_pixels(x: float, y: float) -> tuple[float, float]:
        return (x + mx) * per_unit, (y + my) * per_unit

    space = _staff_space(root)
    chord_of = {id(n): c for c in root.iter(G) if "chord" in _classes(c) for n in c}
    heads: list[tuplets.Head] = []
    head_of: dict[str, int] = {}
    bar = -1
    for measure in root.iter(G):
        if "measure" not in _classes(measure):
            continue
        bar += 1
        staves = [g for g in measure if g.tag == G and "staff" in _classes(g)]
        for k, staff in enumerate(staves):
            for note in staff.iter(G):
                if "note" not in _classes(note):
                    continue
                attrs = tk.getElementAttr(note.attrib["id"])
                chord_el = chord_of.get(id(note))
                chord = tk.getElementAttr(chord_el.attrib["id"]) if chord_el is not None else {}
                value = _value(attrs, chord)
                glyph = next(
                    (u for h in note if "notehead" in _classes(h) for u in h.iter(USE)), None
                )
                if value is None or glyph is None:
                    continue
                x, y = to_pixels(*_translate(glyph))
                w, h = HEAD_W * space * per_unit, HEAD_H * space * per_unit
                head_of[note.attrib["id"]] = len(heads)
                heads.append(tuplets.Head(x + w / 2, y, w, h, (bar, k), value))
    found: list[tuple[ET.Element, tuple[float, float]]] = []
    for tup in root.iter(G):
        if "tuplet" not in _classes(tup):
            continue
        nums = [g for g in tup if g.tag == G and "tupletNum" in _classes(g)]
        uses = [u for g in nums for u in g.iter(USE)]
        if len(uses) != 1 or f"{TUPLET0 + 3:04X}" not in uses[0].attrib.get(HREF, ""):
            continue
        if any("tuplet" in _classes(g) for g in tup.iter(G) if g is not tup):
            continue  # nested tuplets: not what a "3" over plain notes is
        found.append((tup, to_pixels(*_translate(uses[0]))))
    threes = true_marks(root, width, height, 3)
    offset = _glyph_offset([p for _t, p in found], threes)
    if offset is None:
        return None
    # the page's ink without staff lines or the marks, what `group_side` reads in production
    others = render.draw_only(
        root, render.leaves(root), lambda _el, c: c != lc.STAFF_LINE, width, height
    ) & ~cv2.dilate(threes.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    n, _lab, stats, cents = cv2.connectedComponentsWithStats(
        threes.astype(np.uint8), connectivity=8
    )
    pixels_space = space * per_unit
    marks: list[tuple[float, float, int]] = []
    truth: list[frozenset[int]] = []
    fittable: list[bool] = []
    for tup, (tx, ty) in found:
        notes = [g for g in tup.iter(G) if "note" in _classes(g)]
        members = frozenset(head_of[n.attrib["id"]] for n in notes if n.attrib["id"] in head_of)
        has_rest = any(_classes(g) & {"rest", "space"} for g in tup.iter(G))
        xs = sorted({round(heads[i].x) for i in members})
        columns = sum(1 for a, b in zip([-1e9, *xs], xs, strict=False) if b - a > heads[0].w * 0.8)
        fit = (
            not has_rest and columns == 3 and all(heads[i].value <= Fraction(1, 2) for i in members)
        )
        x, y = tx + offset[0], ty + offset[1]
        k = min(range(1, n), key=lambda k: np.hypot(*(cents[k] - (x, y))), default=0)
        side = 0
        if k and np.hypot(*(cents[k] - (x, y))) <= pixels_space:
            bx, by, bw, bh = (int(v) for v in stats[k][:4])
            side = tuplets.group_side(others, (bx, by, bw, bh), pixels_space) if sides else 0
        marks.append((x, y, side))
        truth.append(members)
        fittable.append(fit)
    if not marks:
        return None
    return PageCase(piece.name, heads, marks, truth, fittable, svg)


def score(case: PageCase) -> Counter[str]:
    out: Counter[str] = Counter()
    given = tuplets.triplet_groups(case.marks, case.heads)
    truths = set(case.truth)
    right = {frozenset(ids) for ids, _v in given if frozenset(ids) in truths}
    out["right"] += len(right)
    out["wrong"] += sum(1 for ids, _v in given if frozenset(ids) not in truths)
    for members, fit in zip(case.truth, case.fittable, strict=True):
        if members in right:
            continue
        out["missed (fittable)" if fit else "not given (other tuplet)"] += 1
    out["marks"] += len(case.marks)
    out["fittable"] += sum(case.fittable)
    return out


def _column_centres(heads: list[tuplets.Head]) -> list[float]:
    """The group's note columns as `triplet_groups` forms them (heads within 0.8 widths)."""
    hw = float(np.median([h.w for h in heads]))
    cols = tuplets._columns(list(enumerate(heads)), 0.8 * hw)
    return [float(np.mean([h.x for _i, h in col])) for col in cols]


def read_score(model: Any, case: PageCase) -> Counter[str]:
    """The same page read through the production path (clean, not degraded): oemer's heads
    and values, the marks the reader found, grouped by `with_triplets`' own inputs. A given
    group is right when its three columns each lie within 0.6 head widths of a fittable true
    tuplet's and its heads within two head heights of that tuplet's."""
    from consumers.omr import recognize, transform

    root = ET.fromstring(case.svg)
    width, height = render.target_size(*render.svg_size(root))
    gray = render.rasterize_svg(case.svg, width, height)
    try:
        result = recognize.recognize_page(model, gray)
    except Exception:
        return Counter({"unread pages": 1})
    page = transform.musicxml_to_page(
        result.musicxml, result.notes, 1, rest_boxes=result.rests, triplet_marks=result.triplets
    )
    sounding = [n for n in page.notes if not n.is_rest and n.box is not None]
    heads = []
    for n in sounding:
        assert n.box is not None
        x, y, w, h = n.box.bbox
        heads.append(tuplets.Head(x + w / 2, y + h / 2, w, h, (n.measure, n.staff), n.duration))
    given = tuplets.triplet_groups(page.triplet_marks, heads) if heads else []
    # the truth in page fractions
    true_groups = [
        [
            tuplets.Head(h.x / width, h.y / height, h.w / width, h.h / height, h.where, h.value)
            for h in (case.heads[i] for i in sorted(members))
        ]
        for members, fit in zip(case.truth, case.fittable, strict=True)
        if fit
    ]
    out: Counter[str] = Counter(fittable=len(true_groups), marks_read=len(page.triplet_marks))
    matched: set[int] = set()
    for ids, _v in given:
        group = [heads[i] for i in ids]
        cols = _column_centres(group)
        hw = float(np.median([h.w for h in group]))
        hh = float(np.median([h.h for h in group]))
        hit = None
        for t, truth in enumerate(true_groups):
            tcols = _column_centres(truth)
            if len(tcols) != len(cols) or t in matched:
                continue
            near_x = all(abs(a - b) <= 0.6 * hw for a, b in zip(cols, tcols, strict=True))
            near_y = abs(np.mean([h.y for h in group]) - np.mean([h.y for h in truth])) <= 2 * hh
            if near_x and near_y:
                hit = t
                break
        if hit is None:
            out["wrong"] += 1
        else:
            matched.add(hit)
            out["right"] += 1
    out["missed (fittable)"] += len(true_groups) - len(matched)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pages", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-sides", action="store_true")
    ap.add_argument(
        "--read",
        action="store_true",
        help="group what the production path reads on each page instead (read_score)",
    )
    a = ap.parse_args()
    model = None
    if a.read:
        import torch

        from consumers.omr import recognize

        torch.set_num_threads(2)
        model = recognize.load_model(None)
    pieces = pieces_with_tuplets()
    rng = random.Random(a.seed)
    total: Counter[str] = Counter()
    wrong_in: Counter[str] = Counter()
    cases = 0
    while cases < a.pages:
        case = page_case(rng.choice(pieces), rng.randrange(10**9), sides=not a.no_sides)
        if case is None:
            continue
        cases += 1
        got = read_score(model, case) if a.read else score(case)
        total += got
        if got["wrong"]:
            wrong_in[case.piece] += got["wrong"]
    if a.read:
        print(
            f"{cases} pages read ({total['unread pages']} unread), {total['marks_read']} marks "
            f"found, {total['fittable']} true three-column groups"
        )
    else:
        print(f"{cases} pages, {total['marks']} marks, {total['fittable']} over three-column ones")
    for key in ("right", "wrong", "missed (fittable)", "not given (other tuplet)"):
        print(f"  {key:<26} {total[key]:>5}")
    print("wrong groups by piece:", dict(wrong_in.most_common()))


if __name__ == "__main__":
    main()
