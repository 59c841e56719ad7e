"""PDF bytes → Symbolic Score IR v1. Pure: no I/O beyond the bytes given and the model.

    model = load_model()                       # shipped weights, or a path (see recognize.py)
    ir = recognize_pdf(pdf_bytes, model=model, max_pages=50)

Each page is rasterized in memory (pypdfium2), recognised (recognize.py: Étude's segmentation
maps → oemer's later stages → MusicXML), converted with music21, its rhythm repaired so every
bar holds exactly its time signature, and the pages merged into one score with measures
renumbered from 1.
"""

from __future__ import annotations

import re
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Final

import numpy as np
from numpy.typing import NDArray

from consumers.omr.meter import Meter
from consumers.omr.onsets import Sound, solve_onsets
from consumers.omr.recognize import NoteBox, OmrModel, load_model, recognize_page
from consumers.omr.tuplets import Head, Mark, triplet_groups
from etude.errors import BadInputError
from schemas.ir import (
    BBox,
    KeySignature,
    Measure,
    NoteV1,
    Pitch,
    Provenance,
    ScoreIRV1,
    ScoreMeta,
    TimeSignature,
    UnreadPage,
)

__all__ = [
    "OMR_TRANSFORM_VERSION",
    "PageScore",
    "RawNote",
    "TimeChoice",
    "choose_time",
    "infer_bar_length",
    "load_model",
    "musicxml_to_page",
    "rasterize_pdf",
    "recognize_pdf",
    "repair_rhythm",
]

# Bump when the output for the same PDF and model can change (the ledger keys results on it).
OMR_TRANSFORM_VERSION: Final = "omr-6"
MAX_DPI: Final = 600
# A poster-sized page at 300 dpi would be hundreds of MB; oemer works at ~3.7 MP anyway.
MAX_PAGE_PIXELS: Final = 40_000_000
_LYRIC_TAG: Final = "etude-n"
_REST_TAG: Final = "etude-r"
# Bar lengths (quarters) a time signature is inferred from, with the signature written for each;
# oemer reads no time signature, so the bar length is all the page tells us.
_BAR_CHOICES: Final = {
    Fraction(2): (2, 4),
    Fraction(3): (3, 4),
    Fraction(4): (4, 4),
    Fraction(3, 2): (3, 8),
    Fraction(6): (6, 4),
}
_INFERRED_BARS: Final = (Fraction(2), Fraction(3), Fraction(4))
# No bar is shorter than 3/8: a silent measure holds at least this much rest in every staff.
_SHORTEST_BAR: Final = Fraction(3, 2)
_GRID: Final = Fraction(1, 48)
# Note values rhythm repair may choose from (quarters), each with a prior cost: plain values
# are free, dotted and triplet values must earn their place (else two misread quarters in a
# crowded bar come out as dotted eighths rather than as the far likelier plain eighths).
_DURATIONS: Final = {
    **{Fraction(4, 3 * 2**k): 0.7 for k in range(5)},
    **{Fraction(6, 2**k): 0.5 for k in range(6)},
    **{Fraction(4, 2**k): 0.0 for k in range(7)},
}


@dataclass
class RawNote:
    """A note as recognised on one page, before pages are merged (times within its measure)."""

    step: str
    alter: int
    octave: int
    measure: int  # 0-based index of the measure on its page
    staff: int
    voice: int
    offset: Fraction  # from the start of the measure
    duration: Fraction
    chord_key: int  # notes sharing it sound together (one written chord)
    tie: str | None = None
    box: NoteBox | None = None
    is_rest: bool = False
    grace: bool = False  # printed small, before its main note: it takes no time in the bar


@dataclass
class PageScore:
    page: int
    notes: list[RawNote]
    measures: int
    key_fifths: dict[int, int] = field(default_factory=dict)  # measure index → fifths
    systems: dict[int, int] = field(default_factory=dict)  # measure index → system on page
    measure_boxes: dict[int, tuple[float, float, float, float]] = field(default_factory=dict)
    # the triplet "3"s printed on the page: centre (x, y, page fractions) and their notes' side
    triplet_marks: list[Mark] = field(default_factory=list)
    # the sextuplet "6"s, likewise
    sextuplet_marks: list[Mark] = field(default_factory=list)
    # the length of the page's first bar where rhythm repair took it for a pick-up
    pickup: Fraction | None = None


# ---------------------------------------------------------------------------------------------
# Input: PDF → grey pages


def rasterize_pdf(pdf_bytes: bytes, *, dpi: int = 300, max_pages: int) -> list[NDArray[np.uint8]]:
    """Every page as a grey uint8 array, rendered in memory. Bad input raises BadInputError."""
    import pypdfium2 as pdfium

    if not pdf_bytes.lstrip()[:5].startswith(b"%PDF"):
        raise BadInputError("the file is not a PDF (it does not start with %PDF)")
    if not 36 <= dpi <= MAX_DPI:
        raise BadInputError(f"dpi {dpi} is outside 36..{MAX_DPI}")
    try:
        doc = pdfium.PdfDocument(pdf_bytes)
    except pdfium.PdfiumError as exc:
        text = str(exc).lower()
        if "password" in text or "security" in text:
            raise BadInputError("the PDF is encrypted (password protected)") from exc
        raise BadInputError(f"the PDF is corrupt or unreadable ({exc})") from exc
    try:
        count = len(doc)
        if count == 0:
            raise BadInputError("the PDF has no pages")
        if count > max_pages:
            raise BadInputError(f"the PDF has {count} pages; the limit is {max_pages}")
        pages: list[NDArray[np.uint8]] = []
        for i in range(count):
            page = doc[i]
            w_pt, h_pt = page.get_size()
            scale = min(dpi / 72, float(np.sqrt(MAX_PAGE_PIXELS / max(w_pt * h_pt, 1.0))))
            try:
                bitmap = page.render(scale=scale, grayscale=True)
                arr = np.array(bitmap.to_numpy(), dtype=np.uint8, copy=True)
            except pdfium.PdfiumError as exc:
                raise BadInputError(f"page {i + 1} of the PDF cannot be rendered ({exc})") from exc
            finally:
                page.close()
            pages.append(arr[..., 0] if arr.ndim == 3 else arr)
        return pages
    finally:
        doc.close()


