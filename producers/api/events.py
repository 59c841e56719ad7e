"""The API's view of the event log: a group-less consumer of `etude.stage` + artifact topics.

Every API process reads every event (no consumer group, nothing committed: it only needs what
happens from now on). Per event it invalidates the job's cached read (cache.py) and wakes the
job's live-progress streams, which then read the new state from the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import defaultdict
from collections.abc import Iterator

from aiokafka import AIOKafkaConsumer, TopicPartition

from etude.logging import get_logger
from etude.settings import Settings
from producers.api.cache import JobCache
from schemas import ARTIFACT_TOPICS, STAGE

log = get_logger("etude.api")
TOPICS = (STAGE, *ARTIFACT_TOPICS)


class ProgressHub:
    """In-process fan-out: job id → the asyncio.Events of the streams watching it."""

    def __init__(self) -> None:
        self._watchers: dict[uuid.UUID, set[asyncio.Event]] = defaultdict(set)

    @contextlib.contextmanager
    def watch(self, job_id: uuid.UUID) -> Iterator[asyncio.Event]:
        wake = asyncio.Event()
        self._watchers[job_id].add(wake)
        try:
            yield wake
        finally:
            self._watchers[job_id].discard(wake)
            if not self._watchers[job_id]:
                del self._watchers[job_id]

    def notify(self, job_id: uuid.UUID) -> None:
        for wake in self._watchers.get(job_id, ()):
            wake.set()


def _ids(value: bytes | None) -> tuple[uuid.UUID, str] | None:
    """(job_id, event_id) of a record, or None for anything unreadable (the DLQ's business)."""
    if not value:
        return None
    try:
        raw = json.loads(value)
        return uuid.UUID(str(raw["job_id"])), str(uuid.UUID(str(raw["event_id"])))
    except (ValueError, KeyError, TypeError):
        return None


class EventListener:
    def __init__(self, settings: Settings, cache: JobCache, hub: ProgressHub) -> None:
        self._settings = settings
        self._cache = cache
        self._hub = hub
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._settings.kafka_bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            fetch_max_wait_ms=self._settings.kafka_fetch_max_wait_ms,
        )
        await consumer.start()
        await consumer.topics()  # metadata for every topic
        tps = [TopicPartition(t, p) for t in TOPICS for p in consumer.partitions_for_topic(t) or ()]
        consumer.assign(tps)
        # Resolve the end offsets now, so the first request after start-up is already covered.
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(), name="api-event-listener")

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=1000, max_records=500)
                for records in batches.values():
                    for record in records:
                        await self._on_record(record.value)
            except asyncio.CancelledError:
                raise
            except Exception:  # a hiccup (broker restart) must not end live progress for good
                log.exception("api event listener error")
                await asyncio.sleep(1.0)

    async def _on_record(self, value: bytes | None) -> None:
        ids = _ids(value)
        if ids is None:
            return
        job_id, event_id = ids
        await self._cache.invalidate(job_id, event_id)
        self._hub.notify(job_id)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()
