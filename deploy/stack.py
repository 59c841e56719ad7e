"""The hermetic local stack: S3 (SeaweedFS), Kafka protocol (Tansu), Postgres, Redis.

Every server comes from an installed wheel; all state lives under `settings.stack_dir`:

    <stack_dir>/<service>/      data (kept across down/up)
    <stack_dir>/logs/<service>.log
    <stack_dir>/run/<service>.pid   pid + start time of what `up` started

Only the services in `settings.local_service_set` are run here; the others are external and
only probed. The API is async (the probes are async clients); `run_sync` wraps it for the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import importlib
import importlib.util
import inspect
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from deploy import proc
from deploy.net import NotReadyError, check_ports_free, tcp_open
from deploy.services.base import Service
from deploy.services.kafka import KafkaService
from deploy.services.postgres import PostgresService
from deploy.services.redis import RedisService
from deploy.services.s3 import S3Service
from etude.errors import EtudeError
from etude.logging import get_logger
from etude.settings import Settings, get_settings

log = get_logger(__name__)

T = TypeVar("T")

# Start order, in waves: the broker keeps its log in S3, so it waits for S3; the rest start
# side by side. `down` goes in reverse so the broker never loses its storage mid-write.
_WAVES: tuple[tuple[type[Service], ...], ...] = (
    (S3Service, PostgresService, RedisService),
    (KafkaService,),
)
SERVICE_NAMES: tuple[str, ...] = tuple(cls.name for wave in _WAVES for cls in wave)


class UnknownServiceError(EtudeError):
    pass


class ServiceStartError(EtudeError):
    pass


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    local: bool  # run by this stack (else external: only probed)
    pid: int | None
    address: str
    ready: bool
    ready_s: float | None = None  # seconds from start (or check) to ready, when `up` ran


class LocalStack:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.stack_dir = Path(self.settings.stack_dir).resolve()
        self.services: dict[str, Service] = {
            cls.name: cls(self.settings, self.stack_dir) for wave in _WAVES for cls in wave
        }

    # ---- paths and bookkeeping -------------------------------------------------------------

    @property
    def logs_dir(self) -> Path:
        return self.stack_dir / "logs"

    def pidfile(self, name: str) -> proc.PidFile:
        return proc.PidFile(self.stack_dir / "run" / f"{name}.pid")

    def is_local(self, name: str) -> bool:
        return name in self.settings.local_service_set

    def _service(self, name: str) -> Service:
        try:
            return self.services[name]
        except KeyError:
            raise UnknownServiceError(f"no service {name!r}; known: {SERVICE_NAMES}") from None

    # ---- up / down / status ----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        """One `up`/`down` at a time per stack_dir, across processes (two test sessions
        sharing ETUDE_STACK_DIR must not both start a broker)."""
        lock_path = self.stack_dir / "run" / "stack.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with lock_path.open("a") as handle:
            await asyncio.to_thread(fcntl.flock, handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    async def up(self) -> list[ServiceStatus]:
        """Start what is missing, wait for readiness, provision. Safe to call repeatedly."""
        async with self._locked():
            return await self._up()

    async def _up(self) -> list[ServiceStatus]:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        unknown = self.settings.local_service_set - set(SERVICE_NAMES)
        if unknown:
            raise UnknownServiceError(f"unknown local_services {sorted(unknown)}")
        # Check every port of everything about to start first: one clear error beats a
        # half-started stack, or a server dying on "address in use" in its log.
        for name in SERVICE_NAMES:
            if self.is_local(name) and self.pidfile(name).live() is None:
                check_ports_free(name, self.services[name].ports())
        timings: dict[str, float] = {}
        for wave in _WAVES:
            names = [cls.name for cls in wave if self.is_local(cls.name)]
            results = await asyncio.gather(*(self._ensure_running(n) for n in names))
            timings.update(zip(names, results, strict=True))
        await self._migrate()
        statuses = await self.status()
        return [
            ServiceStatus(s.name, s.local, s.pid, s.address, s.ready, timings.get(s.name))
            for s in statuses
        ]

    async def down(self, only: Iterable[str] | None = None) -> dict[str, str]:
        """Stop what `up` started (by recorded pid), broker first. Data is kept.

        `only` limits it to some services (e.g. those a test session itself started)."""
        names = set(SERVICE_NAMES if only is None else only)
        outcome: dict[str, str] = {}
        async with self._locked():
            for name in reversed(SERVICE_NAMES):
                if name in names:
                    outcome[name] = await self._stop(name)
        return outcome

    async def status(self) -> list[ServiceStatus]:
        async def one(name: str) -> ServiceStatus:
            svc = self.services[name]
            record = self.pidfile(name).live()
            try:
                ready = await asyncio.wait_for(svc.probe(), timeout=5)
            except Exception:  # any failure to answer is "not ready", for status purposes
                ready = False
            return ServiceStatus(
                name=name,
                local=self.is_local(name),
                pid=record.pid if record else None,
                address=svc.display_address,
                ready=ready,
            )

        return list(await asyncio.gather(*(one(n) for n in SERVICE_NAMES)))

    def running(self) -> dict[str, int]:
        """Local servers whose recorded process is alive: name → pid."""
        return {
            name: record.pid
            for name in SERVICE_NAMES
            if (record := self.pidfile(name).live()) is not None
        }

    async def reachable(self, name: str) -> bool:
        return await tcp_open(self._service(name).address)

    # ---- helpers for tests: crash and restart one server -----------------------------------

    async def kill_service(self, name: str, sig: int = signal.SIGKILL) -> bool:
        """Send `sig` to a local server by its recorded pid; for terminating signals, wait
        until it is gone. False if it was not running."""
        record = self.pidfile(self._service(name).name).live()
        if record is None:
            return False
        proc.send(record, sig)
        if sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
            await asyncio.to_thread(proc.wait_gone, record, 15.0)
        log.info("stack.killed", service=name, pid=record.pid, signal=signal.Signals(sig).name)
        return True

    async def restart_service(self, name: str) -> float:
        """Stop (cleanly) if running, start again, wait ready; returns seconds to ready."""
        if not self.is_local(self._service(name).name):
            raise UnknownServiceError(f"{name} is external (not in local_services)")
        async with self._locked():
            await self._stop(name)
            return await self._ensure_running(name)

    # ---- internals -------------------------------------------------------------------------

    async def _ensure_running(self, name: str) -> float:
        svc = self._service(name)
        pidfile = self.pidfile(name)
        start = time.monotonic()
        record = pidfile.live()
        if record is None:
            pidfile.remove()  # stale: the process died or the machine rebooted
            check_ports_free(name, svc.ports())
            await asyncio.to_thread(svc.prepare)
            await svc.before_start()
            record = proc.spawn(
                svc.argv(),
                env=svc.env(),
                log_path=svc.log_path,
                cwd=svc.data_dir,
                user=svc.run_as,
            )
            pidfile.write(record)
            log.info("stack.started", service=name, pid=record.pid, log=str(svc.log_path))
        await self._wait_ready(svc, record)
        await self._provision(svc)
        took = time.monotonic() - start
        log.info("stack.ready", service=name, address=svc.display_address, ready_s=round(took, 3))
        return took

    async def _provision(self, svc: Service) -> None:
        """Provisioning is idempotent, and a server that just answered its probe may still be
        settling (S3 volumes re-registering, a broker loading its metadata): retry it."""
        deadline = time.monotonic() + self.settings.stack_ready_timeout_s
        while True:
            try:
                await svc.provision()
                return
            except Exception as err:
                if time.monotonic() > deadline:
                    raise ServiceStartError(f"{svc.name}: provisioning failed: {err}") from err
                log.debug("stack.provision_retry", service=svc.name, error=str(err))
                await asyncio.sleep(0.2)

    async def _wait_ready(self, svc: Service, record: proc.PidRecord) -> None:
        deadline = time.monotonic() + self.settings.stack_ready_timeout_s
        while True:
            if not proc.is_alive(record):
                raise ServiceStartError(
                    f"{svc.name} exited during start-up; last lines of {svc.log_path}:\n"
                    + proc.log_tail(svc.log_path)
                )
            try:
                if await asyncio.wait_for(svc.probe(), timeout=5):
                    return
            except Exception:  # not answering yet: keep polling until the deadline
                pass
            if time.monotonic() > deadline:
                raise NotReadyError(
                    f"{svc.name} (pid {record.pid}) not ready after "
                    f"{self.settings.stack_ready_timeout_s:.0f} s; see {svc.log_path}:\n"
                    + proc.log_tail(svc.log_path)
                )
            await asyncio.sleep(0.05)

    async def _stop(self, name: str) -> str:
        svc = self._service(name)
        pidfile = self.pidfile(name)
        record = pidfile.read()
        if record is None:
            return "not started"
        outcome = await asyncio.to_thread(proc.stop, record, svc.stop_signal)
        pidfile.remove()
        log.info("stack.stopped", service=name, pid=record.pid, outcome=outcome)
        return outcome

    async def _migrate(self) -> None:
        """Run the ledger's migrations if that module exists yet (owned by the ledger)."""
        if not (self.is_local("postgres") or await self.reachable("postgres")):
            return
        try:
            found = importlib.util.find_spec("ledger.migrate") is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            log.info("stack.migrate_skipped", reason="ledger.migrate not present yet")
            return
        module = importlib.import_module("ledger.migrate")
        upgrade = getattr(module, "upgrade_to_head", None)
        if upgrade is None:
            log.info("stack.migrate_skipped", reason="ledger.migrate has no upgrade_to_head")
            return
        url = self.settings.database_url
        try:
            if inspect.iscoroutinefunction(upgrade):
                await upgrade(url)
            else:
                # Alembic's async env calls asyncio.run(): it must not run on our event loop.
                result = await asyncio.to_thread(upgrade, url)
                if inspect.isawaitable(result):
                    await result
        except Exception as err:
            raise ServiceStartError(f"ledger migrations failed: {err!r}") from err
        log.info("stack.migrated", database_url=url)