# ---------------------------------------------------------------------------------------------
# oemer MusicXML → notes, via music21


def _tag_notes(xml: bytes) -> bytes:
    """Give every pitched <note> a lyric holding its document-order index, and every rest one
    holding its own (rests counted apart).

    music21 regroups notes by staff and voice, so document order is lost after parsing; the
    lyric survives the trip and ties each parsed note back to the notehead box oemer found
    (and each rest to the rest's box).
    """
    counter = iter(range(1_000_000))
    rest_counter = iter(range(1_000_000))

    def tag(match: re.Match[bytes]) -> bytes:
        body = match.group(0)
        if b"<pitch>" in body:
            label = f"{_LYRIC_TAG}{next(counter)}"
        elif b"<rest" in body:
            label = f"{_REST_TAG}{next(rest_counter)}"
        else:
            return body
        return body.replace(b"</note>", f"<lyric><text>{label}</text></lyric></note>".encode())

    return re.sub(rb"<note>.*?</note>", tag, xml, flags=re.S)


def musicxml_to_page(
    xml: bytes,
    boxes: list[NoteBox],
    page: int,
    rest_boxes: Sequence[NoteBox | None] = (),
    triplet_marks: Sequence[Mark] = (),
    ties: Sequence[tuple[int, int]] = (),
    sextuplet_marks: Sequence[Mark] = (),
) -> PageScore:
    """oemer's MusicXML for one page → RawNotes (music21 does the MusicXML reading).

    `ties`: pairs of indices into `boxes`, a note tied to the next (`ties.py`)."""
    from music21 import chord, converter, key, note, stream

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score = converter.parseData(_tag_notes(xml).decode(), format="musicxml")
    if not isinstance(score, stream.Score):
        raise BadInputError(f"page {page}: the recogniser wrote no score")
    staves = list(score.parts)
    notes: list[RawNote] = []
    by_box: dict[int, RawNote] = {}
    key_fifths: dict[int, int] = {}
    n_measures = 0
    chord_counter = 0
    for staff_index, part in enumerate(staves[:2], start=1):
        for m_index, measure in enumerate(part.getElementsByClass(stream.Measure)):
            n_measures = max(n_measures, m_index + 1)
            for ks in measure.getElementsByClass(key.KeySignature):
                key_fifths.setdefault(m_index, int(ks.sharps or 0))
            voices = list(measure.voices) or [measure]
            for v_index, voice in enumerate(voices, start=1):
                try:
                    voice_no = int(str(voice.id)) if voice is not measure else 1
                except ValueError:
                    voice_no = v_index
                for el in voice.notesAndRests:
                    offset = Fraction(el.offset).limit_denominator(96)
                    dur = Fraction(el.quarterLength).limit_denominator(96)
                    if isinstance(el, note.Rest):
                        rest_tags = [ly.text for ly in el.lyrics if ly.text.startswith(_REST_TAG)]
                        k = int(rest_tags[0][len(_REST_TAG) :]) if rest_tags else -1
                        rest_box = rest_boxes[k] if 0 <= k < len(rest_boxes) else None
                        if rest_box is not None and rest_box.value:
                            # as read on the page: oemer's builder stretches rests (an eighth
                            # rest into a whole one) to line the two staves up
                            dur = rest_box.value
                        notes.append(
                            RawNote(
                                "C",
                                0,
                                4,
                                m_index,
                                staff_index,
                                voice_no,
                                offset,
                                dur,
                                -1,
                                box=rest_box,
                                is_rest=True,
                            )
                        )
                        continue
                    members = list(el.notes) if isinstance(el, chord.Chord) else [el]
                    tags = [ly.text for ly in el.lyrics if ly.text.startswith(_LYRIC_TAG)]
                    chord_counter += 1
                    for i, n in enumerate(members):
                        box = None
                        k = -1
                        if i < len(tags):
                            k = int(tags[i][len(_LYRIC_TAG) :])
                            box = boxes[k] if k < len(boxes) else None
                        p = n.pitch
                        alter = int(p.accidental.alter) if p.accidental is not None else 0
                        tie = n.tie.type if n.tie is not None else None
                        notes.append(
                            RawNote(
                                step=p.step,
                                alter=max(-2, min(2, alter)),
                                octave=int(p.octave if p.octave is not None else 4),
                                measure=m_index,
                                staff=staff_index,
                                voice=voice_no,
                                offset=offset,
                                duration=dur,
                                chord_key=chord_counter,
                                tie=tie if tie in ("start", "stop", "continue") else None,
                                box=box,
                            )
                        )
                        if k >= 0:
                            by_box[k] = notes[-1]
    _tie(by_box, ties)
    notes, key_fifths, n_measures = _drop_empty_measures(notes, key_fifths, n_measures)
    systems: dict[int, int] = {}
    spans: dict[int, list[tuple[float, float, float, float]]] = defaultdict(list)
    for n in notes:
        if n.box is not None and not n.is_rest:
            systems.setdefault(n.measure, n.box.system)
            spans[n.measure].append(n.box.bbox)
    measure_boxes = {}
    for m, bbs in spans.items():
        x0 = min(b[0] for b in bbs)
        y0 = min(b[1] for b in bbs)
        x1 = max(b[0] + b[2] for b in bbs)
        y1 = max(b[1] + b[3] for b in bbs)
        measure_boxes[m] = (x0, y0, x1 - x0, y1 - y0)
    return PageScore(
        page=page,
        notes=notes,
        measures=n_measures,
        key_fifths=key_fifths,
        systems=systems,
        measure_boxes=measure_boxes,
        triplet_marks=list(triplet_marks),
        sextuplet_marks=list(sextuplet_marks),
    )


