"""The ledger's Kafka consumer: every topic, batches, one transaction per batch, then commit.

At-least-once: offsets are committed only after the batch's transaction has committed, and a
batch that is delivered again (crash before the commit, rebalance) is a no-op thanks to the
tracking table. A database outage is retried with capped backoff (the batch is kept in
memory, nothing is committed); a record the database refuses is set aside as a dead letter.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from etude.logging import get_logger
from etude.settings import Settings
from ledger.projection import BatchResult, apply_batch, record_unprojectable
from ledger.records import RawRecord
from schemas.topics import ALL_TOPICS

GROUP_ID = "etude-ledger"
MAX_RECORDS = 1000

log = get_logger("etude.ledger")


def raw_records(
    batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
) -> list[RawRecord]:
    return [
        RawRecord(tp.topic, tp.partition, m.offset, m.value)
        for tp, messages in batches.items()
        for m in messages
    ]


def next_offsets(records: Sequence[RawRecord]) -> dict[TopicPartition, int]:
    """Offsets to commit after `records`: one past the last record of each partition."""
    offsets: dict[TopicPartition, int] = {}
    for r in records:
        tp = TopicPartition(r.topic, r.partition)
        offsets[tp] = max(offsets.get(tp, 0), r.offset + 1)
    return offsets


def refused_data(exc: DBAPIError) -> bool:
    """Whether Postgres refused the data itself (SQLSTATE class 22 data exception or 23
    integrity violation): retrying cannot help, unlike a lost connection or a missing table."""
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return isinstance(code, str) and code[:2] in ("22", "23")


class BatchProjector:
    """Projects batches, retrying database outages and isolating records it refuses."""

    def __init__(self, engine: AsyncEngine, settings: Settings, stop: asyncio.Event) -> None:
        self.engine = engine
        self.settings = settings
        self.stop = stop

    async def project(self, records: Sequence[RawRecord]) -> BatchResult | None:
        """Project the batch; None if asked to stop before it could be written."""
        delay = self.settings.retry_initial_s
        one_by_one = False
        while True:
            try:
                if one_by_one:
                    return await self._one_by_one(records)
                return await apply_batch(self.engine, records)
            except DBAPIError as exc:
                if refused_data(exc) and not one_by_one:
                    log.warning("ledger.batch_refused", records=len(records), error=_short(exc))
                    one_by_one = True  # find the record(s) it refuses
                    continue
                log.error("ledger.db_error", error=_short(exc), retry_in_s=delay)
            except OSError as exc:
                log.error("ledger.db_unavailable", error=_short(exc), retry_in_s=delay)
            if await _wait(self.stop, delay):
                return None
            delay = min(delay * 2, self.settings.retry_max_s)

    async def _one_by_one(self, records: Sequence[RawRecord]) -> BatchResult:
        total = BatchResult(0, 0, 0, 0, 0, 0)
        for record in records:
            try:
                r = await apply_batch(self.engine, [record])
            except DBAPIError as exc:
                if not refused_data(exc):
                    raise
                log.error(
                    "ledger.record_refused",
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    error=_short(exc),
                )
                await record_unprojectable(self.engine, record, _short(exc))
                r = BatchResult(
                    records=1, projected=0, duplicates=0, malformed=1, dead_letters=0, jobs=0
                )
            total += r
        return total


class LedgerConsumer:
    """Consumes `topics` as group `group_id` and projects every batch into Postgres."""

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        *,
        topics: Sequence[str] = ALL_TOPICS,
        group_id: str = GROUP_ID,
        max_records: int = MAX_RECORDS,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.topics = tuple(topics)
        self.group_id = group_id
        self.max_records = max_records
        self.stop_event = asyncio.Event()
        self.projector = BatchProjector(engine, settings, self.stop_event)
        self.projected = 0  # events projected since start (for benchmarks and logs)
        self.consumer = AIOKafkaConsumer(
            *self.topics,
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=group_id,
            client_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
            max_poll_interval_ms=settings.kafka_max_poll_interval_ms,
            max_poll_records=max_records,
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        )

    async def start(self) -> None:
        await self.consumer.start()
        log.info("ledger.started", topics=list(self.topics), group_id=self.group_id)

    def request_stop(self) -> None:
        """Finish the batch in hand, commit it, then leave run() (safe from a signal handler)."""
        self.stop_event.set()

    async def close(self) -> None:
        """Leave the group and close the connection (after run() returned)."""
        await self.consumer.stop()
        log.info("ledger.stopped", projected=self.projected)

    async def poll_once(self, timeout_ms: int = 1000) -> BatchResult | None:
        """Fetch one batch, project it, commit its offsets. None when there was nothing."""
        batches = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=self.max_records)
        records = raw_records(batches)
        if not records:
            return None
        started = time.perf_counter()
        result = await self.projector.project(records)
        if result is None:
            return None  # stopping: not committed, so the batch comes again next time
        await self._commit(records)
        self.projected += result.projected
        log.info(
            "ledger.batch",
            records=result.records,
            projected=result.projected,
            duplicates=result.duplicates,
            malformed=result.malformed,
            dead_letters=result.dead_letters,
            jobs=result.jobs,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return result

    async def _commit(self, records: Sequence[RawRecord]) -> None:
        try:
            await self.consumer.commit(next_offsets(records))
        except (CommitFailedError, KafkaError) as exc:
            # A rebalance took the partitions: their new owner re-reads the batch, which the
            # tracking table turns into a no-op.
            log.warning("ledger.commit_failed", error=_short(exc))

    async def run(self) -> None:
        """Poll until request_stop() (SIGTERM in `python -m ledger`)."""
        while not self.stop_event.is_set():
            await self.poll_once()


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds`, returning early (True) if `stop` is set."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
        return True
    except TimeoutError:
        return False


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:500]
