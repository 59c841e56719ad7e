"""Small PDFs for the API tests, made with pypdfium2 (no files in the repo)."""

from __future__ import annotations

import io

import pypdfium2


def blank_pdf(pages: int = 1) -> bytes:
    doc = pypdfium2.PdfDocument.new()
    for _ in range(pages):
        doc.new_page(200, 200)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def encrypted_pdf() -> bytes:
    """A PDF whose trailer names a standard security handler: PDFium asks for a password."""
    zeros = b"<" + b"00" * 32 + b">"
    return blank_pdf().replace(
        b"/Root 1 0 R",
        b"/Root 1 0 R\r\n/Encrypt << /Filter /Standard /V 1 /R 2 /Length 40 /O "
        + zeros
        + b" /U "
        + zeros
        + b" /P -4 >>",
    )
