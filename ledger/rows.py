"""Pure mapping from decoded records to table rows (dicts keyed by column name).

Rows that one batch may carry twice (the same artifact announced by two events) are reduced
here to the one a rebuild would keep too: the earliest by (time, event id), whatever the order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from ledger.records import LEDGER_CONSUMER, MALFORMED, Decoded, DecodedDeadLetter, Malformed
from ledger.state_machine import JobFacts, correlation_uuid, derive_state, facts_to_json
from schemas.events import ArtifactCreated, Event, StageFailed, StageStarted
from schemas.kinds import producing_stage

Row = dict[str, Any]


def utc(ts: datetime) -> datetime:
    """Aware UTC time (a naive timestamp in an event is taken as UTC)."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def tracking_row(item: Decoded) -> Row:
    r = item.record
    if isinstance(item, Malformed):
        event_type, job_id = MALFORMED, item.job_id
    elif isinstance(item, DecodedDeadLetter):
        event_type, job_id = "DeadLetter", item.dead_letter.job_id
    else:
        event_type, job_id = item.event.event_type, item.event.job_id
    return {
        "event_id": item.tracking_id,
        "topic": r.topic,
        "partition": r.partition,
        "offset": r.offset,
        "event_type": event_type,
        "job_id": job_id,
    }


def dead_letter_row(item: DecodedDeadLetter | Malformed) -> Row:
    r = item.record
    where = {"topic": r.topic, "partition": r.partition, "offset": r.offset}
    if isinstance(item, Malformed):
        return {
            "dead_letter_id": item.tracking_id,
            "occurred_at": None,
            "consumer": LEDGER_CONSUMER,
            "source_topic": r.topic,
            "source_partition": r.partition,
            "source_offset": r.offset,
            "job_id": item.job_id,
            "error_kind": "malformed",
            "reason": item.reason,
            # Postgres text cannot hold NUL bytes.
            "payload": (r.value or b"").decode("utf-8", errors="replace").replace("\x00", "\ufffd"),
            **where,
        }
    d = item.dead_letter
    return {
        "dead_letter_id": d.dead_letter_id,
        "occurred_at": utc(d.occurred_at),
        "consumer": d.consumer,
        "source_topic": d.source_topic,
        "source_partition": d.source_partition,
        "source_offset": d.source_offset,
        "job_id": d.job_id,
        "error_kind": d.error_kind,
        "reason": d.reason,
        "payload": d.payload.replace("\x00", "\ufffd"),
        **where,
    }


def artifact_row(event: ArtifactCreated) -> Row:
    return {
        "artifact_id": event.artifact_id,
        "job_id": event.job_id,
        "kind": event.kind.value,
        "artifact_schema_version": event.artifact_schema_version,
        "bucket": event.location.bucket,
        "key": event.location.key,
        "version_id": event.location.version_id,
        "sha256": event.sha256,
        "size": event.size,
        "media_type": event.media_type,
        "page": event.page,
        "page_count": event.page_count,
        "transformation_type": event.transformation.type,
        "transformation_version": event.transformation.version,
        "created_at": utc(event.occurred_at),
        "event_id": event.event_id,
    }


def lineage_rows(event: ArtifactCreated) -> list[Row]:
    t = event.transformation
    return [
        {
            "source_artifact_id": source,
            "derived_artifact_id": event.artifact_id,
            "job_id": event.job_id,
            "transformation_type": t.type,
            "transformation_version": t.version,
            "parameters": dict(t.parameters),
            "created_at": utc(event.occurred_at),
        }
        for source in dict.fromkeys(event.source_artifact_ids)  # a source listed twice: one edge
    ]


def transformation_row(event: Event) -> Row | None:
    """History row of a stage event or of a stage's output; None for JobSubmitted/uploads."""
    row: Row = {
        "event_id": event.event_id,
        "job_id": event.job_id,
        "stage": None,
        "status": None,
        "attempt": None,
        "input_artifact_id": None,
        "output_artifact_id": None,
        "transformation_type": None,
        "transformation_version": None,
        "error_kind": None,
        "reason": None,
        "at": utc(event.occurred_at),
    }
    if isinstance(event, StageStarted):
        row.update(
            stage=event.stage.value,
            status="started",
            attempt=event.attempt,
            input_artifact_id=event.input_artifact_id,
        )
    elif isinstance(event, StageFailed):
        row.update(
            stage=event.stage.value if event.stage else None,
            status="failed",
            attempt=event.attempt,
            input_artifact_id=event.input_artifact_id,
            error_kind=event.error_kind,
            reason=event.reason,
        )
    elif isinstance(event, ArtifactCreated):
        stage = producing_stage(event.kind)
        if stage is None or not event.source_artifact_ids:
            return None  # an upload, not the output of a stage
        row.update(
            stage=stage.value,
            status="completed",
            input_artifact_id=event.source_artifact_ids[0],
            output_artifact_id=event.artifact_id,
            transformation_type=event.transformation.type,
            transformation_version=event.transformation.version,
        )
    else:
        return None
    return row


def _parse_iso(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value)  # "...Z" (see state_machine._iso); strptime is 10x slower


def job_row(job_id: uuid.UUID, facts: JobFacts) -> Row:
    """The jobs row for `facts`: every column is a function of the facts alone."""
    sub = facts.submission
    created = (sub.occurred_at if sub else None) or facts.first_seen
    return {
        "job_id": job_id,
        "state": derive_state(facts).value,
        "owner": sub.owner if sub else None,
        "filename": sub.filename if sub else None,
        "first_stage": sub.first_stage.value if sub else None,
        "facts": facts_to_json(facts),
        "created_at": _parse_iso(created),
        "updated_at": _parse_iso(facts.last_seen),
        "last_error": facts.last_error.reason if facts.last_error else None,
        "correlation_id": correlation_uuid(facts),
    }


def earliest_by(rows: Iterable[Row], key: tuple[str, ...], order: tuple[str, ...]) -> list[Row]:
    """One row per `key`: the smallest by `order` (so the choice ignores arrival order)."""
    best: dict[tuple[Any, ...], Row] = {}
    for row in rows:
        k = tuple(row[c] for c in key)
        kept = best.get(k)
        if kept is None or tuple(row[c] for c in order) < tuple(kept[c] for c in order):
            best[k] = row
    return list(best.values())
