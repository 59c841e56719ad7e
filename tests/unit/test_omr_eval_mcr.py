"""The OMR benchmark's MCR column (bench/omr_eval.py document_mcr) scores what it claims."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from etude.notation import score_to_ir_v1

BENCH = Path(__file__).resolve().parents[2] / "bench" / "omr_eval.py"


@pytest.fixture(scope="module")
def omr_eval() -> ModuleType:
    spec = importlib.util.spec_from_file_location("omr_eval_under_test", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_slurs_and_articulations_are_stripped_and_nothing_else(omr_eval: ModuleType) -> None:
    xml = (
        "<note><pitch><step>C</step></pitch><notations><slur type='start' number='1'/>"
        "<articulations><staccato/></articulations><fingering>3</fingering></notations></note>"
    )
    bare = omr_eval.without_slurs_and_articulations(xml)
    assert "slur" not in bare and "staccato" not in bare
    assert "<fingering>3</fingering>" in bare and "<step>C</step>" in bare


def test_a_perfect_reading_scores_near_zero_and_a_lossy_one_worse(
    omr_eval: ModuleType,
) -> None:
    rel, last = "bach/bwv846.mxl", 4
    reference = omr_eval.reference_musicxml(rel, last)
    ir = score_to_ir_v1(omr_eval._excerpt(rel, last))
    perfect = omr_eval.document_mcr(ir, reference)
    # Étude's writer re-spells nothing it reads, so only layout-free content is compared.
    assert perfect["doc_mcr_no_slurs_articulations"] < 0.05
    assert perfect["doc_mcr_content_f1"] > 0.97

    # Every third note lost: the reading must cost clearly more corrections.
    kept = tuple(n for i, n in enumerate(ir.notes) if i % 3)
    lossy = omr_eval.document_mcr(ir.model_copy(update={"notes": kept}), reference)
    assert lossy["doc_mcr_no_slurs_articulations"] > perfect["doc_mcr_no_slurs_articulations"] + 0.1
    assert lossy["doc_mcr_content_f1"] < perfect["doc_mcr_content_f1"] - 0.1


def test_error_classes_name_each_kind_of_miss_once(omr_eval: ModuleType) -> None:
    from fractions import Fraction as F  # noqa: N817

    def n(midi: int, bar: int, in_bar: F) -> object:
        return omr_eval.TruthNote(midi, bar, in_bar, bar * 4 + in_bar)

    truth = [
        n(60, 0, F(0)),  # read right
        n(62, 0, F(1)),  # read a beat late
        n(64, 0, F(2)),  # read a semitone high (an accidental)
        n(65, 0, F(3)),  # read an octave low
        n(67, 1, F(0)),  # read a tenth low (a clef)
        n(69, 1, F(1)),  # not read
        n(69, 1, F(1)),  # a unison: read once
    ]
    pred = [
        n(60, 0, F(0)),
        n(62, 0, F(2)),
        n(65, 0, F(2)),
        n(53, 0, F(3)),
        n(51, 1, F(0)),
        n(69, 1, F(1)),
        n(72, 1, F(3)),  # nothing there
        n(62, 2, F(0)),  # a note of another bar's pitch: not an onset error across bars
    ]
    assert omr_eval.error_classes(pred, truth) == {
        "onset": 1,
        "pitch_near": 1,
        "pitch_octave": 1,
        "pitch_far": 1,
        "missed": 1,
        "extra": 2,
    }
