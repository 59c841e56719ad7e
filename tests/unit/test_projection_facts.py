"""Pure parts of the ledger's projection: decoding records, building rows, batch bookkeeping."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime

from aiokafka import ConsumerRecord, TopicPartition

from ledger import rows
from ledger.consumer import next_offsets, raw_records
from ledger.records import (
    MALFORMED,
    DecodedDeadLetter,
    DecodedEvent,
    Malformed,
    RawRecord,
    decode_record,
)
from ledger.state_machine import JobState, fold
from ledger.synthetic import JobRun, completed_job, topic_of
from schemas.events import (
    ArtifactCreated,
    DeadLetter,
    JobSubmitted,
    decode_event,
    encode_event,
)
from schemas.kinds import ArtifactKind, StageName
from schemas.topics import DLQ, STAGE


def _rec(value: bytes | None, topic: str = STAGE, offset: int = 0) -> RawRecord:
    return RawRecord(topic, 1, offset, value)


# -- decoding ----------------------------------------------------------------------------------


def test_every_synthetic_event_decodes_like_the_contract() -> None:
    for event in completed_job(pages=3):
        decoded = decode_record(_rec(encode_event(event), topic_of(event)))
        assert isinstance(decoded, DecodedEvent)
        assert decoded.event == event == decode_event(encode_event(event))
        assert decoded.tracking_id == event.event_id


def test_malformed_json_is_malformed_not_an_exception() -> None:
    decoded = decode_record(_rec(b"{not json", offset=7))
    assert isinstance(decoded, Malformed)
    assert "malformed event JSON" in decoded.reason
    # Same position → same id: a redelivery is a duplicate.
    assert decoded.tracking_id == decode_record(_rec(b"other", offset=7)).tracking_id
    assert decoded.tracking_id != decode_record(_rec(b"{not json", offset=8)).tracking_id


def test_unknown_type_and_version_keep_the_contract_reason_and_job_id() -> None:
    job_id = uuid.uuid4()
    event = json.loads(encode_event(completed_job(job_id)[0]))
    unknown = decode_record(_rec(json.dumps({**event, "event_type": "Nope"}).encode()))
    assert isinstance(unknown, Malformed)
    assert "unknown event_type" in unknown.reason
    assert unknown.job_id == job_id
    future = decode_record(_rec(json.dumps({**event, "schema_version": 9}).encode()))
    assert isinstance(future, Malformed)
    assert "unsupported schema_version" in future.reason


def test_tombstone_is_malformed() -> None:
    assert isinstance(decode_record(_rec(None)), Malformed)


def test_dlq_records_are_dead_letters() -> None:
    dl = DeadLetter(
        consumer="etude.omr",
        source_topic="etude.artifact.pdf",
        source_partition=0,
        source_offset=3,
        job_id=uuid.uuid4(),
        error_kind="bad_input",
        reason="not a PDF",
        payload="%PDF?",
    )
    decoded = decode_record(_rec(dl.model_dump_json().encode(), DLQ))
    assert isinstance(decoded, DecodedDeadLetter)
    assert decoded.tracking_id == dl.dead_letter_id
    row = rows.dead_letter_row(decoded)
    assert row["reason"] == "not a PDF"
    assert row["topic"] == DLQ
    assert rows.tracking_row(decoded)["event_type"] == "DeadLetter"
    bad = decode_record(_rec(b'{"consumer": 1}', DLQ))
    assert isinstance(bad, Malformed)
    assert "invalid DeadLetter" in bad.reason


def test_malformed_dead_letter_row_keeps_payload_without_nul() -> None:
    decoded = decode_record(_rec(b"\x00\xffgarbage", offset=5))
    assert isinstance(decoded, Malformed)
    row = rows.dead_letter_row(decoded)
    assert "\x00" not in row["payload"]
    assert row["consumer"] == "etude.ledger"
    assert row["source_offset"] == 5
    track = rows.tracking_row(decoded)
    assert track["event_type"] == MALFORMED
    assert track["offset"] == 5


# -- rows ----------------------------------------------------------------------------------------


def test_artifact_lineage_and_history_rows() -> None:
    run = JobRun().submit()
    pdf = run.artifact(ArtifactKind.PDF)
    ir1 = run.omr(pdf)
    upload, started, created = run.events[1], run.events[2], run.events[3]
    assert isinstance(upload, ArtifactCreated)
    assert isinstance(created, ArtifactCreated)
    assert rows.transformation_row(run.events[0]) is None  # JobSubmitted
    assert rows.transformation_row(upload) is None  # uploads are not stage outputs
    assert rows.lineage_rows(upload) == []
    assert rows.transformation_row(started)["status"] == "started"  # type: ignore[index]
    history = rows.transformation_row(created)
    assert history is not None
    assert history["status"] == "completed"
    assert history["stage"] == "omr"
    assert history["input_artifact_id"] == pdf
    assert history["output_artifact_id"] == ir1
    art = rows.artifact_row(created)
    assert art["artifact_id"] == ir1
    assert art["kind"] == "ir_v1"
    assert art["created_at"].tzinfo is not None
    (edge,) = rows.lineage_rows(created)
    assert edge["source_artifact_id"] == pdf
    assert edge["derived_artifact_id"] == ir1
    assert edge["transformation_type"] == "omr"


def test_failure_history_row_has_reason() -> None:
    run = JobRun().submit()
    pdf = run.artifact(ArtifactKind.PDF)
    run.failed(StageName.OMR, pdf, attempt=2, reason="no staves found")
    row = rows.transformation_row(run.events[-1])
    assert row is not None
    assert (row["status"], row["attempt"], row["reason"]) == ("failed", 2, "no staves found")


def test_job_row_is_a_function_of_the_facts() -> None:
    job_id = uuid.uuid4()
    events = completed_job(job_id)
    submitted = events[0]
    assert isinstance(submitted, JobSubmitted)
    shuffled = list(events)
    random.Random(3).shuffle(shuffled)
    row = rows.job_row(job_id, fold(shuffled))
    assert row == rows.job_row(job_id, fold(events))
    assert row["state"] == JobState.COMPLETED
    assert row["owner"] == "alice"
    assert row["filename"] == "score.pdf"
    assert row["first_stage"] == "omr"
    assert row["created_at"] == submitted.occurred_at
    assert row["updated_at"] == events[-1].occurred_at
    assert row["correlation_id"] == submitted.correlation_id
    assert row["last_error"] is None


def test_job_row_without_submission_uses_earliest_event() -> None:
    events = completed_job()[1:]
    row = rows.job_row(events[0].job_id, fold(events))
    assert row["owner"] is None
    assert row["first_stage"] is None
    assert row["created_at"] == events[0].occurred_at


def test_earliest_by_ignores_arrival_order() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    t1 = datetime(2026, 1, 2, tzinfo=UTC)
    a = {"k": 1, "at": t1, "id": uuid.UUID(int=1), "v": "late"}
    b = {"k": 1, "at": t0, "id": uuid.UUID(int=9), "v": "early"}
    c = {"k": 2, "at": t1, "id": uuid.UUID(int=2), "v": "other"}
    for order in ([a, b, c], [c, b, a], [b, a, c]):
        kept = sorted(rows.earliest_by(order, ("k",), ("at", "id")), key=lambda r: r["k"])
        assert [r["v"] for r in kept] == ["early", "other"]


def test_naive_timestamps_are_taken_as_utc() -> None:
    assert rows.utc(datetime(2026, 1, 1)) == datetime(2026, 1, 1, tzinfo=UTC)


# -- consumer bookkeeping -------------------------------------------------------------------------


def test_next_offsets_are_one_past_the_last_record_per_partition() -> None:
    recs = [RawRecord("a", 0, 5, b""), RawRecord("a", 0, 3, b""), RawRecord("b", 2, 9, b"")]
    assert next_offsets(recs) == {TopicPartition("a", 0): 6, TopicPartition("b", 2): 10}


def test_raw_records_flattens_batches() -> None:
    tp = TopicPartition("etude.stage", 1)
    msg: ConsumerRecord[bytes, bytes] = ConsumerRecord(
        topic="etude.stage",
        partition=1,
        offset=4,
        timestamp=0,
        timestamp_type=0,
        key=b"k",
        value=b"v",
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=1,
        headers=(),
    )
    assert raw_records({tp: [msg]}) == [RawRecord("etude.stage", 1, 4, b"v")]