def _tie(by_box: dict[int, RawNote], ties: Sequence[tuple[int, int]]) -> None:
    """Mark the tied notes (start, continue, stop) and carry a tied note's accidental into
    the next bar: the continuation is the same pitch, printed without a sign (oemer starts
    the bar afresh and reads it at the key's pitch). A pair whose notes differ in letter or
    octave, or lie in different staves, is no tie (a slur oemer took for one)."""
    pairs = [(by_box[a], by_box[b]) for a, b in ties if a in by_box and b in by_box]
    # in the order the music goes, so a chain of ties carries the sign bar after bar
    pairs.sort(key=lambda p: (p[0].measure, p[0].box.bbox[0] if p[0].box else 0.0))
    for a, b in pairs:
        if (a.step, a.octave, a.staff) != (b.step, b.octave, b.staff) or b.measure < a.measure:
            continue
        if b.measure > a.measure:
            b.alter = a.alter
        a.tie = "continue" if a.tie in ("stop", "continue") else "start"
        b.tie = "continue" if b.tie in ("start", "continue") else "stop"


def _median_head(notes: list[RawNote]) -> tuple[float, float] | None:
    """The median width and height of the page's notehead boxes; None with fewer than eight
    heads (too few for a median to say what a head's size is)."""
    boxes = [n.box.bbox for n in notes if not n.is_rest and n.box is not None]
    if len(boxes) < 8:
        return None
    return float(np.median([b[2] for b in boxes])), float(np.median([b[3] for b in boxes]))


def _fresh_chord_keys(notes: list[RawNote]) -> Callable[[int], int]:
    """Chord keys no note in `notes` uses: the same new key each time for one old key (the
    heads of one written chord moved out together stay one chord)."""
    first_free = max((n.chord_key for n in notes), default=0) + 1
    given: dict[int, int] = {}

    def new_key(old: int) -> int:
        return given.setdefault(old, first_free + len(given))

    return new_key


# A notehead box this many times the page's median head width, and no taller than
# TWIN_HEIGHT times its median height, holds two heads side by side. Chosen on the
# development pages (`bench/omr_eval.py --dev` and `--dev-styles`), never the held-out ones.
TWIN_WIDTH = 1.6
TWIN_HEIGHT = 1.3


def with_twin_heads(notes: list[RawNote]) -> list[RawNote]:
    """Two voices on one pitch at one time, printed as two heads side by side, as one note each.

    Where two voices of a staff meet on a pitch with heads of different kinds or stems both
    ways (a bass note held as a dotted half under a quarter, as Clara Schumann's polonaises
    print in almost every bar), the engraver sets the two heads side by side, touching. The
    network marks them as one blob and oemer reads one note: the other voice's note is lost.
    A head box about twice a head wide and a head high is taken for two heads: the note is
    kept twice, the second in a voice of its own (same pitch, onset and value: the other
    voice's value is not read). `repair_rhythm` applies it to the notes it has placed."""
    median = _median_head(notes)
    if median is None:
        return notes
    width, height = median
    top_voice: dict[tuple[int, int], int] = defaultdict(int)
    for n in notes:
        top_voice[(n.measure, n.staff)] = max(top_voice[(n.measure, n.staff)], n.voice)
    # the twins of one chord's heads form one chord of the new voice
    new_key = _fresh_chord_keys(notes)
    out: list[RawNote] = []
    for n in notes:
        out.append(n)
        if n.is_rest or n.grace or n.box is None:
            continue
        _x, _y, w, h = n.box.bbox
        if w >= TWIN_WIDTH * width and h <= TWIN_HEIGHT * height:
            voice = top_voice[(n.measure, n.staff)] + 1
            out.append(replace(n, voice=voice, chord_key=new_key(n.chord_key)))
    return out


# A notehead box at most GRACE_WIDTH times the page's median head width and at most
# GRACE_HEIGHT times its median height is a grace note's (engravers print them at about three
# quarters of a head). Chosen on the development pages (`bench/omr_eval.py --dev` and
# `--dev-styles`), never the held-out ones.
GRACE_WIDTH = 0.85
GRACE_HEIGHT = 1.0
# Heads whose centres are closer than this many head widths stand in one column.
COLUMN_TOLERANCE: Final = 0.8


