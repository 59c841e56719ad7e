"""Apply a batch of Kafka records to the ledger in one transaction.

1. Decode every record (malformed ones become dead letters; nothing raises).
2. Insert one tracking row per record, ON CONFLICT DO NOTHING; only records whose row was new
   are projected, so a redelivered batch, or an event seen twice, is a no-op.
3. Jobs: lock the batch's existing job rows (SELECT ... FOR UPDATE, in job_id order), merge the
   new events' facts in Python, write back the derived columns. Jobs seen for the first time
   are inserted ON CONFLICT DO NOTHING; one that another ledger created meanwhile (a lock on
   a row that did not exist protected nothing) is then locked and merged like the others.
4. Artifacts, lineage, transformation history and dead letters: multi-row inserts.

Every statement sends the whole batch at once (column arrays, see ledger.bulk).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import astuple, dataclass

from sqlalchemy import Table, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger import bulk, rows
from ledger.models import (
    Artifact,
    ArtifactLineage,
    DeadLetterRow,
    Job,
    ProcessedEvent,
    TransformationRun,
)
from ledger.records import (
    Decoded,
    DecodedDeadLetter,
    DecodedEvent,
    Malformed,
    RawRecord,
    decode_record,
)
from ledger.state_machine import JobFacts, facts_from_json, facts_of
from schemas.events import ArtifactCreated, Event

JOBS: Table = Job.__table__  # type: ignore[assignment]
ARTIFACTS: Table = Artifact.__table__  # type: ignore[assignment]
LINEAGE: Table = ArtifactLineage.__table__  # type: ignore[assignment]
TRANSFORMATIONS: Table = TransformationRun.__table__  # type: ignore[assignment]
TRACKING: Table = ProcessedEvent.__table__  # type: ignore[assignment]
DEAD_LETTERS: Table = DeadLetterRow.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class BatchResult:
    records: int  # records in the batch
    projected: int  # new events applied
    duplicates: int  # records already tracked (or repeated within the batch)
    malformed: int  # new records that could not be decoded
    dead_letters: int  # new etude.dlq records
    jobs: int  # jobs whose row was written

    def __add__(self, other: BatchResult) -> BatchResult:
        return BatchResult(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


# Deadlock and serialization failure: Postgres rolled the transaction back; run it again.
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
_TRANSACTION_ATTEMPTS = 5


def _sqlstate(exc: DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None)


async def apply_batch(engine: AsyncEngine, records: Sequence[RawRecord]) -> BatchResult:
    """Project `records` in one transaction (committed on return, rolled back on error).

    Two ledgers writing the same new jobs can deadlock on the jobs' index entries; Postgres
    then aborts one transaction, which is simply run again.
    """
    for attempt in range(1, _TRANSACTION_ATTEMPTS + 1):
        try:
            async with engine.begin() as conn:
                return await project(conn, records)
        except DBAPIError as exc:
            if _sqlstate(exc) not in _RETRYABLE_SQLSTATES or attempt == _TRANSACTION_ATTEMPTS:
                raise
            await asyncio.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


async def project(conn: AsyncConnection, records: Sequence[RawRecord]) -> BatchResult:
    """Project `records` inside the caller's transaction on `conn`."""
    decoded = _unique([decode_record(r) for r in records])
    new_ids = await _track(conn, decoded)
    fresh = [d for d in decoded if d.tracking_id in new_ids]
    events = [d.event for d in fresh if isinstance(d, DecodedEvent)]
    rejected = [d for d in fresh if isinstance(d, DecodedDeadLetter | Malformed)]

    jobs = await _project_jobs(conn, events)
    artifacts = [e for e in events if isinstance(e, ArtifactCreated)]
    await _upsert_earliest(
        conn,
        ARTIFACTS,
        [rows.artifact_row(e) for e in artifacts],
        key=("artifact_id",),
        order=("created_at", "event_id"),
    )
    await _upsert_earliest(
        conn,
        LINEAGE,
        [r for e in artifacts for r in rows.lineage_rows(e)],
        key=("source_artifact_id", "derived_artifact_id"),
        order=("created_at", "job_id"),
    )
    history = [r for e in events if (r := rows.transformation_row(e)) is not None]
    await _insert_new(conn, TRANSFORMATIONS, history)
    await _insert_new(conn, DEAD_LETTERS, [rows.dead_letter_row(d) for d in rejected])
    return BatchResult(
        records=len(records),
        projected=len(events),
        duplicates=len(records) - len(fresh),
        malformed=sum(isinstance(d, Malformed) for d in fresh),
        dead_letters=sum(isinstance(d, DecodedDeadLetter) for d in fresh),
        jobs=jobs,
    )


