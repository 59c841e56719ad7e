"""A stage as a running service: FastStream subscriber, S3 store, watchdog, lifespan.

Heavy resources (S3 client, broker connection, models inside the spec factory) are made when
the service starts, never at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaBroker, KafkaMessage

from etude.broker import EventPublisher, make_broker
from etude.logging import configure_logging, get_logger
from etude.settings import Settings, get_settings
from etude.stage import Delivery, RetryPolicy, StageRuntime, StageSpec
from etude.store import open_store
from schemas import artifact_topic

log = get_logger("etude.service")
WATCHDOG_INTERVAL_S = 2.0


class StageService:
    """One stage consumer: start() / stop(), usable in-process (tests) or as a process."""

    def __init__(
        self,
        spec: StageSpec,
        settings: Settings,
        *,
        group_id: str | None = None,
        watchdog_interval_s: float = WATCHDOG_INTERVAL_S,
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.group_id = group_id or f"etude-{spec.name.value}"
        self.broker: KafkaBroker = make_broker(settings, client_id=self.group_id)
        self.runtime: StageRuntime | None = None
        self.restarts = 0
        self._watchdog_interval_s = watchdog_interval_s
        self._stack = AsyncExitStack()
        self._watchdog: asyncio.Task[None] | None = None
        self._register()

    def _register(self) -> None:
        s = self.settings

        @self.broker.subscriber(
            artifact_topic(self.spec.input_kind),
            group_id=self.group_id,
            ack_policy=AckPolicy.MANUAL,
            auto_offset_reset="earliest",
            max_poll_interval_ms=self.spec.max_poll_interval_ms(s.kafka_max_poll_interval_ms),
            session_timeout_ms=s.kafka_session_timeout_ms,
            heartbeat_interval_ms=s.kafka_heartbeat_interval_ms,
            max_poll_records=1,
            fetch_max_wait_ms=s.kafka_fetch_max_wait_ms,
        )
        async def on_message(msg: KafkaMessage) -> None:
            await self._on_message(msg)

    async def _on_message(self, msg: KafkaMessage) -> None:
        assert self.runtime is not None, "service not started"
        record = msg.raw_message
        delivery = Delivery(
            topic=getattr(record, "topic", ""),
            partition=getattr(record, "partition", None),
            offset=getattr(record, "offset", None),
        )
        try:
            await self.runtime.handle(msg.body, delivery)
        except Exception:
            # Not even the failure could be recorded (broker or S3 down past every retry):
            # leave the message uncommitted and seek back after a pause, never a hot loop.
            log.exception(
                "outcome not recorded; message will be redelivered", offset=delivery.offset
            )
            await asyncio.sleep(self.settings.retry_max_s)
            await msg.nack()
            return
        await msg.ack()

    async def open(self) -> None:
        """Open the heavy resources the handler needs (S3 client); the broker is separate."""
        store = await self._stack.enter_async_context(open_store(self.settings))
        retry = RetryPolicy.from_settings(self.settings)
        self.runtime = StageRuntime(self.spec, store, EventPublisher(self.broker), retry)

    async def close(self) -> None:
        await self.stop_watchdog()
        await self._stack.aclose()

    async def start_watchdog(self) -> None:
        self._watchdog = asyncio.create_task(self._watch(), name=f"{self.group_id}-watchdog")
        log.info("stage started", stage=self.spec.name.value, version=self.spec.version)

    async def stop_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None

    async def start(self) -> None:
        """In-process start (tests, replay): resources, broker, watchdog."""
        await self.open()
        await self.broker.start()
        await self.start_watchdog()

    async def stop(self) -> None:
        await self.stop_watchdog()
        await self.broker.stop()
        await self._stack.aclose()

    def dead_subscribers(self) -> list[str]:
        """Subscribers whose consume task has ended while they should be running.

        aiokafka can raise CancelledError into getone() after a failed rebalance; FastStream's
        task supervisor ignores cancellations, so the subscriber silently stops consuming.
        """
        dead = []
        for sub in self.broker.subscribers:
            tasks = getattr(sub, "tasks", [])
            if getattr(sub, "running", False) and tasks and all(t.done() for t in tasks):
                dead.append(", ".join(getattr(sub, "topic_names", [])) or repr(sub))
        return dead

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._watchdog_interval_s)
            dead = self.dead_subscribers()
            if dead:
                log.error("subscriber task died; restarting it", subscribers=dead)
                for sub in self.broker.subscribers:
                    await sub.stop()
                    await sub.start()
                self.restarts += 1
            self._write_health(ok=not self.dead_subscribers())

    def _write_health(self, ok: bool) -> None:
        health_dir = self.settings.stack_dir / "health"
        with contextlib.suppress(OSError):
            health_dir.mkdir(parents=True, exist_ok=True)
            payload = {"ok": ok, "at": time.time(), "restarts": self.restarts, "pid": os.getpid()}
            (health_dir / f"{self.group_id}.json").write_text(json.dumps(payload))


def liveness(settings: Settings, group_id: str, max_age_s: float = 10.0) -> bool:
    """True when the named consumer reported healthy within `max_age_s` (for process checks)."""
    path = Path(settings.stack_dir) / "health" / f"{group_id}.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return bool(data.get("ok")) and time.time() - float(data.get("at", 0)) < max_age_s


def build_app(spec: StageSpec, settings: Settings, group_id: str | None = None) -> FastStream:
    """The FastStream app of one stage: the lifespan opens the S3 client before the broker
    starts consuming; the watchdog starts once the subscriber runs."""
    service = StageService(spec, settings, group_id=group_id)

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        await service.open()
        try:
            yield
        finally:
            await service.close()

    app = FastStream(service.broker, lifespan=lifespan)
    app.after_startup(service.start_watchdog)
    return app


def run_stage(
    spec_factory: Callable[[Settings], StageSpec], component: str, group_id: str | None = None
) -> None:
    """Process entry point: build the spec (loads models) at start-up, then run the app."""
    settings = get_settings()
    configure_logging(settings.log_level, component=component)
    app = build_app(spec_factory(settings), settings, group_id)
    asyncio.run(app.run())
