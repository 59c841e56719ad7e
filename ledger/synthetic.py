"""Realistic event streams for one job run, for tests and the throughput benchmark.

The events are what the pipeline publishes (JobSubmitted, the uploaded PDF, StageStarted and
ArtifactCreated per stage, StageFailed on failure), with derived artifact ids and lineage, in
causal order. Timestamps advance one millisecond per event from `start`.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypedDict

from schemas.events import (
    ArtifactCreated,
    Event,
    JobSubmitted,
    Producer,
    S3Location,
    StageFailed,
    StageStarted,
    Transformation,
    derive_artifact_id,
    derived_id,
)
from schemas.kinds import ArtifactKind, StageName
from schemas.topics import STAGE, artifact_topic

_MEDIA_TYPES = {
    ArtifactKind.PDF: "application/pdf",
    ArtifactKind.IR_V1: "application/json",
    ArtifactKind.IR_V2: "application/json",
    ArtifactKind.MUSICXML: "application/vnd.recordare.musicxml+xml",
    ArtifactKind.MIDI: "audio/midi",
    ArtifactKind.SVG: "image/svg+xml",
}


class _Envelope(TypedDict):
    event_id: uuid.UUID
    job_id: uuid.UUID
    occurred_at: datetime
    correlation_id: uuid.UUID
    causation_id: uuid.UUID | None
    producer: Producer


def topic_of(event: Event) -> str:
    """The topic an event is published on (artifact events by kind, the rest on etude.stage)."""
    if isinstance(event, ArtifactCreated):
        return artifact_topic(event.kind)
    return STAGE


@dataclass
class JobRun:
    """Builds the events of one job, step by step, with consistent ids and lineage."""

    job_id: uuid.UUID = field(default_factory=uuid.uuid4)
    start: datetime = field(default_factory=lambda: datetime(2026, 11, 1, tzinfo=UTC))
    owner: str | None = "alice"
    filename: str | None = "score.pdf"
    events: list[Event] = field(default_factory=list)
    correlation_id: uuid.UUID = field(init=False)

    def __post_init__(self) -> None:
        self.correlation_id = derived_id("correlation", self.job_id)

    def _envelope(self, name: str) -> _Envelope:
        n = len(self.events)
        return {
            "event_id": derived_id("synthetic-event", self.job_id, n, name),
            "job_id": self.job_id,
            "occurred_at": self.start + timedelta(milliseconds=n),
            "correlation_id": self.correlation_id,
            "causation_id": self.events[-1].event_id if self.events else None,
            "producer": Producer(name=f"etude.{name}", version="0.1.0"),
        }

    def submit(self, first_stage: StageName = StageName.OMR, attempt: int = 0) -> JobRun:
        self.events.append(
            JobSubmitted(
                **self._envelope("api"),
                owner=self.owner,
                filename=self.filename,
                first_stage=first_stage,
                attempt=attempt,
            )
        )
        return self

    def artifact(
        self,
        kind: ArtifactKind,
        sources: tuple[uuid.UUID, ...] = (),
        transformation: str = "upload",
        page: int | None = None,
        page_count: int | None = None,
        version: str = "1",
    ) -> uuid.UUID:
        t = Transformation(type=transformation, version=version, parameters={"p": 1})
        output = f"{kind.value}:{page}" if page else kind.value
        sources_or_job = sources or (self.job_id,)
        artifact_id = derive_artifact_id(sources_or_job, t, output)
        sha = hashlib.sha256(str(artifact_id).encode()).hexdigest()
        self.events.append(
            ArtifactCreated(
                **self._envelope(transformation),
                artifact_id=artifact_id,
                kind=kind,
                artifact_schema_version=2 if kind is ArtifactKind.IR_V2 else None,
                location=S3Location(bucket="etude-artifacts", key=f"sha256/{sha}", version_id="v1"),
                sha256=sha,
                size=1000 + len(self.events),
                media_type=_MEDIA_TYPES[kind],
                source_artifact_ids=sources,
                transformation=t,
                page=page,
                page_count=page_count,
            )
        )
        return artifact_id

    def started(self, stage: StageName, input_id: uuid.UUID, attempt: int = 0) -> JobRun:
        self.events.append(
            StageStarted(
                **self._envelope(stage.value),
                stage=stage,
                input_artifact_id=input_id,
                attempt=attempt,
            )
        )
        return self

    def failed(
        self,
        stage: StageName | None,
        input_id: uuid.UUID | None,
        attempt: int = 0,
        reason: str = "unreadable page",
    ) -> JobRun:
        self.events.append(
            StageFailed(
                **self._envelope(stage.value if stage else "ingest"),
                stage=stage,
                input_artifact_id=input_id,
                attempt=attempt,
                error_kind="bad_input",
                reason=reason,
            )
        )
        return self

    # -- whole stages --------------------------------------------------------------------------

    def omr(self, pdf: uuid.UUID, attempt: int = 0) -> uuid.UUID:
        self.started(StageName.OMR, pdf, attempt)
        return self.artifact(ArtifactKind.IR_V1, (pdf,), "omr")

    def fingering(self, ir_v1: uuid.UUID, attempt: int = 0) -> uuid.UUID:
        self.started(StageName.FINGERING, ir_v1, attempt)
        return self.artifact(ArtifactKind.IR_V2, (ir_v1,), "fingering")

    def render(self, ir_v2: uuid.UUID, pages: int = 2, attempt: int = 0) -> None:
        self.started(StageName.RENDER, ir_v2, attempt)
        self.artifact(ArtifactKind.MUSICXML, (ir_v2,), "render")
        self.artifact(ArtifactKind.MIDI, (ir_v2,), "render")
        for page in range(1, pages + 1):
            self.artifact(ArtifactKind.SVG, (ir_v2,), "render", page=page, page_count=pages)


def completed_job(job_id: uuid.UUID | None = None, pages: int = 2) -> list[Event]:
    """A job that went through every stage."""
    run = JobRun(job_id=job_id or uuid.uuid4()).submit()
    pdf = run.artifact(ArtifactKind.PDF)
    run.render(run.fingering(run.omr(pdf)), pages=pages)
    return run.events
