"""Replay: re-run a stage over its input topic to regenerate outputs.

Reads the input topic with manually assigned partitions (no consumer group, so the live
stage's offsets are untouched), from the first offset at or after `since` (or the beginning),
up to the end offsets seen at start. Every event goes through the stage's own runtime: with the
same transformation version the derived artifact ids and keys already exist, so nothing new is
created; with a new version, new artifacts appear with lineage to the same inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition

from etude.broker import EventPublisher, make_broker
from etude.log_reading import batches_to_end
from etude.logging import get_logger
from etude.settings import Settings
from etude.stage import Delivery, Processed, Rejected, RetryPolicy, Skipped, StageRuntime, StageSpec
from etude.store import open_store
from schemas import artifact_topic

log = get_logger("etude.replay")


@dataclass
class ReplayReport:
    read: int = 0
    processed: int = 0
    rejected: int = 0
    skipped: int = 0
    artifacts: list[str] = field(default_factory=list)

    def add(self, outcome: Processed | Rejected | Skipped) -> None:
        self.read += 1
        if isinstance(outcome, Processed):
            self.processed += 1
            self.artifacts += [str(e.artifact_id) for e in outcome.outputs]
        elif isinstance(outcome, Rejected):
            self.rejected += 1
        else:
            self.skipped += 1


async def _start_offsets(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition], since: datetime | None
) -> dict[TopicPartition, int]:
    beginning = await consumer.beginning_offsets(partitions)
    if since is None:
        return dict(beginning)
    found = await consumer.offsets_for_times(
        {tp: int(since.timestamp() * 1000) for tp in partitions}
    )
    ends = await consumer.end_offsets(partitions)
    return {tp: (found[tp].offset if found.get(tp) else ends[tp]) for tp in partitions}


async def replay_stage(
    settings: Settings, spec: StageSpec, since: datetime | None = None
) -> ReplayReport:
    topic = artifact_topic(spec.input_kind)
    report = ReplayReport()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False, group_id=None
    )
    broker = make_broker(settings, client_id=f"etude-replay-{spec.name.value}")
    await consumer.start()
    await broker.start()
    try:
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        for tp, offset in (await _start_offsets(consumer, partitions, since)).items():
            consumer.seek(tp, offset)
        async with open_store(settings) as store:
            runtime = StageRuntime(
                spec, store, EventPublisher(broker), RetryPolicy.from_settings(settings)
            )
            # Any records appended since the start come along: processing is idempotent.
            async for batch in batches_to_end(consumer, partitions):
                for tp, records in batch.items():
                    for rec in records:
                        delivery = Delivery(tp.topic, tp.partition, rec.offset)
                        report.add(await runtime.handle(rec.value, delivery))
    finally:
        await broker.stop()
        await consumer.stop()
    log.info("replay done", stage=spec.name.value, read=report.read, processed=report.processed)
    return report
