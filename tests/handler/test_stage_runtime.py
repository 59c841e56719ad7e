"""The stage handler's decisions: outputs, derived ids, retries, failures, dead letters."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

import pytest

from etude.errors import BadInputError, TransientError
from etude.stage import (
    Delivery,
    Output,
    Processed,
    Rejected,
    RetryPolicy,
    Skipped,
    StageRuntime,
    StageSpec,
)
from schemas import (
    ArtifactCreated,
    ArtifactKind,
    Producer,
    S3Location,
    StageName,
    Transformation,
    encode_event,
)
from tests.handler.fakes import MemoryPublisher, MemoryStore

FAST = RetryPolicy(attempts=3, initial_s=0.001, max_s=0.002)
DELIVERY = Delivery("etude.artifact.ir_v2", 0, 7)


def upper(data: bytes) -> Sequence[Output]:
    return (
        Output(ArtifactKind.MUSICXML, data.upper(), "text/plain", name="musicxml"),
        Output(ArtifactKind.MIDI, data[::-1], "audio/midi", name="midi"),
    )


def spec(transform=upper, version: str = "1") -> StageSpec:  # type: ignore[no-untyped-def]
    return StageSpec(name=StageName.RENDER, version=version, transform=transform)


async def input_event(store: MemoryStore, data: bytes = b"ir-v2-bytes") -> ArtifactCreated:
    stored = await store.put(ArtifactKind.IR_V2, data, "application/json")
    return ArtifactCreated(
        job_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        producer=Producer(name="test", version="0"),
        artifact_id=uuid.uuid4(),
        kind=ArtifactKind.IR_V2,
        location=stored.location,
        sha256=stored.sha256,
        size=stored.size,
        media_type="application/json",
        transformation=Transformation(type="import", version="1"),
    )


def runtime(store: MemoryStore, pub: MemoryPublisher, s: StageSpec | None = None) -> StageRuntime:
    return StageRuntime(s or spec(), store, pub, FAST)


async def test_outputs_are_stored_and_published_with_lineage() -> None:
    store, pub = MemoryStore(), MemoryPublisher()
    event = await input_event(store)
    outcome = await runtime(store, pub).handle(encode_event(event), DELIVERY)
    assert isinstance(outcome, Processed)
    assert [e.event_type for _, e in pub.sent] == [
        "StageStarted",
        "ArtifactCreated",
        "ArtifactCreated",
    ]
    created = [e for e in outcome.outputs]
    assert {c.kind for c in created} == {ArtifactKind.MUSICXML, ArtifactKind.MIDI}
    for c in created:
        assert c.source_artifact_ids == (event.artifact_id,)
        assert c.causation_id == event.event_id
        assert c.correlation_id == event.correlation_id
        assert c.job_id == event.job_id
        assert store.objects[c.location.key] in (b"IR-V2-BYTES", b"setyb-2v-ri")
    assert [t for t, _ in pub.sent[1:]] == ["etude.artifact.musicxml", "etude.artifact.midi"]


async def test_redelivery_derives_identical_ids_and_events() -> None:
    store, pub = MemoryStore(), MemoryPublisher()
    event = await input_event(store)
    rt = runtime(store, pub)
    first = await rt.handle(encode_event(event), DELIVERY)
    second = await rt.handle(encode_event(event), DELIVERY)
    assert isinstance(first, Processed) and isinstance(second, Processed)
    assert [e.model_dump() for e in first.outputs] != []
    assert [(e.event_id, e.artifact_id) for e in first.outputs] == [
        (e.event_id, e.artifact_id) for e in second.outputs
    ]
    assert len(store.objects) == 3  # input + two outputs, nothing duplicated


async def test_new_transform_version_derives_new_artifacts() -> None:
    store, pub = MemoryStore(), MemoryPublisher()
    event = await input_event(store)
    v1 = await runtime(store, pub, spec(version="1")).handle(encode_event(event), DELIVERY)
    v2 = await runtime(store, pub, spec(version="2")).handle(encode_event(event), DELIVERY)
    assert isinstance(v1, Processed) and isinstance(v2, Processed)
    assert {e.artifact_id for e in v1.outputs}.isdisjoint({e.artifact_id for e in v2.outputs})
    assert all(e.source_artifact_ids == (event.artifact_id,) for e in v2.outputs)


async def test_malformed_json_goes_to_dlq_without_a_job() -> None:
    store, pub = MemoryStore(), MemoryPublisher()
    outcome = await runtime(store, pub).handle(b"{not json", DELIVERY)
    assert isinstance(outcome, Rejected) and "malformed event JSON" in outcome.reason
    assert len(pub.dead) == 1 and pub.dead[0].payload == "{not json"
    assert pub.dead[0].source_offset == 7
    assert pub.sent == []  # no job id to fail


async def test_unknown_schema_version_fails_the_job_and_dead_letters() -> None:
    store, pub = MemoryStore(), MemoryPublisher()
    event = await input_event(store)
    raw = json.loads(encode_event(event))
    raw["schema_version"] = 99
    outcome = await runtime(store, pub).handle(json.dumps(raw).encode(), DELIVERY)
    assert isinstance(outcome, Rejected)
    assert "unsupported schema_version 99" in outcome.reason
    (failed,) = pub.of_type("StageFailed")
    assert failed.job_id == event.job_id
    assert pub.dead[0].job_id == event.job_id


async def test_missing_object_is_bad_input() -> None:
    store, pub = MemoryStore(), MemoryPublisher()
    event = await input_event(store)
    gone = event.model_copy(update={"location": S3Location(bucket="test", key="ir_v2/zz/none")})
    outcome = await runtime(store, pub).handle(encode_event(gone), DELIVERY)
    assert outcome == Rejected("bad_input", "S3 object missing: ir_v2/zz/none")
    (failed,) = pub.of_type("StageFailed")
    assert failed.reason == outcome.reason  # type: ignore[attr-defined]
    assert len(pub.dead) == 1


async def test_checksum_mismatch_is_bad_input() -> None:
    store, pub = MemoryStore(), MemoryPublisher()
    event = await input_event(store)
    lying = event.model_copy(update={"sha256": "0" * 64})
    outcome = await runtime(store, pub).handle(encode_event(lying), DELIVERY)
    assert isinstance(outcome, Rejected) and "checksum mismatch" in outcome.reason
    assert pub.of_type("ArtifactCreated") == []


async def test_transient_errors_are_retried_then_succeed() -> None:
    store, pub = MemoryStore(), MemoryPublisher()
    event = await input_event(store)
    store.fail_gets = [TransientError("S3 get: 503"), TransientError("S3 get: 503")]
    outcome = await runtime(store, pub).handle(encode_event(event), DELIVERY)
    assert isinstance(outcome, Processed)


async def test_exhausted_retries_fail_the_job_as_transient() -> None:
    store, pub = MemoryStore(), MemoryPublisher()
    event = await input_event(store)
    store.fail_gets = [TransientError("S3 get: 503")] * 3
    outcome = await runtime(store, pub).handle(encode_event(event), DELIVERY)
    assert outcome == Rejected("transient_exhausted", "S3 get: 503")


@pytest.mark.parametrize(
    ("error", "kind"),
    [(BadInputError("no staves on page 1"), "bad_input"), (ZeroDivisionError("bug"), "internal")],
)
async def test_transform_errors_fail_the_job(error: Exception, kind: str) -> None:
    def broken(data: bytes) -> Sequence[Output]:
        raise error

    store, pub = MemoryStore(), MemoryPublisher()
    event = await input_event(store)
    outcome = await runtime(store, pub, spec(broken)).handle(encode_event(event), DELIVERY)
    assert isinstance(outcome, Rejected) and outcome.error_kind == kind
    assert str(error) in outcome.reason


async def test_other_artifact_kinds_are_skipped() -> None:
    store, pub = MemoryStore(), MemoryPublisher()
    event = (await input_event(store)).model_copy(update={"kind": ArtifactKind.PDF})
    outcome = await runtime(store, pub).handle(encode_event(event), DELIVERY)
    assert isinstance(outcome, Skipped)
    assert pub.sent == [] and pub.dead == []
