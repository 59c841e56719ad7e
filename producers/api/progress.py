"""`GET /jobs/{id}/events`: Server-Sent Events, one `state` event per state change.

A stream sleeps until the API's event listener sees an event of its job (events.py), then
re-reads the job from the ledger. The ledger projects a moment after the event is on Kafka,
so after each wake-up the stream re-reads quickly for a few seconds; between events it
re-reads slowly anyway, so a missed wake-up (listener restart) delays, never loses, progress.
It ends after the first terminal state (COMPLETED, FAILED, or a retryable *_FAILED).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from producers.api.auth import CurrentUser, ServicesDep
from producers.api.jobs import owned_job
from producers.api.services import Services, read_job

router = APIRouter(prefix="/jobs", tags=["jobs"])

FAST_POLL_S = 0.1
FAST_WINDOW_S = 3.0
SLOW_POLL_S = 2.0
KEEPALIVE_S = 15.0


def sse(event: str, data: dict[str, Any], event_id: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def state_changes(services: Services, job_id: uuid.UUID) -> AsyncIterator[str]:
    last: tuple[Any, ...] | None = None
    seq = 0
    fast_until = time.monotonic() + FAST_WINDOW_S
    quiet_since = time.monotonic()
    with services.hub.watch(job_id) as wake:
        while True:
            body = await read_job(services, job_id)
            if body is not None and (body["state"], body["updated_at"]) != last:
                last = (body["state"], body["updated_at"])
                seq += 1
                quiet_since = time.monotonic()
                yield sse("state", body, str(seq))
                if body["terminal"]:
                    yield sse("end", {"job_id": str(job_id), "state": body["state"]})
                    return
            now = time.monotonic()
            if now - quiet_since > KEEPALIVE_S:
                quiet_since = now
                yield ": keep-alive\n\n"  # a comment: keeps proxies from closing the stream
            timeout = FAST_POLL_S if now < fast_until else SLOW_POLL_S
            wake.clear()
            try:
                await asyncio.wait_for(wake.wait(), timeout)
                fast_until = time.monotonic() + FAST_WINDOW_S
            except TimeoutError:
                pass


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "text/event-stream: `state` events (the job resource), then `end`",
            "content": {"text/event-stream": {}},
        },
        404: {"description": "No such job"},
    },
)
async def events(
    job_id: uuid.UUID, user_id: CurrentUser, services: ServicesDep
) -> StreamingResponse:
    """Live progress of a job as Server-Sent Events."""
    await owned_job(services, user_id, job_id)
    return StreamingResponse(
        state_changes(services, job_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
