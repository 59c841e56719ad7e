"""The real local stack for integration tests, brought up once per test session.

By default the session gets its own stack: a temporary stack_dir and free ports, so it works
on a fresh clone and never collides with a developer's running `etude stack up`. With
ETUDE_STACK_DIR set, it uses that stack (and the ETUDE_* settings as they are) and stops only
the servers it had to start itself.

Settings go into os.environ (and get_settings' cache is cleared) so that every subprocess a
test starts (stages, ledger, CLI) sees the same addresses.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from deploy.stack import LocalStack, private_stack_env
from etude.settings import Settings, get_settings
from ledger.rebuild import truncate_projections
from tests.integration.ledger_db import private_database


def _private_stack_env() -> dict[str, str]:
    return private_stack_env(tempfile.mkdtemp(prefix="etude-stack-"), start_port=21000)


@pytest.fixture(scope="session")
async def local_stack() -> AsyncIterator[LocalStack]:
    """The LocalStack object (for tests that crash/restart servers); up for the session."""
    saved = dict(os.environ)
    private = "ETUDE_STACK_DIR" not in os.environ
    if private:
        os.environ.update(_private_stack_env())
    # Short group session timeouts: a killed consumer's partitions move in seconds.
    os.environ.setdefault("ETUDE_KAFKA_SESSION_TIMEOUT_MS", "6000")
    os.environ.setdefault("ETUDE_KAFKA_HEARTBEAT_INTERVAL_MS", "1000")
    get_settings.cache_clear()
    stack = LocalStack(get_settings())
    already = set(stack.running())
    try:
        await stack.up()
        yield stack
    finally:
        if private:
            await stack.down()
            shutil.rmtree(stack.stack_dir, ignore_errors=True)
        else:
            await stack.down(only=set(stack.running()) - already)
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


@pytest.fixture(scope="session")
def stack(local_stack: LocalStack) -> Settings:
    """The Settings of a running local stack (also exported as ETUDE_* variables)."""
    return local_stack.settings


@pytest.fixture(autouse=True)
def _stack_for_integration_tests(request: pytest.FixtureRequest) -> None:
    """Every test marked `integration` gets the stack even if it does not ask for it."""
    if request.node.get_closest_marker("integration") is not None:
        request.getfixturevalue("stack")


# A private, migrated ledger database per test module, truncated before each test: the
# ledger tests compare whole tables, so they never use the stack's own `etude` database.


@pytest.fixture(scope="module")
async def ledger_url(stack: Settings) -> AsyncIterator[str]:
    async with private_database(stack.database_url) as url:
        yield url


@pytest.fixture
async def engine(ledger_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(ledger_url)
    await truncate_projections(eng)
    try:
        yield eng
    finally:
        await eng.dispose()
