"""Retrying a job in a `*_FAILED` state: re-announce the failed stage's input, one attempt up.

The stage's consumer reads the re-published ArtifactCreated like any other; its StageStarted
carries the new attempt, which is above the failed one, so the ledger's state machine moves
the job back to `*_PROCESSING`. The event id is derived from (input event, attempt), so a
retry request repeated for the same attempt publishes the same event and changes nothing.
Nothing new is stored: the input object is already in S3 (content-addressed).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from etude.errors import BadInputError
from etude.stage import Publisher
from ledger.queries import ArtifactNode, JobView, LineageGraph
from ledger.state_machine import NEVER, retry_stage
from producers.submit import PRODUCER
from schemas import (
    STAGE_INPUT,
    ArtifactCreated,
    ArtifactKind,
    S3Location,
    StageName,
    Transformation,
    artifact_topic,
    derived_id,
)


class NotRetryableError(BadInputError):
    """The job is not in a state a retry can leave (only `*_FAILED` but FAILED)."""


@dataclass(frozen=True)
class Retried:
    job_id: uuid.UUID
    stage: StageName
    attempt: int
    event: ArtifactCreated


def next_attempt(job: JobView, stage: StageName) -> int:
    """One above every attempt the stage has started or failed (facts as the ledger keeps)."""
    facts = job.facts.get("stages", {}).get(stage.value, {})
    seen = max(int(facts.get("started", NEVER)), int(facts.get("failed", NEVER)), 0)
    return seen + 1


def stage_input(graph: LineageGraph, stage: StageName) -> ArtifactNode:
    """The newest artifact of the stage's input kind (a replay may have made a newer one)."""
    kind = STAGE_INPUT[stage].value
    found = [n for n in graph.nodes.values() if n.kind == kind]
    if not found:
        raise NotRetryableError(f"no {kind} artifact in the job's lineage to retry {stage.value}")
    return max(found, key=lambda n: (n.created_at, str(n.artifact_id)))


def _transformation_of(
    graph: LineageGraph, node: ArtifactNode
) -> tuple[Transformation, tuple[uuid.UUID, ...]]:
    """The node's transformation (with parameters) and sources, from the lineage edges."""
    edges = [e for e in graph.edges if e.derived_artifact_id == node.artifact_id]
    if edges:
        params = edges[0].parameters
        sources = tuple(sorted({e.source_artifact_id for e in edges}, key=str))
    else:  # an upload: its only parameter is the job (producers.submit)
        params = {"job": str(node.job_id)} if node.transformation_type == "upload" else {}
        sources = ()
    transformation = Transformation(
        type=node.transformation_type, version=node.transformation_version, parameters=params
    )
    return transformation, sources


def retry_event(
    job: JobView,
    graph: LineageGraph,
    *,
    event_ids: Mapping[uuid.UUID, uuid.UUID] | None = None,
) -> tuple[StageName, ArtifactCreated]:
    """The ArtifactCreated that re-runs the failed stage (pure: no I/O).

    `event_ids`: artifact id → the event that announced it (the ledger's artifacts.event_id).
    """
    stage = retry_stage(job.state)
    if stage is None:
        raise NotRetryableError(f"a job in state {job.state.value} cannot be retried")
    node = stage_input(graph, stage)
    input_event_id = (event_ids or {}).get(node.artifact_id)
    attempt = next_attempt(job, stage)
    # The ledger keeps the announcing event's id with the artifact; without it the artifact
    # id stands in (still deterministic per attempt).
    cause = input_event_id or node.artifact_id
    transformation, sources = _transformation_of(graph, node)
    event = ArtifactCreated(
        event_id=derived_id("retry", cause, attempt),
        job_id=job.job_id,
        correlation_id=job.correlation_id or job.job_id,
        causation_id=input_event_id,
        producer=PRODUCER,
        attempt=attempt,
        artifact_id=node.artifact_id,
        kind=ArtifactKind(node.kind),
        artifact_schema_version=node.artifact_schema_version,
        location=S3Location(bucket=node.bucket, key=node.key, version_id=node.version_id),
        sha256=node.sha256,
        size=node.size,
        media_type=node.media_type,
        source_artifact_ids=sources,
        transformation=transformation,
        page=node.page,
        page_count=node.page_count,
    )
    return stage, event


async def retry_job(
    publisher: Publisher,
    job: JobView,
    graph: LineageGraph,
    *,
    event_ids: Mapping[uuid.UUID, uuid.UUID] | None = None,
) -> Retried:
    stage, event = retry_event(job, graph, event_ids=event_ids)
    await publisher.publish(event, artifact_topic(event.kind))
    return Retried(job.job_id, stage, event.attempt, event)
