"""Apply a batch of Kafka records to the ledger in one transaction.

1. Decode every record (malformed ones become dead letters; nothing raises).
2. Insert one tracking row per record, ON CONFLICT DO NOTHING; only records whose row was new
   are projected, so a redelivered batch, or an event seen twice, is a no-op.
3. Jobs: create missing rows (defaults), lock the batch's jobs (SELECT ... FOR UPDATE, in
   job_id order so that two ledgers never deadlock), merge the new events' facts in Python and
   write back the derived columns. Creating the rows before locking them is what makes two
   concurrent ledgers safe: a lock on a row that does not exist yet would protect nothing.
4. Artifacts, lineage, transformation history and dead letters: multi-row inserts.

Every statement sends the whole batch at once (executemany / multi-row VALUES).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import astuple, dataclass

from sqlalchemy import Table, bindparam, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger import rows
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
from ledger.state_machine import JobFacts, JobState, facts_from_json, facts_of, facts_to_json
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


async def apply_batch(engine: AsyncEngine, records: Sequence[RawRecord]) -> BatchResult:
    """Project `records` in one transaction (committed on return, rolled back on error)."""
    async with engine.begin() as conn:
        return await project(conn, records)


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
    if not decoded:
        return set()
    stmt = (
        pg_insert(TRACKING)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(TRACKING.c.event_id)
    )
    result = await conn.execute(stmt, [rows.tracking_row(d) for d in decoded])
    return set(result.scalars().all())


async def _project_jobs(conn: AsyncConnection, events: list[Event]) -> int:
    if not events:
        return 0
    new_facts: dict[uuid.UUID, JobFacts] = defaultdict(JobFacts)
    for event in events:
        new_facts[event.job_id] = new_facts[event.job_id].merge(facts_of(event))
    job_ids = sorted(new_facts)

    # Rows first (a job may first be seen through any event), then lock them in a fixed order.
    skeleton = [
        {"job_id": j, "state": JobState.PENDING.value, "facts": facts_to_json(JobFacts())}
        for j in job_ids
    ]
    await conn.execute(pg_insert(JOBS).on_conflict_do_nothing(index_elements=["job_id"]), skeleton)
    locked = await conn.execute(
        select(JOBS.c.job_id, JOBS.c.facts)
        .where(JOBS.c.job_id.in_(job_ids))
        .order_by(JOBS.c.job_id)
        .with_for_update()
    )
    current = {job_id: facts_from_json(data) for job_id, data in locked.all()}

    updates = []
    for job_id in job_ids:
        merged = current.get(job_id, JobFacts()).merge(new_facts[job_id])
        row = rows.job_row(job_id, merged)
        row["b_job_id"] = row.pop("job_id")
        updates.append(row)
    stmt = update(JOBS).where(JOBS.c.job_id == bindparam("b_job_id"))
    await conn.execute(stmt, updates)
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
    if not unique:
        return
    stmt = pg_insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(key),
        set_={c.name: stmt.excluded[c.name] for c in table.c if c.name not in key},
        where=tuple_(*(stmt.excluded[c] for c in order)) < tuple_(*(table.c[c] for c in order)),
    )
    await conn.execute(stmt, unique)


async def _insert_new(conn: AsyncConnection, table: Table, new_rows: list[rows.Row]) -> None:
    if new_rows:
        await conn.execute(pg_insert(table).on_conflict_do_nothing(), new_rows)


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