def with_grace_notes(notes: list[RawNote]) -> list[RawNote]:
    """Notes printed small (grace notes, acciaccaturas) marked as such.

    oemer reads a grace note as a note of the value its flag shows, so it took time from the
    bar and shifted every later onset. Its head tells it apart: about three quarters of a
    head wide, where a printed head, even on a poor scan, is read within a few pixels of the
    page's median. A head can also come out narrow where it is not (cut by a ledger line, a
    chord's second), so a small head counts only where a grace note stands: alone in its
    column (no full-size head of either staff above or below it) and before a full-size note
    of its staff in the bar (the note it leads to)."""
    median = _median_head(notes)
    if median is None:
        return notes
    width, height = median

    def small(n: RawNote) -> bool:
        assert n.box is not None
        _x, _y, w, h = n.box.bbox
        return w <= GRACE_WIDTH * width and h <= GRACE_HEIGHT * height

    full = [n for n in notes if not n.is_rest and n.box is not None and not small(n)]

    def grace(n: RawNote) -> bool:
        if n.is_rest or n.box is None or not small(n):
            return False
        x = _x_center(n)
        bar = [m for m in full if m.measure == n.measure]
        alone = all(abs(_x_center(m) - x) > COLUMN_TOLERANCE * width for m in bar)
        return alone and any(m.staff == n.staff and _x_center(m) > x for m in bar)

    # a grace head oemer put in a chord with full-size heads leaves it for a chord of its own
    new_key = _fresh_chord_keys(notes)
    out = []
    for n in notes:
        if grace(n):
            n = replace(n, grace=True, tie=None, chord_key=new_key(n.chord_key))
        out.append(n)
    return out


def _place_grace(grace: list[RawNote], placed: list[RawNote]) -> list[RawNote]:
    """Each grace note at the onset of the note it leads to: the nearest placed note to its
    right in its staff (of any staff if its own has none; the last before it at a bar's end),
    lasting no time."""
    out = []
    for g in grace:
        x = _x_center(g)
        right = [n for n in placed if n.box is not None and _x_center(n) > x]
        own = [n for n in right if n.staff == g.staff] or right
        if own:
            onset = min(own, key=_x_center).offset
        else:
            left = [n for n in placed if n.box is not None]
            onset = max(left, key=_x_center).offset if left else Fraction(0)
        out.append(replace(g, offset=onset, duration=Fraction(0)))
    return out


def _drop_empty_measures(
    notes: list[RawNote], key_fifths: dict[int, int], n_measures: int
) -> tuple[list[RawNote], dict[int, int], int]:
    """Remove measures that hold no note and no credible silence, renumbering the rest.

    A printed bar is never empty, and a silent bar is whole rests in every staff. A measure in
    oemer's output with no note and no more than a stray short rest in some staff comes from a
    misread barline (a double bar, or a stem read as a second barline); kept, it shifts every
    later bar of the page by one whole bar. Silent measures before the page's first note are
    dropped too."""
    sounding = {n.measure for n in notes if not n.is_rest}
    rest_total: dict[tuple[int, int], Fraction] = defaultdict(Fraction)
    for n in notes:
        if n.is_rest:
            rest_total[(n.measure, n.staff)] += n.duration
    too_short = {m for (m, _staff), total in rest_total.items() if total < _SHORTEST_BAR}
    silent = {m for m, _staff in rest_total} - sounding - too_short
    # oemer fills a bar it found nothing in with rests of its own (no box on the page): a
    # silent bar needs a rest that was seen, where the page's rests carry their boxes
    seen = {n.measure for n in notes if n.is_rest and n.box is not None}
    if seen:
        silent &= seen
    # A page of piano music does not open with a bar of silence in both hands; oemer reads
    # one there (whole rests in every staff) from the opening clefs and signatures.
    first_sound = min(sounding, default=0)
    silent = {m for m in silent if m > first_sound}
    used = sorted(sounding | silent)
    if len(used) == n_measures:
        return notes, key_fifths, n_measures
    new_index = {m: i for i, m in enumerate(used)}
    keys: dict[int, int] = {}
    for m, fifths in sorted(key_fifths.items()):
        # a key change written in a dropped measure takes effect at the next kept one
        later = [k for k in used if k >= m]
        if later:
            keys.setdefault(new_index[later[0]], fifths)
    notes = [replace(n, measure=new_index[n.measure]) for n in notes if n.measure in new_index]
    return notes, keys, len(used)


# ---------------------------------------------------------------------------------------------
# Rhythm repair


def _voice_events(notes: list[RawNote]) -> list[tuple[Fraction, Fraction, list[RawNote]]]:
    """A voice as a timeline: (onset, length, notes) per event, gaps as note-less events."""
    by_onset: dict[Fraction, list[RawNote]] = defaultdict(list)
    for n in notes:
        by_onset[n.offset].append(n)
    events: list[tuple[Fraction, Fraction, list[RawNote]]] = []
    cursor = Fraction(0)
    for onset in sorted(by_onset):
        group = by_onset[onset]
        if onset > cursor:
            events.append((cursor, onset - cursor, []))  # an unwritten rest
        length = max(n.duration for n in group)
        events.append((onset, length, group))
        cursor = max(cursor, onset + length)
    return events


def _measure_total(notes: list[RawNote]) -> Fraction:
    if not notes:
        return Fraction(0)
    return max(n.offset + n.duration for n in notes)


