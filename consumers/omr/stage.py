"""OMR stage: PDF → Symbolic IR v1 (segmentation network + oemer's later stages)."""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Sequence
from pathlib import Path

from consumers.omr.segnet.infer import DEFAULT_WEIGHTS
from etude.ir_io import ir_output
from etude.logging import get_logger
from etude.settings import Settings
from etude.stage import Output, StageSpec
from schemas import StageName

log = get_logger("etude.omr")


def _weights(settings: Settings) -> Path:
    return Path(settings.omr_weights) if settings.omr_weights else DEFAULT_WEIGHTS


def available(settings: Settings) -> bool:
    """Ready with oemer installed and segmentation weights (ours, or oemer's checkpoints)."""
    return importlib.util.find_spec("oemer") is not None and _weights(settings).exists()


def _identity(path: Path) -> str:
    """What the derived ids depend on: the weights' content (a file), or the folder's name."""
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return f"checkpoints:{path.name}"


def omr_spec(settings: Settings) -> StageSpec:
    """Loads the model once, at start-up."""
    from consumers.omr.recognize import load_model
    from consumers.omr.transform import OMR_TRANSFORM_VERSION, recognize_pdf

    weights = _weights(settings)
    model = load_model(settings.omr_weights)
    max_pages, dpi = settings.max_pages, settings.omr_dpi

    def transform(data: bytes) -> Sequence[Output]:
        ir = recognize_pdf(data, model=model, max_pages=max_pages, dpi=dpi)
        for unread in ir.meta.unread_pages:  # the job goes on; the IR names these pages too
            log.warning("page left out", page=unread.page, reason=unread.reason)
        return (ir_output(ir),)

    return StageSpec(
        name=StageName.OMR,
        version=OMR_TRANSFORM_VERSION,
        transform=transform,
        parameters={"weights": _identity(weights), "max_pages": max_pages, "dpi": dpi},
        max_processing_s=settings.omr_seconds_per_page * max_pages,
    )
