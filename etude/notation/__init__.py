"""Pure notation code shared by every stage: music21 ⇄ Symbolic Score IR."""

from etude.notation.from_music21 import ir_v2_from_source_fingering, score_to_ir_v1
from etude.notation.to_music21 import ir_to_music21

__all__ = ["ir_to_music21", "ir_v2_from_source_fingering", "score_to_ir_v1"]
