"""Reading IR artifacts, with bad input reported as such (never a crash)."""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from etude.errors import BadInputError
from etude.stage import Output
from schemas import ArtifactKind, ScoreIRV1, ScoreIRV2

M = TypeVar("M", bound=BaseModel)
IR_MEDIA_TYPE = "application/vnd.etude.ir+json"


def _load(data: bytes, model: type[M], expected_ir: str) -> M:
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInputError(f"{expected_ir} artifact is not JSON: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("ir") != expected_ir:
        got = raw.get("ir") if isinstance(raw, dict) else type(raw).__name__
        raise BadInputError(f"expected an {expected_ir} document, got {got!r}")
    version = raw.get("schema_version")
    supported = model.model_fields["schema_version"].default
    if version != supported:
        raise BadInputError(
            f"unsupported {expected_ir} schema_version {version!r} (this stage reads {supported})"
        )
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BadInputError(f"invalid {expected_ir}: {where}: {first['msg']}") from exc


def load_ir_v1(data: bytes) -> ScoreIRV1:
    return _load(data, ScoreIRV1, "etude.ir.v1")


def load_ir_v2(data: bytes) -> ScoreIRV2:
    return _load(data, ScoreIRV2, "etude.ir.v2")


def dump_ir(ir: ScoreIRV1 | ScoreIRV2) -> bytes:
    """Canonical bytes: the same IR always gives the same sha256."""
    return ir.model_dump_json().encode()


def ir_output(ir: ScoreIRV1 | ScoreIRV2) -> Output:
    """A stage's IR artifact: IR v2 if it carries fingering, else IR v1."""
    kind = ArtifactKind.IR_V2 if isinstance(ir, ScoreIRV2) else ArtifactKind.IR_V1
    return Output(
        kind,
        dump_ir(ir),
        IR_MEDIA_TYPE,
        name=kind.value,
        artifact_schema_version=ir.schema_version,
    )
