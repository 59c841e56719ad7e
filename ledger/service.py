"""Running the ledger as a process: engine and consumer made at start, SIGTERM stops it."""

from __future__ import annotations

import asyncio
import signal

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from etude.logging import get_logger
from etude.settings import Settings
from ledger.consumer import GROUP_ID, LedgerConsumer
from ledger.migrate import upgrade_to_head_async

log = get_logger("etude.ledger")


def make_engine(settings: Settings) -> AsyncEngine:
    # One connection does all the writing; a second one serves the occasional extra need.
    return create_async_engine(settings.database_url, pool_size=2, pool_pre_ping=True)


async def run_ledger(settings: Settings, *, migrate: bool = True, group_id: str = GROUP_ID) -> None:
    """Consume and project until SIGTERM/SIGINT; the batch in hand is finished and committed."""
    if migrate:
        await upgrade_to_head_async(settings.database_url)
    engine = make_engine(settings)
    consumer = LedgerConsumer(settings, engine, group_id=group_id)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, consumer.request_stop)
    try:
        await consumer.start()
        await consumer.run()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await consumer.close()
        await engine.dispose()
