"""Redis: the job-read cache (with invalidation driven by the event log) and upload rate limits.

Why generations and a pending set, not just DEL on change: a job changes when the *ledger*
projects an event, which the API does not see. The API's event listener sees the same events
on Kafka, usually before the ledger has committed them. So on each event it
  1. bumps the job's generation (cached entries live under `job:<id>:v<gen>`, so a read that
     started before the bump can only fill a key nobody reads any more), and
  2. adds the event id to the job's pending set.
A read fills the cache only when every pending event is in the ledger's tracking table
(`processed_events`, written in the same transaction as the projection), so a state read
before the ledger caught up is never cached. The TTL bounds staleness in the one gap left:
events published while no API listener was running.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

from redis.asyncio import Redis

_PENDING_TTL_S = 3600
_GENERATION_TTL_S = 7 * 24 * 3600


def _gen_key(job_id: uuid.UUID) -> str:
    return f"etude:job:{job_id}:gen"


def _entry_key(job_id: uuid.UUID, gen: int) -> str:
    return f"etude:job:{job_id}:v{gen}"


def _pending_key(job_id: uuid.UUID) -> str:
    return f"etude:job:{job_id}:pending"


class JobCache:
    """Cached JSON of `GET /jobs/{id}`; ttl_s <= 0 disables it (reads go to Postgres)."""

    def __init__(self, redis: Redis, ttl_s: int) -> None:
        self._redis = redis
        self.ttl_s = ttl_s

    @property
    def enabled(self) -> bool:
        return self.ttl_s > 0

    async def generation(self, job_id: uuid.UUID) -> int:
        value = await self._redis.get(_gen_key(job_id))
        return int(value) if value is not None else 0

    async def get(self, job_id: uuid.UUID, gen: int) -> str | None:
        value = await self._redis.get(_entry_key(job_id, gen))
        return value if isinstance(value, str) or value is None else value.decode()

    async def put(self, job_id: uuid.UUID, gen: int, payload: str) -> None:
        await self._redis.set(_entry_key(job_id, gen), payload, ex=self.ttl_s)

    async def pending(self, job_id: uuid.UUID) -> set[str]:
        members: set[Any] = await self._redis.smembers(_pending_key(job_id))
        return {m if isinstance(m, str) else m.decode() for m in members}

    async def projected(self, job_id: uuid.UUID, event_ids: Iterable[str]) -> None:
        ids = list(event_ids)
        if ids:
            await self._redis.srem(_pending_key(job_id), *ids)

    async def invalidate(self, job_id: uuid.UUID, event_id: str | None = None) -> None:
        """The job changed (or will, once the ledger projects `event_id`)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.incr(_gen_key(job_id))
            pipe.expire(_gen_key(job_id), _GENERATION_TTL_S)
            if event_id is not None:
                pipe.sadd(_pending_key(job_id), event_id)
                pipe.expire(_pending_key(job_id), _PENDING_TTL_S)
            await pipe.execute()


class RateLimiter:
    """Fixed one-minute windows per user: INCR + EXPIRE, one round trip."""

    def __init__(self, redis: Redis, per_minute: int, prefix: str = "etude:rate:upload") -> None:
        self._redis = redis
        self.per_minute = per_minute
        self._prefix = prefix

    async def hit(self, user: str, now: float | None = None) -> int:
        """Count one request; returns 0 when allowed, else seconds until the window ends."""
        if self.per_minute <= 0:
            return 0
        now = time.time() if now is None else now
        window = int(now // 60)
        key = f"{self._prefix}:{user}:{window}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, 120)
            count, _ = await pipe.execute()
        if int(count) <= self.per_minute:
            return 0
        return max(1, int((window + 1) * 60 - now))