def infer_bar_length(pages: list[PageScore]) -> Fraction:
    """Bar length (quarters) from what oemer read: the choice that the most voices fill.

    oemer's bars run over, not under, as often as not; the lower quartile of per-measure
    content is a better guess than the median.
    """
    totals: list[Fraction] = []
    for pg in pages:
        per_measure: dict[tuple[int, int, int], list[RawNote]] = defaultdict(list)
        for n in pg.notes:
            per_measure[(n.measure, n.staff, n.voice)].append(n)
        for (_m, _s, v), ns in per_measure.items():
            sounding = [n for n in ns if not n.is_rest]
            if v == 1 and sounding:
                totals.append(_measure_total(sounding))
    if not totals:
        return Fraction(4)
    q = float(np.percentile([float(t) for t in totals], 35))
    # Only 2/4, 3/4 and 4/4 are inferred: when oemer doubles note values (it often reads
    # sixteenths as eighths) a 4/4 bar looks like 6 or 8 quarters, and a wrong bar length
    # ruins every onset after it. Other metres come through `bar_length`.
    return min(_INFERRED_BARS, key=lambda b: (abs(np.log(q / float(b))), b != 4))


def _fit_durations(lengths: list[Fraction], bar: Fraction) -> list[Fraction]:
    """Note values as close as possible (in log ratio) to `lengths` that add up to `bar`.

    A small dynamic programme over the time grid (1/48 quarter): exact, and fast enough for
    the dozen or two events of one voice in one bar.
    """
    unit = Fraction(1, 48)
    size = int(bar / unit)
    inf = float("inf")
    # cost[i][t]: best cost for the first i events ending at grid point t
    cost = np.full((len(lengths) + 1, size + 1), inf)
    choice = np.zeros((len(lengths) + 1, size + 1), dtype=np.int64)
    cost[0, 0] = 0.0
    cands = [(d, prior) for d, prior in _DURATIONS.items() if d <= bar]
    for i, length in enumerate(lengths, start=1):
        target = float(length) if length > 0 else 1e-3
        for d, prior in cands:
            k = int(d / unit)
            ratio = abs(np.log(float(d) / target))
            if ratio > 2.1:  # more than 8x off: not a plausible misreading
                continue
            penalty = ratio + prior
            prev = cost[i - 1, : size + 1 - k] + penalty
            better = prev < cost[i, k:]
            cost[i, k:][better] = prev[better]
            choice[i, k:][better] = k
    if not np.isfinite(cost[len(lengths), size]):
        # No plausible assignment: scale proportionally (still sums exactly).
        total = sum(lengths) or Fraction(1)
        out = [length * bar / total for length in lengths]
        out[-1] = bar - sum(out[:-1])
        return out
    out_units: list[int] = []
    t = size
    for i in range(len(lengths), 0, -1):
        k = int(choice[i, t])
        out_units.append(k)
        t -= k
    return [unit * k for k in reversed(out_units)]


def _credible_rests(notes: list[RawNote], bar: Fraction) -> list[RawNote]:
    """Drop rests that overlap a note of their own voice and clip rests at the barline.

    oemer reads stray whole rests (a smudge, a clef fragment) and places them on top of
    notes; counted as time, they would make a correct bar look over-full.
    """
    kept = [n for n in notes if not n.is_rest]
    for r in notes:
        if not r.is_rest:
            continue
        end = min(r.offset + r.duration, bar)
        if end <= r.offset or _on_a_note(r, kept, bar):
            continue
        kept.append(replace(r, duration=end - r.offset))
    return kept


def _on_a_note(rest: RawNote, notes: list[RawNote], bar: Fraction) -> bool:
    """Whether `rest`, cut at the barline, overlaps one of `notes` (by oemer's offsets)."""
    start, end = rest.offset, min(rest.offset + rest.duration, bar)
    return any(n.offset < end and start < n.offset + n.duration for n in notes if not n.is_rest)


def _placed_rests(group: list[RawNote], bar: Fraction) -> list[RawNote]:
    """The rests of one voice that take a place in the bar's columns: those oemer saw on the
    page (boxed) and that overlap no note of their voice, with the value read. oemer's
    offsets run over where a value is misread, so a rest is neither cut at the barline (an
    eighth rest made a sixteenth moved the bar's last notes) nor dropped past it: where it
    stands on the page is known."""
    return [
        r
        for r in group
        if r.is_rest and r.box is not None and not (r.offset < bar and _on_a_note(r, group, bar))
    ]


# A rest's value is trusted up to this (quarters): oemer reads a quarter rest as a whole one
# often enough that a longer rest only places its column (its value weighs nothing).
MAX_COLUMN_REST: Final = Fraction(1)


def _unsure_rest(value: Fraction) -> bool:
    """A rest value the onset solver does not weigh: longer than `MAX_COLUMN_REST`, or dotted
    (print all but never dots a rest; a dotted reading is a dot of ink beside it, and counted
    it put a sixteenth rest's column an eighth late in Joplin's bar 5)."""
    return value > MAX_COLUMN_REST or value.numerator != 1


# A rest within this many head widths of a note column sounds against it and places nothing.
# Chosen on the development pieces (0.8 lost onsets there; 1.5 and 2.5 tied).
REST_REACH: Final = 1.5


def _x_center(n: RawNote) -> float:
    assert n.box is not None
    return n.box.bbox[0] + n.box.bbox[2] / 2


