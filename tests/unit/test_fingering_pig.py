from __future__ import annotations

from pathlib import Path

import pytest

from consumers.fingering.pig import (
    PIG_HEADER,
    PigNote,
    format_pig,
    list_pig_files,
    official_split,
    parse_pig,
    read_pig,
    spelled_to_midi,
    write_pig,
)

SAMPLE = (
    f"{PIG_HEADER}\n"
    "0\t0.000000\t0.250000\tC4\t64\t80\t0\t1\n"
    "1\t0.000000\t0.500000\tBb2\t60\t70\t1\t-5\n"
    "2\t0.250000\t0.500000\tF#4\t64\t80\t0\t4_1\n"
    "3\t0.500000\t1.000000\tE-3\t64\t80\t1\t-2_-1\n"
)


def test_parse_fields() -> None:
    notes = parse_pig(SAMPLE)
    assert [n.id for n in notes] == [0, 1, 2, 3]
    assert notes[0].hand == "right" and notes[0].finger == 1 and notes[0].midi == 60
    assert notes[1].hand == "left" and notes[1].finger == 5 and notes[1].midi == 46
    assert notes[2].fingers == (4, 1) and notes[2].finger == 4 and notes[2].midi == 66
    assert notes[3].fingers == (2, 1) and notes[3].midi == 51


def test_round_trip_text_and_file(tmp_path: Path) -> None:
    notes = parse_pig(SAMPLE)
    assert format_pig(notes) == SAMPLE
    path = tmp_path / "001-1_fingering.txt"
    write_pig(path, notes)
    assert read_pig(path) == notes


def test_unannotated_and_bad_finger() -> None:
    (n,) = parse_pig("0\t0\t1\tA0\t64\t64\t0\t0\n")
    assert n.fingers == () and n.finger == 0
    assert format_pig([n]).splitlines()[1].endswith("\t0")
    with pytest.raises(ValueError):
        parse_pig("0\t0\t1\tA0\t64\t64\t0\t7\n")


@pytest.mark.parametrize(
    ("spelled", "midi"), [("C4", 60), ("A0", 21), ("Db5", 73), ("B#3", 60), ("C-4", 59)]
)
def test_spelled_to_midi(spelled: str, midi: int) -> None:
    assert spelled_to_midi(spelled) == midi


def test_listing_and_official_split(tmp_path: Path) -> None:
    for name in ("001-1", "001-2", "030-1", "031-1", "150-1"):
        (tmp_path / "FingeringFiles").mkdir(exist_ok=True)
        (tmp_path / "FingeringFiles" / f"{name}_fingering.txt").write_text(SAMPLE)
    files = list_pig_files(tmp_path)
    assert sorted(files) == ["001", "030", "031", "150"]
    assert [f.annotator for f in files["001"]] == [1, 2]
    train, test = official_split(files)
    assert test == ["001", "030"] and train == ["031", "150"]


def test_pig_note_is_frozen() -> None:
    n = PigNote(0, 0.0, 1.0, "C4", 64, 64, 0, (1,))
    with pytest.raises(AttributeError):
        n.channel = 1  # type: ignore[misc]
