"""The ledger consumer and `ledger rebuild` against the real broker of the local stack."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import Sequence

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.structs import RecordMetadata
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from etude.settings import Settings
from ledger import queries
from ledger.consumer import LedgerConsumer
from ledger.models import Job
from ledger.rebuild import read_log, rebuild
from ledger.state_machine import state_of
from ledger.synthetic import JobRun, completed_job, topic_of
from schemas.events import DeadLetter, Event, encode_event
from schemas.kinds import ArtifactKind, StageName
from schemas.topics import ALL_TOPICS, DLQ, STAGE
from tests.integration.pipeline import log_end

pytestmark = pytest.mark.integration


async def publish(
    settings: Settings, items: Sequence[tuple[str, bytes, bytes]]
) -> list[RecordMetadata]:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        sent = [await producer.send(topic, value, key=key) for topic, key, value in items]
        return list(await asyncio.gather(*sent))
    finally:
        await producer.stop()


def event_items(events: Sequence[Event]) -> list[tuple[str, bytes, bytes]]:
    return [(topic_of(e), str(e.job_id).encode(), encode_event(e)) for e in events]


async def end_offsets(settings: Settings) -> dict[TopicPartition, int]:
    """Where every partition of every topic ends now (read, not asked: see `log_end`)."""
    return await log_end(settings, ALL_TOPICS)


async def consume_to(
    ledger: LedgerConsumer, end: dict[TopicPartition, int], within_s: float
) -> None:
    """Poll until the ledger's group has committed every partition up to `end`."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        await ledger.poll_once(timeout_ms=500)
        if not ledger.consumer.assignment() >= set(end):
            continue
        committed = {tp: await ledger.consumer.committed(tp) or 0 for tp in end}
        if all(committed[tp] >= n for tp, n in end.items()):
            return
    raise AssertionError("the ledger did not reach the end of the log in time")


def mixed_jobs(n: int) -> list[list[Event]]:
    jobs = []
    for i in range(n):
        run = JobRun(owner=f"kafka-user{i % 2}").submit()
        pdf = run.artifact(ArtifactKind.PDF)
        if i % 3 == 0:
            run.started(StageName.OMR, pdf).failed(StageName.OMR, pdf)
        else:
            run.render(run.fingering(run.omr(pdf)), pages=1 + i % 3)
        jobs.append(run.events)
    return jobs


async def test_live_ledger_equals_rebuild(stack: Settings, engine: AsyncEngine) -> None:
    jobs = mixed_jobs(30)
    events = [e for job in jobs for e in job]
    items = event_items(events)
    own = {job[0].job_id for job in jobs}
    items += items[:10]  # redelivered events
    items.append((STAGE, b"garbage", b"\x00not an event"))
    letter = DeadLetter(
        consumer="etude.render",
        source_topic="etude.artifact.ir_v2",
        job_id=jobs[0][0].job_id,
        error_kind="bad_input",
        reason="no measures",
        payload="{}",
    )
    items.append((DLQ, str(letter.job_id).encode(), letter.model_dump_json().encode()))
    *_, garbage, _ = await publish(stack, items)
    end = await end_offsets(stack)

    ledger = LedgerConsumer(stack, engine, group_id=f"test-ledger-{uuid.uuid4().hex[:8]}")
    await ledger.start()
    try:
        await consume_to(ledger, end, within_s=90)
    finally:
        await ledger.close()

    async with AsyncSession(engine) as session:
        for job in jobs:
            view = await queries.get_job(session, job[0].job_id)
            assert view is not None
            assert view.state == state_of(job)
        letters = await queries.dead_letters(session, limit=10_000)
        live = await queries.snapshot(session, job_ids=own)
    assert any(d.dead_letter_id == letter.dead_letter_id for d in letters)
    assert malformed_at(letters, garbage) == 1

    # The session's broker is shared: other tests' stages may still append to it, and the
    # rebuild reads to the log's end as of its own start; so this test's rows are compared.
    report = await rebuild(stack, engine=engine)
    assert report.records >= len(items)
    async with AsyncSession(engine) as session:
        rebuilt = await queries.snapshot(session, job_ids=own)
        letters = await queries.dead_letters(session, limit=10_000)
    assert_same(rebuilt, live)
    assert live["jobs"] and live["dead_letters"] and live["processed_events"]
    assert malformed_at(letters, garbage) == 1


def malformed_at(letters: Sequence[queries.DeadLetterView], record: RecordMetadata) -> int:
    """How many of `letters` are the ledger's own record of the undecodable `record`."""
    return sum(
        1
        for d in letters
        if d.consumer == "etude.ledger"
        and d.error_kind == "malformed"
        and (d.source_topic, d.source_partition, d.source_offset)
        == (record.topic, record.partition, record.offset)
    )


async def test_python_m_ledger_projects_and_stops_on_sigterm(
    stack: Settings, ledger_url: str, engine: AsyncEngine
) -> None:
    job = completed_job(pages=1)
    env = {**os.environ, "ETUDE_DATABASE_URL": ledger_url}
    group = f"test-ledger-proc-{uuid.uuid4().hex[:8]}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ledger",
        "run",
        "--group-id",
        group,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        await publish(stack, event_items(job))
        deadline = time.monotonic() + 60
        state = None
        while time.monotonic() < deadline and state != "COMPLETED":
            await asyncio.sleep(0.5)
            async with engine.connect() as conn:
                state = (
                    await conn.execute(select(Job.state).where(Job.job_id == job[0].job_id))
                ).scalar()
        assert state == "COMPLETED"
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    log = out.decode(errors="replace")
    assert proc.returncode == 0, log[-3000:]
    assert '"msg": "ledger.stopped"' in log, log[-3000:]


def assert_same(rebuilt: queries.Snapshot, live: queries.Snapshot) -> None:
    """rebuilt == live, naming the rows that differ when it is not."""
    for table in live.keys() | rebuilt.keys():
        a, b = set(rebuilt.get(table, [])), set(live.get(table, []))
        assert a == b, (
            table,
            {"rebuild only": sorted(a - b, key=repr)[:5]},
            {"live only": sorted(b - a, key=repr)[:5]},
        )
    assert rebuilt == live  # multiplicities too


async def test_the_log_is_read_to_the_last_record_of_a_big_last_batch(stack: Settings) -> None:
    """One record batch of 60 records ends the partition, read 7 records at a time.

    Tansu answers ListOffsets(latest) with the last batch's base offset + 1; a reader that
    stops at that offset once its position passes it loses the rest of a batch it took only
    part of (the rebuild then differed from the live ledger)."""
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, linger_ms=500)
    await producer.start()
    try:
        key = uuid.uuid4().hex.encode()
        sent = [await producer.send(DLQ, b"\x00tail %d" % i, key=key) for i in range(60)]
        written = list(await asyncio.gather(*sent))
    finally:
        await producer.stop()
    assert len({m.partition for m in written}) == 1
    assert written[-1].offset - written[0].offset == 59  # one partition, contiguous
    seen = {
        (r.partition, r.offset)
        async for records in read_log(stack, [DLQ], max_records=7)
        for r in records
    }
    assert {(m.partition, m.offset) for m in written} <= seen
