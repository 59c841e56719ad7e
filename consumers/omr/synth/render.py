"""Engrave with verovio, rasterize with resvg, and derive pixel-exact label maps.

The labels come from the very SVG that gives the image: each drawn leaf element is assigned a
class from the verovio groups around it (``g.staff > path`` are staff lines, ``g.stem``,
``g.notehead``, ``g.clef`` ...), then the SVG is rendered once per class with every other leaf
hidden. Same renderer, same geometry, so the label is where the ink is, to the pixel.
"""

from __future__ import annotations

import io
import random
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import cv2
import numpy as np
import resvg_py
import verovio
from numpy.typing import NDArray
from PIL import Image

from consumers.omr.synth import labels as lc
from consumers.omr.synth.labels import OEMER_PIXELS

SVG_NS: Final = "http://www.w3.org/2000/svg"
XLINK_NS: Final = "http://www.w3.org/1999/xlink"
ET.register_namespace("", SVG_NS)
ET.register_namespace("xlink", XLINK_NS)

FONTS: Final = ("Leipzig", "Bravura", "Gootville", "Leland", "Petaluma")
_LEAF_TAGS: Final = frozenset(
    f"{{{SVG_NS}}}{t}"
    for t in ("path", "use", "rect", "polygon", "polyline", "ellipse", "circle", "line", "text")
)
# oemer's seg_net classes, by verovio group class (first match walking up from the leaf wins,
# so a notehead inside a chord inside a beam is a notehead).
_GROUP_CLASS: Final = {
    "notehead": lc.NOTEHEAD,
    "stem": lc.STEM_REST_BAR,
    "rest": lc.STEM_REST_BAR,
    "mRest": lc.STEM_REST_BAR,
    "barLine": lc.STEM_REST_BAR,
    "clef": lc.CLEF_KEY_ACCID,
    "keySig": lc.CLEF_KEY_ACCID,
    "keyAccid": lc.CLEF_KEY_ACCID,
    "accid": lc.CLEF_KEY_ACCID,
    # Flags, dots, beams and ledger lines are symbols for unet_big but none of seg_net's
    # classes, exactly as in oemer's DeepScores label map.
    "flag": lc.OTHER,
    "dots": lc.OTHER,
    "beam": lc.OTHER,
    "ledgerLines": lc.OTHER,
}
INK_THRESHOLD: Final = 160  # grey level under which an anti-aliased pixel counts as ink


@dataclass(frozen=True)
class EngraveOptions:
    font: str = "Leipzig"
    page_width: int = 2100  # verovio units: tenths of a millimetre at scale 100
    page_height: int = 2970
    scale: int = 100
    spacing_staff: int = 8
    spacing_system: int = 12
    spacing_linear: float = 0.25
    spacing_non_linear: float = 0.6
    margin: int = 100
    staff_line_width: float = 0.15
    stem_width: float = 0.2
    header: bool = True

    def to_verovio(self) -> dict[str, Any]:
        return {
            "font": self.font,
            "pageWidth": self.page_width,
            "pageHeight": self.page_height,
            "scale": self.scale,
            "adjustPageHeight": False,
            "spacingStaff": self.spacing_staff,
            "spacingSystem": self.spacing_system,
            "spacingLinear": self.spacing_linear,
            "spacingNonLinear": self.spacing_non_linear,
            "pageMarginLeft": self.margin,
            "pageMarginRight": self.margin,
            "pageMarginTop": self.margin,
            "pageMarginBottom": self.margin,
            "staffLineWidth": self.staff_line_width,
            "stemWidth": self.stem_width,
            "header": "auto" if self.header else "none",
            "footer": "none",
            "breaks": "auto",
            "svgViewBox": False,
        }


def random_options(rng: random.Random) -> EngraveOptions:
    """Engraving variety: fonts, paper sizes, music size and spacing as printed scores vary."""
    width, height = rng.choice([(2100, 2970), (2159, 2794), (2300, 3050), (2000, 2800)])
    return EngraveOptions(
        font=rng.choice(FONTS),
        page_width=width,
        page_height=height,
        scale=rng.choice([55, 60, 65, 70, 75, 80, 85, 90, 95, 100, 110]),
        spacing_staff=rng.randint(4, 14),
        spacing_system=rng.randint(4, 18),
        spacing_linear=rng.uniform(0.15, 0.35),
        spacing_non_linear=rng.uniform(0.5, 0.7),
        margin=rng.randint(50, 200),
        staff_line_width=rng.uniform(0.1, 0.3),
        stem_width=rng.uniform(0.15, 0.35),
        header=rng.random() < 0.7,
    )


