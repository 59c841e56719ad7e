"""Read side of the ledger: jobs, lineage, history, and a canonical snapshot for comparisons.

Results are frozen dataclasses (plain data, `dataclasses.asdict` turns them into dicts).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from ledger.models import (
    PROJECTION_TABLES,
    Artifact,
    ArtifactLineage,
    Base,
    DeadLetterRow,
    Job,
    ProcessedEvent,
    TransformationRun,
)
from ledger.state_machine import JobState, can_retry


@dataclass(frozen=True)
class JobView:
    job_id: uuid.UUID
    state: JobState
    owner: str | None
    filename: str | None
    first_stage: str | None
    created_at: datetime | None
    updated_at: datetime | None
    last_error: str | None
    correlation_id: uuid.UUID | None
    facts: dict[str, Any]

    @property
    def retryable(self) -> bool:
        return can_retry(self.state)


def _job_view(job: Job) -> JobView:
    return JobView(
        job_id=job.job_id,
        state=JobState(job.state),
        owner=job.owner,
        filename=job.filename,
        first_stage=job.first_stage,
        created_at=job.created_at,
        updated_at=job.updated_at,
        last_error=job.last_error,
        correlation_id=job.correlation_id,
        facts=dict(job.facts),
    )


async def get_job(session: AsyncSession, job_id: uuid.UUID) -> JobView | None:
    job = await session.get(Job, job_id)
    return _job_view(job) if job else None


async def list_jobs(
    session: AsyncSession,
    owner: str | None = None,
    *,
    state: JobState | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[JobView]:
    """Newest first; `owner`/`state` filter when given."""
    stmt = select(Job).order_by(Job.created_at.desc().nulls_last(), Job.job_id)
    if owner is not None:
        stmt = stmt.where(Job.owner == owner)
    if state is not None:
        stmt = stmt.where(Job.state == state.value)
    result = await session.scalars(stmt.limit(limit).offset(offset))
    return [_job_view(j) for j in result]


# -- lineage ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArtifactNode:
    artifact_id: uuid.UUID
    job_id: uuid.UUID
    kind: str
    bucket: str
    key: str
    version_id: str | None
    sha256: str
    size: int
    media_type: str
    page: int | None
    page_count: int | None
    artifact_schema_version: int | None
    transformation_type: str
    transformation_version: str
    created_at: datetime


@dataclass(frozen=True)
class LineageEdge:
    source_artifact_id: uuid.UUID
    derived_artifact_id: uuid.UUID
    transformation_type: str
    transformation_version: str
    parameters: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class LineageGraph:
    """Artifacts of a job (nodes) and the transformations between them (edges).

    An edge's source may be missing from `nodes` while its event is still on the way.
    """

    job_id: uuid.UUID
    nodes: dict[uuid.UUID, ArtifactNode] = field(default_factory=dict)
    edges: list[LineageEdge] = field(default_factory=list)

    @property
    def roots(self) -> list[ArtifactNode]:
        """Artifacts derived from nothing in the graph (normally the uploaded PDF)."""
        derived = {e.derived_artifact_id for e in self.edges if e.source_artifact_id in self.nodes}
        return sorted(
            (n for n in self.nodes.values() if n.artifact_id not in derived), key=_node_order
        )

    def children(self, artifact_id: uuid.UUID) -> list[tuple[LineageEdge, ArtifactNode]]:
        found = [
            (e, self.nodes[e.derived_artifact_id])
            for e in self.edges
            if e.source_artifact_id == artifact_id and e.derived_artifact_id in self.nodes
        ]
        return sorted(found, key=lambda pair: _node_order(pair[1]))

    def as_tree(self) -> list[dict[str, Any]]:
        """Nested dicts from the roots: {artifact..., transformation..., children: [...]}."""

        def build(node: ArtifactNode, via: LineageEdge | None, path: set[uuid.UUID]) -> Any:
            tree: dict[str, Any] = {
                "artifact_id": str(node.artifact_id),
                "kind": node.kind,
                "page": node.page,
                "sha256": node.sha256,
                "key": node.key,
                "transformation": {
                    "type": via.transformation_type if via else node.transformation_type,
                    "version": via.transformation_version if via else node.transformation_version,
                    "parameters": via.parameters if via else {},
                },
                "children": [],
            }
            for edge, child in self.children(node.artifact_id):
                if child.artifact_id not in path:  # lineage is a DAG; guard anyway
                    tree["children"].append(build(child, edge, path | {child.artifact_id}))
            return tree

        return [build(root, None, {root.artifact_id}) for root in self.roots]


_KIND_ORDER = {k: i for i, k in enumerate(("pdf", "ir_v1", "ir_v2", "musicxml", "midi", "svg"))}


def _node_order(node: ArtifactNode) -> tuple[int, int, str]:
    return (_KIND_ORDER.get(node.kind, 99), node.page or 0, str(node.artifact_id))


async def get_lineage(session: AsyncSession, job_id: uuid.UUID) -> LineageGraph:
    artifacts = (await session.scalars(select(Artifact).where(Artifact.job_id == job_id))).all()
    ids = [a.artifact_id for a in artifacts]
    edges = (
        await session.scalars(
            select(ArtifactLineage).where(
                or_(
                    ArtifactLineage.job_id == job_id,
                    ArtifactLineage.derived_artifact_id.in_(ids),
                )
            )
        )
    ).all()
    nodes = {
        a.artifact_id: ArtifactNode(
            artifact_id=a.artifact_id,
            job_id=a.job_id,
            kind=a.kind,
            bucket=a.bucket,
            key=a.key,
            version_id=a.version_id,
            sha256=a.sha256,
            size=a.size,
            media_type=a.media_type,
            page=a.page,
            page_count=a.page_count,
            artifact_schema_version=a.artifact_schema_version,
            transformation_type=a.transformation_type,
            transformation_version=a.transformation_version,
            created_at=a.created_at,
        )
        for a in artifacts
    }
    edge_list = sorted(
        (
            LineageEdge(
                source_artifact_id=e.source_artifact_id,
                derived_artifact_id=e.derived_artifact_id,
                transformation_type=e.transformation_type,
                transformation_version=e.transformation_version,
                parameters=dict(e.parameters),
                created_at=e.created_at,
            )
            for e in edges
        ),
        key=lambda e: (e.created_at, str(e.source_artifact_id), str(e.derived_artifact_id)),
    )
    return LineageGraph(job_id=job_id, nodes=nodes, edges=edge_list)


# -- history ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TransformationView:
    event_id: uuid.UUID
    stage: str | None
    status: str
    attempt: int | None
    input_artifact_id: uuid.UUID | None
    output_artifact_id: uuid.UUID | None
    transformation_type: str | None
    transformation_version: str | None
    error_kind: str | None
    reason: str | None
    at: datetime


async def job_transformations(session: AsyncSession, job_id: uuid.UUID) -> list[TransformationView]:
    """The job's stage history (started / completed / failed), oldest first."""
    rows = await session.scalars(
        select(TransformationRun)
        .where(TransformationRun.job_id == job_id)
        .order_by(TransformationRun.at, TransformationRun.event_id)
    )
    return [
        TransformationView(
            event_id=r.event_id,
            stage=r.stage,
            status=r.status,
            attempt=r.attempt,
            input_artifact_id=r.input_artifact_id,
            output_artifact_id=r.output_artifact_id,
            transformation_type=r.transformation_type,
            transformation_version=r.transformation_version,
            error_kind=r.error_kind,
            reason=r.reason,
            at=r.at,
        )
        for r in rows
    ]


