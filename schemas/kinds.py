"""Artifact kinds and pipeline stages."""

from __future__ import annotations

from enum import StrEnum


class ArtifactKind(StrEnum):
    PDF = "pdf"
    IR_V1 = "ir_v1"
    IR_V2 = "ir_v2"
    MUSICXML = "musicxml"
    MIDI = "midi"
    SVG = "svg"


class StageName(StrEnum):
    OMR = "omr"
    FINGERING = "fingering"
    RENDER = "render"


# What each stage reads and what it writes: the pipeline's shape in one table.
STAGE_INPUT: dict[StageName, ArtifactKind] = {
    StageName.OMR: ArtifactKind.PDF,
    StageName.FINGERING: ArtifactKind.IR_V1,
    StageName.RENDER: ArtifactKind.IR_V2,
}
STAGE_OUTPUTS: dict[StageName, tuple[ArtifactKind, ...]] = {
    StageName.OMR: (ArtifactKind.IR_V1,),
    StageName.FINGERING: (ArtifactKind.IR_V2,),
    StageName.RENDER: (ArtifactKind.MUSICXML, ArtifactKind.MIDI, ArtifactKind.SVG),
}


def producing_stage(kind: ArtifactKind) -> StageName | None:
    """The stage whose output `kind` is; None for the uploaded PDF."""
    for stage, outputs in STAGE_OUTPUTS.items():
        if kind in outputs:
            return stage
    return None
