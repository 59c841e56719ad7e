"""PDF → OMR → fingering → render → ledger on the real stack, with the shipped models."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack

import pytest
from music21 import converter
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from consumers.registry import missing_stages, spec_factory
from etude.settings import Settings
from ledger import queries
from ledger.consumer import LedgerConsumer
from ledger.queries import JobView
from ledger.state_machine import JobState
from producers.demo_run import DEMO_PDF
from producers.submit import submit_pdf
from schemas import S3Location, StageName
from tests.integration.pipeline import producer, running_stage

pytestmark = pytest.mark.integration
TERMINAL = {JobState.COMPLETED, JobState.FAILED, JobState.OMR_FAILED, JobState.FINGERING_FAILED}


async def wait_terminal(
    ledger: LedgerConsumer, engine: AsyncEngine, job_ids: list[uuid.UUID], timeout_s: float
) -> dict[uuid.UUID, JobView]:
    views: dict[uuid.UUID, JobView] = {}
    async with asyncio.timeout(timeout_s):
        while True:
            await ledger.poll_once(timeout_ms=500)
            async with AsyncSession(engine) as session:
                for job_id in job_ids:
                    view = await queries.get_job(session, job_id)
                    if view is not None:
                        views[job_id] = view
            if len(views) == len(job_ids) and all(v.state in TERMINAL for v in views.values()):
                return views


async def test_demo_pdf_becomes_a_fingered_score_and_bad_pdfs_fail_cleanly(
    stack: Settings, engine: AsyncEngine
) -> None:
    assert missing_stages(stack) == [], "every stage ships with its model"
    pdf = DEMO_PDF.read_bytes()
    async with AsyncExitStack() as stack_ctx:
        store, pub = await stack_ctx.enter_async_context(producer(stack))
        for stage in (StageName.OMR, StageName.FINGERING, StageName.RENDER):
            spec = spec_factory(stage)(stack)
            await stack_ctx.enter_async_context(
                running_stage(stack, spec, group_id=f"etude-{stage.value}")
            )
        ledger = LedgerConsumer(stack, engine, group_id=f"test-full-{uuid.uuid4().hex[:8]}")
        await ledger.start()
        stack_ctx.push_async_callback(ledger.close)

        corrupt = await submit_pdf(store, pub, b"%PDF-1.4\n% truncated, no objects\n")
        good = await submit_pdf(store, pub, pdf, filename="demo.pdf")
        views = await wait_terminal(ledger, engine, [corrupt.job_id, good.job_id], 600)

        assert views[corrupt.job_id].state == JobState.OMR_FAILED
        assert views[corrupt.job_id].last_error
        done = views[good.job_id]
        assert done.state == JobState.COMPLETED, done.last_error
        async with AsyncSession(engine) as session:
            graph = await queries.get_lineage(session, good.job_id)
        kinds = sorted(n.kind for n in graph.nodes.values())
        assert kinds == ["ir_v1", "ir_v2", "midi", "musicxml", "pdf", "svg"], kinds
        (root,) = graph.roots
        assert root.kind == "pdf"
        xml_node = next(n for n in graph.nodes.values() if n.kind == "musicxml")
        xml = await store.get(
            S3Location(bucket=xml_node.bucket, key=xml_node.key, version_id=xml_node.version_id),
            xml_node.sha256,
        )
    score = converter.parseData(xml.decode(), format="musicxml")
    notes = [n for n in score.recurse().notes]
    assert len(notes) > 50  # twelve bars of K. 545, recognised
    assert xml.count(b"<fingering") >= len(notes)  # the model fingers every note
