"""Kafka broker factory and the event publisher every component uses."""

from __future__ import annotations

import logging
import uuid

from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker

from etude.errors import TransientError
from etude.settings import Settings
from schemas import DeadLetter, Envelope

HEADER_CORRELATION = "correlation_id"
HEADER_CAUSATION = "causation_id"
HEADER_EVENT_TYPE = "event_type"


def make_broker(settings: Settings, client_id: str) -> KafkaBroker:
    # acks=all: an event is acknowledged only once the broker has it durably (Tansu writes S3
    # before answering). No idempotent producer: Tansu lacks InitProducerId, and duplicates
    # are harmless because every output id is derived.
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=False,
        request_timeout_ms=30_000,
        graceful_timeout=30.0,
        # Through the root logger, so FastStream's lines are JSON too. Its per-message
        # "Received/Processed" lines go to DEBUG: the stage logs each message itself, with
        # job_id and correlation_id bound.
        logger=logging.getLogger("etude.faststream"),
        log_level=logging.DEBUG,
    )


def event_headers(event: Envelope) -> dict[str, str]:
    headers = {
        HEADER_CORRELATION: str(event.correlation_id),
        HEADER_EVENT_TYPE: event.event_type,
    }
    if event.causation_id is not None:
        headers[HEADER_CAUSATION] = str(event.causation_id)
    return headers


class EventPublisher:
    """Publishes events with key = job_id and correlation/causation ids in headers."""

    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def publish(self, event: Envelope, topic: str) -> None:
        try:
            await self._broker.publish(
                event.model_dump_json().encode(),
                topic=topic,
                key=str(event.job_id).encode(),
                headers=event_headers(event),
            )
        except (KafkaError, OSError, TimeoutError) as exc:
            raise TransientError(f"publish to {topic} failed: {exc!r}") from exc

    async def publish_dead_letter(self, record: DeadLetter, topic: str) -> None:
        key = str(record.job_id or uuid.UUID(int=0)).encode()
        try:
            await self._broker.publish(
                record.model_dump_json().encode(),
                topic=topic,
                key=key,
                headers={HEADER_EVENT_TYPE: "DeadLetter"},
            )
        except (KafkaError, OSError, TimeoutError) as exc:
            raise TransientError(f"publish to {topic} failed: {exc!r}") from exc
