"""What the API checks in an upload before anything is stored: a PDF, readable, not too long.

A PDF by its bytes (the %PDF- signature), never by its name; pages counted by PDFium
(pypdfium2), which also tells a corrupt file from an encrypted one.
"""

from __future__ import annotations

from typing import IO

import pypdfium2

from etude.errors import BadInputError
from producers.submit import check_pdf


class PdfRejectedError(ValueError):
    """The upload is not an acceptable PDF; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def count_pages(source: bytes | IO[bytes]) -> int:
    """Page count of a PDF (bytes, or a seekable file read in place and rewound); raises
    PdfRejectedError (415 not a PDF, 422 unreadable or encrypted)."""
    if isinstance(source, bytes):
        head = source[:1024]
    else:
        source.seek(0)
        head = source.read(1024)
        source.seek(0)
    try:
        check_pdf(head)
    except BadInputError as exc:
        raise PdfRejectedError(415, str(exc)) from exc
    try:
        doc = pypdfium2.PdfDocument(source)
    except pypdfium2.PdfiumError as exc:
        # PDFium says "Incorrect password" for an encrypted file opened without one.
        if "password" in str(exc).lower():
            raise PdfRejectedError(422, "the PDF is encrypted (password protected)") from exc
        raise PdfRejectedError(422, f"the PDF cannot be read: {exc}") from exc
    try:
        pages = len(doc)
    finally:
        doc.close()
        if not isinstance(source, bytes):
            source.seek(0)
    if pages < 1:
        raise PdfRejectedError(422, "the PDF has no pages")
    return pages
