"""Throwaway databases on the ledger's Postgres server, for tests and benchmarks.

They compare or truncate whole tables, so they never touch the configured `etude` database
(it may be a running ledger's). The database is created as the URL's role if it may, else as
the local superuser `postgres`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url


async def admin_execute(server_url: str, sql: str) -> bool:
    """Run `sql` in the server's `postgres` database; False when no role may."""
    u = make_url(server_url)
    for user in dict.fromkeys([u.username or "postgres", "postgres"]):
        try:
            conn = await asyncpg.connect(
                host=u.host,
                port=u.port,
                user=user,
                password=u.password if user == u.username else None,
                database="postgres",
                timeout=5,
            )
        except (OSError, asyncpg.PostgresError):
            continue
        try:
            await conn.execute(sql)
            return True
        except asyncpg.PostgresError:
            continue
        finally:
            await conn.close()
    return False


@contextlib.asynccontextmanager
async def scratch_database(server_url: str, name: str) -> AsyncIterator[str | None]:
    """Yield the URL of a new empty database `name` (None if it cannot be made); dropped after."""
    u = make_url(server_url)
    if not await admin_execute(
        server_url, f'CREATE DATABASE "{name}" OWNER "{u.username or "postgres"}"'
    ):
        yield None
        return
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin_execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
