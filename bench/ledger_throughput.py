"""Ledger throughput: events per second projected into Postgres by the ledger's consumer code.

Pre-fills topics of its own (`bench.<run>.etude.*`, so the pipeline's topics stay clean) with N
realistic events (whole job runs: JobSubmitted, upload, StageStarted and ArtifactCreated per
stage, 1-4 SVG pages, some OMR failures), then runs `LedgerConsumer` from offset 0 with a
fresh group into a fresh database (created on the configured server, dropped afterwards) and
prints events/s. Needs the local stack (`etude stack up`) or servers named by ETUDE_*.

    python bench/ledger_throughput.py --events 50000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import time
import uuid
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from etude.logging import configure_logging
from etude.settings import Settings, get_settings
from ledger.consumer import LedgerConsumer
from ledger.migrate import upgrade_to_head_async
from ledger.models import Job
from ledger.scratch import scratch_database
from ledger.synthetic import JobRun, topic_of
from schemas.events import Event, encode_event
from schemas.kinds import ArtifactKind, StageName
from schemas.topics import ALL_TOPICS, DLQ


def job_events(rng: random.Random) -> list[Event]:
    run = JobRun(owner=f"user{rng.randint(1, 50)}").submit()
    pdf = run.artifact(ArtifactKind.PDF)
    if rng.random() < 0.1:
        run.started(StageName.OMR, pdf).failed(StageName.OMR, pdf, reason="no staves found")
        return run.events
    run.render(run.fingering(run.omr(pdf)), pages=rng.randint(1, 4))
    return run.events


def make_events(n: int, seed: int = 1) -> list[Event]:
    rng = random.Random(seed)
    events: list[Event] = []
    while len(events) < n:
        events += job_events(rng)
    return events


async def create_topics(settings: Settings, topics: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        parts = settings.kafka_topic_partitions
        await admin.create_topics([NewTopic(t, parts, 1) for t in topics])
    finally:
        await admin.close()


async def prefill(settings: Settings, prefix: str, events: list[Event]) -> float:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5, max_batch_size=262144
    )
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        for e in events:
            key = str(e.job_id).encode()
            pending.append(await producer.send(prefix + topic_of(e), encode_event(e), key=key))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - started


@contextlib.asynccontextmanager
async def bench_database(server_url: str, name: str) -> AsyncIterator[str]:
    """A fresh database on the server of `server_url`, dropped afterwards."""
    async with scratch_database(server_url, name) as url:
        if url is None:
            raise SystemExit(f"cannot create database {name} on the server of {server_url}")
        yield url


async def backend_pids(engine: AsyncEngine) -> list[int]:
    """Pids of the server processes serving this database, when the server runs here."""
    async with engine.connect() as conn:
        pids = (
            await conn.execute(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                    " AND backend_type = 'client backend'"
                )
            )
        ).scalars()
        return list(pids)


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of `pids` from /proc (Linux), in seconds (0 for a remote server)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / ticks


async def measure(settings: Settings, n: int, max_records: int) -> None:
    run = uuid.uuid4().hex[:8]
    prefix = f"bench.{run}."
    topics = [prefix + t for t in ALL_TOPICS if t != DLQ]
    events = make_events(n)
    await create_topics(settings, topics)
    produce_s = await prefill(settings, prefix, events)
    jobs = len({e.job_id for e in events})
    print(f"pre-filled {len(events)} events of {jobs} jobs in {produce_s:.1f} s")

    async with bench_database(settings.database_url, f"etude_bench_{run}") as url:
        await upgrade_to_head_async(url)
        # One connection, so its one server process does all the work that is measured.
        engine = create_async_engine(url, pool_size=1, max_overflow=0)
        ledger = LedgerConsumer(
            settings, engine, topics=topics, group_id=f"bench-{run}", max_records=max_records
        )
        await ledger.start()
        backends = await backend_pids(engine)
        pg_cpu_before = cpu_seconds(backends)
        try:
            started = time.perf_counter()
            cpu_started = time.process_time()
            first_batch: float | None = None
            batches = 0
            while ledger.projected < len(events):
                result = await ledger.poll_once(timeout_ms=1000)
                if result is not None:
                    batches += 1
                    if first_batch is None:
                        first_batch = time.perf_counter()
                if time.perf_counter() - started > 600:
                    raise SystemExit(f"timed out at {ledger.projected} events")
            done = time.perf_counter()
            own_cpu = time.process_time() - cpu_started
            pg_cpu = cpu_seconds(backends) - pg_cpu_before
        finally:
            await ledger.close()
        async with engine.connect() as conn:
            rows = (await conn.execute(select(func.count()).select_from(Job))).scalar_one()
        await engine.dispose()

    assert first_batch is not None
    total_s, steady_s = done - started, done - first_batch
    print(f"projected {ledger.projected} events ({rows} jobs) in {batches} batches")
    print(f"  including group join: {total_s:.2f} s = {len(events) / total_s:,.0f} events/s")
    print(f"  from the first batch: {steady_s:.2f} s = {len(events) / steady_s:,.0f} events/s")
    n = len(events)
    print(
        f"  CPU per event: ledger process {own_cpu / n * 1e6:.0f} µs,"
        f" Postgres backends {pg_cpu / n * 1e6:.0f} µs"
        + ("" if pg_cpu else " (server not local: not measured)")
    )
    if own_cpu + pg_cpu > 0:
        # Both sides work in turn (the ledger waits for each statement), so on otherwise idle
        # cores the rate is bounded by their sum: a figure independent of other load.
        print(f"  CPU-bound rate (idle machine): {n / (own_cpu + pg_cpu):,.0f} events/s")
    print(f"  machine load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--max-records", type=int, default=1000, help="records per batch")
    args = parser.parse_args()
    settings = get_settings()
    configure_logging("WARNING", component="bench.ledger")
    asyncio.run(measure(settings, args.events, args.max_records))


if __name__ == "__main__":
    main()