def _columns(notes: list[RawNote], tolerance: float = COLUMN_TOLERANCE) -> list[list[RawNote]]:
    """Noteheads grouped into columns by x: printed music puts simultaneous notes one above the
    other, in both staves. A chord oemer read is placed as one, at its heads' median x: a
    second sets one head beside the stem, a head's width off, which chained the chord to the
    next column (Clara Schumann op. 1/3, p. 3: 0.488 -> 0.620). Chords closer than
    `tolerance` head widths share a column."""
    threshold = tolerance * float(np.median([n.box.bbox[2] for n in notes if n.box is not None]))
    chords: dict[int, list[RawNote]] = defaultdict(list)
    for n in notes:
        chords[n.chord_key].append(n)
    # a chord's heads sound together; a head set beside the stem (a second) is no column of
    # its own and must not chain the chord to the next one
    units = sorted(
        ((float(np.median([_x_center(n) for n in ns])), ns) for ns in chords.values()),
        key=lambda u: u[0],
    )
    columns = [list(units[0][1])]
    last = units[0][0]
    for x, ns in units[1:]:
        if x - last <= threshold:
            columns[-1].extend(ns)
        else:
            columns.append(list(ns))
        last = x
    return columns


def _with_rests(columns: list[list[RawNote]], rests: list[RawNote]) -> list[list[RawNote]]:
    """Rests added to the note columns: one clear of every column is a column of its own, in
    its place from left to right. One near a column (a rest glyph stands a little off the
    heads it sounds against) joins it where no note of its own staff and voice is in it (a
    hand resting while the other plays: the rest's value says where that hand's next note
    starts); one on a note of its own voice (many of oemer's misread rests sit on a note)
    adds nothing."""
    if not rests or not columns:
        return columns
    head = float(np.median([n.box.bbox[2] for col in columns for n in col if n.box is not None]))
    centres = [float(np.mean([_x_center(n) for n in col])) for col in columns]
    joined = [list(col) for col in columns]
    alone: list[list[RawNote]] = []
    for r in sorted(rests, key=_x_center):
        gaps = [abs(_x_center(r) - c) for c in centres]
        c = int(np.argmin(gaps))
        if gaps[c] <= REST_REACH * head:
            if all((n.staff, n.voice) != (r.staff, r.voice) for n in columns[c]):
                joined[c].append(r)
        elif alone and _x_center(r) - _x_center(alone[-1][-1]) <= COLUMN_TOLERANCE * head:
            alone[-1].append(r)  # rests of both staves one above the other: one column
        else:
            alone.append([r])
    return sorted(joined + alone, key=lambda col: min(_x_center(n) for n in col))


def _hints(columns: list[list[RawNote]], fitting: set[tuple[int, int]]) -> list[Fraction | None]:
    """oemer's own onset for each column, where the notes in it of the voices oemer read as
    filling the bar exactly (an over-full voice's offsets are wrong somewhere) agree on one."""
    out: list[Fraction | None] = []
    for col in columns:
        offsets = {n.offset for n in col if (n.staff, n.voice) in fitting}
        out.append(offsets.pop() if len(offsets) == 1 else None)
    return out


def _repair_by_columns(
    notes: list[RawNote], bar: Fraction, first: bool
) -> tuple[list[RawNote], Fraction]:
    """Onsets from the columns of the page, fitted to the note values read in them.

    oemer's own offsets come from its voice bookkeeping, which collapses in busy bars (notes
    far apart on the page at one offset, two voices merged); the page layout does not. The
    noteheads are grouped into columns (left to right) and `onsets.solve_onsets` picks the
    column onsets at which the notes read (each chord of each voice once) end best, filling
    the bar. A rest oemer saw clear of every column is a column too (a bar that opens with a
    rest starts its notes after it). A first bar that every voice reads as at most half a bar
    keeps that length (a pick-up). Returns the notes and the bar's length.
    """
    grace = [n for n in notes if n.grace]
    notes = [n for n in notes if not n.grace]
    sounding = [n for n in notes if not n.is_rest]
    ends: list[Fraction] = []
    voices: dict[tuple[int, int], list[RawNote]] = defaultdict(list)
    for n in notes:
        voices[(n.staff, n.voice)].append(n)
    placed_rests: list[RawNote] = []
    fitting: set[tuple[int, int]] = set()
    for key, group in voices.items():
        kept = _credible_rests(group, bar)
        if any(not n.is_rest for n in kept):
            ends.append(_measure_total(kept))
            if ends[-1] == bar:
                fitting.add(key)
        placed_rests.extend(_placed_rests(group, bar))
    # A rest takes time at its place in the bar as a note does: a bar that opens with a rest
    # has its first notes after it, not at the barline.
    columns = _with_rests(_columns(sounding), placed_rests)
    col_of = {id(n): c for c, col in enumerate(columns) for n in col}
    chords = {
        (c, n.staff, n.voice, n.duration, n.is_rest and _unsure_rest(n.duration))
        for c, col in enumerate(columns)
        for n in col
    }
    sounds = [
        Sound(c, length, 0.0 if unsure else 1.0)
        for c, _staff, _voice, length, unsure in sorted(chords)
    ]
    # oemer's offsets fall short as often as they run over, so a short reading is no sign of
    # a short bar; only a first bar read as at most half a bar is taken for a pick-up.
    read = max(ends, default=bar)
    total = read if first and read <= bar / 2 else bar
    centres = [float(np.mean([_x_center(n) for n in col])) for col in columns]
    onsets = solve_onsets(len(columns), sounds, total, x=centres, hints=_hints(columns, fitting))
    out: list[RawNote] = []
    for n in sounding:
        start = onsets[col_of[id(n)]]
        # A note may outlast later columns (a half note under running eighths), not the bar.
        out.append(replace(n, offset=start, duration=max(min(n.duration, total - start), _GRID)))
    return out + _place_grace(grace, out), total


