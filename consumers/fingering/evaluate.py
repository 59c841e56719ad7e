"""Evaluation: held-out editorial marks (exact match) and PIG (M_gen/M_high/M_soft/M_rec).

* ``evaluate_marks``: every MusicXML of a held-out source (the Clara Schumann Op.1 marks are the
  headline) is read to IR v1, its printed fingers are removed, the fingerer runs, and each
  printed finger is compared with the prediction on the same note.
* ``evaluate_corpus_test``: exact match on the labelled notes of the test works of the other
  sources (the split of ``corpus/loader.py``).
* ``evaluate_pig``: the official PIG test split (pieces 001-030, all their annotators), read from
  a user's own copy of the dataset, which cannot be redistributed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from consumers.fingering.corpus.types import HandName, HandSequence, make_sequence
from consumers.fingering.decode import DecodeMethod
from consumers.fingering.features import Events, prepare
from consumers.fingering.hmm import hmm_fingers
from consumers.fingering.metrics import MatchRates, aggregate, match_rates
from consumers.fingering.pig import PigNote, format_pig, list_pig_files, official_split, read_pig
from consumers.fingering.predict import FingeringModel, HandInput, predict_hands
from schemas.ir import ScoreIRV1

# PIG times are seconds of a performance; notes within 30 ms are one chord.
PIG_CHORD_EPS: Final = 0.03

Fingerer = Callable[[list[HandInput]], list[npt.NDArray[np.int64]]]


def model_fingerer(
    model: FingeringModel, hand_size: str = "M", method: DecodeMethod = "posterior"
) -> Fingerer:
    def run(hands: list[HandInput]) -> list[npt.NDArray[np.int64]]:
        return [o.fingers for o in predict_hands(model, hands, hand_size=hand_size, method=method)]

    return run


def hmm_fingerer(hand_size: str = "M") -> Fingerer:
    def run(hands: list[HandInput]) -> list[npt.NDArray[np.int64]]:
        events: list[Events] = [
            prepare(h.midi, h.onset, h.duration, is_left=h.is_left, chord_eps=h.chord_eps)
            for h in hands
        ]
        anchors = []
        for h, ev in zip(hands, events, strict=True):
            a = np.zeros(len(ev), dtype=np.int64)
            fixed = np.flatnonzero(h.anchors > 0)
            a[ev.note_event[fixed]] = h.anchors[fixed]
            anchors.append(a)
        per_event = hmm_fingers(events, anchors, hand_size=hand_size)
        return [f[ev.note_event] for f, ev in zip(per_event, events, strict=True)]

    return run


def ir_hand_inputs(ir: ScoreIRV1) -> tuple[list[HandInput], list[list[str]]]:
    """Key presses per hand (tied continuations left out), with no anchors."""
    from consumers.fingering.transform import _key_presses

    presses, _ = _key_presses(ir.notes)
    inputs: list[HandInput] = []
    ids: list[list[str]] = []
    for hand in ("right", "left"):
        notes = [n for n in presses if n.hand == hand]
        if not notes:
            continue
        inputs.append(
            HandInput(
                midi=np.asarray([n.midi for n in notes], dtype=np.int64),
                onset=np.asarray([float(n.onset) for n in notes]),
                duration=np.asarray([0.0 if n.grace else float(n.duration) for n in notes]),
                is_left=hand == "left",
                anchors=np.zeros(len(notes), dtype=np.int64),
            )
        )
        ids.append([n.id for n in notes])
    return inputs, ids


@dataclass
class MarksResult:
    matches: int
    total: int
    per_file: dict[str, tuple[int, int]]

    @property
    def pct(self) -> float:
        return 100 * self.matches / self.total if self.total else 0.0


def evaluate_marks(irs: dict[str, ScoreIRV1], fingerer: Fingerer) -> MarksResult:
    """Exact match on the printed fingers (``source_finger``), predicted without them."""
    per_file: dict[str, tuple[int, int]] = {}
    for name, ir in irs.items():
        truth = {n.id: n.source_finger for n in ir.notes if n.source_finger}
        inputs, ids = ir_hand_inputs(ir)
        predicted: dict[str, int] = {}
        for note_ids, fingers in zip(ids, fingerer(inputs), strict=True):
            predicted.update(zip(note_ids, (int(f) for f in fingers), strict=True))
        hits = sum(1 for nid, f in truth.items() if predicted.get(nid) == f)
        per_file[name] = (hits, len(truth))
    return MarksResult(
        sum(v[0] for v in per_file.values()), sum(v[1] for v in per_file.values()), per_file
    )


def load_marks_irs(data_dir: Path, source: str = "music21-clara-schumann") -> dict[str, ScoreIRV1]:
    from consumers.fingering.corpus.musicxml import read_musicxml_ir

    return {p.name: read_musicxml_ir(p) for p in sorted((data_dir / source).rglob("*.mxl"))}


def evaluate_sequences(seqs: list[HandSequence], fingerer: Fingerer) -> dict[str, tuple[int, int]]:
    """Exact match on labelled notes of corpus sequences, per source."""
    inputs = [
        HandInput(
            s.midi,
            s.onset,
            s.duration,
            s.hand == "left",
            np.zeros(len(s), dtype=np.int64),
            s.chord_eps,
        )
        for s in seqs
    ]
    out: dict[str, tuple[int, int]] = {}
    for s, f in zip(seqs, fingerer(inputs), strict=True):
        lab = s.finger > 0
        m, n = out.get(s.source, (0, 0))
        out[s.source] = (m + int((f[lab] == s.finger[lab]).sum()), n + int(lab.sum()))
    return out


# ---- PIG ------------------------------------------------------------------------------------


def _pig_hand_notes(notes: list[PigNote], channel: int) -> list[tuple[int, float, float, int]]:
    return [
        (n.midi, n.onset, max(n.offset - n.onset, 1e-3), n.finger)
        for n in notes
        if n.channel == channel
    ]


_CHANNELS: Final[tuple[tuple[int, HandName], ...]] = ((0, "right"), (1, "left"))


def pig_sequences(pig_dir: Path) -> tuple[list[HandSequence], list[HandSequence]]:
    """(train, test) hand sequences of the official split, one per annotator file and hand."""
    files = list_pig_files(pig_dir)
    train_ids, test_ids = official_split(files)
    out: tuple[list[HandSequence], list[HandSequence]] = ([], [])
    for bucket, ids in ((0, train_ids), (1, test_ids)):
        for pid in ids:
            for f in files[pid]:
                notes = read_pig(f.path)
                for channel, hand in _CHANNELS:
                    hn = _pig_hand_notes(notes, channel)
                    if hn:
                        out[bucket].append(
                            make_sequence(
                                source="pig",
                                piece=f"{pid}-{f.annotator}",
                                work=pid,
                                hand=hand,
                                notes=hn,
                                licence="PIG (research only, not shipped)",
                                chord_eps=PIG_CHORD_EPS,
                            )
                        )
    return out


def _align(base: list[PigNote], other: list[PigNote]) -> list[int]:
    """Fingers of ``other`` on the notes of ``base`` (same file layout, or matched by
    (channel, pitch, onset) when an annotator's file differs)."""
    if len(base) == len(other) and all(
        a.channel == b.channel and a.midi == b.midi for a, b in zip(base, other, strict=True)
    ):
        return [b.finger for b in other]
    lookup = {(n.channel, n.midi, round(n.onset, 2)): n.finger for n in other}
    return [lookup.get((n.channel, n.midi, round(n.onset, 2)), 0) for n in base]


def evaluate_pig(
    pig_dir: Path, fingerer: Fingerer, *, out_dir: Path | None = None
) -> tuple[dict[str, MatchRates], dict[str, dict[str, float]]]:
    files = list_pig_files(pig_dir)
    _, test_ids = official_split(files)
    per_piece: dict[str, MatchRates] = {}
    for pid in test_ids:
        annotations = [read_pig(f.path) for f in files[pid]]
        base = annotations[0]
        estimate = np.zeros(len(base), dtype=np.int64)
        inputs: list[HandInput] = []
        index: list[npt.NDArray[np.int64]] = []
        for channel in (0, 1):
            idx = np.asarray(
                [k for k, n in enumerate(base) if n.channel == channel], dtype=np.int64
            )
            if idx.size == 0:
                continue
            inputs.append(
                HandInput(
                    midi=np.asarray([base[k].midi for k in idx], dtype=np.int64),
                    onset=np.asarray([base[k].onset for k in idx]),
                    duration=np.asarray([max(base[k].offset - base[k].onset, 1e-3) for k in idx]),
                    is_left=channel == 1,
                    anchors=np.zeros(idx.size, dtype=np.int64),
                    chord_eps=PIG_CHORD_EPS,
                )
            )
            index.append(idx)
        for idx, fingers in zip(index, fingerer(inputs), strict=True):
            estimate[idx] = fingers
        truths = [_align(base, other) for other in annotations]
        per_piece[pid] = match_rates(estimate.tolist(), truths)
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            predicted = [
                PigNote(
                    n.id,
                    n.onset,
                    n.offset,
                    n.spelled,
                    n.onset_velocity,
                    n.offset_velocity,
                    n.channel,
                    (int(estimate[k]),),
                )
                for k, n in enumerate(base)
            ]
            (out_dir / f"{pid}-1_fingering.txt").write_text(format_pig(predicted), encoding="utf-8")
    return per_piece, aggregate(per_piece)


def run_evaluation(
    model: FingeringModel,
    *,
    data_dir: Path | None,
    pig_dir: Path | None = None,
    out_dir: Path | None = None,
    hand_size: str = "M",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    from consumers.fingering.corpus.loader import default_data_dir, load_corpus
    from consumers.fingering.train import split_corpus

    report: dict[str, Any] = {"model": f"{model.name} {model.version}", "hand_size": hand_size}
    ours, hmm = model_fingerer(model, hand_size), hmm_fingerer(hand_size)
    data = data_dir or default_data_dir()
    if data.is_dir():
        for source in ("music21-clara-schumann", "openscore-lieder"):
            irs = load_marks_irs(data, source)
            if not irs:
                continue
            a, b = evaluate_marks(irs, ours), evaluate_marks(irs, hmm)
            report[f"marks:{source}"] = {
                "ours": [a.matches, a.total, a.pct],
                "hmm": [b.matches, b.total, b.pct],
            }
            log(
                f"{source}: ours {a.matches}/{a.total} = {a.pct:.1f}%, "
                f"order-2 HMM {b.matches}/{b.total} = {b.pct:.1f}%"
            )
        test = split_corpus(
            load_corpus(
                data,
                sources=("nifc-chopin-first-editions", "nifc-polish-scores", "pydactyl-beringer"),
            )
        )["test"]
        for name, fingerer in (("ours", ours), ("hmm", hmm)):
            res = evaluate_sequences(test, fingerer)
            report[f"corpus_test:{name}"] = {
                k: [m, n, 100 * m / max(n, 1)] for k, (m, n) in res.items()
            }
            log(
                f"corpus test works, {name}: "
                + ", ".join(
                    f"{k} {m}/{n} = {100 * m / max(n, 1):.1f}%" for k, (m, n) in res.items()
                )
            )
    else:
        log(f"no fingering data at {data}; skipping the held-out marks")
    if pig_dir is not None:
        for name, fingerer in (("ours", ours), ("hmm", hmm)):
            sub = out_dir / name if out_dir is not None else None
            _, agg = evaluate_pig(pig_dir, fingerer, out_dir=sub)
            report[f"pig:{name}"] = agg
            log(
                f"PIG test split, {name}: "
                + ", ".join(f"{k} {v:.1f}" for k, v in agg["macro"].items())
            )
    return report
