"""The bundled demo input: a one-page "scanned" piano score (see make_demo_pdf.py)."""

from __future__ import annotations

from importlib.resources import files
from typing import Final

DEMO_PDF_NAME: Final = "demo.pdf"


def demo_pdf_bytes() -> bytes:
    """The demo PDF shipped with the package."""
    return (files(__package__) / DEMO_PDF_NAME).read_bytes()
