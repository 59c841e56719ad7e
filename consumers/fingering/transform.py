"""The fingering stage's pure transform: Symbolic IR v1 -> IR v2.

``assign_fingering`` takes the model as an argument and does no I/O, so the FastStream handler
(and tests) decide where the weights come from; ``load_model`` reads the shipped weights.

* Every key press of the selected hands gets a finger, its posterior probability and the
  top alternatives; fingers printed in the source (``source_finger``) are kept as fixed anchors
  (``finger_fixed=True``) and the decoder fingers the rest around them.
* A tied continuation (``tie`` = stop/continue) is not a new key press: it takes the finger of
  the note it continues (renderers usually print nothing on it).
* Notes of hands not selected keep ``finger=None``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Final

import numpy as np

from consumers.fingering.decode import HAND_SIZES
from consumers.fingering.model import FingeringNet, NetConfig
from consumers.fingering.predict import FingeringModel, HandInput, predict_hands
from schemas.ir import FingerAlternative, FingeringModelInfo, NoteV1, NoteV2, ScoreIRV1, ScoreIRV2

# Bump when the transform's output for the same input and weights can change (part of the
# derived artifact id together with the model version).
FINGERING_TRANSFORM_VERSION: Final = "1.0.0"
DEFAULT_WEIGHTS: Final = Path(__file__).resolve().parent / "weights" / "fingering-v1.pt"
N_ALTERNATIVES: Final = 3


def load_model(path: str | Path | None = None) -> FingeringModel:
    """Load weights saved by ``model.save_checkpoint`` (default: the shipped ones)."""
    import torch

    ckpt = torch.load(
        Path(path) if path else DEFAULT_WEIGHTS, map_location="cpu", weights_only=True
    )
    states = ckpt["state_dicts"] if "state_dicts" in ckpt else [ckpt["state_dict"]]
    nets = []
    for state in states:
        net = FingeringNet(NetConfig.from_dict(ckpt["config"]))
        net.load_state_dict(state)
        nets.append(net.eval())
    return FingeringModel(
        net=nets[0],
        name=str(ckpt["name"]),
        version=str(ckpt["version"]),
        extra_nets=tuple(nets[1:]),
        prior_weight=float(ckpt.get("prior_weight", 0.0)),
    )


_ALT_CACHE: dict[tuple[int, float], FingerAlternative] = {}


def _alternative(finger: int, probability: float) -> FingerAlternative:
    """Shared immutable alternatives: probabilities are rounded to 1e-3, so at most 5 x 1001
    distinct objects exist and building them does not dominate the transform. model_construct:
    the values are valid by construction (finger 1..5, probability clipped to 0..1)."""
    key = (finger, probability)
    alt = _ALT_CACHE.get(key)
    if alt is None:
        alt = FingerAlternative.model_construct(finger=finger, probability=probability)
        _ALT_CACHE[key] = alt
    return alt


def _key_presses(notes: Iterable[NoteV1]) -> tuple[list[NoteV1], dict[str, str]]:
    """Key presses in score order, and continuation note id -> id of the note it continues."""
    presses: list[NoteV1] = []
    tied_from: dict[str, str] = {}
    open_ties: dict[tuple[str, int], str] = {}
    # float onsets for the sort: Fraction comparisons are slow and equal fractions stay equal
    for n in sorted(notes, key=lambda n: (float(n.onset), n.midi)):
        key = (n.hand, n.midi)
        if n.tie in ("stop", "continue") and key in open_ties:
            tied_from[n.id] = open_ties[key]
            if n.tie == "stop":
                del open_ties[key]
            continue
        presses.append(n)
        if n.tie in ("start", "continue"):
            open_ties[key] = n.id
    return presses, tied_from


def assign_fingering(
    ir: ScoreIRV1,
    *,
    model: FingeringModel,
    hand_size: str = "M",
    hands: tuple[str, ...] = ("right", "left"),
    keep_source_fingers: bool = True,
) -> ScoreIRV2:
    if hand_size not in HAND_SIZES:
        raise ValueError(f"hand_size must be one of {HAND_SIZES}, got {hand_size!r}")
    unknown = set(hands) - {"right", "left"}
    if unknown:
        raise ValueError(f"unknown hands: {sorted(unknown)}")
    presses, tied_from = _key_presses(ir.notes)
    inputs: list[HandInput] = []
    groups: list[list[NoteV1]] = []
    for hand in ("right", "left"):
        if hand not in hands:
            continue
        notes = [n for n in presses if n.hand == hand]
        if not notes:
            continue
        anchors = np.asarray(
            [(n.source_finger or 0) if keep_source_fingers else 0 for n in notes], dtype=np.int64
        )
        inputs.append(
            HandInput(
                midi=np.asarray([n.midi for n in notes], dtype=np.int64),
                onset=np.asarray([float(n.onset) for n in notes], dtype=np.float64),
                duration=np.asarray(
                    [0.0 if n.grace else float(n.duration) for n in notes], dtype=np.float64
                ),
                is_left=hand == "left",
                anchors=anchors,
            )
        )
        groups.append(notes)
    outputs = predict_hands(model, inputs, hand_size=hand_size)
    assigned: dict[str, tuple[int, float, tuple[FingerAlternative, ...], bool]] = {}
    for notes, inp, out in zip(groups, inputs, outputs, strict=True):
        probs = np.clip(out.probabilities, 0.0, 1.0).astype(np.float64)
        order = np.argsort(-probs, axis=1)[:, :N_ALTERNATIVES]
        top = np.round(np.take_along_axis(probs, order, axis=1), 3)
        fingers = out.fingers
        fixed_arr = inp.anchors > 0
        conf_arr = np.where(fixed_arr, 1.0, probs[np.arange(len(notes)), fingers - 1])
        for n, f, c, fx, o, p in zip(
            notes,
            fingers.tolist(),
            conf_arr.tolist(),
            fixed_arr.tolist(),
            (order + 1).tolist(),
            top.tolist(),
            strict=True,
        ):
            alts = tuple(_alternative(a, q) for a, q in zip(o, p, strict=True))
            assigned[n.id] = (f, c, alts, fx)
    for cont, origin in tied_from.items():
        if origin in assigned:
            finger, conf, alts, _ = assigned[origin]
            assigned[cont] = (finger, conf, alts, False)
    notes_v2: list[NoteV2] = []
    v1_fields = tuple(NoteV1.model_fields)
    for n in ir.notes:
        # The v1 part was validated when `ir` was built; copying it field by field keeps the
        # nested models as they are (NoteV2 extends NoteV1 with defaults for the new fields).
        data = {name: getattr(n, name) for name in v1_fields}
        if n.id in assigned:
            finger, conf, alts, fixed = assigned[n.id]
            data.update(
                finger=finger, finger_confidence=conf, alternatives=alts, finger_fixed=fixed
            )
        else:
            data.update(finger=None, finger_confidence=None, alternatives=(), finger_fixed=False)
        notes_v2.append(NoteV2.model_construct(**data))
    return ScoreIRV2(
        meta=ir.meta,
        key_signatures=ir.key_signatures,
        time_signatures=ir.time_signatures,
        measures=ir.measures,
        notes=tuple(notes_v2),
        fingering_model=FingeringModelInfo(name=model.name, version=model.version),
    )
