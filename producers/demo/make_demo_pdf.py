"""Build producers/demo/demo.pdf: the bundled input of `etude demo`.

A "scanned" one-page piano score: the first bars of Mozart's Sonata in C major, K. 545
(public domain; the encoding is music21's corpus copy), engraved with verovio, rasterised at
300 dpi to black and white, and wrapped in a PDF, like the output of an office scanner. No
fingering is printed: adding it is the pipeline's job.

Needs the dev tools: `pip install resvg-py` (MIT; resvg is Apache-2.0/MIT) rasterises the SVG,
Pillow writes the PDF. Run from the repository root:

    .venv/bin/python -m producers.demo.make_demo_pdf [--bars 12] [--out producers/demo/demo.pdf]

The output is reproducible: the same inputs give the same bytes.
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path
from typing import Final

import resvg_py
from music21 import corpus, stream
from PIL import Image

from consumers.render.transform import RenderOptions, musicxml_bytes, svg_pages
from etude.notation import ir_to_music21, score_to_ir_v1
from schemas.ir import ScoreIRV1, ScoreMeta

PIECE: Final = "mozart/k545/movement1_exposition"
TITLE: Final = "Sonata in C major, K. 545 (I. Allegro)"
COMPOSER: Final = "W. A. Mozart"
DPI: Final = 300
A4_MM: Final = (210, 297)
# Verovio units are tenths of a millimetre; scale 45 gives a staff of about 7 mm, as printed.
OPTIONS: Final = RenderOptions(page_width=2100, page_height=2970, scale=45)
# Fixed PDF dates keep the file reproducible.
PDF_DATE: Final = time.strptime("2026-01-01", "%Y-%m-%d")
DEFAULT_OUT: Final = Path(__file__).with_name("demo.pdf")


def first_bars(ir: ScoreIRV1, bars: int) -> ScoreIRV1:
    """Keep the first `bars` measures; a note tied past the cut loses its tie."""
    keep = {m.number for m in ir.measures[:bars]}
    notes = []
    for n in ir.notes:
        if n.measure not in keep:
            continue
        if n.measure == bars and n.tie in ("start", "continue"):
            n = n.model_copy(update={"tie": None if n.tie == "start" else "stop"})
        notes.append(n.model_copy(update={"source_finger": None}))
    return ir.model_copy(
        update={
            "meta": ScoreMeta(title=TITLE, composer=COMPOSER),
            "measures": ir.measures[:bars],
            "notes": tuple(notes),
            "key_signatures": tuple(k for k in ir.key_signatures if k.measure in keep),
            "time_signatures": tuple(t for t in ir.time_signatures if t.measure in keep),
        }
    )


def scanned_page(svg: bytes) -> Image.Image:
    width_px = round(A4_MM[0] / 25.4 * DPI)
    # verovio sets font-size 0 on <text> (to hide the whitespace between its <tspan>s) and
    # the real size on an inner <tspan>; resvg then centres the title as if it had no width.
    text = svg.decode("utf-8").replace('<text font-size="0px">', "<text>")
    png = resvg_py.svg_to_bytes(
        svg_string=text,
        background="white",
        width=width_px,
        # verovio asks for "Times, serif" for titles and fingering; name a font that exists.
        serif_family="DejaVu Serif",
    )
    page = Image.open(io.BytesIO(bytes(png))).convert("L")
    return page.point(lambda v: 255 if v > 160 else 0).convert("1")


def build(bars: int = 12) -> bytes:
    score = corpus.parse(PIECE)
    assert isinstance(score, stream.Score)
    ir = first_bars(score_to_ir_v1(score), bars)
    pages = [scanned_page(svg) for svg in svg_pages(musicxml_bytes(ir_to_music21(ir)), OPTIONS)]
    out = io.BytesIO()
    pages[0].save(
        out,
        "PDF",
        resolution=float(DPI),
        save_all=True,
        append_images=pages[1:],
        title=TITLE,
        author=COMPOSER,
        creator="Étude producers/demo/make_demo_pdf.py",
        producer="Étude",
        creationDate=PDF_DATE,
        modDate=PDF_DATE,
    )
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=12)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    data = build(args.bars)
    args.out.write_bytes(data)
    print(f"{args.out}: {len(data)} bytes")


if __name__ == "__main__":
    main()
