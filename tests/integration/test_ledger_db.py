"""The ledger's projection against a real Postgres (a private database on the stack's server)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Sequence

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from etude.settings import Settings
from ledger import queries
from ledger.consumer import BatchProjector
from ledger.migrate import current_heads
from ledger.models import Artifact, Base, DeadLetterRow, Job, ProcessedEvent
from ledger.projection import apply_batch
from ledger.rebuild import truncate_projections
from ledger.records import RawRecord
from ledger.state_machine import JobState, facts_to_json, fold, state_of
from ledger.synthetic import JobRun, completed_job, topic_of
from schemas.events import DeadLetter, Event, encode_event
from schemas.kinds import ArtifactKind, StageName
from schemas.topics import DLQ, STAGE

pytestmark = pytest.mark.integration


def records_of(events: Sequence[Event]) -> list[RawRecord]:
    """Kafka records as a broker would hold them: per topic, offsets in publication order."""
    offsets: dict[str, int] = {}
    out = []
    for e in events:
        topic = topic_of(e)
        offsets[topic] = offsets.get(topic, -1) + 1
        out.append(RawRecord(topic, 0, offsets[topic], encode_event(e)))
    return out


async def apply_in_batches(engine: AsyncEngine, records: Sequence[RawRecord], size: int) -> None:
    for i in range(0, len(records), size):
        await apply_batch(engine, records[i : i + size])


async def snapshot(engine: AsyncEngine) -> dict[str, list[tuple[object, ...]]]:
    async with AsyncSession(engine) as session:
        return await queries.snapshot(session)


async def count(engine: AsyncEngine, model: type[Base]) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(model))).scalar_one())


def mixed_jobs(n: int, seed: int = 0) -> list[list[Event]]:
    """Jobs in every kind of outcome."""
    rng = random.Random(seed)
    jobs: list[list[Event]] = []
    for i in range(n):
        run = JobRun(owner=f"user{i % 3}").submit()
        pdf = run.artifact(ArtifactKind.PDF)
        outcome = i % 5
        if outcome == 0:
            run.started(StageName.OMR, pdf).failed(StageName.OMR, pdf)
        elif outcome == 1:
            run.started(StageName.OMR, pdf).failed(StageName.OMR, pdf)
            run.render(run.fingering(run.omr(pdf, attempt=1)), pages=rng.randint(1, 3))
        elif outcome == 2:
            run.fingering(run.omr(pdf))
        else:
            run.render(run.fingering(run.omr(pdf)), pages=rng.randint(1, 4))
        jobs.append(run.events)
    return jobs


# -- schema ---------------------------------------------------------------------------------------


async def test_migration_is_at_head_and_matches_models(engine: AsyncEngine) -> None:
    def diff(conn: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))

    async with engine.connect() as conn:
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        assert (version,) == current_heads()
        assert await conn.run_sync(diff) == []


# -- idempotency ---------------------------------------------------------------------------------


async def test_duplicates_make_one_row(engine: AsyncEngine) -> None:
    events = completed_job(pages=3)
    records = records_of(events)
    await apply_batch(engine, records + records[:4])  # duplicates inside one batch
    first = await snapshot(engine)
    result = await apply_batch(engine, records)  # redelivered batch
    assert result.projected == 0
    assert result.duplicates == len(records)
    await apply_in_batches(engine, list(reversed(records)), 3)
    assert await snapshot(engine) == first
    assert await count(engine, Artifact) == sum(e.event_type == "ArtifactCreated" for e in events)
    assert await count(engine, ProcessedEvent) == len(events)
    assert await count(engine, Job) == 1


async def test_same_artifact_announced_twice_keeps_the_earliest(engine: AsyncEngine) -> None:
    events = completed_job()
    art = next(e for e in events if e.event_type == "ArtifactCreated")
    again = art.model_copy(
        update={"event_id": uuid.uuid4(), "occurred_at": art.occurred_at.replace(year=2030)}
    )
    assert isinstance(again, type(art))
    recs = records_of([*events, again])
    await apply_batch(engine, [recs[-1]])  # the later announcement first
    await apply_in_batches(engine, recs[:-1], 5)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(Artifact.event_id, Artifact.created_at))).all()
        kept = {r.event_id for r in rows}
    assert art.event_id in kept
    assert again.event_id not in kept
    assert len(rows) == sum(e.event_type == "ArtifactCreated" for e in events)


# -- order ---------------------------------------------------------------------------------------


async def test_out_of_order_across_topics_gives_the_same_ledger(engine: AsyncEngine) -> None:
    jobs = mixed_jobs(25)
    records = records_of([e for job in jobs for e in job])
    await apply_in_batches(engine, records, 17)
    causal = await snapshot(engine)

    await truncate_projections(engine)
    shuffled = list(records)
    random.Random(1).shuffle(shuffled)
    await apply_in_batches(engine, shuffled, 7)
    assert await snapshot(engine) == causal

    await truncate_projections(engine)
    # Worst case per topic: every artifact topic before the stage topic.
    by_topic = sorted(records, key=lambda r: (r.topic == STAGE, r.topic))
    await apply_in_batches(engine, by_topic, 50)
    assert await snapshot(engine) == causal

    async with AsyncSession(engine) as session:
        for job in jobs:
            view = await queries.get_job(session, job[0].job_id)
            assert view is not None
            assert view.state == state_of(job)
            assert view.owner is not None


async def test_job_first_seen_without_submission_is_filled_later(engine: AsyncEngine) -> None:
    events = completed_job()
    records = records_of(events)
    await apply_batch(engine, records[1:])
    async with AsyncSession(engine) as session:
        early = await queries.get_job(session, events[0].job_id)
    assert early is not None
    assert early.owner is None
    assert early.state is JobState.COMPLETED
    await apply_batch(engine, records[:1])
    async with AsyncSession(engine) as session:
        late = await queries.get_job(session, events[0].job_id)
    assert late is not None
    assert (late.owner, late.filename, late.first_stage) == ("alice", "score.pdf", "omr")
    assert late.created_at == events[0].occurred_at


async def test_concurrent_ledgers_lose_no_update(ledger_url: str, engine: AsyncEngine) -> None:
    """Two ledgers (stage topic / artifact topics) writing the same jobs at the same time."""
    jobs = mixed_jobs(40, seed=2)
    records = records_of([e for job in jobs for e in job])
    stage = [r for r in records if r.topic == STAGE]
    artifacts = [r for r in records if r.topic != STAGE]
    other = create_async_engine(ledger_url)
    try:
        await asyncio.gather(
            apply_in_batches(engine, stage, 9), apply_in_batches(other, artifacts, 11)
        )
    finally:
        await other.dispose()
    async with AsyncSession(engine) as session:
        for job in jobs:
            view = await queries.get_job(session, job[0].job_id)
            assert view is not None
            assert view.state == state_of(job)
            assert view.facts == facts_to_json(fold(job))


# -- bad input ----------------------------------------------------------------------------------


async def test_malformed_message_is_skipped_and_recorded(engine: AsyncEngine) -> None:
    events = completed_job()
    records = records_of(events)
    garbage = RawRecord(STAGE, 0, 999, b'{"event_type": "JobSubmitted", "job_id": 1')
    batch = [*records[:3], garbage, *records[3:]]
    result = await apply_batch(engine, batch)
    assert result.malformed == 1
    assert result.projected == len(events)
    again = await apply_batch(engine, batch)
    assert again.projected == again.malformed == 0
    async with AsyncSession(engine) as session:
        letters = await queries.dead_letters(session)
        job = await queries.get_job(session, events[0].job_id)
    assert len(letters) == 1
    assert letters[0].consumer == "etude.ledger"
    assert letters[0].source_offset == 999
    assert "malformed event JSON" in letters[0].reason
    assert job is not None
    assert job.state is JobState.COMPLETED
    async with engine.connect() as conn:
        tracked = (
            await conn.execute(select(ProcessedEvent).where(ProcessedEvent.offset == 999))
        ).one()
    assert tracked.event_type == "Malformed"


async def test_dlq_records_are_projected(engine: AsyncEngine) -> None:
    job_id = uuid.uuid4()
    dl = DeadLetter(
        consumer="etude.omr",
        source_topic="etude.artifact.pdf",
        job_id=job_id,
        error_kind="bad_input",
        reason="not a PDF",
        payload="{}",
    )
    record = RawRecord(DLQ, 0, 0, dl.model_dump_json().encode())
    result = await apply_batch(engine, [record, record])
    assert result.dead_letters == 1
    async with AsyncSession(engine) as session:
        (letter,) = await queries.dead_letters(session, job_id=job_id)
    assert letter.dead_letter_id == dl.dead_letter_id
    assert letter.reason == "not a PDF"


async def test_record_the_database_refuses_is_set_aside(
    engine: AsyncEngine, stack: Settings
) -> None:
    """A value Postgres cannot store (NUL in text) must not block the ledger forever."""
    events = completed_job()
    poisoned = events[0].model_copy(update={"filename": "a\x00b.pdf"})
    records = records_of([poisoned, *events[1:]])
    projector = BatchProjector(engine, stack, asyncio.Event())
    result = await projector.project(records)
    assert result is not None
    assert result.projected == len(events) - 1
    assert result.malformed == 1
    async with engine.connect() as conn:
        (reason,) = (await conn.execute(select(DeadLetterRow.reason))).scalars().all()
    assert "could not project" in reason


# -- queries --------------------------------------------------------------------------------------


async def test_lineage_history_and_listing(engine: AsyncEngine) -> None:
    run = JobRun(owner="carol").submit()
    pdf = run.artifact(ArtifactKind.PDF)
    run.started(StageName.OMR, pdf).failed(StageName.OMR, pdf, reason="blurred")
    run.render(run.fingering(run.omr(pdf, attempt=1)), pages=2)
    await apply_batch(engine, records_of(run.events))
    async with AsyncSession(engine) as session:
        graph = await queries.get_lineage(session, run.job_id)
        history = await queries.job_transformations(session, run.job_id)
        applied = await queries.job_events(session, run.job_id)
        mine = await queries.list_jobs(session, owner="carol")
        nobody = await queries.list_jobs(session, owner="nobody")
        failed = await queries.list_jobs(session, state=JobState.FAILED)
    assert len(graph.nodes) == 7  # pdf, ir_v1, ir_v2, musicxml, midi, 2 svg
    assert len(graph.edges) == 6
    (root,) = graph.roots
    assert root.kind == "pdf"
    tree = graph.as_tree()
    assert tree[0]["children"][0]["kind"] == "ir_v1"
    assert tree[0]["children"][0]["transformation"]["type"] == "omr"
    render_outputs = tree[0]["children"][0]["children"][0]["children"]
    assert [c["kind"] for c in render_outputs] == ["musicxml", "midi", "svg", "svg"]
    assert [h.status for h in history].count("failed") == 1
    assert any(h.reason == "blurred" for h in history)
    assert len(applied) == len(run.events)
    assert [j.job_id for j in mine] == [run.job_id]
    assert mine[0].state is JobState.COMPLETED
    assert nobody == []
    assert failed == []
