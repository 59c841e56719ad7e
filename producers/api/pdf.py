"""What the API checks in an upload before anything is stored: a PDF, readable, not too long.

A PDF by its bytes (the %PDF- signature), never by its name. Pages are counted with pypdfium2
when it is installed (the OMR stage brings it); otherwise by counting page objects, which is
enough to enforce a limit but cannot prove the file is well formed.
"""

from __future__ import annotations

import re

from etude.errors import BadInputError
from producers.submit import check_pdf

try:  # optional: installed with the OMR stage
    import pypdfium2

    HAVE_PDFIUM = True
except ImportError:  # pragma: no cover - depends on the install
    HAVE_PDFIUM = False


class PdfRejectedError(ValueError):
    """The upload is not an acceptable PDF; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


_PAGE_OBJECT = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")
_ENCRYPT = re.compile(rb"/Encrypt\s")


def count_pages(data: bytes) -> int:
    """Page count of a PDF; raises PdfRejectedError (415 not a PDF, 422 unreadable)."""
    try:
        check_pdf(data)
    except BadInputError as exc:
        raise PdfRejectedError(415, str(exc)) from exc
    return _pdfium_pages(data) if HAVE_PDFIUM else _scan_pages(data)


def _pdfium_pages(data: bytes) -> int:
    try:
        doc = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        # PDFium says "Incorrect password" for an encrypted file opened without one.
        if "password" in str(exc).lower():
            raise PdfRejectedError(422, "the PDF is encrypted (password protected)") from exc
        raise PdfRejectedError(422, f"the PDF cannot be read: {exc}") from exc
    try:
        pages = len(doc)
    finally:
        doc.close()
    if pages < 1:
        raise PdfRejectedError(422, "the PDF has no pages")
    return pages


def _scan_pages(data: bytes) -> int:
    if _ENCRYPT.search(data):
        raise PdfRejectedError(422, "the PDF is encrypted (password protected)")
    pages = len(_PAGE_OBJECT.findall(data))
    if pages < 1:
        raise PdfRejectedError(422, "the PDF cannot be read: no page objects found")
    return pages
