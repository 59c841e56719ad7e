"""A private, migrated database for the ledger's tests, on the stack's Postgres server.

Tests truncate and compare whole tables, so they never use the stack's own `etude` database
(it may be a developer's running ledger). The throwaway database is created by the stack's
role if it may, else by the local superuser; where neither may (an external server), the
tests fall back to an embedded Postgres of their own.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from ledger.migrate import upgrade_to_head_async
from tests.integration.embedded_pg import start_embedded_postgres


async def _create_on(url: str, name: str) -> str | None:
    u = make_url(url)
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
            await conn.execute(f'CREATE DATABASE "{name}" OWNER "{u.username or user}"')
            return u.set(database=name).render_as_string(hide_password=False)
        except asyncpg.PostgresError:
            continue
        finally:
            await conn.close()
    return None


async def _drop_on(url: str) -> None:
    u = make_url(url)
    for user in dict.fromkeys([u.username or "postgres", "postgres"]):
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            conn = await asyncpg.connect(
                host=u.host,
                port=u.port,
                user=user,
                password=u.password if user == u.username else None,
                database="postgres",
                timeout=5,
            )
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)')
                return
            finally:
                await conn.close()


@contextlib.asynccontextmanager
async def private_database(stack_database_url: str) -> AsyncIterator[str]:
    """Yield the URL of a fresh database migrated to head; dropped afterwards."""
    name = f"etude_ledger_test_{uuid.uuid4().hex[:10]}"
    url = await _create_on(stack_database_url, name)
    if url is not None:
        try:
            await upgrade_to_head_async(url)
            yield url
        finally:
            await _drop_on(url)
        return
    server = start_embedded_postgres()
    try:
        url = server.create_database(name)
        await upgrade_to_head_async(url)
        yield url
    finally:
        server.stop()