def _unique(decoded: list[Decoded]) -> list[Decoded]:
    """First occurrence of each tracking id (a batch may hold an event twice)."""
    seen: dict[uuid.UUID, Decoded] = {}
    for d in decoded:
        seen.setdefault(d.tracking_id, d)
    return list(seen.values())


async def _track(conn: AsyncConnection, decoded: list[Decoded]) -> set[uuid.UUID]:
    """Insert tracking rows; return the ids that were not tracked before."""
    new = await bulk.insert_rows(
        conn,
        TRACKING,
        [rows.tracking_row(d) for d in decoded],
        "ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
    )
    return set(new)


_LOCK_JOBS = text(
    "SELECT job_id, facts FROM jobs WHERE job_id = ANY(CAST(:ids AS UUID[]))"
    " ORDER BY job_id FOR UPDATE"
)


async def _lock_jobs(conn: AsyncConnection, job_ids: list[uuid.UUID]) -> dict[uuid.UUID, JobFacts]:
    """Lock the rows of `job_ids` that exist; return their stored facts."""
    if not job_ids:
        return {}
    result = await conn.execute(_LOCK_JOBS, {"ids": job_ids})
    return {
        job_id: facts_from_json(json.loads(data) if isinstance(data, str) else data)
        for job_id, data in result.all()
    }


async def _project_jobs(conn: AsyncConnection, events: list[Event]) -> int:
    if not events:
        return 0
    new_facts: dict[uuid.UUID, JobFacts] = defaultdict(JobFacts)
    for event in events:
        new_facts[event.job_id] = new_facts[event.job_id].merge(facts_of(event))
    job_ids = sorted(new_facts)

    stored = await _lock_jobs(conn, job_ids)
    unseen = [j for j in job_ids if j not in stored]
    created = set(
        await bulk.insert_rows(
            conn,
            JOBS,
            [rows.job_row(j, new_facts[j]) for j in unseen],
            "ON CONFLICT (job_id) DO NOTHING RETURNING job_id",
        )
    )
    # Created by a concurrent ledger since our SELECT: lock and merge those too.
    stored |= await _lock_jobs(conn, [j for j in unseen if j not in created])
    await bulk.update_rows(
        conn,
        JOBS,
        [rows.job_row(j, facts.merge(new_facts[j])) for j, facts in sorted(stored.items())],
        key="job_id",
    )
    return len(job_ids)


async def _upsert_earliest(
    conn: AsyncConnection,
    table: Table,
    new_rows: list[rows.Row],
    key: tuple[str, ...],
    order: tuple[str, ...],
) -> None:
    """Insert rows; on a key conflict keep whichever row is earliest by `order`.

    So the stored row is the same whatever order the duplicates arrived in (a rebuild equals
    the live ledger), and a duplicate still yields one row.
    """
    unique = rows.earliest_by(new_rows, key, order)
    await bulk.insert_rows(conn, table, unique, bulk.upsert_earliest_tail(table, key, order))


async def _insert_new(conn: AsyncConnection, table: Table, new_rows: list[rows.Row]) -> None:
    await bulk.insert_rows(conn, table, new_rows, "ON CONFLICT DO NOTHING")


async def record_unprojectable(engine: AsyncEngine, record: RawRecord, reason: str) -> None:
    """Track a record the database refused (e.g. a value it cannot store) as a dead letter.

    Used when one record makes its whole batch fail with a data error: the batch is retried
    record by record and the refused one is kept here instead of blocking the ledger forever.
    """
    item = Malformed(record, f"ledger could not project it: {reason}", _job_id_of(record))
    async with engine.begin() as conn:
        await _track(conn, [item])
        await _insert_new(conn, DEAD_LETTERS, [rows.dead_letter_row(item)])


def _job_id_of(record: RawRecord) -> uuid.UUID | None:
    decoded = decode_record(record)
    return decoded.event.job_id if isinstance(decoded, DecodedEvent) else None