def _repair_by_voices(notes: list[RawNote], bar: Fraction) -> list[RawNote]:
    """Fallback without note positions: each over-full voice refitted on its own."""
    groups: dict[tuple[int, int], list[RawNote]] = defaultdict(list)
    for n in notes:
        groups[(n.staff, n.voice)].append(n)
    out: list[RawNote] = []
    for _key, group in sorted(groups.items()):
        ns = _credible_rests(group, bar)
        if _measure_total(ns) <= bar:
            out.extend(ns)
            continue
        events = _voice_events(ns)
        fitted = _fit_durations([length for _, length, _ in events], bar)
        onset = Fraction(0)
        for (_, _, members), length in zip(events, fitted, strict=True):
            out.extend(replace(n, offset=onset, duration=min(length, n.duration)) for n in members)
            onset += length
    return out


def with_triplets(page: PageScore) -> PageScore:
    """The notes under each triplet mark printed on the page (`tuplets.triplet_groups`) take
    two thirds of the value they were printed with (oemer reads no tuplet numbers); so do the
    notes under each sextuplet mark (six in the time of four)."""
    if not page.triplet_marks and not page.sextuplet_marks:
        return page
    sounding = [
        i for i, n in enumerate(page.notes) if not n.is_rest and not n.grace and n.box is not None
    ]
    heads = []
    for i in sounding:
        n = page.notes[i]
        assert n.box is not None
        x, y, w, h = n.box.bbox
        heads.append(Head(x + w / 2, y + h / 2, w, h, (n.measure, n.staff), n.duration))
    notes = list(page.notes)
    groups = triplet_groups(page.triplet_marks, heads)
    taken = {k for group, _value in groups for k in group}
    for group, value in triplet_groups(page.sextuplet_marks, heads, size=6):
        if not taken.intersection(group):
            groups.append((group, value))
    for group, value in groups:
        for k in group:
            i = sounding[k]
            notes[i] = replace(notes[i], duration=value * Fraction(2, 3))
    return replace(page, notes=notes)


def repair_rhythm(page: PageScore, bar: Fraction) -> PageScore:
    """Make every measure fit its bar length, keeping each note's voice.

    With notehead boxes (always, from recognize.py) onsets follow the columns of the page and
    over-full bars are refitted to sum exactly to `bar`; without them each over-full voice is
    refitted alone. Note values are chosen closest in ratio to what oemer read (plain values
    preferred); bars that fall short keep their onsets (the rest is silence).
    """
    by_measure: dict[int, list[RawNote]] = defaultdict(list)
    # grace notes first: a grace head is no member of a triplet group
    for n in with_triplets(replace(page, notes=with_grace_notes(page.notes))).notes:
        by_measure[n.measure].append(n)
    out: list[RawNote] = []
    pickup: Fraction | None = None
    for _m, notes in sorted(by_measure.items()):
        sounding = [n for n in notes if not n.is_rest and not n.grace]
        if sounding and all(n.box is not None for n in sounding):
            fitted, length = _repair_by_columns(notes, bar, first=_m == 0)
            out.extend(fitted)
            if _m == 0 and length < bar:
                pickup = length
        else:
            out.extend(_repair_by_voices([n for n in notes if not n.grace], bar))
            out.extend(replace(n, duration=Fraction(0)) for n in notes if n.grace)
    # after the onsets are solved: the second head of a pair is no evidence for the bar's
    # rhythm (counted twice, its value over-fills its voice)
    out = with_twin_heads(out)
    out.sort(key=lambda n: (n.measure, n.staff, n.voice, n.offset))
    return replace(page, notes=out, pickup=pickup)


# ---------------------------------------------------------------------------------------------
# Pages → one IR v1


def _bbox(b: tuple[float, float, float, float] | None) -> BBox | None:
    if b is None:
        return None
    x, y, w, h = (min(max(v, 0.0), 1.0) for v in b)
    return BBox(x=x, y=y, w=min(w, 1.0 - x), h=min(h, 1.0 - y))


@dataclass(frozen=True)
class TimeChoice:
    bar: Fraction  # quarters per bar, what rhythm repair fits every bar to
    numerator: int
    denominator: int
    source: str  # "given" (a setting), "read" (printed on the page) or "inferred" (from bars)


def choose_time(
    pages: list[PageScore], meters: list[Meter | None], bar_length: Fraction | None = None
) -> TimeChoice:
    """The time signature for the whole document: a given bar length wins, then the signature
    read at the first system of the earliest page that shows one, then the bar length inferred
    from what oemer read in the bars."""
    if bar_length is not None:
        return TimeChoice(bar_length, *_signature_for(bar_length), "given")
    for meter in meters:
        if meter is not None:
            return TimeChoice(meter.bar_length, meter.count, meter.unit, "read")
    bar = infer_bar_length(pages)
    return TimeChoice(bar, *_signature_for(bar), "inferred")


