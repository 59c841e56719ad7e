"""The HTTP API in-process (httpx over ASGI) against the real local stack and a live ledger."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI
from sqlalchemy import select

from etude.settings import Settings
from ledger.models import Artifact
from producers.api import tokens
from producers.api.cache import RateLimiter
from producers.api.services import Services
from schemas import STAGE, Producer, StageFailed, StageName, artifact_topic, derived_id
from tests.integration.api_support import (
    JWT_SECRET,
    ApiUser,
    api_stack,
    asgi_client,
    new_user,
    wait_for_state,
)
from tests.unit.api_pdfs import blank_pdf, encrypted_pdf

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def api(stack: Settings) -> AsyncIterator[tuple[FastAPI, Settings]]:
    async with api_stack(stack) as running:
        yield running


@pytest.fixture
async def client(api: tuple[FastAPI, Settings]) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(api[0]) as c:
        yield c


@pytest.fixture
async def user(client: httpx.AsyncClient) -> ApiUser:
    return await new_user(client)


def services(api: tuple[FastAPI, Settings]) -> Services:
    s: Services = api[0].state.services
    return s


async def upload(
    client: httpx.AsyncClient, user: ApiUser, data: bytes, name: str = "score.pdf"
) -> httpx.Response:
    files = {"file": (name, data, "application/pdf")}
    return await client.post("/jobs", files=files, headers=user.headers)


# -- auth -----------------------------------------------------------------------------------------


async def test_register_login_refresh_rotation_and_logout(client: httpx.AsyncClient) -> None:
    user = await new_user(client)
    me = await client.get("/auth/me", headers=user.headers)
    assert me.json() == {"id": str(user.id), "email": user.email}
    again = await client.post("/auth/register", json={"email": user.email, "password": "x" * 10})
    assert again.status_code == 409
    wrong = await client.post("/auth/login", json={"email": user.email, "password": "y" * 10})
    assert wrong.status_code == 401

    fresh = await client.post("/auth/refresh", json={"refresh_token": user.refresh})
    assert fresh.status_code == 200
    pair = fresh.json()
    reused = await client.post("/auth/refresh", json={"refresh_token": user.refresh})
    assert reused.status_code == 401, "a rotated refresh token must be dead"
    as_access = await client.get(
        "/auth/me", headers={"Authorization": f"Bearer {pair['refresh_token']}"}
    )
    assert as_access.status_code == 401

    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    out = await client.post(
        "/auth/logout", headers=headers, json={"refresh_token": pair["refresh_token"]}
    )
    assert out.status_code == 204
    assert (await client.get("/jobs", headers=headers)).status_code == 401
    gone = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert gone.status_code == 401


async def test_no_expired_or_tampered_token_is_401(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    job_id = uuid.uuid4()
    expired, _ = tokens.issue(JWT_SECRET, user.id, "access", 5, now=1_700_000_000)
    head, body, sig = user.access.split(".")
    tampered_body = body[:-2] + ("AA" if body[-2:] != "AA" else "BB")
    forged, _ = tokens.issue("not-the-server-secret-0123456789-0123456789", user.id, "access", 60)
    cases = {
        "none": {},
        "expired": {"Authorization": f"Bearer {expired}"},
        "tampered": {"Authorization": f"Bearer {head}.{tampered_body}.{sig}"},
        "forged": {"Authorization": f"Bearer {forged}"},
        "basic": {"Authorization": "Basic dXNlcjpwYXNz"},
    }
    for name, headers in cases.items():
        for method, path in [
            ("GET", "/jobs"),
            ("GET", f"/jobs/{job_id}"),
            ("GET", f"/jobs/{job_id}/lineage"),
            ("GET", f"/jobs/{job_id}/events"),
            ("GET", f"/jobs/{job_id}/artifacts/pdf"),
            ("POST", f"/jobs/{job_id}/retry"),
            ("POST", "/jobs"),
        ]:
            resp = await client.request(method, path, headers=headers)
            assert resp.status_code == 401, (name, method, path, resp.status_code)
            assert resp.headers.get("www-authenticate") == "Bearer"


# -- uploads --------------------------------------------------------------------------------------


async def test_upload_then_read_list_lineage_and_download(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    data = blank_pdf(2)
    resp = await upload(client, user, data, name="../../etc/passwd.pdf")
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert created["pages"] == 2
    assert created["filename"] == "passwd.pdf"  # a label, never a path
    job_id = created["job_id"]

    body = await wait_for_state(client, user, job_id, {"PENDING"})
    assert body["owner"] == str(user.id)
    listed = (await client.get("/jobs", headers=user.headers)).json()
    for _ in range(50):  # the ledger projects JobSubmitted a moment after the upload
        if any(j["job_id"] == job_id for j in listed):
            break
        await asyncio.sleep(0.1)
        listed = (await client.get("/jobs", headers=user.headers)).json()
    assert [j["job_id"] for j in listed] == [job_id]

    for _ in range(50):
        lineage = (await client.get(f"/jobs/{job_id}/lineage", headers=user.headers)).json()
        if lineage["nodes"]:
            break
        await asyncio.sleep(0.1)
    assert [n["kind"] for n in lineage["nodes"]] == ["pdf"]
    assert lineage["tree"][0]["transformation"]["type"] == "upload"

    art = await client.get(f"/jobs/{job_id}/artifacts/pdf", headers=user.headers)
    assert art.status_code == 200, art.text
    async with httpx.AsyncClient() as raw:
        assert (await raw.get(art.json()["url"])).content == data
    redirect = await client.get(f"/jobs/{job_id}/artifacts/pdf?redirect=true", headers=user.headers)
    assert redirect.status_code == 307
    missing = await client.get(f"/jobs/{job_id}/artifacts/musicxml", headers=user.headers)
    assert missing.status_code == 404


async def test_bad_uploads_are_refused_with_clear_reasons(
    client: httpx.AsyncClient, user: ApiUser, api: tuple[FastAPI, Settings]
) -> None:
    settings = api[1]
    not_pdf = await upload(client, user, b"PK\x03\x04" + b"\x00" * 200, name="score.pdf")
    assert not_pdf.status_code == 415
    assert "%PDF-" in not_pdf.json()["detail"]
    corrupt = await upload(client, user, b"%PDF-1.7\nnot really a pdf\n")
    assert corrupt.status_code == 422
    encrypted = await upload(client, user, encrypted_pdf())
    assert encrypted.status_code == 422
    assert "encrypted" in encrypted.json()["detail"]
    too_long = await upload(client, user, blank_pdf(settings.max_pages + 1))
    assert too_long.status_code == 422
    assert "pages" in too_long.json()["detail"]
    big = blank_pdf() + b"%" + b"x" * (settings.max_upload_bytes + 10)
    oversize = await upload(client, user, big)
    assert oversize.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n\r\n'
        for _ in range(settings.max_upload_bytes // 65536 + 4):
            yield b"x" * 65536

    streamed = await client.post(
        "/jobs",
        content=chunks(),
        headers={**user.headers, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert streamed.status_code == 413
    assert (await client.get("/jobs", headers=user.headers)).json() == []


async def test_path_traversal_in_urls_finds_nothing(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    job_id = (await upload(client, user, blank_pdf())).json()["job_id"]
    for path in [
        f"/jobs/{job_id}/artifacts/..%2F..%2Fetc%2Fpasswd",
        f"/jobs/{job_id}/artifacts/../../../etc/passwd",
        "/jobs/..%2F..%2Fetc%2Fpasswd",
        f"/jobs/{job_id}/artifacts/pdf%00.svg",
    ]:
        resp = await client.get(path, headers=user.headers)
        assert resp.status_code in (404, 422), (path, resp.status_code)


async def test_other_users_jobs_are_404(client: httpx.AsyncClient, user: ApiUser) -> None:
    job_id = (await upload(client, user, blank_pdf())).json()["job_id"]
    await wait_for_state(client, user, job_id, {"PENDING"})
    other = await new_user(client)
    for method, path in [
        ("GET", f"/jobs/{job_id}"),
        ("GET", f"/jobs/{job_id}/lineage"),
        ("GET", f"/jobs/{job_id}/events"),
        ("GET", f"/jobs/{job_id}/artifacts/pdf"),
        ("POST", f"/jobs/{job_id}/retry"),
    ]:
        resp = await client.request(method, path, headers=other.headers)
        assert resp.status_code == 404, (method, path, resp.status_code)
    assert (await client.get("/jobs", headers=other.headers)).json() == []


async def test_hundred_concurrent_uploads_without_loss(
    client: httpx.AsyncClient, user: ApiUser, api: tuple[FastAPI, Settings]
) -> None:
    pdfs = [blank_pdf(1 + i % 3) for i in range(3)]
    responses = await asyncio.gather(
        *(upload(client, user, pdfs[i % 3], name=f"s{i}.pdf") for i in range(100))
    )
    assert [r.status_code for r in responses] == [201] * 100
    ids = {r.json()["job_id"] for r in responses}
    assert len(ids) == 100
    for _ in range(150):  # every job reaches the ledger
        listed = (await client.get("/jobs?limit=500", headers=user.headers)).json()
        if len({j["job_id"] for j in listed} & ids) == 100:
            break
        await asyncio.sleep(0.2)
    assert {j["job_id"] for j in listed} == ids
    assert {j["filename"] for j in listed} == {f"s{i}.pdf" for i in range(100)}


async def test_upload_rate_limit_per_user(
    client: httpx.AsyncClient, user: ApiUser, api: tuple[FastAPI, Settings]
) -> None:
    svc = services(api)
    saved = svc.rate
    svc.rate = RateLimiter(svc.redis, 3, prefix=f"test:rate:{uuid.uuid4().hex}")
    try:
        codes = [(await upload(client, user, blank_pdf())).status_code for _ in range(4)]
        other = await new_user(client)
        other_code = (await upload(client, other, blank_pdf())).status_code
    finally:
        svc.rate = saved
    assert codes == [201, 201, 201, 429]
    assert other_code == 201  # per user


# -- cache, progress, retry ----------------------------------------------------------------------


async def test_cache_is_invalidated_by_events_and_retry_reannounces_input(
    client: httpx.AsyncClient, user: ApiUser, api: tuple[FastAPI, Settings]
) -> None:
    svc = services(api)
    job_id = (await upload(client, user, blank_pdf())).json()["job_id"]
    job = uuid.UUID(job_id)
    pending = await wait_for_state(client, user, job_id, {"PENDING"})
    # Wait until the read is served from the cache (the ledger has all the job's events).
    for _ in range(50):
        await client.get(f"/jobs/{job_id}", headers=user.headers)
        gen = await svc.cache.generation(job)
        if await svc.cache.get(job, gen) is not None:
            break
        await asyncio.sleep(0.1)
    assert json.loads(await svc.cache.get(job, gen) or "{}")["state"] == "PENDING"
    assert pending["retryable"] is False
    assert (await client.post(f"/jobs/{job_id}/retry", headers=user.headers)).status_code == 409

    # The OMR stage fails the job (its StageFailed, as the stage would publish it). The PDF's
    # ArtifactCreated is projected on its own: its lineage node may lag the job's state.
    for _ in range(100):
        lineage = (await client.get(f"/jobs/{job_id}/lineage", headers=user.headers)).json()
        if lineage["nodes"]:
            break
        await asyncio.sleep(0.1)
    pdf_id = uuid.UUID(lineage["nodes"][0]["artifact_id"])
    failed = StageFailed(
        job_id=job,
        correlation_id=job,
        producer=Producer(name="etude.omr", version="test"),
        stage=StageName.OMR,
        input_artifact_id=pdf_id,
        error_kind="bad_input",
        reason="no staff found",
    )
    await svc.publisher.publish(failed, STAGE)
    body = await wait_for_state(client, user, job_id, {"OMR_FAILED"}, within_s=20)
    assert body["retryable"] is True
    assert body["last_error"] == "no staff found"

    # The SSE stream ends at once on a terminal (here retryable) state.
    events = await client.get(f"/jobs/{job_id}/events", headers=user.headers)
    assert events.headers["content-type"].startswith("text/event-stream")
    assert "event: state" in events.text
    assert '"state":"OMR_FAILED"' in events.text
    assert "event: end" in events.text

    consumer = AIOKafkaConsumer(
        bootstrap_servers=svc.settings.kafka_bootstrap, group_id=None, auto_offset_reset="latest"
    )
    await consumer.start()
    try:
        consumer.subscribe([artifact_topic("pdf")])
        await consumer.getmany(timeout_ms=500)  # joined and positioned at the end
        retried = await client.post(f"/jobs/{job_id}/retry", headers=user.headers)
        assert retried.status_code == 202, retried.text
        assert retried.json() == {"job_id": job_id, "stage": "omr", "attempt": 1}
        seen: list[dict[str, object]] = []
        for _ in range(40):
            for records in (await consumer.getmany(timeout_ms=250)).values():
                seen += [json.loads(r.value) for r in records if r.key == job_id.encode()]
            if seen:
                break
    finally:
        await consumer.stop()
    (event,) = seen
    assert event["attempt"] == 1
    assert event["artifact_id"] == str(pdf_id)
    assert event["event_id"] != str(failed.event_id)
    async with svc.sessions() as session:
        announced = await session.scalar(
            select(Artifact.event_id).where(Artifact.artifact_id == pdf_id)
        )
    assert event["event_id"] == str(derived_id("retry", announced, 1))
    assert event["causation_id"] == str(announced)


# -- documents ------------------------------------------------------------------------------------


async def test_openapi_and_asyncapi_documents(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    for path, method in [
        ("/auth/register", "post"),
        ("/auth/login", "post"),
        ("/auth/refresh", "post"),
        ("/auth/logout", "post"),
        ("/jobs", "post"),
        ("/jobs", "get"),
        ("/jobs/{job_id}", "get"),
        ("/jobs/{job_id}/lineage", "get"),
        ("/jobs/{job_id}/events", "get"),
        ("/jobs/{job_id}/artifacts/{kind}", "get"),
        ("/jobs/{job_id}/retry", "post"),
    ]:
        assert method in paths[path], (path, method)
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert paths["/jobs"]["post"]["security"] == [{"HTTPBearer": []}]
    asyncapi = (await client.get("/asyncapi.json")).json()
    assert asyncapi["asyncapi"] == "3.0.0"
    page = await client.get("/")
    assert page.status_code == 200
    assert "upload-form" in page.text
