"""Fingering stage: IR v1 → IR v2 with the learned model (source fingerings kept as anchors)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from consumers.fingering.transform import (
    DEFAULT_WEIGHTS,
    FINGERING_TRANSFORM_VERSION,
    assign_fingering,
    load_model,
)
from etude.errors import BadInputError
from etude.ir_io import ir_output, load_ir_v1
from etude.settings import Settings
from etude.stage import Output, StageSpec
from schemas import StageName


def _weights_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _weights(settings: Settings) -> Path:
    return Path(settings.fingering_weights) if settings.fingering_weights else DEFAULT_WEIGHTS


def available(settings: Settings) -> bool:
    """Ready only with its weights (shipped, or the user's `ETUDE_FINGERING_WEIGHTS`)."""
    return _weights(settings).is_file()


def fingering_spec(settings: Settings) -> StageSpec:
    """Loads the model once, at start-up; its identity is part of the derived artifact ids."""
    import torch

    # One thread per process: on 2 shared cores, two threads made the convolutions 10-30x
    # slower (measured in TRAINING.md's benchmark runs).
    torch.set_num_threads(1)
    weights = _weights(settings)
    model = load_model(weights)
    hands = tuple(h.strip() for h in settings.fingering_hands.split(",") if h.strip())
    hand_size = settings.fingering_hand_size

    def transform(data: bytes) -> Sequence[Output]:
        ir = load_ir_v1(data)
        if not ir.notes:
            raise BadInputError("the IR v1 has no notes to finger")
        return (ir_output(assign_fingering(ir, model=model, hand_size=hand_size, hands=hands)),)

    return StageSpec(
        name=StageName.FINGERING,
        version=FINGERING_TRANSFORM_VERSION,
        transform=transform,
        parameters={
            "model": f"{model.name}/{model.version}",
            "weights_sha256": _weights_digest(weights),
            "hand_size": hand_size,
            "hands": ",".join(hands),
        },
        max_processing_s=60.0,
    )
