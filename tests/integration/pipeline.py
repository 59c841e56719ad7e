"""Shared pieces of the pipeline integration tests: inputs, running stages, submitting."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, TopicPartition
from music21 import corpus

from etude.broker import EventPublisher, make_broker
from etude.notation.from_music21 import ir_v2_from_source_fingering, score_to_ir_v1
from etude.service import StageService
from etude.settings import Settings
from etude.stage import StageSpec
from etude.store import ArtifactStore, open_store
from schemas import ScoreIRV2

RENDER_GROUP = "etude-render"


@functools.cache
def clara_ir_v2(last_measure: int | None = None) -> ScoreIRV2:
    """A real score (music21 corpus, Clara Schumann Op.1 no.1) with its editorial fingering."""
    score = corpus.parse("schumann_clara/polonaise_op1n1")
    if last_measure is not None:
        score = score.measures(1, last_measure)
    return ir_v2_from_source_fingering(score_to_ir_v1(score))


@asynccontextmanager
async def running_stage(
    settings: Settings, spec: StageSpec, group_id: str = RENDER_GROUP
) -> AsyncIterator[StageService]:
    service = StageService(spec, settings, group_id=group_id, watchdog_interval_s=0.5)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


@asynccontextmanager
async def producer(settings: Settings) -> AsyncIterator[tuple[ArtifactStore, EventPublisher]]:
    broker = make_broker(settings, client_id="etude-tests")
    await broker.start()
    try:
        async with open_store(settings) as store:
            yield store, EventPublisher(broker)
    finally:
        await broker.stop()


async def log_end(settings: Settings, topics: Sequence[str]) -> dict[TopicPartition, int]:
    """The offset after each partition's last record, read from the log itself.

    Tansu 0.6 answers ListOffsets(latest) with the last record batch's base offset + 1 (see
    ledger/rebuild.py), which falls short when that batch holds several records; waiting for a
    reader to commit that offset would stop it inside the batch."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        await consumer.topics()
        tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        end = dict(await consumer.end_offsets(tps))
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, max(end[tp] - 1, 0))
        while batches := await consumer.getmany(timeout_ms=1000):
            for tp, records in batches.items():
                end[tp] = max(end[tp], records[-1].offset + 1)
        return end
    finally:
        await consumer.stop()


async def drained(settings: Settings, group_id: str, topic: str, within_s: float = 60.0) -> None:
    """Wait until `group_id` has committed every record of `topic` (as of the call)."""
    end = await log_end(settings, [topic])
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=group_id, enable_auto_commit=False
    )
    await consumer.start()  # never subscribes: it only reads the group's committed offsets
    try:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            committed = [await consumer.committed(tp) or 0 for tp in end]
            if all(c >= n for c, n in zip(committed, end.values(), strict=True)):
                return
            await asyncio.sleep(0.25)
        raise AssertionError(f"{group_id} did not drain {topic} in {within_s} s")
    finally:
        await consumer.stop()
