"""`ledger rebuild`: truncate the projections, then replay every topic from offset 0.

The replay reads with a group-less consumer (manual assignment, nothing committed), up to the
end offsets captured when it starts, through the same projection code as the live ledger; so
the result equals the live ledger for the same log. Events appended meanwhile are left to the
live ledger (if it runs, its tracking rows make any overlap a no-op).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from etude.log_reading import batches_to_end
from etude.logging import get_logger
from etude.settings import Settings
from ledger.consumer import MAX_RECORDS, BatchProjector, raw_records
from ledger.models import PROJECTION_TABLES
from ledger.projection import BatchResult
from ledger.records import RawRecord
from ledger.service import make_engine
from schemas.topics import ALL_TOPICS

log = get_logger("etude.ledger")


@dataclass(frozen=True)
class RebuildReport:
    partitions: int
    records: int
    projected: int
    duplicates: int
    malformed: int
    dead_letters: int
    seconds: float

    def __str__(self) -> str:
        return (
            f"{self.records} record(s) from {self.partitions} partition(s) in {self.seconds:.1f} s:"
            f" {self.projected} projected, {self.duplicates} duplicate(s),"
            f" {self.malformed} malformed, {self.dead_letters} dead letter(s)"
        )


async def truncate_projections(engine: AsyncEngine) -> None:
    """Empty every projection table (alembic_version stays)."""
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {', '.join(PROJECTION_TABLES)}"))


async def read_log(
    settings: Settings, topics: Sequence[str] = ALL_TOPICS, max_records: int = MAX_RECORDS
) -> AsyncIterator[list[RawRecord]]:
    """Every record of `topics` from offset 0 to (at least) the end offsets as of the call,
    in lists of at most `max_records`."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        await consumer.topics()  # refreshes metadata for every topic
        tps = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not tps:
            return
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        # Records appended after the start may come along; the tracking table makes them
        # harmless (the live ledger projects them the same way).
        async for batches in batches_to_end(consumer, tps):
            records = raw_records(batches)
            for start in range(0, len(records), max_records):
                yield records[start : start + max_records]
    finally:
        await consumer.stop()


def _tp(record: RawRecord) -> TopicPartition:
    return TopicPartition(record.topic, record.partition)


async def replay(
    engine: AsyncEngine, settings: Settings, topics: Sequence[str] = ALL_TOPICS
) -> RebuildReport:
    """Project every record of `topics` (from offset 0) into the ledger's tables."""
    started = time.perf_counter()
    projector = BatchProjector(engine, settings, asyncio.Event())
    partitions: set[TopicPartition] = set()
    total = BatchResult(0, 0, 0, 0, 0, 0)
    async for records in read_log(settings, topics):
        partitions.update(_tp(r) for r in records)
        result = await projector.project(records)
        assert result is not None  # its stop event is never set
        total += result
    return RebuildReport(
        partitions=len(partitions),
        records=total.records,
        projected=total.projected,
        duplicates=total.duplicates,
        malformed=total.malformed,
        dead_letters=total.dead_letters,
        seconds=time.perf_counter() - started,
    )


async def rebuild(
    settings: Settings,
    *,
    topics: Sequence[str] = ALL_TOPICS,
    engine: AsyncEngine | None = None,
) -> RebuildReport:
    """Truncate the projections and replay `topics` from offset 0 (see module docstring)."""
    own = engine is None
    engine = engine or make_engine(settings)
    try:
        await truncate_projections(engine)
        report = await replay(engine, settings, topics)
    finally:
        if own:
            await engine.dispose()
    log.info("ledger.rebuilt", **report.__dict__)
    return report