def _signature_for(bar: Fraction) -> tuple[int, int]:
    return _BAR_CHOICES.get(bar, (int(bar * 4), 16))


def merge_pages(
    pages: list[PageScore],
    bar: Fraction,
    page_count: int,
    title: str | None = None,
    signature: tuple[int, int] | None = None,
    unread: tuple[UnreadPage, ...] = (),
) -> ScoreIRV1:
    """Concatenate pages, numbering measures from 1 across them; onsets from the piece start.
    A first page whose first bar rhythm repair took for a pick-up keeps that bar short, and
    every later bar starts that much earlier. `unread` names the source pages that gave
    nothing (they hold no measures)."""
    num, den = signature or _signature_for(bar)
    measures: list[Measure] = []
    notes: list[NoteV1] = []
    keys: list[KeySignature] = []
    number = 0
    starts: dict[int, Fraction] = {}  # measure number → onset
    end = Fraction(0)
    for k, pg in enumerate(pages):
        first = number + 1
        for m in range(pg.measures):
            number += 1
            length = pg.pickup if k == 0 and m == 0 and pg.pickup is not None else bar
            starts[number] = end
            end += length
            measures.append(
                Measure(
                    number=number,
                    onset=starts[number],
                    length=length,
                    provenance=Provenance(
                        page=pg.page, system=pg.systems.get(m), bbox=_bbox(pg.measure_boxes.get(m))
                    ),
                )
            )
        for m, fifths in sorted(pg.key_fifths.items()):
            if not keys or keys[-1].fifths != fifths:
                keys.append(KeySignature(measure=first + m, fifths=max(-7, min(7, fifths))))
        chord_sizes: dict[int, int] = defaultdict(int)
        for n in pg.notes:
            if not n.is_rest:
                chord_sizes[n.chord_key] += 1
        for n in pg.notes:
            if n.is_rest:
                continue
            pitch = Pitch(step=n.step, alter=n.alter, octave=n.octave)
            if not 0 <= pitch.midi <= 127:
                continue
            mnum = first + n.measure
            onset = starts.get(mnum, (mnum - 1) * bar) + n.offset
            box = n.box
            notes.append(
                NoteV1(
                    id=f"p{pg.page}n{len(notes) + 1}",
                    pitch=pitch,
                    spelled=pitch.spelled,
                    midi=pitch.midi,
                    onset=onset,
                    duration=n.duration,
                    measure=mnum,
                    measure_onset=n.offset,
                    staff=n.staff,
                    hand="right" if n.staff == 1 else "left",
                    voice=max(1, n.voice),
                    chord=f"p{pg.page}c{n.chord_key}" if chord_sizes[n.chord_key] > 1 else None,
                    tie=n.tie,
                    grace=n.grace,
                    confidence=box.confidence if box is not None else 0.5,
                    provenance=Provenance(
                        page=pg.page,
                        system=box.system if box is not None else pg.systems.get(n.measure),
                        bbox=_bbox(box.bbox) if box is not None else None,
                    ),
                )
            )
    notes.sort(key=lambda n: (n.onset, n.staff, n.midi))
    return ScoreIRV1(
        meta=ScoreMeta(title=title, page_count=page_count, unread_pages=unread),
        key_signatures=tuple(keys) or (KeySignature(measure=1, fifths=0),),
        time_signatures=(TimeSignature(measure=1, numerator=num, denominator=den),),
        measures=tuple(measures),
        notes=tuple(notes),
    )


def recognize_pdf(
    pdf_bytes: bytes,
    *,
    model: OmrModel,
    max_pages: int,
    dpi: int = 300,
    bar_length: Fraction | None = None,
    repair: bool = True,
) -> ScoreIRV1:
    """The whole OMR transform. Raises BadInputError for input no retry can fix.

    A page that gives no notes (a title or text page, a blank page, one the recogniser cannot
    read) is left out and named in the IR's `meta.unread_pages`: a scanned score often opens
    with a title page, and one bad page should not cost the others. Only a PDF in which no
    page gives a note fails, with every page's reason."""
    grays = rasterize_pdf(pdf_bytes, dpi=dpi, max_pages=max_pages)
    pages: list[PageScore] = []
    meters: list[Meter | None] = []
    unread: list[UnreadPage] = []
    for i, gray in enumerate(grays, start=1):
        try:
            result = recognize_page(model, gray, page=i)
        except BadInputError as exc:
            unread.append(UnreadPage(page=i, reason=str(exc)))
            continue
        pages.append(
            musicxml_to_page(
                result.musicxml,
                result.notes,
                page=i,
                rest_boxes=result.rests,
                triplet_marks=result.triplets,
                sextuplet_marks=result.sextuplets,
                ties=result.ties,
            )
        )
        meters.append(result.meter)
    if not any(n for pg in pages for n in pg.notes if not n.is_rest):
        if not pages and len(unread) == 1:
            raise BadInputError(unread[0].reason)
        reasons = [u.reason for u in unread]
        if pages:
            reasons.append(f"{len(pages)} page(s) read with staves but no notes")
        raise BadInputError("no notes were recognised in the PDF: " + "; ".join(reasons))
    time = choose_time(pages, meters, bar_length)
    if repair:
        pages = [repair_rhythm(pg, time.bar) for pg in pages]
    return merge_pages(
        pages,
        time.bar,
        page_count=len(grays),
        signature=(time.numerator, time.denominator),
        unread=tuple(unread),
    )
