"""Job endpoints: upload, list, read, lineage, artifact downloads, retry.

Every endpoint needs an access token, and a job that is not the caller's answers 404, exactly
like a job that does not exist (no way to probe other users' job ids).
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, HTTPException, Query, UploadFile, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from ledger.models import Artifact
from ledger.queries import ArtifactNode, LineageGraph, get_job, get_lineage, list_jobs
from producers.api.auth import CurrentUser, ServicesDep
from producers.api.pdf import PdfRejectedError, count_pages
from producers.api.services import Services, job_json, read_job, remember_upload
from producers.retry import NotRetryableError, retry_job
from producers.submit import submit_pdf_file
from schemas import ArtifactKind, S3Location

router = APIRouter(prefix="/jobs", tags=["jobs"])
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


class JobOut(BaseModel):
    job_id: uuid.UUID
    state: str
    owner: str | None = None
    filename: str | None = None
    first_stage: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    last_error: str | None = None
    retryable: bool = False
    terminal: bool = False
    progress: float = Field(description="0..1, for a progress bar.")


class UploadOut(BaseModel):
    job_id: uuid.UUID
    state: str
    filename: str
    pages: int
    size: int
    sha256: str


class ArtifactOut(BaseModel):
    artifact_id: uuid.UUID
    kind: str
    page: int | None
    page_count: int | None
    media_type: str
    size: int
    sha256: str
    url: str = Field(description="Presigned GET on the artifact store.")
    expires_in: int


class RetryOut(BaseModel):
    job_id: uuid.UUID
    stage: str
    attempt: int


def safe_filename(name: str | None) -> str:
    """The last path component, printable, bounded: a label only, never a path or key."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = _UNSAFE.sub("", base).strip().lstrip(".")
    return base[:200] or "upload.pdf"


async def owned_job(services: Services, user_id: uuid.UUID, job_id: uuid.UUID) -> dict[str, Any]:
    body = await read_job(services, job_id)
    if body is None or body.get("owner") != str(user_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such job")
    return body


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=UploadOut,
    responses={
        413: {"description": "File too large"},
        415: {"description": "Not a PDF (by its bytes)"},
        422: {"description": "Unreadable, encrypted or too many pages"},
        429: {"description": "Upload rate limit"},
    },
)
async def upload(
    user_id: CurrentUser,
    services: ServicesDep,
    file: Annotated[UploadFile, File(description="The score, a PDF.")],
) -> UploadOut:
    s = services.settings
    wait = await services.rate.hit(str(user_id))
    if wait:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"at most {s.upload_rate_per_minute} uploads a minute",
            headers={"Retry-After": str(wait)},
        )
    # Starlette spooled the upload (to disk past 1 MB); it is checked and streamed to S3 from
    # there, never held in memory whole.
    spooled = file.file
    size = await asyncio.to_thread(spooled.seek, 0, os.SEEK_END)
    if size > s.max_upload_bytes:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE, f"larger than {s.max_upload_bytes} bytes"
        )
    try:
        pages = await asyncio.to_thread(count_pages, spooled)
    except PdfRejectedError as exc:
        raise HTTPException(exc.status, exc.reason) from exc
    if pages > s.max_pages:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"{pages} pages: at most {s.max_pages}"
        )
    filename = safe_filename(file.filename)
    job = await submit_pdf_file(
        services.store, services.publisher, spooled, filename=filename, owner=str(user_id)
    )
    event = job.input_event
    await remember_upload(
        services,
        {
            "job_id": str(job.job_id),
            "state": "PENDING",
            "owner": str(user_id),
            "filename": filename,
            "first_stage": "omr",
            "created_at": event.occurred_at.isoformat(),
            "updated_at": event.occurred_at.isoformat(),
            "last_error": None,
            "retryable": False,
            "terminal": False,
            "progress": 0.0,
        },
    )
    return UploadOut(
        job_id=job.job_id,
        state="PENDING",
        filename=filename,
        pages=pages,
        size=event.size,
        sha256=event.sha256,
    )


