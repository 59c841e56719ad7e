"""Render stage, pure part: IR v2 → MusicXML 4.0 (with fingering), MIDI, and SVG pages.

Outputs are stored content-addressed (sha256), so the same IR and options must give the same
bytes in any process on any day: nothing here may depend on the clock, on object ids or on
random state. music21 stamps the encoding date and random instrument ids; verovio numbers
its SVG element ids from a seed. Both are pinned below.
"""

from __future__ import annotations

import os
import threading
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.resources import files
from typing import Final

import verovio
from music21 import defaults as m21_defaults
from music21 import midi, stream
from music21.musicxml.m21ToXml import GeneralObjectExporter
from pydantic import BaseModel, ConfigDict, Field

from etude.errors import BadInputError
from etude.notation import ir_to_music21
from schemas.ir import ScoreIRV2

RENDER_TRANSFORM_VERSION: Final = "1.0.0"

MUSICXML_DOCTYPE: Final = (
    '<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 4.0 Partwise//EN" '
    '"http://www.musicxml.org/dtds/partwise.dtd">'
)
SOFTWARE: Final = f"Étude render {RENDER_TRANSFORM_VERSION}"
_XML_ID_SEED: Final = 1
_VEROVIO_RESOURCES: Final = str(files("verovio") / "data")


class RenderOptions(BaseModel):
    """Engraving options; part of the render transformation's parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    page_width: int = Field(default=2100, ge=100, le=60000, description="Verovio units (0.1 mm).")
    page_height: int = Field(default=2970, ge=100, le=60000, description="A4 by default.")
    scale: int = Field(default=40, ge=1, le=1000, description="Verovio zoom, percent.")
    svg: bool = Field(default=True, description="False: MusicXML and MIDI only.")

    def parameters(self) -> dict[str, int | bool]:
        """For `Transformation.parameters`: the options that change the output bytes."""
        return self.model_dump()


DEFAULT_OPTIONS: Final = RenderOptions()


@dataclass(frozen=True, slots=True)
class RenderedScore:
    musicxml: bytes
    midi: bytes
    svg_pages: tuple[bytes, ...]

    @property
    def page_count(self) -> int:
        return len(self.svg_pages)


def render(ir: ScoreIRV2, *, options: RenderOptions = DEFAULT_OPTIONS) -> RenderedScore:
    """Engrave an IR v2: fingered MusicXML 4.0, MIDI, and one SVG per page."""
    if not ir.measures:
        raise BadInputError("cannot render a score without measures")
    score = ir_to_music21(ir)
    musicxml = musicxml_bytes(score)
    return RenderedScore(
        musicxml=musicxml,
        midi=midi_bytes(score),
        svg_pages=svg_pages(musicxml, options) if options.svg else (),
    )


def musicxml_bytes(score: stream.Score) -> bytes:
    """Uncompressed partwise MusicXML 4.0, with every run-dependent field pinned."""
    raw = GeneralObjectExporter(score).parse()
    root = ET.fromstring(raw)
    _drop_placeholders(root, score)
    _pin_identification(root)
    _pin_instrument_ids(root)
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode", short_empty_elements=True)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n{MUSICXML_DOCTYPE}\n{body}\n').encode()


def _drop_placeholders(root: ET.Element, score: stream.Score) -> None:
    """music21 fills a missing title and composer with "Music21 Fragment" and "Music21"."""
    md = score.metadata
    if md is None or not md.title:
        for el in root.findall("movement-title"):
            if el.text == m21_defaults.title:
                root.remove(el)
    ident = root.find("identification")
    if ident is not None and (md is None or not md.composer):
        for el in ident.findall("creator"):
            if el.get("type") == "composer" and el.text == m21_defaults.author:
                ident.remove(el)


def _pin_identification(root: ET.Element) -> None:
    ident = root.find("identification")
    if ident is None:
        ident = ET.Element("identification")
        # score-header order: work, movement-number, movement-title, identification, ...
        index = sum(1 for c in root if c.tag in ("work", "movement-number", "movement-title"))
        root.insert(index, ident)
    encoding = ident.find("encoding")
    if encoding is None:
        encoding = ET.SubElement(ident, "encoding")
    for child in list(encoding):
        if child.tag in ("encoding-date", "software"):
            encoding.remove(child)
    software = ET.Element("software")
    software.text = SOFTWARE
    encoding.insert(0, software)


def _pin_instrument_ids(root: ET.Element) -> None:
    """Replace music21's random instrument ids with ids derived from document order."""
    renames: dict[str, str] = {}
    for score_part in root.iter("score-part"):
        part_id = score_part.get("id", "P")
        for i, inst in enumerate(score_part.iter("score-instrument"), start=1):
            old = inst.get("id")
            if old is not None:
                renames[old] = f"{part_id}-I{i}"
                inst.set("id", renames[old])
        for midi_inst in score_part.iter("midi-instrument"):
            old = midi_inst.get("id")
            if old is not None and old in renames:
                midi_inst.set("id", renames[old])
    for el in root.iter("instrument"):
        old = el.get("id")
        if old is not None and old in renames:
            el.set("id", renames[old])


def midi_bytes(score: stream.Score) -> bytes:
    mf = midi.translate.music21ObjectToMidiFile(score)
    data = mf.writestr()
    return data if isinstance(data, bytes) else bytes(data)


class _Engraver:
    """One verovio toolkit for the process, owned by one worker thread.

    Measured with verovio 6.4.1: its font resources and its xml:id generator are per thread.
    A toolkit created on a thread other than the importing one cannot find its fonts unless
    that thread sets the resource path, and a toolkit used from another thread writes
    different ids on every call. So every call runs on the same dedicated thread, which also
    serialises them (the toolkit is not thread-safe), and the id generator is re-seeded
    before every load so that SVG ids depend only on the input."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._toolkit: verovio.toolkit | None = None

    def reset(self) -> None:
        """Forget the worker (after fork the child has no thread behind the executor)."""
        self._lock = threading.Lock()
        self._executor = None
        self._toolkit = None

    def pages(self, musicxml: bytes, options: RenderOptions) -> tuple[bytes, ...]:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="verovio")
            executor = self._executor
        return executor.submit(self._render, musicxml, options).result()

    def _render(self, musicxml: bytes, options: RenderOptions) -> tuple[bytes, ...]:
        if self._toolkit is None:
            verovio.setDefaultResourcePath(_VEROVIO_RESOURCES)
            self._toolkit = verovio.toolkit()
            self._toolkit.setResourcePath(_VEROVIO_RESOURCES)
        tk = self._toolkit
        tk.setOptions(
            {
                "xmlIdSeed": _XML_ID_SEED,
                "pageWidth": options.page_width,
                "pageHeight": options.page_height,
                "scale": options.scale,
                "breaks": "auto",
                "header": "auto",
                "footer": "none",
                "inputFrom": "musicxml",
            }
        )
        if not tk.loadData(musicxml.decode("utf-8")):
            raise BadInputError("verovio could not read the MusicXML")
        count = tk.getPageCount()
        return tuple(tk.renderToSVG(page).encode("utf-8") for page in range(1, count + 1))


_ENGRAVER: Final = _Engraver()
os.register_at_fork(after_in_child=_ENGRAVER.reset)


def svg_pages(musicxml: bytes, options: RenderOptions = DEFAULT_OPTIONS) -> tuple[bytes, ...]:
    return _ENGRAVER.pages(musicxml, options)
