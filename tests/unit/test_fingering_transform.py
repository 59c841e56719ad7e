from __future__ import annotations

from fractions import Fraction

import pytest

from consumers.fingering.model import FingeringNet, NetConfig
from consumers.fingering.predict import FingeringModel
from consumers.fingering.transform import (
    FINGERING_TRANSFORM_VERSION,
    assign_fingering,
    load_model,
)
from schemas.ir import Measure, NoteV1, Pitch, ScoreIRV1, ScoreIRV2


def _note(i: int, step: str, octave: int, onset: str, hand: str, **kw: object) -> NoteV1:
    p = Pitch(step=step, octave=octave)
    return NoteV1(
        id=f"n{i}",
        pitch=p,
        spelled=p.spelled,
        midi=p.midi,
        onset=Fraction(onset),
        duration=Fraction(1),
        measure=1,
        measure_onset=Fraction(onset),
        staff=1 if hand == "right" else 2,
        hand=hand,
        voice=1,
        **kw,
    )


def _score() -> ScoreIRV1:
    notes = [
        _note(1, "C", 4, "0", "right", chord="a"),
        _note(2, "E", 4, "0", "right", chord="a"),
        _note(3, "G", 4, "0", "right", chord="a"),
        _note(4, "D", 4, "1", "right", source_finger=2),
        _note(5, "E", 4, "2", "right", tie="start"),
        _note(6, "E", 4, "3", "right", tie="stop"),
        _note(7, "C", 3, "0", "left", chord="b"),
        _note(8, "G", 3, "0", "left", chord="b"),
        _note(9, "F", 3, "2", "left"),
    ]
    return ScoreIRV1(
        measures=(Measure(number=1, onset=Fraction(0), length=Fraction(4)),), notes=tuple(notes)
    )


@pytest.fixture(scope="module")
def tiny_model() -> FingeringModel:
    return FingeringModel(FingeringNet(NetConfig(channels=8, dilations=(1, 2))).eval(), "tiny", "0")


def test_output_is_valid_ir_v2(tiny_model: FingeringModel) -> None:
    out = assign_fingering(_score(), model=tiny_model)
    assert isinstance(out, ScoreIRV2)
    again = ScoreIRV2.model_validate_json(out.model_dump_json())
    assert again == out
    assert out.fingering_model.name == "tiny" and out.fingering_model.version == "0"
    by_id = {n.id: n for n in out.notes}
    assert all(n.finger in {1, 2, 3, 4, 5} for n in out.notes)
    rh = [by_id[k].finger for k in ("n1", "n2", "n3")]
    assert rh[0] < rh[1] < rh[2]  # type: ignore[operator]
    assert by_id["n7"].finger > by_id["n8"].finger  # type: ignore[operator]
    assert (
        by_id["n4"].finger == 2
        and by_id["n4"].finger_fixed
        and by_id["n4"].finger_confidence == 1.0
    )
    assert by_id["n6"].finger == by_id["n5"].finger  # tied continuation
    for n in out.notes:
        assert 0 <= (n.finger_confidence or 0) <= 1
        assert len(n.alternatives) == 3
    assert FINGERING_TRANSFORM_VERSION


def test_one_hand_only_and_options(tiny_model: FingeringModel) -> None:
    out = assign_fingering(_score(), model=tiny_model, hands=("left",), hand_size="S")
    assert all((n.finger is None) == (n.hand == "right") for n in out.notes)
    with pytest.raises(ValueError):
        assign_fingering(_score(), model=tiny_model, hand_size="huge")
    with pytest.raises(ValueError):
        assign_fingering(_score(), model=tiny_model, hands=("middle",))


def test_anchors_can_be_ignored(tiny_model: FingeringModel) -> None:
    out = assign_fingering(_score(), model=tiny_model, keep_source_fingers=False)
    assert not any(n.finger_fixed for n in out.notes)


def test_shipped_weights_load_and_run() -> None:
    model = load_model()
    out = assign_fingering(_score(), model=model)
    assert out.fingering_model.version == model.version
