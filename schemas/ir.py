"""Symbolic Score IR: v1 (recognised notes) and v2 (v1 + fingering).

Times are exact fractions of a quarter note, written as strings ("3/2", "0", "1/3") so no
precision is lost in JSON. `onset` is measured from the start of the piece; `measure_onset`
from the start of the note's measure.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Annotated, Final, Literal

from pydantic import Field, PlainSerializer, PlainValidator, WithJsonSchema, model_validator

from schemas._base import Frozen

IR_V1_SCHEMA_VERSION: Final = 1
IR_V2_SCHEMA_VERSION: Final = 1


def _to_fraction(value: object) -> Fraction:
    if isinstance(value, Fraction):
        return value
    if isinstance(value, bool):
        raise ValueError("a duration cannot be a boolean")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, str):
        try:
            return Fraction(value)
        except (ValueError, ZeroDivisionError) as exc:
            raise ValueError(f"not an exact fraction: {value!r}") from exc
    raise ValueError(f"expected a fraction string like '3/2', got {type(value).__name__}")


Quarters = Annotated[
    Fraction,
    PlainValidator(_to_fraction),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+(/\d+)?$", "examples": ["3/2"]}),
]

Step = Literal["C", "D", "E", "F", "G", "A", "B"]
Hand = Literal["right", "left"]
_STEP_SEMITONES: Final = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ALTER_TEXT: Final = {-2: "--", -1: "-", 0: "", 1: "#", 2: "##"}


class Pitch(Frozen):
    step: Step
    alter: int = Field(default=0, ge=-2, le=2)
    octave: int = Field(ge=-1, le=9)

    @property
    def midi(self) -> int:
        return 12 * (self.octave + 1) + _STEP_SEMITONES[self.step] + self.alter

    @property
    def spelled(self) -> str:
        """music21-style spelling: 'C#4', 'B-3'."""
        return f"{self.step}{_ALTER_TEXT[self.alter]}{self.octave}"


class BBox(Frozen):
    """Box on the page, as fractions of page width/height (0..1), origin top-left."""

    x: float = Field(ge=0, le=1)
    y: float = Field(ge=0, le=1)
    w: float = Field(ge=0, le=1)
    h: float = Field(ge=0, le=1)


class Provenance(Frozen):
    page: int = Field(ge=1)
    system: int | None = Field(default=None, ge=1)
    bbox: BBox | None = None


class KeySignature(Frozen):
    measure: int = Field(ge=1, description="Measure from which it applies.")
    fifths: int = Field(ge=-7, le=7)
    mode: Literal["major", "minor"] | None = None


class TimeSignature(Frozen):
    measure: int = Field(ge=1)
    numerator: int = Field(ge=1)
    denominator: int = Field(ge=1)

    @property
    def bar_length(self) -> Fraction:
        return Fraction(4 * self.numerator, self.denominator)


class Measure(Frozen):
    number: int = Field(ge=1, description="1-based, renumbered across pages.")
    onset: Quarters
    length: Quarters
    provenance: Provenance | None = None


class NoteV1(Frozen):
    id: str = Field(min_length=1)
    pitch: Pitch
    spelled: str = Field(description="Redundant with pitch, for readers: 'C#4'.")
    midi: int = Field(ge=0, le=127)
    onset: Quarters
    duration: Quarters
    measure: int = Field(ge=1)
    measure_onset: Quarters
    staff: int = Field(ge=1, le=2)
    hand: Hand
    voice: int = Field(ge=1)
    chord: str | None = Field(default=None, description="Notes sharing a chord id sound together.")
    tie: Literal["start", "stop", "continue"] | None = None
    grace: bool = False
    confidence: float = Field(default=1.0, ge=0, le=1)
    source_finger: int | None = Field(
        default=None, ge=1, le=5, description="Finger printed in the source, kept as an anchor."
    )
    provenance: Provenance | None = None

    @model_validator(mode="after")
    def _consistent(self) -> NoteV1:
        if self.duration < 0:
            raise ValueError(f"note {self.id}: negative duration {self.duration}")
        if self.midi != self.pitch.midi:
            raise ValueError(f"note {self.id}: midi {self.midi} != pitch {self.pitch.spelled}")
        if self.spelled != self.pitch.spelled:
            raise ValueError(f"note {self.id}: spelled {self.spelled!r} != {self.pitch.spelled!r}")
        return self


class UnreadPage(Frozen):
    """A page of the source that gave no notes, and why (a title page, a blank page, a page
    the recogniser could not read): the score holds the other pages."""

    page: int = Field(ge=1)
    reason: str = Field(min_length=1)


class ScoreMeta(Frozen):
    title: str | None = None
    composer: str | None = None
    page_count: int | None = Field(default=None, ge=1, description="Pages of the source PDF.")
    unread_pages: tuple[UnreadPage, ...] = Field(
        default=(), description="Pages of the source PDF left out of the score, with the reason."
    )


class ScoreIRV1(Frozen):
    ir: Literal["etude.ir.v1"] = "etude.ir.v1"
    schema_version: Literal[1] = IR_V1_SCHEMA_VERSION
    meta: ScoreMeta = ScoreMeta()
    key_signatures: tuple[KeySignature, ...] = ()
    time_signatures: tuple[TimeSignature, ...] = ()
    measures: tuple[Measure, ...]
    notes: tuple[NoteV1, ...]

    @model_validator(mode="after")
    def _ids_unique(self) -> ScoreIRV1:
        ids = [n.id for n in self.notes]
        if len(set(ids)) != len(ids):
            raise ValueError("note ids must be unique")
        return self


class FingerAlternative(Frozen):
    finger: int = Field(ge=1, le=5)
    probability: float = Field(ge=0, le=1)


class FingeringModelInfo(Frozen):
    name: str
    version: str


class NoteV2(NoteV1):
    finger: int | None = Field(default=None, ge=1, le=5, description="None: left unfingered.")
    finger_confidence: float | None = Field(default=None, ge=0, le=1)
    alternatives: tuple[FingerAlternative, ...] = ()
    finger_fixed: bool = Field(default=False, description="Finger came from the source (anchor).")


class ScoreIRV2(Frozen):
    ir: Literal["etude.ir.v2"] = "etude.ir.v2"
    schema_version: Literal[1] = IR_V2_SCHEMA_VERSION
    meta: ScoreMeta = ScoreMeta()
    key_signatures: tuple[KeySignature, ...] = ()
    time_signatures: tuple[TimeSignature, ...] = ()
    measures: tuple[Measure, ...]
    notes: tuple[NoteV2, ...]
    fingering_model: FingeringModelInfo

    @model_validator(mode="after")
    def _ids_unique(self) -> ScoreIRV2:
        ids = [n.id for n in self.notes]
        if len(set(ids)) != len(ids):
            raise ValueError("note ids must be unique")
        return self
