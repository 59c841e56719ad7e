"""A handler slower than aiokafka's default poll interval, against the real broker.

This file sorts last among the integration tests on purpose: its two members declare a 630 s
poll interval (which aiokafka also uses as their rebalance timeout) in the shared
`etude-render` group, and a later test joining that group could wait on them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from etude.settings import Settings
from producers.submit import submit_ir
from tests.integration.pipeline import clara_ir_v2, producer
from tests.integration.tap import EventTap
from tests.integration.test_stage_resilience import complete, outputs, stage_process, tap

pytestmark = pytest.mark.integration
__all__ = ["tap"]


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_handler_slower_than_default_poll_interval_is_processed_once(
    stack: Settings, tap: EventTap, tmp_path: Path
) -> None:
    """Two members; one handler sleeps past aiokafka's 300 s default max_poll_interval_ms.

    With the stage's declared worst case (420 s) the poll interval is raised to 630 s and the
    work runs in a worker thread, so heartbeats continue, no rebalance happens, the commit
    succeeds and the other member never gets the message.
    """
    assert stack.kafka_max_poll_interval_ms == 300_000
    delay = 305.0
    async with producer(stack) as (store, pub):
        with (
            stage_process(delay, 420, tmp_path / "a.log"),
            stage_process(delay, 420, tmp_path / "b.log"),
        ):
            await asyncio.sleep(8)  # both members joined
            job = await submit_ir(store, pub, clara_ir_v2(2))
            await tap.wait_for(lambda: complete(tap, job.job_id), delay + 120)
            await asyncio.sleep(5)
            await tap.poll(1000)
        assert len(tap.of_job(job.job_id, "StageStarted")) == 1
        outs = outputs(tap, job.job_id)
        assert len(outs) == len({e.event_id for e in outs}) == 3
    logs = (tmp_path / "a.log").read_text() + (tmp_path / "b.log").read_text()
    assert "UnknownMemberId" not in logs
    assert "leave the group" not in logs.lower()
