"""Print every MusicXML Étude produces. Needs only `pip install ./schemas aiokafka`."""

import asyncio
import os

from aiokafka import AIOKafkaConsumer

from schemas import ArtifactCreated, artifact_topic, decode_event


async def main() -> None:
    consumer = AIOKafkaConsumer(
        artifact_topic("musicxml"),
        bootstrap_servers=os.environ.get("ETUDE_KAFKA_BOOTSTRAP", "127.0.0.1:19092"),
        group_id="my-tool",  # your own group: every event reaches you at least once
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        async for record in consumer:
            event = decode_event(record.value)  # EventDecodeError says why a message is bad
            if isinstance(event, ArtifactCreated):  # redeliveries repeat the same event_id
                print(event.job_id, event.event_id, event.location.key, event.sha256, flush=True)
            await consumer.commit()
    finally:
        await consumer.stop()


asyncio.run(main())
