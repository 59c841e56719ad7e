"""One page image → oemer MusicXML, with Étude's segmentation maps (or oemer's own checkpoints).

oemer 0.1.8 is used from its extraction step on: `oemer.ete.extract` either runs its two ONNX
networks or, when a ``<image>.pkl`` sits beside the image, reads the five maps from it. We hold
the maps in memory already, so `_oemer_extract` runs the very sequence of calls that
`oemer.ete.extract` runs after loading them (dewarp, register layers, staff lines, noteheads,
groups, symbols, rhythm, MusicXML), without the disk round trip, and keeps the builder so every
MusicXML note can be traced back to its notehead box. `oemer.ete.main`, the only code that
downloads checkpoints, is never called.
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np
from numpy.typing import NDArray

from consumers.omr import accidental_owners, accidentals, oemer_fast, oemer_rules, staff_parts
from consumers.omr import rests as rest_reader
from consumers.omr.barlines import find_missing_barlines
from consumers.omr.clefs import find_missing_clefs, relabel_clefs
from consumers.omr.clefs import templates as clef_templates
from consumers.omr.deskew import skew_degrees, turn
from consumers.omr.keys import system_keys
from consumers.omr.meter import Meter, read_meter, templates, without_staff_lines
from consumers.omr.segnet.infer import load_weights, predict
from consumers.omr.segnet.model import SegNet
from consumers.omr.synth.labels import OEMER_PIXELS
from consumers.omr.ties import tied_pairs
from consumers.omr.tuplets import Mark, find_tuplet_marks
from consumers.omr.tuplets import templates as digit_templates
from etude.errors import BadInputError

# oemer keeps its intermediate results in module globals: one page at a time per process.
_OEMER_LOCK: Final = threading.Lock()
# Fewer staff-line pixels than this share of the page: nothing to read (blank page, photo).
MIN_STAFF_SHARE: Final = 0.001
# A page whose darkest pixels are this close to paper carries no ink at all.
MIN_INK_CONTRAST: Final = 40


@dataclass
class OmrModel:
    """What recognises the maps: Étude's network, or oemer's own ONNX checkpoints."""

    segnet: SegNet | None = None
    oemer_checkpoints: Path | None = None  # folder holding unet_big/ and seg_net/
    name: str = "etude-segnet-v2"


@dataclass
class PageMaps:
    staff: NDArray[np.uint8]  # 1 = staff line
    symbols: NDArray[np.uint8]  # 1 = any other symbol
    stems_rests: NDArray[np.uint8]
    notehead: NDArray[np.uint8]
    clefs_keys: NDArray[np.uint8]
    notehead_prob: NDArray[np.float32] | None = None
    ink: NDArray[np.bool_] | None = None  # the page's dark pixels, when already computed


@dataclass
class NoteBox:
    """One MusicXML <note> that oemer wrote, in document order, with where it came from."""

    bbox: tuple[float, float, float, float]  # x, y, w, h as fractions of the page
    system: int  # 1-based system (oemer's staff group) on the page
    confidence: float
    # the value (quarters) oemer read for the note or rest before its builder stretched
    # values to line the staves up; None where it read none
    value: Fraction | None = None


@dataclass
class PageResult:
    musicxml: bytes
    notes: list[NoteBox] = field(default_factory=list)
    # one box per rest oemer wrote, in document order (where the rest stands in its bar)
    rests: list[NoteBox | None] = field(default_factory=list)
    width: int = 0
    height: int = 0
    meter: Meter | None = None  # the time signature printed at the first system, if read
    # the triplet "3"s printed on it: centre (x, y as fractions of the page) and their notes'
    # side (`tuplets.Mark`)
    triplets: list[Mark] = field(default_factory=list)
    # the sextuplet "6"s, likewise
    sextuplets: list[Mark] = field(default_factory=list)
    # (i, j): note i (an index into `notes`) tied to note j, read on the ink (`ties.py`)
    ties: list[tuple[int, int]] = field(default_factory=list)


def label_maps(label: NDArray[np.uint8]) -> PageMaps:
    """The five maps as the synthetic pages' packed label has them (the evaluation's oracle)."""
    from consumers.omr.synth.labels import unpack

    staff3, seg4 = unpack(label)
    return PageMaps(
        staff=(staff3 == 1).astype(np.uint8),
        symbols=(staff3 == 2).astype(np.uint8),
        stems_rests=(seg4 == 1).astype(np.uint8),
        notehead=(seg4 == 2).astype(np.uint8),
        clefs_keys=(seg4 == 3).astype(np.uint8),
    )


def oemer_size(width: int, height: int) -> tuple[int, int]:
    """The size oemer resizes every page to (about 3.7 MP), whatever the scan resolution."""
    ratio = float(np.sqrt(OEMER_PIXELS / (width * height)))
    return round(width * ratio), round(height * ratio)


def load_model(path: str | Path | None = None) -> OmrModel:
    """Étude's shipped weights by default; a weights file of ours; or a folder with oemer's own
    checkpoints (``unet_big/model.onnx`` + ``seg_net/model.onnx`` and their metadata.pkl)."""
    if path is not None and Path(path).is_dir():
        root = Path(path)
        for sub in ("unet_big", "seg_net"):
            for name in ("model.onnx", "metadata.pkl"):
                if not (root / sub / name).is_file():
                    raise FileNotFoundError(f"oemer checkpoint folder lacks {sub}/{name}: {root}")
        warm_up()
        return OmrModel(oemer_checkpoints=root, name="oemer-0.1.8-checkpoints")
    warm_up()
    return OmrModel(segnet=load_weights(Path(path) if path else None))


def ink_mask(gray: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """Dark pixels, judged against their neighbourhood so uneven light does not matter."""
    local = cv2.adaptiveThreshold(
        gray, 1, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 31, 12
    )
    return np.asarray(local, dtype=bool)


def compute_maps(model: OmrModel, gray: NDArray[np.uint8]) -> PageMaps:
    """The five maps oemer's later stages read, at the size of `gray` (already oemer-sized)."""
    if model.segnet is not None:
        staff3, seg4, head_prob = predict(model.segnet, gray)
        # The network works at half scale, so its up-sampled maps are a pixel or two fatter
        # than the ink; oemer's later stages measure line and stem thickness and were tuned
        # on maps that are exactly ink. Snap every class but noteheads (hollow heads are
        # drawn solid) to the page's own dark pixels.
        ink = ink_mask(gray)
        return PageMaps(
            staff=((staff3 == 1) & ink).astype(np.uint8),
            symbols=((staff3 == 2) & ink).astype(np.uint8),
            stems_rests=((seg4 == 1) & ink).astype(np.uint8),
            notehead=(seg4 == 2).astype(np.uint8),
            clefs_keys=((seg4 == 3) & ink).astype(np.uint8),
            notehead_prob=head_prob,
            ink=ink,
        )
    return _oemer_onnx_maps(model, gray)


