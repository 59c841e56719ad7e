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

from ledger.migrate import upgrade_to_head_async
from ledger.scratch import scratch_database
from tests.integration.embedded_pg import start_embedded_postgres


@contextlib.asynccontextmanager
async def private_database(stack_database_url: str) -> AsyncIterator[str]:
    """Yield the URL of a fresh database migrated to head; dropped afterwards."""
    name = f"etude_ledger_test_{uuid.uuid4().hex[:10]}"
    async with scratch_database(stack_database_url, name) as url:
        if url is not None:
            await upgrade_to_head_async(url)
            yield url
            return
    server = start_embedded_postgres()
    try:
        url = server.create_database(name)
        await upgrade_to_head_async(url)
        yield url
    finally:
        server.stop()
