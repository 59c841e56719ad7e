"""The render stage against the real broker and S3: outputs, idempotency, bad input, replay."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from music21 import converter

from consumers.render.stage import render_spec
from etude.settings import Settings
from producers.replay import replay_stage
from producers.submit import submit_ir
from schemas import ArtifactCreated, ArtifactKind, S3Location, artifact_topic, encode_event
from tests.integration.pipeline import clara_ir_v2, producer, running_stage
from tests.integration.tap import EventTap

pytestmark = pytest.mark.integration
RENDER_KINDS = {ArtifactKind.MUSICXML, ArtifactKind.MIDI, ArtifactKind.SVG}


@pytest.fixture
async def tap(stack: Settings) -> AsyncIterator[EventTap]:
    t = await EventTap(stack).start()
    yield t
    await t.stop()


def outputs_complete(tap: EventTap, job_id: uuid.UUID) -> bool:
    created = [e for e in tap.of_job(job_id, "ArtifactCreated") if isinstance(e, ArtifactCreated)]
    svgs = [e for e in created if e.kind == ArtifactKind.SVG]
    kinds = {e.kind for e in created}
    return (
        kinds >= RENDER_KINDS and bool(svgs) and len({e.page for e in svgs}) == svgs[0].page_count
    )


def render_outputs_of(tap: EventTap, job_id: uuid.UUID) -> list[ArtifactCreated]:
    return [
        e
        for e in tap.of_job(job_id, "ArtifactCreated")
        if isinstance(e, ArtifactCreated) and e.kind in RENDER_KINDS
    ]


async def test_render_job_produces_fingered_musicxml_midi_and_svg(
    stack: Settings, tap: EventTap
) -> None:
    ir = clara_ir_v2()
    fingered = sum(1 for n in ir.notes if n.finger is not None)
    assert fingered >= 10  # the edition's own marks
    async with producer(stack) as (store, pub), running_stage(stack, render_spec(stack)):
        job = await submit_ir(store, pub, ir, filename="op1n1.musicxml")
        await tap.wait_for(lambda: outputs_complete(tap, job.job_id), timeout_s=120)
        outputs = render_outputs_of(tap, job.job_id)
        by_kind = {e.kind: e for e in outputs}
        xml = await store.get(
            by_kind[ArtifactKind.MUSICXML].location, by_kind[ArtifactKind.MUSICXML].sha256
        )
        svg = await store.get(by_kind[ArtifactKind.SVG].location, by_kind[ArtifactKind.SVG].sha256)
    assert xml.count(b"<fingering") == fingered
    assert b"<svg" in svg
    parsed = converter.parseData(xml.decode(), format="musicxml")
    assert len(list(parsed.recurse().notes)) > 0
    for e in outputs:
        assert e.source_artifact_ids == (job.input_event.artifact_id,)
        assert e.causation_id == job.input_event.event_id
        assert e.correlation_id == job.correlation_id
    started = tap.of_job(job.job_id, "StageStarted")
    assert len(started) == 1


async def test_duplicate_delivery_creates_one_artifact_each(stack: Settings, tap: EventTap) -> None:
    ir = clara_ir_v2(8)
    async with producer(stack) as (store, pub), running_stage(stack, render_spec(stack)):
        job = await submit_ir(store, pub, ir)
        # The same event delivered again, as after a crash before the commit.
        await pub.publish(job.input_event, artifact_topic(ArtifactKind.IR_V2))
        await pub.publish(job.input_event, artifact_topic(ArtifactKind.IR_V2))
        await tap.wait_for(lambda: len(tap.of_job(job.job_id, "StageStarted")) >= 3, 120)
        await tap.wait_for(lambda: len(render_outputs_of(tap, job.job_id)) >= 9, 120)
        outputs = render_outputs_of(tap, job.job_id)
        distinct = {e.artifact_id for e in outputs}
        assert len(distinct) == 3  # musicxml, midi, one svg page
        assert len({e.event_id for e in outputs}) == 3  # redelivery republishes identical events
        for e in outputs:
            assert await store.object_versions(e.location.key) == [e.location.version_id]


async def test_bad_input_is_dead_lettered_and_the_consumer_keeps_going(
    stack: Settings, tap: EventTap
) -> None:
    ir = clara_ir_v2(4)
    async with producer(stack) as (store, pub), running_stage(stack, render_spec(stack)):
        good = await submit_ir(store, pub, ir)  # stored, so its event is a realistic template
        await tap.wait_for(lambda: outputs_complete(tap, good.job_id), 120)
        template = good.input_event
        topic = artifact_topic(ArtifactKind.IR_V2)
        broker = pub._broker  # raw bytes, bypassing the typed publisher

        def variant(**update: object) -> ArtifactCreated:
            return template.model_copy(
                update={"event_id": uuid.uuid4(), "job_id": uuid.uuid4(), **update}
            )

        unknown_version = json.loads(encode_event(variant()))
        unknown_version["schema_version"] = 42
        missing = variant(
            location=S3Location(bucket=stack.s3_bucket, key="ir_v2/00/does-not-exist")
        )
        corrupt = variant(sha256="f" * 64)
        not_ir = await store.put(
            ArtifactKind.IR_V2, b'{"ir": "something else"}', "application/json"
        )
        wrong_content = variant(location=not_ir.location, sha256=not_ir.sha256, size=not_ir.size)

        await broker.publish(b'{"event_type": "ArtifactCreated", oops', topic=topic, key=b"x")
        await broker.publish(json.dumps(unknown_version).encode(), topic=topic, key=b"y")
        for ev in (missing, corrupt, wrong_content):
            await pub.publish(ev, topic)
        after = await submit_ir(store, pub, clara_ir_v2(6))
        await tap.wait_for(lambda: outputs_complete(tap, after.job_id), 120)
        await tap.wait_for(lambda: len(tap.dead_letters) >= 5, 60)
        # StageFailed travels on etude.stage, the dead letters on etude.dlq: the tap may have
        # polled one topic ahead of the other.
        failed_jobs = [ev.job_id for ev in (missing, corrupt, wrong_content)]
        failed_jobs.append(uuid.UUID(unknown_version["job_id"]))
        await tap.wait_for(lambda: all(tap.of_job(j, "StageFailed") for j in failed_jobs), 60)

    reasons = [d.reason for d in tap.dead_letters]
    assert any("malformed event JSON" in r for r in reasons)
    assert any("unsupported schema_version 42" in r for r in reasons)
    assert any("S3 object missing" in r for r in reasons)
    assert any("checksum mismatch" in r for r in reasons)
    assert any("expected an etude.ir.v2 document" in r for r in reasons)
    for ev in (missing, corrupt, wrong_content):
        (failed,) = tap.of_job(ev.job_id, "StageFailed")
        assert failed.error_kind == "bad_input"  # type: ignore[attr-defined]
    assert tap.of_job(uuid.UUID(unknown_version["job_id"]), "StageFailed")


async def test_replay_same_version_creates_nothing_new_version_creates_linked_artifacts(
    stack: Settings, tap: EventTap
) -> None:
    ir = clara_ir_v2(5)
    since = datetime.now(UTC)
    async with producer(stack) as (store, pub):
        async with running_stage(stack, render_spec(stack)):
            job = await submit_ir(store, pub, ir)
            await tap.wait_for(lambda: outputs_complete(tap, job.job_id), 120)
        live = {e.artifact_id: e for e in render_outputs_of(tap, job.job_id)}
        versions_before = {a: await store.object_versions(e.location.key) for a, e in live.items()}

        same = await replay_stage(stack, render_spec(stack), since=since)
        assert same.processed >= 1
        await tap.poll(1000)
        assert {e.artifact_id for e in render_outputs_of(tap, job.job_id)} == set(live)
        for a, e in live.items():
            assert await store.object_versions(e.location.key) == versions_before[a]

        bumped = await replay_stage(stack, render_spec(stack, version="99.0.0-test"), since=since)
        assert bumped.processed >= 1
        await tap.wait_for(
            lambda: len({e.artifact_id for e in render_outputs_of(tap, job.job_id)}) >= 6, 60
        )
    new = [e for e in render_outputs_of(tap, job.job_id) if e.artifact_id not in live]
    assert {e.kind for e in new} == RENDER_KINDS
    for e in new:
        assert e.transformation.version == "99.0.0-test"
        assert e.source_artifact_ids == (job.input_event.artifact_id,)
