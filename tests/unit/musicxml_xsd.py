"""Offline validation against the official MusicXML 4.0 XSD.

The XSD comes from the `musicxml` package on PyPI (a dev dependency), which ships the W3C
Music Notation Community Group's MusicXML 4.0 schema. Its imports of xml.xsd and xlink.xsd
point at musicxml.org; xmlschema resolves those two namespaces to its own bundled copies, and
`allow="local"` forbids any network access.
"""

from __future__ import annotations

import functools
import importlib.resources

import xmlschema


@functools.cache
def musicxml_4_schema() -> xmlschema.XMLSchema:
    xsd = importlib.resources.files("musicxml") / "generate_classes" / "musicxml_4_0.xsd"
    schema = xmlschema.XMLSchema(str(xsd), allow="local")
    assert "Version 4.0" in (xsd.read_text(encoding="utf-8")[:2000])
    return schema


def musicxml_errors(data: bytes) -> list[str]:
    return [f"{e.path}: {e.reason}" for e in musicxml_4_schema().iter_errors(data.decode("utf-8"))]
