"""PIG evaluation end to end on a synthetic PIG directory (the real PIG cannot be shipped)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from consumers.fingering.evaluate import evaluate_pig, hmm_fingerer, pig_sequences
from consumers.fingering.model import FingeringNet, NetConfig, save_checkpoint
from consumers.fingering.pig import PigNote, write_pig
from producers.cli.fingering_cmd import fingering_app

SCALE = ["C4", "D4", "E4", "F4", "G4", "A4", "B4", "C5"]
RH_FINGERS = [1, 2, 3, 1, 2, 3, 4, 5]


def _piece(fingers: list[int]) -> list[PigNote]:
    notes = [
        PigNote(k, 0.25 * k, 0.25 * k + 0.2, p, 64, 64, 0, (f,))
        for k, (p, f) in enumerate(zip(SCALE, fingers, strict=True))
    ]
    notes.append(PigNote(8, 0.0, 1.0, "C3", 64, 64, 1, (5,)))
    notes.append(PigNote(9, 0.0, 1.0, "G3", 64, 64, 1, (1,)))
    return notes


@pytest.fixture
def pig_dir(tmp_path: Path) -> Path:
    root = tmp_path / "PianoFingeringDataset" / "FingeringFiles"
    root.mkdir(parents=True)
    write_pig(root / "001-1_fingering.txt", _piece(RH_FINGERS))
    write_pig(root / "001-2_fingering.txt", _piece([1, 2, 3, 4, 1, 2, 3, 4]))
    write_pig(root / "031-1_fingering.txt", _piece(RH_FINGERS))
    return tmp_path


def test_pig_sequences_follow_the_official_split(pig_dir: Path) -> None:
    train, test = pig_sequences(pig_dir)
    assert {s.work for s in train} == {"031"} and {s.work for s in test} == {"001"}
    assert len(test) == 4  # two annotators x two hands
    lh = next(s for s in train if s.hand == "left")
    assert list(lh.finger) == [5, 1]


def test_evaluate_pig_with_a_perfect_and_a_baseline_fingerer(pig_dir: Path) -> None:
    per_piece, agg = evaluate_pig(pig_dir, hmm_fingerer())
    assert set(per_piece) == {"001"}
    r = per_piece["001"]
    assert 0 <= r.m_gen <= r.m_high <= r.m_rec <= r.m_soft <= 1
    assert set(agg["macro"]) == {"M_gen", "M_high", "M_soft", "M_rec"}

    def oracle(hands: list) -> list:  # type: ignore[type-arg]
        return [__import__("numpy").asarray([5, 1] if h.is_left else RH_FINGERS) for h in hands]

    per_piece, agg = evaluate_pig(pig_dir, oracle)
    # annotator 1 fully matched; annotator 2 on 5 of 10 notes (C D E and the two LH notes)
    assert per_piece["001"].m_high == pytest.approx(1.0)
    assert per_piece["001"].m_gen == pytest.approx((1.0 + 0.5) / 2)
    assert agg["macro"]["M_gen"] == pytest.approx(75.0)


def test_cli_evaluate_writes_report(pig_dir: Path, tmp_path: Path) -> None:
    weights = tmp_path / "tiny.pt"
    net = FingeringNet(NetConfig(channels=8, dilations=(1, 2), prior=True)).eval()
    save_checkpoint(str(weights), net, name="tiny", version="0", record={})
    out = tmp_path / "report"
    result = CliRunner().invoke(
        fingering_app,
        ["evaluate", "--pig", str(pig_dir), "--data", str(tmp_path / "none"), "--out", str(out),
         "--weights", str(weights)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert set(report["pig:ours"]["macro"]) == {"M_gen", "M_high", "M_soft", "M_rec"}
    assert (out / "pig" / "ours" / "001-1_fingering.txt").exists()


def test_cli_train_on_pig_only(pig_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "w.pt"
    result = CliRunner().invoke(
        fingering_app,
        ["train", "--pig", str(pig_dir), "--data", str(tmp_path / "none"), "--out", str(out),
         "--epochs", "1", "--version", "test"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    from consumers.fingering.transform import load_model

    model = load_model(out)
    assert model.version == "test"
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["pig_dir"] == str(pig_dir)


def test_cli_combine_makes_an_ensemble(tmp_path: Path) -> None:
    from consumers.fingering.transform import load_model

    paths = []
    for seed in (0, 1):
        net = FingeringNet(NetConfig(channels=8, dilations=(1, 2))).eval()
        path = tmp_path / f"m{seed}.pt"
        save_checkpoint(str(path), net, name="tiny", version=str(seed), record={"seed": seed})
        paths.append(str(path))
    out = tmp_path / "ens.pt"
    result = CliRunner().invoke(
        fingering_app, ["combine", *paths, "--out", str(out), "--version", "ens"]
    )
    assert result.exit_code == 0, result.output
    model = load_model(out)
    assert len(model.nets) == 2 and model.version == "ens"