def _oemer_onnx_maps(model: OmrModel, gray: NDArray[np.uint8]) -> PageMaps:
    import tempfile

    from oemer.inference import inference

    assert model.oemer_checkpoints is not None
    with tempfile.TemporaryDirectory() as tmp:
        # oemer's inference reads a file path; its own resize is a no-op at this size.
        img_path = str(Path(tmp) / "page.png")
        cv2.imwrite(img_path, cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))
        with contextlib.redirect_stdout(io.StringIO()):
            s_map, _ = inference(str(model.oemer_checkpoints / "unet_big"), img_path)
            g_map, g_prob = inference(str(model.oemer_checkpoints / "seg_net"), img_path)
    h, w = gray.shape

    def fit(a: NDArray[Any]) -> NDArray[Any]:
        if a.shape[:2] == (h, w):
            return a
        return np.asarray(cv2.resize(a.astype(np.float32), (w, h), interpolation=cv2.INTER_NEAREST))

    return PageMaps(
        staff=fit(s_map == 1).astype(np.uint8),
        symbols=fit(s_map == 2).astype(np.uint8),
        stems_rests=fit(g_map == 1).astype(np.uint8),
        notehead=fit(g_map == 2).astype(np.uint8),
        clefs_keys=fit(g_map == 3).astype(np.uint8),
        notehead_prob=fit(g_prob[..., 2]).astype(np.float32),
    )


