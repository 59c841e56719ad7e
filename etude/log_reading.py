"""Reading Kafka partitions to their end, as the local broker reports it.

Tansu 0.6 answers ListOffsets(latest) with the last record batch's base offset + 1, not the
high watermark, and has been seen answering short by several batches; a reader that stops
once its position passes that offset drops a partition's tail. So a partition is done only
once it is past the offset taken at the start *and* a fetch found nothing more in it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

Batches = dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]


async def batches_to_end(
    consumer: AIOKafkaConsumer, partitions: Iterable[TopicPartition], timeout_ms: int = 1000
) -> AsyncIterator[Batches]:
    """Everything each fetch gives for `partitions` (assigned and positioned by the caller),
    from their positions to (at least) their end offsets as of the call. Never cut by a
    `max_records`: a cut inside the last batch would pass the reported end."""
    pending = set(partitions)
    end = await consumer.end_offsets(list(pending)) if pending else {}
    while pending:
        batches = await consumer.getmany(*pending, timeout_ms=timeout_ms)
        for tp in list(pending):
            if not batches.get(tp) and await consumer.position(tp) >= end[tp]:
                pending.discard(tp)
                consumer.pause(tp)
        if batches:
            yield batches
