"""What the API holds open while it runs, and the one job read path (ledger + cache)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from etude.broker import EventPublisher
from etude.settings import Settings
from etude.store import ArtifactStore
from ledger.models import ProcessedEvent
from ledger.queries import JobView, get_job
from producers.api.cache import JobCache, RateLimiter
from producers.api.events import ProgressHub
from producers.client import PROGRESS, TERMINAL


@dataclass
class Services:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    store: ArtifactStore
    publisher: EventPublisher
    cache: JobCache
    rate: RateLimiter
    hub: ProgressHub


def job_json(view: JobView) -> dict[str, Any]:
    """The API's job resource."""
    return {
        "job_id": str(view.job_id),
        "state": view.state.value,
        "owner": view.owner,
        "filename": view.filename,
        "first_stage": view.first_stage,
        "created_at": view.created_at.isoformat() if view.created_at else None,
        "updated_at": view.updated_at.isoformat() if view.updated_at else None,
        "last_error": view.last_error,
        "retryable": view.retryable,
        "terminal": view.state in TERMINAL,
        "progress": PROGRESS[view.state],
    }


def _upload_key(job_id: uuid.UUID) -> str:
    return f"etude:upload:{job_id}"


async def remember_upload(services: Services, job: dict[str, Any]) -> None:
    """A just-accepted job, until the ledger has it: GET/SSE answer PENDING, not 404."""
    await services.redis.set(_upload_key(uuid.UUID(job["job_id"])), json.dumps(job), ex=3600)


async def read_job(services: Services, job_id: uuid.UUID) -> dict[str, Any] | None:
    """GET /jobs/{id}'s body for any owner (the route checks ownership), cache first."""
    cache = services.cache
    gen = await cache.generation(job_id) if cache.enabled else 0
    if cache.enabled and (hit := await cache.get(job_id, gen)) is not None:
        data: dict[str, Any] = json.loads(hit)
        return data
    pending = await cache.pending(job_id) if cache.enabled else set()
    async with services.sessions() as session:
        # Which pending events the ledger has committed: checked *before* the job row is read,
        # so a row read afterwards includes every one of them.
        done = await _processed(session, pending)
        view = await get_job(session, job_id)
    if view is None:
        raw = await services.redis.get(_upload_key(job_id))
        return json.loads(raw) if raw else None
    body = job_json(view)
    if cache.enabled:
        await cache.projected(job_id, done)
        if not pending - done:
            await cache.put(job_id, gen, json.dumps(body))
    return body


async def _processed(session: AsyncSession, event_ids: set[str]) -> set[str]:
    if not event_ids:
        return set()
    ids = [uuid.UUID(e) for e in event_ids]
    rows = await session.scalars(
        select(ProcessedEvent.event_id).where(ProcessedEvent.event_id.in_(ids))
    )
    return {str(r) for r in rows}
