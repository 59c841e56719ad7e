"""Real render jobs through the stage and the ledger: states, one row per artifact, rebuild."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from consumers.render.stage import render_spec
from etude.settings import Settings
from ledger import queries
from ledger.consumer import LedgerConsumer
from ledger.models import Artifact
from ledger.rebuild import rebuild
from ledger.state_machine import JobState
from producers.submit import Submitted, submit_ir
from schemas import ArtifactKind, artifact_topic
from tests.integration.pipeline import (
    RENDER_GROUP,
    clara_ir_v2,
    drained,
    producer,
    running_stage,
)
from tests.integration.test_ledger_kafka import assert_same, consume_to, end_offsets

pytestmark = pytest.mark.integration
JOBS = 20


async def test_twenty_render_jobs_project_once_and_rebuild_equals_live(
    stack: Settings, engine: AsyncEngine
) -> None:
    jobs: list[Submitted] = []
    ledger = LedgerConsumer(stack, engine, group_id=f"test-ledger-{uuid.uuid4().hex[:8]}")
    await ledger.start()
    try:
        async with producer(stack) as (store, pub), running_stage(stack, render_spec(stack)):
            for i in range(JOBS):
                job = await submit_ir(store, pub, clara_ir_v2(2 + i % 4))
                jobs.append(job)
                if i % 5 == 0:  # redelivered input: the stage runs twice, outputs must not double
                    await pub.publish(job.input_event, artifact_topic(ArtifactKind.IR_V2))
            for _ in range(240):
                await ledger.poll_once(timeout_ms=250)
                async with AsyncSession(engine) as session:
                    views = [await queries.get_job(session, j.job_id) for j in jobs]
                if all(v is not None and v.state == JobState.COMPLETED for v in views):
                    break
                await asyncio.sleep(0.25)
            # The redelivered inputs too: a rerun that lands after the live ledger's last read
            # would reach only the rebuild.
            await drained(stack, RENDER_GROUP, artifact_topic(ArtifactKind.IR_V2))
        await consume_to(ledger, await end_offsets(stack), within_s=60)
    finally:
        await ledger.close()
    own = {job.job_id for job in jobs}

    async with AsyncSession(engine) as session:
        for job in jobs:
            view = await queries.get_job(session, job.job_id)
            assert view is not None
            assert view.state == JobState.COMPLETED, (job.job_id, view.state, view.last_error)
            graph = await queries.get_lineage(session, job.job_id)
            kinds = sorted(n.kind for n in graph.nodes.values())
            assert kinds == ["ir_v2", "midi", "musicxml", "svg"], kinds
            rows = await session.scalar(
                select(func.count()).select_from(Artifact).where(Artifact.job_id == job.job_id)
            )
            assert rows == 4
            (root,) = graph.roots
            assert root.artifact_id == job.input_event.artifact_id
            assert {child.kind for _, child in graph.children(root.artifact_id)} == {
                "musicxml",
                "midi",
                "svg",
            }
        live = await queries.snapshot(session, job_ids=own)

    # The session's broker is shared (see test_ledger_kafka): this test's jobs are compared.
    await rebuild(stack, engine=engine)
    async with AsyncSession(engine) as session:
        assert_same(await queries.snapshot(session, job_ids=own), live)
