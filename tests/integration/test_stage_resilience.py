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
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from consumers.render.stage import render_spec
from etude.settings import Settings
from producers.submit import submit_ir
from schemas import ArtifactCreated, ArtifactKind, artifact_topic
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


async def start_group_at_end(settings: Settings, group_id: str, topic: str) -> None:
    """Commit the topic's end offsets for a new group, so it reads only what comes next."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=group_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        parts = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(parts)  # a commit needs the partitions assigned to this consumer
        ends = await consumer.end_offsets(parts)
        await consumer.commit({tp: OffsetAndMetadata(offset, "") for tp, offset in ends.items()})
    finally:
        await consumer.stop()


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
    # A group of its own (members with 630 s rebalance timeouts must not linger in the shared
    # one), starting at the topic's end so the earlier tests' inputs are not re-rendered.
    group = f"etude-render-slow-{uuid.uuid4().hex[:8]}"
    await start_group_at_end(stack, group, artifact_topic(ArtifactKind.IR_V2))
    async with producer(stack) as (store, pub):
        with (
            stage_process(delay, 420, tmp_path / "a.log", group_id=group),
            stage_process(delay, 420, tmp_path / "b.log", group_id=group),
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
