"""Putting work in: store the input artifact, publish JobSubmitted + ArtifactCreated.

Used by the CLI, the HTTP API and the tests alike.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import IO

from etude import __version__
from etude.broker import EventPublisher
from etude.errors import BadInputError
from etude.ir_io import IR_MEDIA_TYPE, dump_ir
from etude.stage import Store
from etude.store import ArtifactStore, StoredObject
from schemas import (
    STAGE,
    ArtifactCreated,
    ArtifactKind,
    JobSubmitted,
    Producer,
    ScoreIRV1,
    ScoreIRV2,
    StageName,
    Transformation,
    artifact_topic,
    derive_artifact_id,
    derived_id,
)

PDF_MEDIA_TYPE = "application/pdf"
UPLOAD = Transformation(type="upload", version="1")
PRODUCER = Producer(name="etude.producer", version=__version__)


@dataclass(frozen=True)
class Submitted:
    job_id: uuid.UUID
    correlation_id: uuid.UUID
    input_event: ArtifactCreated


def check_pdf(data: bytes) -> None:
    """A PDF by its bytes, not its name: it must start with the %PDF- signature."""
    if not data.lstrip(b"\x00\t\n\r ")[:5] == b"%PDF-":
        raise BadInputError("not a PDF: the file does not start with %PDF-")


async def _submit(
    publisher: EventPublisher,
    stored: StoredObject,
    *,
    kind: ArtifactKind,
    media_type: str,
    first_stage: StageName,
    filename: str | None,
    owner: str | None,
    artifact_schema_version: int | None = None,
    job_id: uuid.UUID | None = None,
) -> Submitted:
    job_id = job_id or uuid.uuid4()
    correlation_id = uuid.uuid4()
    submitted = JobSubmitted(
        event_id=derived_id("JobSubmitted", job_id),
        job_id=job_id,
        correlation_id=correlation_id,
        producer=PRODUCER,
        owner=owner,
        filename=filename,
        first_stage=first_stage,
    )
    # One upload per job: the job id makes the artifact id unique even for identical bytes.
    upload = Transformation(
        type=UPLOAD.type, version=UPLOAD.version, parameters={"job": str(job_id)}
    )
    artifact_id = derive_artifact_id((), upload, kind.value)
    created = ArtifactCreated(
        event_id=derived_id("ArtifactCreated", submitted.event_id, artifact_id),
        job_id=job_id,
        correlation_id=correlation_id,
        causation_id=submitted.event_id,
        producer=PRODUCER,
        artifact_id=artifact_id,
        kind=kind,
        artifact_schema_version=artifact_schema_version,
        location=stored.location,
        sha256=stored.sha256,
        size=stored.size,
        media_type=media_type,
        transformation=upload,
    )
    await publisher.publish(submitted, STAGE)
    await publisher.publish(created, artifact_topic(kind))
    return Submitted(job_id, correlation_id, created)


async def submit_pdf(
    store: Store,
    publisher: EventPublisher,
    data: bytes,
    *,
    filename: str | None = None,
    owner: str | None = None,
    job_id: uuid.UUID | None = None,
) -> Submitted:
    check_pdf(data)
    stored = await store.put(ArtifactKind.PDF, data, PDF_MEDIA_TYPE)
    return await _pdf_job(publisher, stored, filename, owner, job_id)


async def submit_pdf_file(
    store: ArtifactStore,
    publisher: EventPublisher,
    file: IO[bytes],
    *,
    filename: str | None = None,
    owner: str | None = None,
    job_id: uuid.UUID | None = None,
) -> Submitted:
    """As submit_pdf, for a seekable file (an upload spooled to disk): streamed, not loaded."""
    file.seek(0)
    check_pdf(file.read(1024))
    stored = await store.put_file(ArtifactKind.PDF, file, PDF_MEDIA_TYPE)
    return await _pdf_job(publisher, stored, filename, owner, job_id)


async def _pdf_job(
    publisher: EventPublisher,
    stored: StoredObject,
    filename: str | None,
    owner: str | None,
    job_id: uuid.UUID | None,
) -> Submitted:
    return await _submit(
        publisher,
        stored,
        kind=ArtifactKind.PDF,
        media_type=PDF_MEDIA_TYPE,
        first_stage=StageName.OMR,
        filename=filename,
        owner=owner,
        job_id=job_id,
    )


async def submit_ir(
    store: Store,
    publisher: EventPublisher,
    ir: ScoreIRV1 | ScoreIRV2,
    *,
    filename: str | None = None,
    owner: str | None = None,
    job_id: uuid.UUID | None = None,
) -> Submitted:
    """Start a job from a symbolic score: IR v1 enters fingering, IR v2 enters render."""
    kind = ArtifactKind.IR_V2 if isinstance(ir, ScoreIRV2) else ArtifactKind.IR_V1
    return await _submit(
        publisher,
        await store.put(kind, dump_ir(ir), IR_MEDIA_TYPE),
        kind=kind,
        media_type=IR_MEDIA_TYPE,
        first_stage=StageName.RENDER if kind == ArtifactKind.IR_V2 else StageName.FINGERING,
        filename=filename,
        owner=owner,
        artifact_schema_version=ir.schema_version,
        job_id=job_id,
    )