def run_sync(coro: Coroutine[Any, Any, T] | Awaitable[T]) -> T:
    """Run one stack call from synchronous code (CLI, plain pytest fixtures)."""

    async def _await() -> T:
        return await coro

    return asyncio.run(_await())


# Ports of a private stack: kafka, s3, postgres, redis, then weed's 9 internal ones.
PRIVATE_STACK_PORTS = 4 + 9


def private_stack_env(stack_dir: str | Path, start_port: int) -> dict[str, str]:
    """ETUDE_* variables of a throwaway stack on free ports (tests, benchmarks)."""
    from deploy.net import free_port_block

    base = free_port_block(PRIVATE_STACK_PORTS, start=start_port)
    return {
        "ETUDE_STACK_DIR": str(stack_dir),
        "ETUDE_KAFKA_BOOTSTRAP": f"127.0.0.1:{base}",
        "ETUDE_S3_ENDPOINT": f"http://127.0.0.1:{base + 1}",
        "ETUDE_DATABASE_URL": f"postgresql+asyncpg://etude@127.0.0.1:{base + 2}/etude",
        "ETUDE_REDIS_URL": f"redis://127.0.0.1:{base + 3}/0",
        "ETUDE_S3_LOCAL_PORT_BASE": str(base + 4),
    }
