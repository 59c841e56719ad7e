"""Backbone overhead per job, beside raw aiokafka latency on the same broker, in one run.

1. Raw: aiokafka produce (acks=all) → consume of a 1 KB message on a topic of its own.
2. Backbone: a render-only job (IR v2 of Mozart K. 545 bars 1-2) submitted through the real
   producer path → render stage (in-process, FastStream, S3 reads/writes, three output
   events) → ledger consumer (in-process, Postgres) → the ledger shows COMPLETED. Measured
   one job at a time from publish to the COMPLETED row; the render transform's own time is
   recorded per job and reported apart, so the overhead is what the backbone adds.

Needs the local stack (`etude stack up`) or ETUDE_* servers, and no other render/ledger
consumers in the groups `etude-render` / `etude-ledger` (stop `etude stack procs-down`).

    python bench/backbone_latency.py --jobs 50 --raw 200
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import time
import uuid
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from music21 import corpus, stream
from sqlalchemy.ext.asyncio import async_sessionmaker

from consumers.render.stage import render_outputs, render_spec
from etude.broker import EventPublisher, make_broker
from etude.logging import configure_logging
from etude.notation.from_music21 import ir_v2_from_source_fingering, score_to_ir_v1
from etude.service import StageService
from etude.settings import Settings, get_settings
from etude.stage import Output
from etude.store import open_store
from ledger.consumer import LedgerConsumer
from ledger.queries import get_job
from ledger.service import make_engine
from ledger.state_machine import JobState
from producers.submit import submit_ir
from schemas import ScoreIRV2


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def describe(name: str, ms: Sequence[float]) -> str:
    return (
        f"{name:42} n={len(ms):3}  median {statistics.median(ms):8.1f} ms"
        f"  p95 {percentile(ms, 0.95):8.1f} ms  min {min(ms):7.1f}  max {max(ms):7.1f}"
    )


async def raw_latency(settings: Settings, n: int) -> list[float]:
    topic = f"bench.latency.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap, group_id=None)
    await producer.start()
    await consumer.start()
    await consumer.seek_to_end()
    payload = b"x" * 1024
    out = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            await producer.send_and_wait(topic, payload)
            await consumer.getone()
            out.append((time.perf_counter() - t0) * 1000)
    finally:
        await producer.stop()
        await consumer.stop()
    return out


def tiny_ir() -> ScoreIRV2:
    score = corpus.parse("mozart/k545/movement1_exposition")
    assert isinstance(score, stream.Score)
    part = score.measures(1, 2)
    assert isinstance(part, stream.Score)
    return ir_v2_from_source_fingering(score_to_ir_v1(part))


async def backbone_latency(settings: Settings, jobs: int) -> tuple[list[float], list[float]]:
    transform_ms: list[float] = []

    def timed(data: bytes) -> Sequence[Output]:
        t0 = time.perf_counter()
        try:
            return render_outputs(data)
        finally:
            transform_ms.append((time.perf_counter() - t0) * 1000)

    spec = dataclasses.replace(render_spec(settings), transform=timed)
    service = StageService(spec, settings)
    engine = make_engine(settings)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    ledger = LedgerConsumer(settings, engine)
    broker = make_broker(settings, client_id="bench-backbone")
    ir = tiny_ir()
    totals: list[float] = []
    await service.start()
    await ledger.start()
    await broker.start()
    ledger_task = asyncio.create_task(ledger.run())
    try:
        async with open_store(settings) as store:
            publisher = EventPublisher(broker)
            for i in range(jobs + 1):  # job 0 warms up group joins and caches
                t0 = time.perf_counter()
                job = await submit_ir(store, publisher, ir)
                while True:
                    async with sessions() as session:
                        view = await get_job(session, job.job_id)
                    if view is not None and view.state == JobState.COMPLETED:
                        break
                    if view is not None and view.state.value.endswith("FAILED"):
                        raise RuntimeError(f"job failed: {view.last_error}")
                    await asyncio.sleep(0.01)
                if i:
                    totals.append((time.perf_counter() - t0) * 1000)
    finally:
        ledger.request_stop()
        await ledger_task
        await ledger.close()
        await broker.stop()
        await service.stop()
        await engine.dispose()
    return totals, transform_ms[1 : jobs + 1]


async def main(jobs: int, raw: int) -> None:
    settings = get_settings()
    print(
        f"broker {settings.kafka_bootstrap}  S3 {settings.s3_endpoint}  db {settings.database_url}"
    )
    raw_ms = await raw_latency(settings, raw)
    totals, transform = await backbone_latency(settings, jobs)
    overhead = [t - r for t, r in zip(totals, transform, strict=True)]
    print(describe("raw aiokafka produce→consume (1 KB)", raw_ms))
    print(describe("job publish → ledger COMPLETED", totals))
    print(describe("  of which render transform", transform))
    print(describe("  backbone overhead (total − transform)", overhead))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--raw", type=int, default=200)
    args = parser.parse_args()
    configure_logging("WARNING", component="bench")
    asyncio.run(main(args.jobs, args.raw))
