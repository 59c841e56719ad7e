"""Bring the ledger's database schema to the latest Alembic revision.

Alembic's async env.py calls `asyncio.run`, which cannot run in a thread that already runs an
event loop; so the upgrade always runs in a worker thread of its own, and callers may call it
from anywhere (a plain script, or the thread of a running loop).
"""

from __future__ import annotations

import asyncio
import threading
from importlib.resources import files
from pathlib import Path

from alembic import command
from alembic.config import Config


def alembic_config(database_url: str | None = None) -> Config:
    """The packaged alembic.ini, pointed at `database_url` (None: settings.database_url)."""
    ini = Path(str(files("ledger").joinpath("alembic.ini")))
    cfg = Config(str(ini))
    # Passed as an attribute, not a config option: configparser would read '%' in a
    # URL-encoded password as interpolation.
    cfg.attributes["database_url"] = database_url
    return cfg


def _in_thread(target: object, *args: object) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target(*args)  # type: ignore[operator]
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    worker = threading.Thread(target=run, name="ledger-migrate")
    worker.start()
    worker.join()
    if errors:
        raise errors[0]


def upgrade_to_head(database_url: str) -> None:
    """Create or upgrade every ledger table (idempotent). Blocks until done."""
    _in_thread(command.upgrade, alembic_config(database_url), "head")


async def upgrade_to_head_async(database_url: str) -> None:
    """The same, without blocking the caller's event loop."""
    await asyncio.to_thread(upgrade_to_head, database_url)


def current_heads() -> tuple[str, ...]:
    """Head revision(s) of the migration scripts shipped with the package."""
    from alembic.script import ScriptDirectory

    return tuple(ScriptDirectory.from_config(alembic_config()).get_heads())
