"""The ledger's tables: a projection of the Kafka log, rebuildable by replaying it.

Times in projection rows are event times (`occurred_at`), so a rebuild reproduces them; only
`processed_events.processed_at` is wall-clock time of the ledger.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import Uuid

from ledger.state_machine import JobState

# Deterministic constraint names, so Alembic migrations and autogenerate agree.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TZ = DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSONB,
        uuid.UUID: Uuid,
        datetime: TZ,
    }


class Job(Base):
    __tablename__ = "jobs"

    job_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(32))
    owner: Mapped[str | None] = mapped_column(Text)
    filename: Mapped[str | None] = mapped_column(Text)
    first_stage: Mapped[str | None] = mapped_column(String(32))
    # JobFacts as JSON (ledger.state_machine): the state is derived from it.
    facts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime | None]  # JobSubmitted time, else the earliest event's
    updated_at: Mapped[datetime | None]  # the latest event's time
    last_error: Mapped[str | None] = mapped_column(Text)
    correlation_id: Mapped[uuid.UUID | None]

    __table_args__ = (
        CheckConstraint(
            "state IN (" + ", ".join(f"'{s.value}'" for s in JobState) + ")", name="valid_state"
        ),
        Index("ix_jobs_owner_created_at", "owner", "created_at"),
        Index("ix_jobs_state", "state"),
        Index("ix_jobs_created_at", "created_at"),
    )


class Artifact(Base):
    __tablename__ = "artifacts"

    artifact_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.job_id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    artifact_schema_version: Mapped[int | None] = mapped_column(Integer)
    bucket: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(Text)
    version_id: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(Text)
    page: Mapped[int | None] = mapped_column(Integer)
    page_count: Mapped[int | None] = mapped_column(Integer)
    transformation_type: Mapped[str] = mapped_column(Text)
    transformation_version: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    # The earliest ArtifactCreated that announced it (a redelivery may announce it again).
    event_id: Mapped[uuid.UUID]

    __table_args__ = (
        Index("ix_artifacts_job_id_kind", "job_id", "kind"),
        Index("ix_artifacts_sha256", "sha256"),
    )


class ArtifactLineage(Base):
    """One edge per (source, derived) pair; the source may not be projected yet (no FK)."""

    __tablename__ = "artifact_lineage"

    source_artifact_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    derived_artifact_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    job_id: Mapped[uuid.UUID]
    transformation_type: Mapped[str] = mapped_column(Text)
    transformation_version: Mapped[str] = mapped_column(Text)
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_artifact_lineage_derived_artifact_id", "derived_artifact_id"),
        Index("ix_artifact_lineage_job_id", "job_id"),
    )


class TransformationRun(Base):
    """History: one row per stage event (started / failed) and per output (completed)."""

    __tablename__ = "transformations"

    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.job_id", ondelete="CASCADE"))
    stage: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # started | completed | failed
    attempt: Mapped[int | None] = mapped_column(Integer)
    input_artifact_id: Mapped[uuid.UUID | None]
    output_artifact_id: Mapped[uuid.UUID | None]
    transformation_type: Mapped[str | None] = mapped_column(Text)
    transformation_version: Mapped[str | None] = mapped_column(Text)
    error_kind: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]

    __table_args__ = (Index("ix_transformations_job_id_at", "job_id", "at"),)


class ProcessedEvent(Base):
    """The tracking table: written in the same transaction as the rows an event projects.

    A message that could not be decoded is tracked too, under an id derived from its
    topic/partition/offset, so a redelivery of it is also a no-op.
    """

    __tablename__ = "processed_events"

    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(Text)
    partition: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(BigInteger)
    event_type: Mapped[str] = mapped_column(Text)
    job_id: Mapped[uuid.UUID | None]
    processed_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        Index("ix_processed_events_job_id", "job_id"),
        Index("ix_processed_events_topic_partition_offset", "topic", "partition", "offset"),
    )


class DeadLetterRow(Base):
    """Poison messages: `etude.dlq` records, and messages the ledger itself could not decode."""

    __tablename__ = "dead_letters"

    dead_letter_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime | None]
    consumer: Mapped[str] = mapped_column(Text)
    source_topic: Mapped[str] = mapped_column(Text)
    source_partition: Mapped[int | None] = mapped_column(Integer)
    source_offset: Mapped[int | None] = mapped_column(BigInteger)
    job_id: Mapped[uuid.UUID | None]
    error_kind: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    # Where the record itself was read (the dlq topic, or the topic of an undecodable message).
    topic: Mapped[str] = mapped_column(Text)
    partition: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_dead_letters_job_id", "job_id"),)


PROJECTION_TABLES: tuple[str, ...] = (
    "jobs",
    "artifacts",
    "artifact_lineage",
    "transformations",
    "processed_events",
    "dead_letters",
)

# Not a projection: registered on Base for Alembic (see ledger/users.py); import at the end
# because it needs Base.
from ledger import users as _users  # noqa: E402, F401
