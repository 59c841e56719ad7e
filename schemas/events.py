"""Event envelope and the events of the pipeline (contract, schema_version 1).

Every event is a flat JSON object: the envelope fields plus the event's own fields. The Kafka
key is the job id; correlation_id and causation_id are also sent as Kafka headers.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import Field, TypeAdapter, ValidationError

from schemas._base import Frozen
from schemas.kinds import ArtifactKind, StageName

EVENT_SCHEMA_VERSION: Final = 1
SUPPORTED_EVENT_SCHEMA_VERSIONS: Final = frozenset({EVENT_SCHEMA_VERSION})

# Namespace for every derived (uuid5) id in Étude: artifact ids and output event ids.
ETUDE_NAMESPACE: Final = uuid.UUID("6f1b3c52-9a3e-5d7e-8f43-2b0c5a1e9d10")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Producer(Frozen):
    name: str = Field(description="Component that published the event, e.g. 'etude.render'.")
    version: str = Field(description="Version of that component.")


class Envelope(Frozen):
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    event_type: str
    schema_version: Literal[1] = EVENT_SCHEMA_VERSION
    job_id: uuid.UUID
    occurred_at: datetime = Field(default_factory=utcnow)
    correlation_id: uuid.UUID = Field(description="Same for every event of one job run.")
    causation_id: uuid.UUID | None = Field(
        default=None, description="event_id of the event that caused this one."
    )
    producer: Producer
    attempt: int = Field(
        default=0, ge=0, description="Run of the job this event belongs to; a retry increments it."
    )


class Transformation(Frozen):
    type: str = Field(description="e.g. 'upload', 'omr', 'fingering', 'render'.")
    version: str = Field(description="Version of the transform; bumping it re-derives outputs.")
    parameters: dict[str, str | int | float | bool | None] = Field(default_factory=dict)


class S3Location(Frozen):
    bucket: str
    key: str
    version_id: str | None = None


class ArtifactCreated(Envelope):
    event_type: Literal["ArtifactCreated"] = "ArtifactCreated"
    artifact_id: uuid.UUID
    kind: ArtifactKind
    artifact_schema_version: int | None = Field(
        default=None, description="schema_version of the artifact's content (IR), if it has one."
    )
    location: S3Location
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    media_type: str
    source_artifact_ids: tuple[uuid.UUID, ...] = ()
    transformation: Transformation
    page: int | None = Field(default=None, ge=1, description="Page number for paged outputs (SVG).")
    page_count: int | None = Field(default=None, ge=1)


class JobSubmitted(Envelope):
    event_type: Literal["JobSubmitted"] = "JobSubmitted"
    owner: str | None = Field(default=None, description="User that submitted the job, if any.")
    filename: str | None = None
    first_stage: StageName = Field(
        default=StageName.OMR, description="Stage the job starts at (render-only jobs: 'render')."
    )


class StageStarted(Envelope):
    event_type: Literal["StageStarted"] = "StageStarted"
    stage: StageName
    input_artifact_id: uuid.UUID


class StageFailed(Envelope):
    event_type: Literal["StageFailed"] = "StageFailed"
    stage: StageName | None = Field(default=None, description="None when the input was unreadable.")
    input_artifact_id: uuid.UUID | None = None
    error_kind: Literal["bad_input", "transient_exhausted", "internal"]
    reason: str


class DeadLetter(Frozen):
    """A poison message kept verbatim in `etude.dlq` with why it was rejected."""

    dead_letter_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    schema_version: Literal[1] = EVENT_SCHEMA_VERSION
    occurred_at: datetime = Field(default_factory=utcnow)
    consumer: str
    source_topic: str
    source_partition: int | None = None
    source_offset: int | None = None
    job_id: uuid.UUID | None = None
    error_kind: str
    reason: str
    payload: str = Field(description="The original message, decoded as UTF-8 with replacement.")


Event = Annotated[
    ArtifactCreated | JobSubmitted | StageStarted | StageFailed,
    Field(discriminator="event_type"),
]
EVENT_TYPES: Final = {
    "ArtifactCreated": ArtifactCreated,
    "JobSubmitted": JobSubmitted,
    "StageStarted": StageStarted,
    "StageFailed": StageFailed,
}
_event_adapter: TypeAdapter[Event] = TypeAdapter(Event)


class EventDecodeError(ValueError):
    """The bytes are not a valid Étude event; `reason` says why in one line."""

    def __init__(self, reason: str, job_id: uuid.UUID | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.job_id = job_id


def _job_id_of(raw: dict[str, Any]) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(raw.get("job_id")))
    except ValueError:
        return None


def decode_event(data: bytes | str) -> Event:
    """Parse one event, with a clear reason for malformed JSON, unknown types or versions."""
    try:
        # Fast path (pydantic-core parses the JSON itself); only a failure pays for diagnosis.
        return _event_adapter.validate_json(data)
    except ValidationError:
        pass
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EventDecodeError(f"malformed event JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise EventDecodeError(f"event must be a JSON object, got {type(raw).__name__}")
    job_id = _job_id_of(raw)
    event_type = raw.get("event_type")
    if event_type not in EVENT_TYPES:
        raise EventDecodeError(f"unknown event_type {event_type!r}", job_id)
    version = raw.get("schema_version")
    if version not in SUPPORTED_EVENT_SCHEMA_VERSIONS:
        raise EventDecodeError(
            f"unsupported schema_version {version!r} for {event_type} "
            f"(this consumer reads {sorted(SUPPORTED_EVENT_SCHEMA_VERSIONS)})",
            job_id,
        )
    try:
        return _event_adapter.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise EventDecodeError(
            f"invalid {event_type}: {where}: {first['msg']} ({exc.error_count()} error(s))", job_id
        ) from exc


def encode_event(event: Envelope) -> bytes:
    return event.model_dump_json().encode()


def derived_id(*parts: object) -> uuid.UUID:
    """Deterministic uuid5 over the parts, so a redelivered input derives the same ids."""
    return uuid.uuid5(ETUDE_NAMESPACE, "\x1f".join(str(p) for p in parts))


def derive_artifact_id(
    source_artifact_ids: tuple[uuid.UUID, ...] | list[uuid.UUID],
    transformation: Transformation,
    output: str,
) -> uuid.UUID:
    """uuid5 over (sources, transformation type + version + parameters, output name)."""
    params = json.dumps(transformation.parameters, sort_keys=True, separators=(",", ":"))
    sources = ",".join(sorted(str(s) for s in source_artifact_ids))
    return derived_id(
        "artifact", sources, transformation.type, transformation.version, params, output
    )
