"""The API's pure parts: tokens, passwords, PDF checks, file names, AsyncAPI, retry events."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime

import jwt
import pytest

from ledger.queries import ArtifactNode, JobView, LineageGraph
from ledger.state_machine import JobState
from producers.api import pdf, tokens
from producers.api.asyncapi import asyncapi_document, topic_messages
from producers.api.jobs import safe_filename
from producers.retry import NotRetryableError, retry_event
from schemas import ALL_TOPICS, ArtifactKind, StageName, derived_id
from tests.unit.api_pdfs import blank_pdf, encrypted_pdf

SECRET = "test-secret-0123456789-0123456789-abcdef"


def test_access_token_round_trip() -> None:
    user = uuid.uuid4()
    token, claims = tokens.issue(SECRET, user, "access", 60)
    back = tokens.decode(SECRET, token, "access")
    assert back.user_id == user
    assert back.jti == claims.jti


def test_expired_tampered_wrong_type_and_alg_none_are_refused() -> None:
    user = uuid.uuid4()
    expired, _ = tokens.issue(SECRET, user, "access", 10, now=1_000_000)
    with pytest.raises(tokens.TokenError, match="expired"):
        tokens.decode(SECRET, expired, "access")
    token, _ = tokens.issue(SECRET, user, "access", 60)
    head, body, sig = token.split(".")
    with pytest.raises(tokens.TokenError):
        tokens.decode(SECRET, f"{head}.{body}x.{sig}", "access")
    with pytest.raises(tokens.TokenError):
        tokens.decode("another-secret-0123456789-0123456789", token, "access")
    refresh, _ = tokens.issue(SECRET, user, "refresh", 60)
    with pytest.raises(tokens.TokenError, match="not an access token"):
        tokens.decode(SECRET, refresh, "access")
    unsigned = jwt.encode(
        {"sub": str(user), "jti": "x", "typ": "access", "iss": "etude", "iat": 1, "exp": 2**40},
        key=None,
        algorithm="none",
    )
    with pytest.raises(tokens.TokenError):
        tokens.decode(SECRET, unsigned, "access")


def test_bcrypt_hash_and_verify() -> None:
    hashed = tokens.hash_password("correct horse", rounds=4)
    assert hashed.startswith("$2")
    assert tokens.verify_password("correct horse", hashed)
    assert not tokens.verify_password("wrong horse", hashed)
    assert not tokens.verify_password("x", "not-a-hash")


def test_pdf_pages_counted_and_bad_files_refused() -> None:
    assert pdf.count_pages(blank_pdf(3)) == 3
    with pytest.raises(pdf.PdfRejectedError) as not_pdf:
        pdf.count_pages(b"PK\x03\x04 a zip renamed score.pdf")
    assert not_pdf.value.status == 415
    with pytest.raises(pdf.PdfRejectedError) as corrupt:
        pdf.count_pages(b"%PDF-1.7\n garbage")
    assert corrupt.value.status == 422
    with pytest.raises(pdf.PdfRejectedError, match="encrypted") as enc:
        pdf.count_pages(encrypted_pdf())
    assert enc.value.status == 422


def test_pages_are_counted_from_a_file_in_place() -> None:
    spooled = io.BytesIO(blank_pdf(4))
    spooled.seek(2)
    assert pdf.count_pages(spooled) == 4
    assert spooled.tell() == 0  # rewound for the upload that follows
    with pytest.raises(pdf.PdfRejectedError) as info:
        pdf.count_pages(io.BytesIO(encrypted_pdf()))
    assert info.value.status == 422


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("..\\..\\windows\\system32\\x.pdf", "x.pdf"),
        ("/abs/path/score.pdf", "score.pdf"),
        ("..", "upload.pdf"),
        ("a\x00b\nc.pdf", "abc.pdf"),
        (None, "upload.pdf"),
        (".hidden.pdf", "hidden.pdf"),
    ],
)
def test_safe_filename(name: str | None, safe: str) -> None:
    assert safe_filename(name) == safe


def test_asyncapi_lists_every_topic_with_payload_schemas() -> None:
    doc = asyncapi_document()
    assert doc["asyncapi"].startswith("3.")
    addresses = {c["address"]: c for c in doc["channels"].values()}
    assert set(addresses) == set(ALL_TOPICS)
    schemas = doc["components"]["schemas"]
    for topic, names in topic_messages().items():
        assert set(addresses[topic]["messages"]) == set(names)
        for name in names:
            message = doc["components"]["messages"][name]
            ref = message["payload"]["$ref"].rsplit("/", 1)[-1]
            assert "properties" in schemas[ref]
            assert "event_id" in schemas[ref]["properties"] or name == "DeadLetter"
    # every $ref resolves inside the document
    text = str(doc)
    for ref in {p.split("'")[0] for p in text.split("'$ref': '#/")[1:]}:
        node = doc
        for part in ref.split("/"):
            node = node[part]


def _node(kind: str, job: uuid.UUID, ttype: str = "upload") -> ArtifactNode:
    return ArtifactNode(
        artifact_id=uuid.uuid4(),
        job_id=job,
        kind=kind,
        bucket="b",
        key=f"{kind}/aa/{'a' * 64}",
        version_id="v1",
        sha256="a" * 64,
        size=10,
        media_type="application/pdf",
        page=None,
        page_count=None,
        artifact_schema_version=None,
        transformation_type=ttype,
        transformation_version="1",
        created_at=datetime.now(UTC),
    )


def _view(job: uuid.UUID, state: JobState, failed: int = 0) -> JobView:
    facts = {"stages": {"omr": {"started": failed, "failed": failed, "outputs": []}}}
    return JobView(job, state, "u", "f.pdf", "omr", None, None, "boom", uuid.uuid4(), facts)


def test_retry_event_reannounces_the_failed_stage_input_one_attempt_up() -> None:
    job = uuid.uuid4()
    pdf_node = _node("pdf", job)
    graph = LineageGraph(job_id=job, nodes={pdf_node.artifact_id: pdf_node})
    announced = uuid.uuid4()
    failed_view, ids = _view(job, JobState.OMR_FAILED, failed=1), {pdf_node.artifact_id: announced}
    stage, event = retry_event(failed_view, graph, event_ids=ids)
    assert stage is StageName.OMR
    assert event.kind is ArtifactKind.PDF
    assert event.artifact_id == pdf_node.artifact_id
    assert event.attempt == 2
    assert event.event_id == derived_id("retry", announced, 2)
    assert event.transformation.parameters == {"job": str(job)}
    # the same request again derives the same event (idempotent)
    _, again = retry_event(failed_view, graph, event_ids=ids)
    assert again.event_id == event.event_id


@pytest.mark.parametrize("state", [JobState.COMPLETED, JobState.FAILED, JobState.OMR_PROCESSING])
def test_retry_refused_outside_retryable_states(state: JobState) -> None:
    job = uuid.uuid4()
    with pytest.raises(NotRetryableError):
        retry_event(_view(job, state), LineageGraph(job_id=job))