@router.get("", response_model=list[JobOut])
async def jobs(
    user_id: CurrentUser,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    async with services.sessions() as session:
        views = await list_jobs(session, owner=str(user_id), limit=limit, offset=offset)
    return [job_json(v) for v in views]


@router.get("/{job_id}", response_model=JobOut, responses={404: {"description": "No such job"}})
async def job(job_id: uuid.UUID, user_id: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    return await owned_job(services, user_id, job_id)


def _node_json(n: ArtifactNode) -> dict[str, Any]:
    return {
        "artifact_id": str(n.artifact_id),
        "kind": n.kind,
        "page": n.page,
        "page_count": n.page_count,
        "sha256": n.sha256,
        "size": n.size,
        "media_type": n.media_type,
        "transformation": {"type": n.transformation_type, "version": n.transformation_version},
        "created_at": n.created_at.isoformat(),
    }


async def _lineage(services: Services, job_id: uuid.UUID) -> LineageGraph:
    async with services.sessions() as session:
        return await get_lineage(session, job_id)


@router.get("/{job_id}/lineage", responses={404: {"description": "No such job"}})
async def lineage(job_id: uuid.UUID, user_id: CurrentUser, services: ServicesDep) -> Any:
    """The job's artifacts and the transformations between them, also as a tree."""
    await owned_job(services, user_id, job_id)
    graph = await _lineage(services, job_id)
    return {
        "job_id": str(job_id),
        "nodes": [_node_json(n) for n in graph.nodes.values()],
        "edges": [
            {
                "source": str(e.source_artifact_id),
                "derived": str(e.derived_artifact_id),
                "transformation": {
                    "type": e.transformation_type,
                    "version": e.transformation_version,
                    "parameters": e.parameters,
                },
                "created_at": e.created_at.isoformat(),
            }
            for e in graph.edges
        ],
        "tree": graph.as_tree(),
    }


def newest(graph: LineageGraph, kind: ArtifactKind, page: int | None) -> ArtifactNode | None:
    """The newest artifact of a kind (and page: SVG page 1 unless asked)."""
    if kind is ArtifactKind.SVG and page is None:
        page = 1
    found = [
        n
        for n in graph.nodes.values()
        if n.kind == kind.value and (page is None or (n.page or 1) == page)
    ]
    return max(found, key=lambda n: (n.created_at, str(n.artifact_id)), default=None)


@router.get(
    "/{job_id}/artifacts/{kind}",
    response_model=ArtifactOut,
    responses={307: {"description": "With ?redirect=true"}, 404: {"description": "Not there"}},
)
async def artifact(
    job_id: uuid.UUID,
    kind: ArtifactKind,
    user_id: CurrentUser,
    services: ServicesDep,
    page: Annotated[int | None, Query(ge=1)] = None,
    redirect: bool = False,
) -> Any:
    """A presigned download of the job's newest artifact of `kind` (SVG: one page)."""
    await owned_job(services, user_id, job_id)
    node = newest(await _lineage(services, job_id), kind, page)
    if node is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {kind.value} artifact (yet)")
    location = S3Location(bucket=node.bucket, key=node.key, version_id=node.version_id)
    url = await services.store.presigned_get(location)
    if redirect:
        return RedirectResponse(url, status_code=status.HTTP_307_TEMPORARY_REDIRECT)
    return ArtifactOut(
        artifact_id=node.artifact_id,
        kind=node.kind,
        page=node.page,
        page_count=node.page_count,
        media_type=node.media_type,
        size=node.size,
        sha256=node.sha256,
        url=url,
        expires_in=services.settings.s3_presign_seconds,
    )


@router.post(
    "/{job_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RetryOut,
    responses={404: {"description": "No such job"}, 409: {"description": "Not retryable"}},
)
async def retry(job_id: uuid.UUID, user_id: CurrentUser, services: ServicesDep) -> RetryOut:
    """Re-run the failed stage of a job in OMR_FAILED or FINGERING_FAILED."""
    async with services.sessions() as session:
        view = await get_job(session, job_id)  # the ledger itself, never the cache
        if view is None or view.owner != str(user_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such job")
        graph = await get_lineage(session, job_id)
        rows = await session.execute(
            select(Artifact.artifact_id, Artifact.event_id).where(Artifact.job_id == job_id)
        )
        event_ids = {artifact_id: event_id for artifact_id, event_id in rows}
    try:
        done = await retry_job(services.publisher, view, graph, event_ids=event_ids)
    except NotRetryableError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    await services.cache.invalidate(job_id)
    return RetryOut(job_id=job_id, stage=done.stage.value, attempt=done.attempt)
