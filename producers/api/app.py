"""The FastAPI application: wiring, lifespan (Postgres, Redis, S3, Kafka), middleware, page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from importlib.resources import files
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from etude import __version__
from etude.broker import EventPublisher, make_broker
from etude.logging import get_logger
from etude.settings import DEV_JWT_SECRET, Settings, get_settings
from etude.store import open_store
from producers.api import auth, jobs, progress
from producers.api.asyncapi import asyncapi_document
from producers.api.cache import JobCache, RateLimiter
from producers.api.events import EventListener, ProgressHub
from producers.api.services import Services

log = get_logger("etude.api")
# Multipart framing around the file: boundaries, part headers.
_MULTIPART_SLACK = 64 * 1024


class UploadSizeLimit:
    """Refuses an upload body over the limit before it is parsed or spooled (413).

    A declared Content-Length over the limit is refused at once; a chunked body is counted as
    it streams and cut off when it passes the limit.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/jobs":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._too_large(scope, receive, send)
            return
        seen = 0
        rejected = False

        async def counting() -> Message:
            nonlocal seen, rejected
            message = await receive()
            if message["type"] == "http.request" and not rejected:
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # Answer 413 now and tell the app the client is gone: it stops reading
                    # (a raised error would be turned into a 400 by the form parser).
                    rejected = True
                    await self._too_large(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not rejected:  # after our 413, whatever the app says is dropped
                await send(message)

        await self.app(scope, counting, guarded_send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"upload larger than {self.limit - _MULTIPART_SLACK} bytes"}, status_code=413
        )
        await response(scope, receive, send)


@asynccontextmanager
async def _services(settings: Settings) -> AsyncIterator[Services]:
    async with AsyncExitStack() as stack:
        engine = create_async_engine(settings.database_url, pool_size=10, pool_pre_ping=True)
        stack.push_async_callback(engine.dispose)
        redis = Redis.from_url(settings.redis_url, decode_responses=True)
        stack.push_async_callback(redis.aclose)
        store = await stack.enter_async_context(open_store(settings))
        broker = make_broker(settings, client_id="etude-api")
        await broker.start()
        stack.push_async_callback(broker.stop)
        cache = JobCache(redis, settings.job_cache_ttl_s)
        hub = ProgressHub()
        listener = EventListener(settings, cache, hub)
        await listener.start()
        stack.push_async_callback(listener.stop)
        yield Services(
            settings=settings,
            sessions=async_sessionmaker(engine, expire_on_commit=False),
            redis=redis,
            store=store,
            publisher=EventPublisher(broker),
            cache=cache,
            rate=RateLimiter(redis, settings.upload_rate_per_minute),
            hub=hub,
        )


def _page() -> str:
    return files("producers.api").joinpath("static/index.html").read_text(encoding="utf-8")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    if settings.jwt_secret.get_secret_value() == DEV_JWT_SECRET:
        log.warning("ETUDE_JWT_SECRET is the development default: set your own in production")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with _services(settings) as services:
            app.state.services = services
            yield

    app = FastAPI(
        title="Étude API",
        version=__version__,
        description="Upload scanned piano scores, follow their jobs live, download the fingered"
        " MusicXML, MIDI and SVG. Authenticate with /auth/login and send"
        " `Authorization: Bearer <access_token>`. The Kafka topics are described by the"
        " AsyncAPI document at /asyncapi.json.",
        lifespan=lifespan,
    )
    app.include_router(auth.router)
    app.include_router(jobs.router)
    app.include_router(progress.router)
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(UploadSizeLimit, limit=settings.max_upload_bytes + _MULTIPART_SLACK)

    @app.get("/asyncapi.json", tags=["meta"], summary="AsyncAPI 3.0 document of the topics")
    async def asyncapi() -> dict[str, Any]:
        return asyncapi_document()

    @app.get("/healthz", tags=["meta"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        return _page()

    return app
