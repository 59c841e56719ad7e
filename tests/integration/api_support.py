"""Shared pieces of the API tests: a private ledger database, a ledger consumer, the app
in-process (httpx over ASGI) or on a real uvicorn server, and users."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import create_async_engine

from deploy.net import free_port_block
from etude.settings import Settings
from ledger.consumer import LedgerConsumer
from producers.api.app import create_app
from tests.integration.ledger_db import private_database

JWT_SECRET = "api-tests-secret-0123456789-0123456789-0123456789"


def api_settings(stack: Settings, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "bcrypt_rounds": 4,  # bcrypt's minimum: the tests are not about hashing cost
        "upload_rate_per_minute": 10_000,
        "max_upload_bytes": 512 * 1024,
        "max_pages": 5,
        "jwt_secret": SecretStr(JWT_SECRET),
        "job_cache_ttl_s": 30,
    }
    values.update(overrides)
    return stack.model_copy(update=values)


@asynccontextmanager
async def ledger_running(settings: Settings) -> AsyncIterator[LedgerConsumer]:
    """The ledger projecting every topic into `settings.database_url`, in this process."""
    engine = create_async_engine(settings.database_url)
    ledger = LedgerConsumer(settings, engine, group_id=f"api-test-ledger-{uuid.uuid4().hex[:8]}")
    await ledger.start()
    task = asyncio.create_task(ledger.run())
    try:
        yield ledger
    finally:
        ledger.request_stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)
        await ledger.close()
        await engine.dispose()


@asynccontextmanager
async def api_stack(stack: Settings, **overrides: Any) -> AsyncIterator[tuple[FastAPI, Settings]]:
    """A private migrated database, a ledger on it, and the started app."""
    async with private_database(stack.database_url) as url:
        settings = api_settings(stack, url, **overrides)
        app = create_app(settings)
        async with ledger_running(settings), app.router.lifespan_context(app):
            yield app, settings


def asgi_client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


@asynccontextmanager
async def uvicorn_server(app: FastAPI) -> AsyncIterator[str]:
    """The app on a real HTTP server (a free port); yields its base URL."""
    port = free_port_block(1, start=24000)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.05)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


@dataclass(frozen=True)
class ApiUser:
    id: uuid.UUID
    email: str
    password: str
    access: str
    refresh: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


async def new_user(client: httpx.AsyncClient) -> ApiUser:
    email = f"user-{uuid.uuid4().hex[:10]}@example.org"
    password = "correct horse battery"
    reg = await client.post("/auth/register", json={"email": email, "password": password})
    assert reg.status_code == 201, reg.text
    login = await client.post("/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    tokens = login.json()
    return ApiUser(
        uuid.UUID(reg.json()["id"]),
        email,
        password,
        tokens["access_token"],
        tokens["refresh_token"],
    )


async def wait_for_state(
    client: httpx.AsyncClient,
    user: ApiUser,
    job_id: str,
    states: set[str],
    within_s: float = 30,
    *,
    until_projected: bool = False,
) -> dict[str, Any]:
    """Poll GET /jobs/{id}; with until_projected a 404 (not in the ledger yet) is waited out."""
    deadline = asyncio.get_running_loop().time() + within_s
    body: dict[str, Any] = {}
    while asyncio.get_running_loop().time() < deadline:
        resp = await client.get(f"/jobs/{job_id}", headers=user.headers)
        if until_projected and resp.status_code == 404:
            await asyncio.sleep(0.2)
            continue
        assert resp.status_code == 200, resp.text
        body = resp.json()
        if body["state"] in states:
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"job {job_id} stayed {body.get('state')}, wanted {states}")
