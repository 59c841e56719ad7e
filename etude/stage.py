"""Stage runtime: the thin, at-least-once handler around a pure transform.

For every input event: decode → StageStarted → read the input object (sha256 checked) → run the
transform in a worker thread (so heartbeats continue) → store each output create-only under a
derived artifact id → publish ArtifactCreated → ack. Transient errors retry with capped
exponential backoff; bad input (and exhausted retries) become StageFailed + a dead letter, then
ack. Only when even the failure cannot be published is the message left unacknowledged and
sought back, after a backoff, so nothing is lost and nothing spins.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from etude import __version__
from etude.errors import BadInputError, TransientError
from etude.logging import get_logger, job_context
from etude.settings import Settings
from etude.store import StoredObject
from schemas import (
    DLQ,
    STAGE,
    STAGE_INPUT,
    ArtifactCreated,
    ArtifactKind,
    DeadLetter,
    EventDecodeError,
    Producer,
    S3Location,
    StageFailed,
    StageName,
    StageStarted,
    Transformation,
    artifact_topic,
    decode_event,
    derive_artifact_id,
    derived_id,
)
from schemas.events import Envelope

log = get_logger("etude.stage")
ErrorKind = Literal["bad_input", "transient_exhausted", "internal"]
T = TypeVar("T")


@dataclass(frozen=True)
class Output:
    """One artifact a transform produced. `name` is unique within one transform run."""

    kind: ArtifactKind
    data: bytes
    media_type: str
    name: str
    artifact_schema_version: int | None = None
    page: int | None = None
    page_count: int | None = None


Transform = Callable[[bytes], Sequence[Output]]


@dataclass(frozen=True)
class StageSpec:
    name: StageName
    version: str
    transform: Transform
    parameters: Mapping[str, str | int | float | bool | None] = field(default_factory=dict)
    # Worst case for one message; the poll interval is raised above it.
    max_processing_s: float = 120.0

    @property
    def input_kind(self) -> ArtifactKind:
        return STAGE_INPUT[self.name]

    @property
    def transformation(self) -> Transformation:
        return Transformation(
            type=self.name.value, version=self.version, parameters=dict(self.parameters)
        )

    def max_poll_interval_ms(self, default_ms: int) -> int:
        return max(default_ms, int(self.max_processing_s * 1.5 * 1000))


class Store(Protocol):
    async def get(self, location: S3Location, expected_sha256: str) -> bytes: ...
    async def put(self, kind: ArtifactKind, data: bytes, media_type: str) -> StoredObject: ...


class Publisher(Protocol):
    async def publish(self, event: Envelope, topic: str) -> None: ...
    async def publish_dead_letter(self, record: DeadLetter, topic: str) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    initial_s: float = 0.5
    max_s: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(settings.retry_attempts, settings.retry_initial_s, settings.retry_max_s)

    def retrying(self) -> AsyncRetrying:
        return AsyncRetrying(
            retry=retry_if_exception_type(TransientError),
            wait=wait_exponential(multiplier=self.initial_s, max=self.max_s),
            stop=stop_after_attempt(self.attempts),
            reraise=True,
        )


@dataclass(frozen=True)
class Delivery:
    """Where a message came from, for dead letters and logs."""

    topic: str
    partition: int | None = None
    offset: int | None = None


@dataclass(frozen=True)
class Processed:
    outputs: tuple[ArtifactCreated, ...]


@dataclass(frozen=True)
class Rejected:
    error_kind: ErrorKind
    reason: str


@dataclass(frozen=True)
class Skipped:
    reason: str


class StageRuntime:
    def __init__(
        self, spec: StageSpec, store: Store, publisher: Publisher, retry: RetryPolicy
    ) -> None:
        self.spec = spec
        self._store = store
        self._publisher = publisher
        self._retry = retry
        self.producer = Producer(name=f"etude.{spec.name.value}", version=__version__)
        self.consumer_name = f"etude-{spec.name.value}"

    async def handle(self, raw: bytes, delivery: Delivery) -> Processed | Rejected | Skipped:
        """Process one message. Raises only when a failure could not be recorded."""
        try:
            event = decode_event(raw)
        except EventDecodeError as exc:
            await self._reject_undecodable(raw, delivery, exc)
            return Rejected("bad_input", exc.reason)
        if not isinstance(event, ArtifactCreated) or event.kind != self.spec.input_kind:
            # Another event type on this topic is not ours to judge; skip it, don't fail the job.
            what = getattr(event, "kind", event.event_type)
            return Skipped(
                f"{self.consumer_name} reads {self.spec.input_kind} artifacts, not {what}"
            )
        with job_context(event.job_id, event.correlation_id, stage=self.spec.name.value):
            return await self._process(event, raw, delivery)

    async def _process(
        self, event: ArtifactCreated, raw: bytes, delivery: Delivery
    ) -> Processed | Rejected:
        await self._retried(lambda: self._publisher.publish(self._started(event), STAGE))
        try:
            outputs = await self._retried(lambda: self._run(event))
        except BadInputError as exc:
            return await self._fail(event, raw, delivery, "bad_input", str(exc))
        except TransientError as exc:
            return await self._fail(event, raw, delivery, "transient_exhausted", str(exc))
        except Exception as exc:  # a bug must fail the job visibly, not stop the consumer
            log.exception("transform crashed")
            return await self._fail(
                event, raw, delivery, "internal", f"{type(exc).__name__}: {exc}"
            )
        log.info("stage completed", outputs=len(outputs), input_artifact=str(event.artifact_id))
        return Processed(outputs)

    async def _retried(self, fn: Callable[[], Awaitable[T]]) -> T:
        async for attempt in self._retry.retrying():
            with attempt:
                return await fn()
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def _run(self, event: ArtifactCreated) -> tuple[ArtifactCreated, ...]:
        data = await self._store.get(event.location, event.sha256)
        outputs = await asyncio.to_thread(self.spec.transform, data)
        stored = await asyncio.gather(
            *(self._store.put(out.kind, out.data, out.media_type) for out in outputs)
        )
        created = tuple(
            self._artifact_event(event, o, s) for o, s in zip(outputs, stored, strict=True)
        )
        # Publish only once every object is stored: a reader never sees a dangling event.
        # Outputs go to different topics with no order between them, so in parallel.
        await asyncio.gather(
            *(self._publisher.publish(ev, artifact_topic(ev.kind)) for ev in created)
        )
        return created

    def _artifact_event(
        self, source: ArtifactCreated, out: Output, stored: StoredObject
    ) -> ArtifactCreated:
        transformation = self.spec.transformation
        artifact_id = derive_artifact_id((source.artifact_id,), transformation, out.name)
        return ArtifactCreated(
            event_id=derived_id("ArtifactCreated", source.event_id, artifact_id),
            job_id=source.job_id,
            correlation_id=source.correlation_id,
            causation_id=source.event_id,
            producer=self.producer,
            attempt=source.attempt,
            artifact_id=artifact_id,
            kind=out.kind,
            artifact_schema_version=out.artifact_schema_version,
            location=stored.location,
            sha256=stored.sha256,
            size=stored.size,
            media_type=out.media_type,
            source_artifact_ids=(source.artifact_id,),
            transformation=transformation,
            page=out.page,
            page_count=out.page_count,
        )

    def _stage_fields(self, event: ArtifactCreated, event_type: str) -> dict[str, Any]:
        """Envelope and stage fields of a StageStarted/StageFailed caused by `event`."""
        return {
            "event_id": derived_id(event_type, event.event_id, self.spec.name, self.spec.version),
            "job_id": event.job_id,
            "correlation_id": event.correlation_id,
            "causation_id": event.event_id,
            "producer": self.producer,
            "attempt": event.attempt,
            "stage": self.spec.name,
            "input_artifact_id": event.artifact_id,
        }

    def _started(self, event: ArtifactCreated) -> StageStarted:
        return StageStarted(**self._stage_fields(event, "StageStarted"))

    async def _fail(
        self,
        event: ArtifactCreated,
        raw: bytes,
        delivery: Delivery,
        error_kind: ErrorKind,
        reason: str,
    ) -> Rejected:
        log.warning("stage failed", error_kind=error_kind, reason=reason)
        failed = StageFailed(
            **self._stage_fields(event, "StageFailed"), error_kind=error_kind, reason=reason
        )
        await self._dead_letter(raw, delivery, event.job_id, error_kind, reason)
        await self._retried(lambda: self._publisher.publish(failed, STAGE))
        return Rejected(error_kind, reason)

    async def _reject_undecodable(
        self, raw: bytes, delivery: Delivery, exc: EventDecodeError
    ) -> None:
        log.warning(
            "undecodable event", reason=exc.reason, topic=delivery.topic, offset=delivery.offset
        )
        await self._dead_letter(raw, delivery, exc.job_id, "bad_input", exc.reason)
        if exc.job_id is None:
            return
        # The job is known even though its event is not readable: fail it visibly.
        failed = StageFailed(
            event_id=derived_id("StageFailed", delivery.topic, delivery.partition, delivery.offset),
            job_id=exc.job_id,
            correlation_id=exc.job_id,
            producer=self.producer,
            stage=self.spec.name,
            error_kind="bad_input",
            reason=exc.reason,
        )
        await self._retried(lambda: self._publisher.publish(failed, STAGE))

    async def _dead_letter(
        self,
        raw: bytes,
        delivery: Delivery,
        job_id: uuid.UUID | None,
        error_kind: str,
        reason: str,
    ) -> None:
        record = DeadLetter(
            dead_letter_id=derived_id(
                "DeadLetter", delivery.topic, delivery.partition, delivery.offset, raw
            ),
            consumer=self.consumer_name,
            source_topic=delivery.topic,
            source_partition=delivery.partition,
            source_offset=delivery.offset,
            job_id=job_id,
            error_kind=error_kind,
            reason=reason,
            payload=raw.decode("utf-8", errors="replace"),
        )
        await self._retried(lambda: self._publisher.publish_dead_letter(record, DLQ))