@dataclass(frozen=True)
class EventView:
    event_id: uuid.UUID
    event_type: str
    topic: str
    partition: int
    offset: int
    processed_at: datetime


async def job_events(session: AsyncSession, job_id: uuid.UUID) -> list[EventView]:
    """Every event of the job the ledger has applied, in the order it applied them."""
    rows = await session.scalars(
        select(ProcessedEvent)
        .where(ProcessedEvent.job_id == job_id)
        .order_by(ProcessedEvent.processed_at, ProcessedEvent.topic, ProcessedEvent.offset)
    )
    return [
        EventView(r.event_id, r.event_type, r.topic, r.partition, r.offset, r.processed_at)
        for r in rows
    ]


@dataclass(frozen=True)
class DeadLetterView:
    dead_letter_id: uuid.UUID
    consumer: str
    source_topic: str
    source_partition: int | None
    source_offset: int | None
    job_id: uuid.UUID | None
    error_kind: str
    reason: str
    occurred_at: datetime | None


async def dead_letters(
    session: AsyncSession, job_id: uuid.UUID | None = None, limit: int = 100
) -> list[DeadLetterView]:
    stmt = select(DeadLetterRow).order_by(DeadLetterRow.topic, DeadLetterRow.offset).limit(limit)
    if job_id is not None:
        stmt = stmt.where(DeadLetterRow.job_id == job_id)
    return [
        DeadLetterView(
            r.dead_letter_id,
            r.consumer,
            r.source_topic,
            r.source_partition,
            r.source_offset,
            r.job_id,
            r.error_kind,
            r.reason,
            r.occurred_at,
        )
        for r in await session.scalars(stmt)
    ]


# -- snapshot -----------------------------------------------------------------------------------

# Wall-clock columns of the ledger's own processing: they differ between a rebuild and the
# live ledger by nature, so a snapshot leaves them out.
PROCESSING_TIME_COLUMNS = frozenset({("processed_events", "processed_at")})


Snapshot = dict[str, list[tuple[Any, ...]]]


async def snapshot(
    session: AsyncSession | AsyncConnection,
    tables: Sequence[str] = PROJECTION_TABLES,
    job_ids: Collection[uuid.UUID] | None = None,
) -> Snapshot:
    """Every projection row, as sorted tuples of comparable values (for rebuild == live).

    With `job_ids`, only those jobs' rows: a log shared with other writers can grow between
    two snapshots, and their rows are not the ones being compared.
    """
    dump: Snapshot = {}
    for name in tables:
        table: Table = Base.metadata.tables[name]
        cols = [c for c in table.c if (name, c.name) not in PROCESSING_TIME_COLUMNS]
        stmt = select(*cols)
        if job_ids is not None:
            stmt = stmt.where(table.c.job_id.in_(list(job_ids)))
        result = await session.execute(stmt)
        dump[name] = sorted((tuple(_comparable(v) for v in row) for row in result), key=repr)
    return dump


def _comparable(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value
