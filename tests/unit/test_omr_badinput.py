"""Bad input fails fast with a reason a user can act on (etude.errors.BadInputError)."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from consumers.omr import recognize as rec
from consumers.omr.transform import rasterize_pdf, recognize_pdf
from etude.errors import BadInputError


def _pdf(pages: list[np.ndarray]) -> bytes:
    ims = [Image.fromarray(p) for p in pages]
    buf = io.BytesIO()
    ims[0].save(buf, format="PDF", save_all=True, append_images=ims[1:], resolution=72)
    return buf.getvalue()


def _raw_pdf(objs: list[bytes], trailer_extra: bytes = b"") -> bytes:
    out = b"%PDF-1.4\n"
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R " % (len(objs) + 1) + trailer_extra
    return out + b">>\nstartxref\n%d\n%%%%EOF\n" % xref


_PAGE_OBJS = [
    b"<< /Type /Catalog /Pages 2 0 R >>",
    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
]


def test_not_a_pdf() -> None:
    with pytest.raises(BadInputError, match="not a PDF"):
        rasterize_pdf(b"\x89PNG\r\n\x1a\n....", max_pages=5)


def test_corrupt_pdf() -> None:
    with pytest.raises(BadInputError, match="corrupt"):
        rasterize_pdf(b"%PDF-1.7\nthis is not the rest of a PDF", max_pages=5)


def test_encrypted_pdf() -> None:
    # Standard security handler whose password check fails for the empty user password.
    encrypt = b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P -4 >>" % (b"11" * 32, b"22" * 32)
    ident = b"<" + b"33" * 16 + b">"
    pdf = _raw_pdf([*_PAGE_OBJS, encrypt], b"/Encrypt 4 0 R /ID [%s %s] " % (ident, ident))
    with pytest.raises(BadInputError, match="encrypted"):
        rasterize_pdf(pdf, max_pages=5)


def test_page_limit() -> None:
    white = np.full((60, 40), 255, np.uint8)
    with pytest.raises(BadInputError, match="3 pages; the limit is 2"):
        rasterize_pdf(_pdf([white, white, white]), max_pages=2)


def test_valid_pdf_rasterizes_every_page_in_memory() -> None:
    a = np.full((80, 60), 255, np.uint8)
    a[40, 10:50] = 0
    pages = rasterize_pdf(_pdf([a, a]), dpi=144, max_pages=2)
    assert len(pages) == 2
    assert pages[0].dtype == np.uint8 and pages[0].ndim == 2
    assert pages[0].shape == (160, 120)  # 72-dpi image rendered at 144 dpi
    assert pages[0].min() < 100


def test_blank_page() -> None:
    white = np.full((842, 595), 255, np.uint8)
    with pytest.raises(BadInputError, match="page 1 is blank"):
        recognize_pdf(_pdf([white]), model=rec.OmrModel(), max_pages=5, dpi=72)


def test_no_staves_in_maps() -> None:
    empty = np.zeros((100, 80), np.uint8)
    maps = rec.PageMaps(empty, empty, empty, empty, empty)
    with pytest.raises(BadInputError, match="no music staves"):
        rec.check_staves(maps, page=2)


def test_oemer_failure_is_reported_as_unreadable(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_a: object, **_k: object) -> None:
        raise IndexError("index 0 is out of bounds")

    monkeypatch.setattr(rec, "_oemer_extract", boom)
    page = np.full((400, 300), 255, np.uint8)
    page[100:105, :] = 0
    full = np.ones((400, 300), np.uint8)
    maps = rec.PageMaps(full, full, full, full, full)
    with pytest.raises(BadInputError, match="could not be read"):
        rec.recognize_page(rec.OmrModel(), page, page=1, maps=maps)


def test_a_page_oemer_cannot_read_turned_is_read_through_its_dewarp(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[bool] = []

    def flaky(
        *_a: object, turn_page: bool = True, **_k: object
    ) -> tuple[bytes, object, float, dict[int, list[tuple[float, float, int]]], list[object]]:
        calls.append(turn_page)
        if turn_page:
            raise AssertionError("Line(...)")  # oemer's staff-line extraction
        return b"<score-partwise/>", SimpleNamespace(actions=[]), 0.0, {3: [], 6: []}, []

    monkeypatch.setattr(rec, "_oemer_extract", flaky)
    page = np.full((400, 300), 255, np.uint8)
    page[100:105, :] = 0
    full = np.ones((400, 300), np.uint8)
    maps = rec.PageMaps(full, full, full, full, full)
    assert rec.needs_dewarp(maps.staff)  # a page that is not level: the turn was tried
    result = rec.recognize_page(rec.OmrModel(), page, page=1, maps=maps)
    assert calls == [True, False]
    assert result.musicxml == b"<score-partwise/>" and result.notes == []


def test_photo_without_staves() -> None:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:1200, 0:900]
    photo = 120 + 60 * np.sin(xx / 90.0) * np.cos(yy / 130.0) + rng.normal(0, 12, (1200, 900))
    photo[300:700, 200:600] -= 70  # a dark object
    img = np.clip(photo, 0, 255).astype(np.uint8)
    with pytest.raises(BadInputError, match="no music staves"):
        rec.recognize_page(rec.load_model(), img, page=1)


def _title_page(width: int, height: int) -> np.ndarray:
    """A printed title page: lines of text, no staves."""
    from PIL import ImageDraw, ImageFont

    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    big, small = ImageFont.load_default(size=110), ImageFont.load_default(size=48)
    draw.text((width // 5, height // 4), "SONATA in C", font=big, fill=0)
    for i, line in enumerate(["for the Pianoforte", "by W. A. Mozart", "K. 545", "Edition"]):
        draw.text((width // 4, height // 2 + i * 90), line, font=small, fill=0)
    return np.asarray(page)


def test_a_title_page_is_left_out_and_named_and_the_music_is_read() -> None:
    from producers.demo_run import DEMO_PDF

    music = rasterize_pdf(DEMO_PDF.read_bytes(), dpi=150, max_pages=5)[0]
    title = _title_page(music.shape[1], music.shape[0])
    ims = [Image.fromarray(p) for p in (title, music)]
    buf = io.BytesIO()
    ims[0].save(buf, format="PDF", save_all=True, append_images=ims[1:], resolution=150)

    ir = recognize_pdf(buf.getvalue(), model=rec.load_model(), max_pages=5, dpi=150)

    assert ir.meta.page_count == 2
    (unread,) = ir.meta.unread_pages
    assert unread.page == 1 and "no music staves" in unread.reason
    assert len(ir.notes) > 50  # K. 545's first page
    assert {n.provenance.page for n in ir.notes if n.provenance} == {2}
    assert ir.measures[0].number == 1 and ir.measures[0].provenance
    assert ir.measures[0].provenance.page == 2


def test_a_pdf_with_no_readable_page_names_every_page() -> None:
    white = np.full((842, 595), 255, np.uint8)
    title = _title_page(595, 842)
    with pytest.raises(BadInputError, match=r"page 1 is blank.*page 2: no music staves"):
        recognize_pdf(_pdf([white, title]), model=rec.load_model(), max_pages=5, dpi=72)
