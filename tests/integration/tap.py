"""Reading what the pipeline published: a consumer over topics, filtered by job."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition

from etude.settings import Settings
from schemas import ALL_TOPICS, DeadLetter, EventDecodeError, decode_event
from schemas.events import Envelope


class EventTap:
    """Collects every event published after `start()` (positions taken at start)."""

    def __init__(self, settings: Settings, topics: Iterable[str] = ALL_TOPICS) -> None:
        self._settings = settings
        self._topics = list(topics)
        self.events: list[tuple[str, Envelope]] = []
        self.dead_letters: list[DeadLetter] = []
        self.undecodable: list[bytes] = []
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> EventTap:
        c = AIOKafkaConsumer(bootstrap_servers=self._settings.kafka_bootstrap, group_id=None)
        await c.start()
        parts = [
            TopicPartition(t, p)
            for t in self._topics
            for p in sorted(c.partitions_for_topic(t) or ())
        ]
        c.assign(parts)
        for tp, end in (await c.end_offsets(parts)).items():
            c.seek(tp, end)
        self._consumer = c
        return self

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def poll(self, timeout_ms: int = 200) -> None:
        assert self._consumer is not None
        batch = await self._consumer.getmany(timeout_ms=timeout_ms)
        for tp, records in batch.items():
            for rec in records:
                if tp.topic == "etude.dlq":
                    self.dead_letters.append(DeadLetter.model_validate_json(rec.value))
                    continue
                try:
                    self.events.append((tp.topic, decode_event(rec.value)))
                except EventDecodeError:
                    self.undecodable.append(rec.value)

    def of_job(self, job_id: uuid.UUID, event_type: str | None = None) -> list[Envelope]:
        return [
            e
            for _, e in self.events
            if e.job_id == job_id and (event_type is None or e.event_type == event_type)
        ]

    async def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"condition not met in {timeout_s} s; saw {len(self.events)} events"
                )
            await self.poll()
            await asyncio.sleep(0)
