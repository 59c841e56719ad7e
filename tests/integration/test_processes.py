"""The pipeline processes run under honcho from deploy/Procfile and stop by honcho's pid."""

from __future__ import annotations

import asyncio
import time

import psutil  # type: ignore[import-untyped]
import pytest

from deploy import processes
from etude.settings import Settings

pytestmark = pytest.mark.integration


async def test_procs_up_status_down(stack: Settings) -> None:
    names = processes.installed_names()
    if not names:
        pytest.skip("no Procfile process is installed yet")
    status = await asyncio.to_thread(processes.start_processes, names, stack)
    try:
        assert status.running and status.names == names
        deadline = time.monotonic() + 20
        while set(status.children) != set(names) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            status = processes.processes_status(stack)
        assert set(status.children) == set(names), status
        # Started again while running: nothing new.
        again = await asyncio.to_thread(processes.start_processes, names, stack)
        assert again.pid == status.pid
    finally:
        outcome = await asyncio.to_thread(processes.stop_processes, stack)
    assert outcome == "stopped"
    assert not processes.processes_status(stack).running
    for pid in status.children.values():
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
