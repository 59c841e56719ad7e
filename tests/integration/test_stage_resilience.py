"""Crashes and long work against the real broker: SIGKILL mid-job, slow handlers, liveness."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from consumers.render.stage import render_spec
from etude.settings import Settings
from producers.submit import submit_ir
from schemas import ArtifactCreated, ArtifactKind
from tests.integration.pipeline import clara_ir_v2, producer, running_stage
from tests.integration.tap import EventTap

pytestmark = pytest.mark.integration
RENDER_KINDS = {ArtifactKind.MUSICXML, ArtifactKind.MIDI, ArtifactKind.SVG}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def tap(stack: Settings) -> AsyncIterator[EventTap]:
    t = await EventTap(stack).start()
    yield t
    await t.stop()


@contextmanager
def stage_process(
    delay_s: float, worst_case_s: float, log: Path, group_id: str = ""
) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "ETUDE_TEST_RENDER_DELAY_S": str(delay_s),
        "ETUDE_TEST_MAX_PROCESSING_S": str(worst_case_s),
        "ETUDE_TEST_GROUP_ID": group_id,
    }
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.slow_render"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def outputs(tap: EventTap, job_id: uuid.UUID) -> list[ArtifactCreated]:
    return [
        e
        for e in tap.of_job(job_id, "ArtifactCreated")
        if isinstance(e, ArtifactCreated) and e.kind in RENDER_KINDS
    ]


def complete(tap: EventTap, job_id: uuid.UUID) -> bool:
    outs = outputs(tap, job_id)
    svgs = {e.page for e in outs if e.kind == ArtifactKind.SVG}
    kinds = {e.kind for e in outs}
    return kinds == RENDER_KINDS and len(svgs) == next(
        e.page_count for e in outs if e.kind == ArtifactKind.SVG
    )


async def test_stage_killed_mid_job_completes_after_restart_without_duplicates(
    stack: Settings, tap: EventTap, tmp_path: Path
) -> None:
    log = tmp_path / "stage.log"
    async with producer(stack) as (store, pub):
        with stage_process(delay_s=8, worst_case_s=60, log=log) as first:
            job = await submit_ir(store, pub, clara_ir_v2(8))
            await tap.wait_for(lambda: bool(tap.of_job(job.job_id, "StageStarted")), 90)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        assert outputs(tap, job.job_id) == [], "killed before it could finish"
        with stage_process(delay_s=0, worst_case_s=60, log=log):
            await tap.wait_for(lambda: complete(tap, job.job_id), 120)
        outs = outputs(tap, job.job_id)
        assert len({e.artifact_id for e in outs}) == 3
        for e in outs:
            assert await store.object_versions(e.location.key) == [e.location.version_id]


async def test_watchdog_restarts_a_subscriber_whose_task_died(
    stack: Settings, tap: EventTap
) -> None:
    async with producer(stack) as (store, pub), running_stage(stack, render_spec(stack)) as svc:
        assert svc.dead_subscribers() == []
        for sub in svc.broker.subscribers:
            for task in getattr(sub, "tasks", []):
                # What aiokafka does after a failed rebalance: CancelledError into getone().
                task.cancel()
        await asyncio.sleep(0.1)
        assert svc.dead_subscribers() != []
        for _ in range(40):
            if svc.restarts:
                break
            await asyncio.sleep(0.25)
        assert svc.restarts == 1
        job = await submit_ir(store, pub, clara_ir_v2(3))
        await tap.wait_for(lambda: complete(tap, job.job_id), 120)
