"""HTTP API benchmark: upload-to-event latency, and GET /jobs/{id} requests/s with and without
the Redis cache, in the same run.

    python bench/api_bench.py --private          # its own stack on free ports (started, stopped)
    python bench/api_bench.py                    # the running `etude stack up` (ETUDE_* settings)

Two API servers run as subprocesses (`python -m producers.api`, uvicorn), identical but for
ETUDE_JOB_CACHE_TTL_S (30 s vs 0 = off), so the client here and the servers do not share an
event loop. A ledger consumer runs in this process so that jobs reach Postgres.

Upload-to-event: POST /jobs (a one-page PDF) until its ArtifactCreated is read from
`etude.artifact.pdf` by a group-less consumer (the API returns after publishing, so this is
mostly the broker's produce → fetch hop plus the upload's own work).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import httpx
import pypdfium2
from aiokafka import AIOKafkaConsumer

from deploy.net import free_port_block
from deploy.processes import settings_env
from deploy.stack import LocalStack, private_stack_env
from etude.settings import Settings, get_settings
from ledger.consumer import LedgerConsumer
from ledger.service import make_engine
from schemas import artifact_topic


def blank_pdf() -> bytes:
    doc = pypdfium2.PdfDocument.new()
    doc.new_page(595, 842)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@asynccontextmanager
async def private_stack() -> AsyncIterator[Settings]:
    stack_dir = tempfile.mkdtemp(prefix="etude-bench-")
    os.environ.update(private_stack_env(stack_dir, start_port=26000))
    get_settings.cache_clear()
    stack = LocalStack(get_settings())
    try:
        await stack.up()
        yield stack.settings
    finally:
        await stack.down()
        shutil.rmtree(stack_dir, ignore_errors=True)


@asynccontextmanager
async def api_server(settings: Settings, cache_ttl_s: int) -> AsyncIterator[str]:
    port = free_port_block(1, start=27000 + cache_ttl_s)
    env = {
        **os.environ,
        **settings_env(settings),
        "ETUDE_API_PORT": str(port),
        "ETUDE_JOB_CACHE_TTL_S": str(cache_ttl_s),
        "ETUDE_UPLOAD_RATE_PER_MINUTE": "0",  # 0 = unlimited: the benchmark is the only user
        "ETUDE_BCRYPT_ROUNDS": "4",
        "ETUDE_LOG_LEVEL": "WARNING",
    }
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "producers.api", env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{url}/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"the API on {url} did not start")
        yield url
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)


async def login(client: httpx.AsyncClient) -> dict[str, str]:
    creds = {"email": f"bench-{uuid.uuid4().hex[:8]}@example.org", "password": "bench-password"}
    (await client.post("/auth/register", json=creds)).raise_for_status()
    resp = await client.post("/auth/login", json=creds)
    resp.raise_for_status()
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


async def upload_latency(
    settings: Settings, client: httpx.AsyncClient, headers: dict[str, str], n: int
) -> tuple[list[float], str]:
    consumer = AIOKafkaConsumer(
        artifact_topic("pdf"),
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="latest",
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
    )
    await consumer.start()
    await consumer.getmany(timeout_ms=1000)  # assigned and positioned at the end
    data = blank_pdf()
    latencies: list[float] = []
    job_id = ""
    try:
        for i in range(n):
            started = time.perf_counter()
            files = {"file": (f"b{i}.pdf", data, "application/pdf")}
            resp = await client.post("/jobs", files=files, headers=headers)
            resp.raise_for_status()
            job_id = resp.json()["job_id"]
            seen = False
            while not seen:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    seen = seen or any(r.key == job_id.encode() for r in records)
            latencies.append((time.perf_counter() - started) * 1000)
    finally:
        await consumer.stop()
    return latencies, job_id


async def requests_per_s(
    url: str, headers: dict[str, str], job_id: str, seconds: float, concurrency: int
) -> float:
    count = 0
    stop = time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=url, headers=headers) as client:

        async def worker() -> None:
            nonlocal count
            while time.perf_counter() < stop:
                (await client.get(f"/jobs/{job_id}")).raise_for_status()
                count += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return count / (time.perf_counter() - started)


async def run(settings: Settings, uploads: int, seconds: float, concurrency: int) -> None:
    engine = make_engine(settings)
    ledger = LedgerConsumer(settings, engine, group_id=f"bench-ledger-{uuid.uuid4().hex[:8]}")
    await ledger.start()
    ledger_task = asyncio.create_task(ledger.run())
    try:
        async with (
            api_server(settings, 30) as cached_url,
            api_server(settings, 0) as plain_url,
            httpx.AsyncClient(base_url=cached_url, timeout=30) as client,
        ):
            headers = await login(client)
            latencies, job_id = await upload_latency(settings, client, headers, uploads)
            for _ in range(100):  # the job is in the ledger before it is read
                if (await client.get(f"/jobs/{job_id}", headers=headers)).json()["state"]:
                    break
            await asyncio.sleep(1.0)  # let the ledger project the job's events
            # Warm both servers (connection pools, the cached entry), then measure.
            for url in (cached_url, plain_url):
                await requests_per_s(url, headers, job_id, 1.0, concurrency)
            cached = await requests_per_s(cached_url, headers, job_id, seconds, concurrency)
            plain = await requests_per_s(plain_url, headers, job_id, seconds, concurrency)
    finally:
        ledger.request_stop()
        await ledger_task
        await ledger.close()
        await engine.dispose()
    print(f"upload → ArtifactCreated seen on {artifact_topic('pdf')} ({uploads} uploads):")
    print(
        f"  mean {statistics.mean(latencies):.1f} ms, p50 {pct(latencies, 0.5):.1f} ms,"
        f" p95 {pct(latencies, 0.95):.1f} ms, max {max(latencies):.1f} ms"
    )
    print(f"GET /jobs/{{id}}, {concurrency} concurrent clients, {seconds:.0f} s each:")
    print(f"  with the Redis cache:    {cached:7.0f} requests/s")
    print(f"  without (Postgres only): {plain:7.0f} requests/s  (x{cached / plain:.2f} cached)")


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--private", action="store_true", help="start a private stack")
    parser.add_argument("--uploads", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    if args.private:
        async with private_stack() as settings:
            await run(settings, args.uploads, args.seconds, args.concurrency)
    else:
        await run(get_settings(), args.uploads, args.seconds, args.concurrency)


if __name__ == "__main__":
    asyncio.run(main())