def mei_document(score_def: str, section: str) -> str:
    """A minimal MEI 5 document for `engrave`: one score, its `<scoreDef>` and the inside of
    its one `<section>`."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<mei xmlns="http://www.music-encoding.org/ns/mei" meiversion="5.0"><meiHead>'
        "<fileDesc><titleStmt><title/></titleStmt><pubStmt/></fileDesc></meiHead>"
        f"<music><body><mdiv><score>{score_def}<section>{section}</section></score>"
        "</mdiv></body></music></mei>"
    )


def engrave(source: str | bytes, options: EngraveOptions, *, is_path: bool = False) -> list[str]:
    """All pages of a piece as SVG strings (empty when verovio cannot read it)."""
    # verovio warns on stderr about every awkward beam; they are layout notes, not errors.
    verovio.enableLog(verovio.LOG_OFF)
    tk = verovio.toolkit()
    tk.setOptions(options.to_verovio())
    if is_path:
        ok = tk.loadFile(str(source))
    elif isinstance(source, bytes):
        ok = (
            tk.loadZipDataBuffer(source, len(source))
            if source[:2] == b"PK"
            else tk.loadData(source.decode())
        )
    else:
        ok = tk.loadData(source)
    if not ok:
        return []
    return [tk.renderToSVG(i) for i in range(1, tk.getPageCount() + 1)]


def target_size(svg_w: float, svg_h: float, pixels: int = OEMER_PIXELS) -> tuple[int, int]:
    ratio = float(np.sqrt(pixels / (svg_w * svg_h)))
    return round(svg_w * ratio), round(svg_h * ratio)


def svg_size(root: ET.Element) -> tuple[float, float]:
    return float(root.attrib["width"].rstrip("px")), float(root.attrib["height"].rstrip("px"))


def classify_leaf(ancestors: list[set[str]], tag: str) -> int:
    """Class of one drawn element from the verovio classes of its ancestors (innermost first)."""
    for classes in ancestors:
        for name in classes:
            if name in _GROUP_CLASS:
                return _GROUP_CLASS[name]
    # Staff lines are the bare paths drawn directly in a staff group.
    if ancestors and "staff" in ancestors[0] and tag == f"{{{SVG_NS}}}path":
        return lc.STAFF_LINE
    return lc.OTHER


def leaves(root: ET.Element) -> list[tuple[ET.Element, int]]:
    """Every drawn element of the page with its class (see classify_leaf), document order."""
    out: list[tuple[ET.Element, int]] = []

    def walk(node: ET.Element, ancestors: list[set[str]]) -> None:
        for child in node:
            if child.tag == f"{{{SVG_NS}}}defs":
                continue  # glyph definitions are drawn only through <use>
            if child.tag in _LEAF_TAGS:
                out.append((child, classify_leaf(ancestors, child.tag)))
                continue
            classes = set(child.attrib.get("class", "").split())
            walk(child, [classes, *ancestors])

    walk(root, [])
    return out


def _rasterize(svg: str, width: int, height: int) -> NDArray[np.uint8]:
    png = resvg_py.svg_to_bytes(svg_string=svg, width=width, height=height, background="#ffffff")
    with Image.open(io.BytesIO(bytes(png))) as im:
        return np.asarray(im.convert("L"), dtype=np.uint8)


def rasterize_svg(svg: str, width: int, height: int) -> NDArray[np.uint8]:
    return _rasterize(svg, width, height)


def class_members(root: ET.Element, css_class: str) -> set[int]:
    """The ids of every element inside a group verovio gave `css_class` (for `draw_only`)."""
    return {
        id(el)
        for g in root.iter(f"{{{SVG_NS}}}g")
        if css_class in g.attrib.get("class", "").split()
        for el in g.iter()
    }


def draw_only(
    root: ET.Element,
    drawn: list[tuple[ET.Element, int]],
    keep: Callable[[ET.Element, int], bool],
    width: int,
    height: int,
) -> NDArray[np.bool_]:
    """Ink of the elements `keep` accepts, every other leaf of `drawn` hidden (same geometry)."""
    for el, cls in drawn:
        if keep(el, cls):
            el.attrib.pop("visibility", None)
        else:
            el.set("visibility", "hidden")
    return _rasterize(ET.tostring(root, encoding="unicode"), width, height) < INK_THRESHOLD


def fill_holes(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Mask with enclosed holes filled: flood the background from outside, keep the rest."""
    padded = np.pad(mask, 1).astype(np.uint8)
    flood = padded.copy()
    cv2.floodFill(flood, None, (0, 0), 2)
    return np.asarray(flood[1:-1, 1:-1] != 2)


def render_page(
    svg: str, pixels: int = OEMER_PIXELS, size: tuple[int, int] | None = None
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """(grey image, packed label) of one SVG page, at about `pixels` pixels or at `size`."""
    root = ET.fromstring(svg)
    width, height = size or target_size(*svg_size(root), pixels=pixels)
    image = _rasterize(svg, width, height)
    drawn = leaves(root)
    masks: dict[int, NDArray[np.bool_]] = {}
    for cls in lc.LEAF_CLASSES:
        if not any(c == cls for _, c in drawn):
            masks[cls] = np.zeros(image.shape, dtype=bool)
            continue

        def of_class(_el: ET.Element, c: int, cls: int = cls) -> bool:
            return c == cls

        masks[cls] = draw_only(root, drawn, of_class, width, height)
    ink = image < INK_THRESHOLD
    # Hollow (half, whole) noteheads are drawn solid in oemer's labels.
    heads = fill_holes(masks[lc.NOTEHEAD])
    symbols = masks[lc.STEM_REST_BAR] | heads | masks[lc.CLEF_KEY_ACCID] | masks[lc.OTHER]
    staff3 = np.zeros(image.shape, dtype=np.uint8)
    staff3[masks[lc.STAFF_LINE] & ink] = 1
    staff3[symbols & (ink | heads)] = 2  # a symbol crossing a line wins the shared pixels
    seg4 = np.zeros(image.shape, dtype=np.uint8)
    seg4[masks[lc.STEM_REST_BAR] & ink] = 1
    seg4[masks[lc.CLEF_KEY_ACCID] & ink] = 3
    seg4[heads] = 2
    return image, lc.pack(staff3, seg4)