def page_meter(maps: PageMaps, gray: NDArray[np.uint8]) -> Meter | None:
    """The time signature printed at the page's first system (None when not read clearly)."""
    ink = maps.ink if maps.ink is not None else ink_mask(gray)
    heads_stems = np.asarray(maps.stems_rests | maps.notehead, dtype=np.uint8)
    return read_meter(maps.staff, heads_stems, ink)


def check_page(gray: NDArray[np.uint8], page: int) -> None:
    """Refuse a page with no ink before spending seconds on it."""
    lo, hi = np.percentile(gray, [0.5, 99.5])
    if hi - lo < MIN_INK_CONTRAST:
        raise BadInputError(f"page {page} is blank: no printed music found")


def check_staves(maps: PageMaps, page: int) -> None:
    if maps.staff.mean() < MIN_STAFF_SHARE:
        raise BadInputError(f"page {page}: no music staves found (is this a photo or a text page?)")


def _quiet_oemer() -> None:
    # oemer sets each module logger to INFO and prints progress on stdout; a stage logs its own.
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("oemer"):
            logging.getLogger(name).setLevel(logging.ERROR)


def needs_dewarp(staff: NDArray[np.uint8], max_shift: int = 1) -> bool:
    """Whether the staff lines drift vertically across the page.

    oemer's dewarp (a scipy griddata over the whole page) costs ~1 CPU-s; a born-digital or
    well-scanned page has level staves and skips it. The row profiles of staff pixels in the
    left and right thirds of the page are shifted against each other by the drift.
    """
    w = staff.shape[1]
    left = staff[:, w // 10 : w // 3].sum(axis=1).astype(np.float32)
    right = staff[:, 2 * w // 3 : 9 * w // 10].sum(axis=1).astype(np.float32)
    if left.sum() == 0 or right.sum() == 0:
        return True
    span = 40
    scores = [
        float(np.dot(left[span:-span], np.roll(right, s)[span:-span]))
        for s in range(-span, span + 1)
    ]
    return abs(int(np.argmax(scores)) - span) > max_shift


# oemer's line finder (staffline_extraction.filter_line_peaks) drops a row peak whose count
# is more than 15 standard deviations above its zone's mean, as too strong to be a line.
OEMER_MAX_LINE_SCORE: Final = 15.0


def lines_oemer_keeps(staff: NDArray[np.integer[Any]]) -> NDArray[np.integer[Any]]:
    """The staff map as oemer's line finder should see it.

    On a page with a single system (a short last page) the few staff-line rows stand so far
    above the mostly empty page that oemer's finder drops them as too strong, mislabels what
    is left and asserts: the page fails. Thickening each line by a row each way spreads its
    count over three rows and brings it under the limit; centres, and pages with enough
    systems, are left as they are."""
    from oemer.staffline_extraction import init_zones

    zones, *_ = init_zones(staff, splits=8)
    for cols in zones:
        count = (staff[:, np.asarray(cols, dtype=np.int64)] > 0).sum(axis=1).astype(np.float64)
        spread = float(count.std())
        if spread > 0 and float((count.max() - count.mean()) / spread) > 0.9 * OEMER_MAX_LINE_SCORE:
            thick = cv2.dilate(staff.astype(np.uint8), np.ones((3, 1), np.uint8))
            return np.asarray(thick, dtype=staff.dtype)
    return staff


def warm_up() -> None:
    """Import oemer's modules (sklearn, scipy, matplotlib: seconds) and engrave the time
    signature and clef templates once, not per page."""
    templates()
    clef_templates()
    digit_templates()
    accidentals.templates()
    rest_reader.templates()
    import oemer.build_system
    import oemer.dewarp
    import oemer.note_group_extraction
    import oemer.notehead_extraction
    import oemer.rhythm_extraction
    import oemer.staffline_extraction
    import oemer.symbol_extraction  # noqa: F401


# Switches for the ablations the README reports (each rule measured on its own).
READ_RESTS = True  # rest values read on the ink (rests.py)
HEADLESS = True  # accidentals read with the noteheads taken out of the ink
FIND_ACCIDENTALS = True  # accidentals oemer has no box for found on the ink (accidentals.py)
SPLIT_ACCIDENTALS = True  # one oemer box holding stacked accidentals cut into one per glyph
READ_TIES = True  # ties read on the ink (ties.py)


def _oemer_extract(
    image_bgr: NDArray[np.uint8],
    maps: PageMaps,
    deskew: bool | None = None,
    fast: bool = True,
    check_clefs: bool = True,
    turn_page: bool = True,
) -> tuple[bytes, Any, float, dict[int, list[Mark]], list[tuple[Any, Any]]]:
    """oemer.ete.extract from its "Load the original image" step on, maps given in memory.

    `fast` swaps in `oemer_fast`'s output-identical versions of oemer's six slowest functions
    (5-10x less CPU for these stages); False runs oemer's own, for the equivalence checks.
    `check_clefs` checks oemer's clefs against the page's ink and adds the clefs and barlines
    it missed (`clefs.py`, `barlines.py`), and has oemer's builder keep two rules of notation
    it breaks (`oemer_rules.py`: where keys change, how far an accidental holds), with each
    system's key signature counted on the ink (`keys.py`). Also
    returns the angle the page was turned by before oemer read it (`deskew.py`): oemer's
    boxes are in the turned page. `turn_page` False leaves a page that is not level to
    oemer's own dewarp alone. And, with `check_clefs`, the tuplet marks on the turned page
    by digit (3 and 6: `tuplets.py`, pixel centres), and the pairs of oemer notes tied on
    the ink (`ties.py`)."""
    keys_read: dict[int, int] = {}  # filled by _oemer_stages before the builder runs
    with (
        oemer_fast.patched() if fast else contextlib.nullcontext(),
        oemer_rules.patched(keys_read) if check_clefs else contextlib.nullcontext(),
        staff_parts.patched() if check_clefs else contextlib.nullcontext(),
    ):
        return _oemer_stages(image_bgr, maps, deskew, check_clefs, turn_page, keys_read)


def _oemer_stages(
    image_bgr: NDArray[np.uint8],
    maps: PageMaps,
    deskew: bool | None,
    check_clefs: bool,
    turn_page: bool = True,
    keys_read: dict[int, int] | None = None,
) -> tuple[bytes, Any, float, dict[int, list[Mark]], list[tuple[Any, Any]]]:
    from oemer import layers
    from oemer.build_system import MusicXMLBuilder
    from oemer.dewarp import dewarp, estimate_coords
    from oemer.ete import clear_data, register_note_id
    from oemer.note_group_extraction import extract as group_extract
    from oemer.notehead_extraction import extract as note_extract
    from oemer.rhythm_extraction import extract as rhythm_extract
    from oemer.staffline_extraction import extract as staff_extract
    from oemer.symbol_extraction import extract as symbol_extract

    _quiet_oemer()
    staff, symbols = maps.staff.astype(np.int64), maps.symbols.astype(np.int64)
    stems_rests = maps.stems_rests.astype(np.int64)
    notehead, clefs_keys = maps.notehead.astype(np.int64), maps.clefs_keys.astype(np.int64)
    image = cv2.resize(image_bgr, (staff.shape[1], staff.shape[0]))
    clear_data()
    if deskew is None:
        deskew = needs_dewarp(maps.staff)
    degrees = 0.0
    if deskew and turn_page:
        degrees = skew_degrees(staff)
        if degrees != 0.0:
            staff, symbols, stems_rests, notehead, clefs_keys = (
                turn(m.astype(np.uint8), degrees, nearest=True).astype(np.int64)
                for m in (staff, symbols, stems_rests, notehead, clefs_keys)
            )
            image = turn(np.asarray(image, np.uint8), degrees, nearest=False)
            deskew = needs_dewarp(staff.astype(np.uint8))
    if deskew:
        coords_x, coords_y = estimate_coords(staff)
        staff = dewarp(staff, coords_x, coords_y)
        symbols = dewarp(symbols, coords_x, coords_y)
        stems_rests = dewarp(stems_rests, coords_x, coords_y)
        clefs_keys = dewarp(clefs_keys, coords_x, coords_y)
        notehead = dewarp(notehead, coords_x, coords_y)
        for i in range(image.shape[2]):
            image[..., i] = dewarp(image[..., i], coords_x, coords_y)
    symbols = symbols + clefs_keys + stems_rests
    symbols[symbols > 1] = 1
    layers.register_layer("stems_rests_pred", stems_rests)
    layers.register_layer("clefs_keys_pred", clefs_keys)
    layers.register_layer("notehead_pred", notehead)
    layers.register_layer("symbols_pred", symbols)
    layers.register_layer("staff_pred", lines_oemer_keeps(staff))
    layers.register_layer("original_image", image)
    staffs, zones = staff_extract()
    layers.register_layer("staffs", staffs)
    layers.register_layer("zones", zones)
    notes = note_extract()
    layers.register_layer("notes", np.array(notes))
    layers.register_layer("note_id", np.zeros(symbols.shape, dtype=np.int64) - 1)
    register_note_id()
    groups, group_map = group_extract()
    layers.register_layer("note_groups", np.array(groups))
    layers.register_layer("group_map", group_map)
    barlines, clefs, sfns, rests = symbol_extract()
    marks: dict[int, list[Mark]] = {3: [], 6: []}
    tie_pairs: list[tuple[Any, Any]] = []
    if check_clefs:
        gray = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
        no_lines = without_staff_lines(ink_mask(gray), staff)
        clefs = relabel_clefs(clefs, no_lines)
        clefs = clefs + find_missing_clefs(clefs, staffs, no_lines)
        not_bars = (clefs_keys > 0) | (notehead > 0)
        barlines = barlines + find_missing_barlines(
            barlines, staffs, no_lines, not_bars, notehead > 0
        )
        space = float(np.median([st.unit_size for st in np.asarray(staffs).reshape(-1)]))
        for x, y, _score, _margin, side, digit in find_tuplet_marks(
            no_lines, space, notehead > 0, digits=(3, 6)
        ):
            marks[digit].append((x, y, side))
        # an accidental set close to its note touches the head on the ink: read without heads
        heads = cv2.dilate((notehead > 0).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        headless = no_lines & ~heads
        if SPLIT_ACCIDENTALS:
            sfns = accidentals.split_accidentals(sfns, headless, space)
        accidentals.relabel_accidentals(
            sfns, layers.get_layer("notes"), headless if HEADLESS else no_lines, space
        )
        if oemer_rules.OWNERS:
            if FIND_ACCIDENTALS:
                sfns = sfns + accidentals.find_missing_accidentals(
                    sfns, layers.get_layer("notes"), clefs, headless, space
                )
            accidental_owners.assign_accidentals(
                sfns, layers.get_layer("notes"), headless, space, clefs
            )
        if READ_TIES:
            heads_read = list(layers.get_layer("notes"))
            # a tied note with a sign of its own is no continuation of another pitch
            tie_pairs = [
                (heads_read[i], heads_read[j])
                for i, j in tied_pairs(heads_read, headless, space)
                if heads_read[j].sfn is None
            ]
        if READ_RESTS:
            rests = rest_reader.without_repeat_dots(rests, no_lines, space)
            rest_reader.relabel_rests(rests, no_lines, space)
        if keys_read is not None:
            keys_read.update(system_keys(staffs, clefs, layers.get_layer("notes"), no_lines))
    layers.register_layer("barlines", np.array(barlines))
    layers.register_layer("clefs", np.array(clefs))
    layers.register_layer("sfns", np.array(sfns))
    layers.register_layer("rests", np.array(rests))
    rhythm_extract()
    keep_read_values([*layers.get_layer("notes"), *rests])
    builder = MusicXMLBuilder(title="page")
    builder.build()
    return builder.to_musicxml(), builder, degrees, marks, tie_pairs


def _box(
    bbox: Any,
    group: Any,
    maps: PageMaps,
    width: int,
    height: int,
    back: NDArray[np.float64],
    value: Fraction | None = None,
) -> NoteBox:
    """A box oemer drew on the turned page, on the page as scanned, as page fractions."""
    x1, y1, x2, y2 = (int(v) for v in bbox)
    cx, cy = back @ np.array([(x1 + x2) / 2, (y1 + y2) / 2, 1.0])
    dx, dy = round(cx - (x1 + x2) / 2), round(cy - (y1 + y2) / 2)
    x1, y1, x2, y2 = x1 + dx, y1 + dy, x2 + dx, y2 + dy
    conf = 0.5
    if maps.notehead_prob is not None and x2 > x1 and y2 > y1:
        region = maps.notehead_prob[max(y1, 0) : max(y2, 0), max(x1, 0) : max(x2, 0)]
        heads = maps.notehead[max(y1, 0) : max(y2, 0), max(x1, 0) : max(x2, 0)] > 0
        if region.size:
            conf = float(region[heads].mean()) if heads.any() else float(region.mean())
    return NoteBox(
        bbox=(
            min(max(x1 / width, 0.0), 1.0),
            min(max(y1 / height, 0.0), 1.0),
            min(max((x2 - x1) / width, 0.0), 1.0),
            min(max((y2 - y1) / height, 0.0), 1.0),
        ),
        system=int(group or 0) + 1,
        confidence=min(max(conf, 0.0), 1.0),
        value=value,
    )


_READ_VALUE: Final = "etude_read_value"


def keep_read_values(symbols: list[Any]) -> None:
    """Keep on each oemer note and rest the value it was read with, in quarters (None for a
    label with no value): oemer's builder then stretches values (an eighth rest into a whole
    one) to line the two staves up, and `NoteBox.value` reports the reading."""
    from oemer import build_system as bs

    units: dict[Any, int] = {k: v["duration"] for k, v in bs.NOTE_TYPE_TO_RHYTHM.items()}
    units.update(bs.REST_TYPE_TO_DURATION)
    for sym in symbols:
        value = None
        if getattr(sym, "label", None) in units:
            value = Fraction(units[sym.label], bs.DIVISION_PER_QUATER)
            if getattr(sym, "has_dot", False):
                value *= Fraction(3, 2)
        setattr(sym, _READ_VALUE, value)


def _value_of(sym: Any) -> Fraction | None:
    return getattr(sym, _READ_VALUE, None)


def _turned_back(width: int, height: int, degrees: float) -> NDArray[np.float64]:
    """The 2x3 affine map from the page oemer read (turned by `degrees` about its centre) back
    to the page as scanned."""
    turned = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return np.asarray(cv2.invertAffineTransform(turned), dtype=np.float64)


def _note_boxes(
    builder: Any, maps: PageMaps, width: int, height: int, degrees: float = 0.0
) -> tuple[list[NoteBox], list[NoteBox | None], list[Any]]:
    """One box per pitched <note> and one per rest oemer wrote, each in document order, on the
    page as scanned (oemer read it turned by `degrees`: each box is turned back about its
    centre), and oemer's note behind each note box. A rest's confidence is meaningless (the
    notehead map) and kept at what it reads."""
    from oemer.build_system import AddNote, AddRest

    back = _turned_back(width, height, degrees)
    notes: list[NoteBox] = []
    order: list[Any] = []
    rests: list[NoteBox | None] = []
    for action in builder.actions:
        if isinstance(action, AddNote):
            if action.note.invalid:  # decode_note writes nothing for these
                continue
            note = action.note
            notes.append(_box(note.bbox, note.group, maps, width, height, back, _value_of(note)))
            order.append(note)
        elif isinstance(action, AddRest):  # decode_rest writes every one
            rest = action.rest
            # oemer also writes rests of its own to balance the two staves' durations, boxed
            # as a point at a note column's x; only a rest it saw on the page has a box
            seen = rest.bbox is not None and rest.bbox[3] > rest.bbox[1]
            rests.append(
                _box(rest.bbox, rest.group, maps, width, height, back, _value_of(rest))
                if seen
                else None
            )
    return notes, rests, order


def _on_page(marks: list[Mark], width: int, height: int, degrees: float) -> list[Mark]:
    """Marks of the turned page (pixels) on the page as scanned, as page fractions (a page is
    turned by a few degrees at most, so a mark's side stays what it was)."""
    back = _turned_back(width, height, degrees)
    out = []
    for x, y, side in marks:
        bx, by = back @ np.array([x, y, 1.0])
        out.append((float(bx) / width, float(by) / height, side))
    return out


def recognize_page(
    model: OmrModel,
    gray_page: NDArray[np.uint8],
    page: int = 1,
    maps: PageMaps | None = None,
) -> PageResult:
    """A grey page at any resolution → oemer's MusicXML and the box of each note in it.

    `maps` replaces the network's output (the evaluation's oracle run feeds true labels)."""
    check_page(gray_page, page)
    w, h = oemer_size(gray_page.shape[1], gray_page.shape[0])
    gray = np.asarray(cv2.resize(gray_page, (w, h), interpolation=cv2.INTER_AREA), np.uint8)
    maps = maps if maps is not None else compute_maps(model, gray)
    check_staves(maps, page)
    meter = page_meter(maps, gray)
    bgr = np.asarray(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    with _OEMER_LOCK, contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        # oemer's sklearn models were pickled by sklearn 1.2; newer versions load them with
        # a warning per call. The SVC/kNN they hold unpickle fine.
        warnings.simplefilter("ignore")
        try:
            try:
                xml, builder, degrees, marks, tie_pairs = _oemer_extract(bgr, maps)
            except BadInputError:
                raise
            except Exception:
                if not needs_dewarp(maps.staff):
                    raise
                # oemer's staff-line extraction asserts on some layouts; a page it fails to
                # read turned back may still read through its own dewarp
                xml, builder, degrees, marks, tie_pairs = _oemer_extract(bgr, maps, turn_page=False)
            boxes, rest_boxes, order = _note_boxes(builder, maps, w, h, degrees)
            where = {id(n): k for k, n in enumerate(order)}
            ties = [
                (where[id(a)], where[id(b)])
                for a, b in tie_pairs
                if id(a) in where and id(b) in where
            ]
            triplets = _on_page(marks[3], w, h, degrees)
            sextuplets = _on_page(marks[6], w, h, degrees)
        except BadInputError:
            raise
        except Exception as exc:  # oemer asserts and indexes its way through odd pages
            raise BadInputError(
                f"page {page}: the music could not be read ({type(exc).__name__}: {exc})"
            ) from exc
    return PageResult(
        musicxml=xml,
        notes=boxes,
        rests=rest_boxes,
        width=w,
        height=h,
        meter=meter,
        triplets=triplets,
        sextuplets=sextuplets,
        ties=ties,
    )
