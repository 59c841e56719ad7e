"""Render stage: IR v2 → MusicXML (with <fingering>), MIDI and one SVG per page."""

from __future__ import annotations

from collections.abc import Sequence

from consumers.render.transform import RENDER_TRANSFORM_VERSION, render
from etude.ir_io import load_ir_v2
from etude.settings import Settings
from etude.stage import Output, StageSpec
from schemas import ArtifactKind, StageName

MUSICXML_MEDIA_TYPE = "application/vnd.recordare.musicxml+xml"
MIDI_MEDIA_TYPE = "audio/midi"
SVG_MEDIA_TYPE = "image/svg+xml"


def render_outputs(data: bytes) -> Sequence[Output]:
    rendered = render(load_ir_v2(data))
    pages = len(rendered.svg_pages)
    return (
        Output(ArtifactKind.MUSICXML, rendered.musicxml, MUSICXML_MEDIA_TYPE, name="musicxml"),
        Output(ArtifactKind.MIDI, rendered.midi, MIDI_MEDIA_TYPE, name="midi"),
        *(
            Output(ArtifactKind.SVG, svg, SVG_MEDIA_TYPE, name=f"svg-{i}", page=i, page_count=pages)
            for i, svg in enumerate(rendered.svg_pages, start=1)
        ),
    )


def render_spec(settings: Settings, version: str = RENDER_TRANSFORM_VERSION) -> StageSpec:
    return StageSpec(
        name=StageName.RENDER, version=version, transform=render_outputs, max_processing_s=120.0
    )
