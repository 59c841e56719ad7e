"""What the CLI does for a user: submit, follow a job live, download, show status/lineage."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.tree import Tree
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consumers.registry import missing_stages
from etude.broker import EventPublisher, make_broker
from etude.errors import BadInputError
from etude.ir_io import load_ir_v1, load_ir_v2
from etude.settings import Settings
from etude.store import ArtifactStore, open_store
from ledger.queries import (
    ArtifactNode,
    JobView,
    LineageGraph,
    get_job,
    get_lineage,
    job_transformations,
)
from ledger.service import make_engine
from ledger.state_machine import JobState
from producers.submit import Submitted, submit_ir, submit_pdf
from schemas import S3Location, ScoreIRV1, ScoreIRV2, StageName

# How far along each state is, for the progress bar.
PROGRESS: dict[JobState, float] = {
    JobState.PENDING: 0.02,
    JobState.OMR_PROCESSING: 0.15,
    JobState.OMR_COMPLETED: 0.35,
    JobState.OMR_FAILED: 0.35,
    JobState.FINGERING_PROCESSING: 0.45,
    JobState.FINGERING_COMPLETED: 0.65,
    JobState.FINGERING_FAILED: 0.65,
    JobState.RENDERING_PROCESSING: 0.75,
    JobState.COMPLETED: 1.0,
    JobState.FAILED: 1.0,
}
TERMINAL = frozenset(
    {JobState.COMPLETED, JobState.FAILED, JobState.OMR_FAILED, JobState.FINGERING_FAILED}
)
OUTPUT_KINDS = ("musicxml", "midi", "svg")


@asynccontextmanager
async def ledger_session(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(settings)
    try:
        yield async_sessionmaker(engine, expire_on_commit=False)
    finally:
        await engine.dispose()


def read_symbolic(path: Path, skip_fingering: bool, console: Console) -> ScoreIRV1 | ScoreIRV2:
    """MusicXML or IR JSON → the IR a job starts from (never inventing fingers)."""
    from etude.notation.from_music21 import ir_v2_from_source_fingering

    data = path.read_bytes()
    if path.suffix.lower() == ".json":
        ir: ScoreIRV1 | ScoreIRV2 = (
            load_ir_v2(data) if b'"etude.ir.v2"' in data else load_ir_v1(data)
        )
    else:
        ir = _parse_score(path)
    if isinstance(ir, ScoreIRV2):
        return ir
    if skip_fingering or StageName.FINGERING in missing_stages():
        if not skip_fingering:
            console.print(
                "[yellow]fingering stage not installed: rendering with the source's own "
                "fingerings only[/yellow]"
            )
        return ir_v2_from_source_fingering(ir)
    return ir


def _parse_score(path: Path) -> ScoreIRV1:
    from music21 import converter, stream

    from etude.notation.from_music21 import score_to_ir_v1

    try:
        parsed = converter.parse(str(path))
    except Exception as exc:  # music21 raises many types for unreadable files
        raise BadInputError(f"cannot read {path.name} as a score: {exc}") from exc
    if not isinstance(parsed, stream.Score):
        raise BadInputError(f"{path.name} holds no score (a {type(parsed).__name__})")
    return score_to_ir_v1(parsed)


async def submit_file(
    settings: Settings, path: Path, skip_fingering: bool, console: Console
) -> Submitted:
    broker = make_broker(settings, client_id="etude-cli")
    await broker.start()
    try:
        async with open_store(settings) as store:
            publisher = EventPublisher(broker)
            data = await asyncio.to_thread(path.read_bytes)
            if data.lstrip()[:5] == b"%PDF-" or path.suffix.lower() == ".pdf":
                return await submit_pdf(store, publisher, data, filename=path.name)
            ir = await asyncio.to_thread(read_symbolic, path, skip_fingering, console)
            return await submit_ir(store, publisher, ir, filename=path.name)
    finally:
        await broker.stop()


async def follow(
    settings: Settings, job_id: uuid.UUID, timeout_s: float, console: Console
) -> JobView | None:
    """Live progress bar until the job reaches a terminal state (or the timeout).

    With ETUDE_API_URL (and ETUDE_API_TOKEN) set, it listens to the API's Server-Sent Events;
    if the API cannot serve this job (unreachable, 401, or a job with no owner: 404) it falls
    back to polling the ledger directly.
    """
    deadline = time.monotonic() + timeout_s
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(f"job {str(job_id)[:8]}", total=1.0, state="submitted")

        def show(view: JobView) -> None:
            progress.update(task, completed=PROGRESS[view.state], state=view.state.value)

        if settings.api_url and settings.api_token is not None:
            try:
                return await _follow_sse(settings, job_id, deadline, show)
            except (httpx.HTTPError, _ApiUnavailableError, ValueError) as exc:
                console.print(f"[yellow]live progress from the ledger ({exc})[/yellow]")
        return await _follow_ledger(settings, job_id, deadline, show)


class _ApiUnavailableError(Exception):
    pass


async def _follow_ledger(
    settings: Settings, job_id: uuid.UUID, deadline: float, show: Callable[[JobView], None]
) -> JobView | None:
    view: JobView | None = None
    async with ledger_session(settings) as sessions:
        while time.monotonic() < deadline:
            async with sessions() as session:
                view = await get_job(session, job_id)
            if view is not None:
                show(view)
                if view.state in TERMINAL:
                    break
            await asyncio.sleep(0.3)
    return view


def _view_from_api(body: dict[str, Any]) -> JobView:
    def when(value: Any) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    return JobView(
        job_id=uuid.UUID(body["job_id"]),
        state=JobState(body["state"]),
        owner=body.get("owner"),
        filename=body.get("filename"),
        first_stage=body.get("first_stage"),
        created_at=when(body.get("created_at")),
        updated_at=when(body.get("updated_at")),
        last_error=body.get("last_error"),
        correlation_id=None,
        facts={},
    )


async def _follow_sse(
    settings: Settings, job_id: uuid.UUID, deadline: float, show: Callable[[JobView], None]
) -> JobView | None:
    """Read `GET /jobs/{id}/events` until its `end` event (or the deadline)."""
    assert settings.api_token is not None
    url = f"{settings.api_url.rstrip('/')}/jobs/{job_id}/events"
    headers = {
        "Authorization": f"Bearer {settings.api_token.get_secret_value()}",
        "Accept": "text/event-stream",
    }
    view: JobView | None = None
    event = ""
    timeout = httpx.Timeout(10.0, read=60.0)  # the stream sends a keep-alive every 15 s
    try:
        async with (
            asyncio.timeout(max(0.0, deadline - time.monotonic())),
            httpx.AsyncClient(timeout=timeout) as client,
            client.stream("GET", url, headers=headers) as resp,
        ):
            if resp.status_code != 200:
                raise _ApiUnavailableError(f"API answered {resp.status_code}")
            async for line in resp.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event == "state":
                    view = _view_from_api(json.loads(line[5:]))
                    show(view)
                elif line.startswith("data:") and event == "end":
                    break
    except TimeoutError:
        pass  # the deadline: report what was seen
    return view


def latest_outputs(graph: LineageGraph) -> list[ArtifactNode]:
    """Per (kind, page), the newest artifact: a replay with a new version supersedes."""
    newest: dict[tuple[str, int], ArtifactNode] = {}
    for node in graph.nodes.values():
        if node.kind not in OUTPUT_KINDS:
            continue
        slot = (node.kind, node.page or 0)
        if slot not in newest or node.created_at > newest[slot].created_at:
            newest[slot] = node
    return sorted(newest.values(), key=lambda n: (OUTPUT_KINDS.index(n.kind), n.page or 0))


def output_name(node: ArtifactNode, stem: str) -> str:
    ext = {"musicxml": "musicxml", "midi": "mid", "svg": "svg"}[node.kind]
    page = f"-page{node.page}" if node.kind == "svg" else ""
    return f"{stem}{page}.{ext}"


async def download_outputs(
    settings: Settings, job_id: uuid.UUID, out: Path, stem: str = "score"
) -> list[Path]:
    async with ledger_session(settings) as sessions, sessions() as session:
        graph = await get_lineage(session, job_id)
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    written = []
    async with open_store(settings) as store:
        for node in latest_outputs(graph):
            written.append(await _download(store, node, out / output_name(node, stem)))
    return written


async def _download(store: ArtifactStore, node: ArtifactNode, target: Path) -> Path:
    location = S3Location(bucket=node.bucket, key=node.key, version_id=node.version_id)
    await asyncio.to_thread(target.write_bytes, await store.get(location, node.sha256))
    return target


async def run_submit(
    settings: Settings,
    path: Path,
    wait: bool,
    out: Path | None,
    timeout_s: float,
    skip_fingering: bool,
    console: Console,
) -> int:
    try:
        job = await submit_file(settings, path, skip_fingering, console)
    except BadInputError as exc:
        console.print(f"[red]rejected:[/red] {exc}")
        return 2
    console.print(f"job [bold]{job.job_id}[/bold] submitted ({path.name})")
    if not wait:
        return 0
    view = await follow(settings, job.job_id, timeout_s, console)
    if view is None or view.state not in TERMINAL:
        console.print(f"[yellow]not finished after {timeout_s:.0f} s[/yellow]")
        console.print(f"follow it with: etude status {job.job_id}")
        return 3
    if view.state != JobState.COMPLETED:
        console.print(f"[red]{view.state.value}[/red]: {view.last_error or 'no reason recorded'}")
        return 1
    target = out or settings.output_dir / str(job.job_id)
    files = await download_outputs(settings, job.job_id, target, stem=path.stem)
    console.print(f"[green]COMPLETED[/green]: {len(files)} file(s) in {target}")
    for f in files:
        console.print(f"  {f}")
    return 0


async def show_status(settings: Settings, job_id: uuid.UUID, console: Console) -> int:
    async with ledger_session(settings) as sessions, sessions() as session:
        view = await get_job(session, job_id)
        history = await job_transformations(session, job_id) if view else []
    if view is None:
        console.print(f"[red]no such job[/red] {job_id}")
        return 1
    console.print(f"job {view.job_id}: [bold]{view.state.value}[/bold]  ({view.filename or '-'})")
    if view.last_error:
        console.print(f"  last error: {view.last_error}")
    table = Table("at", "stage", "version", "status", "attempt", "reason")
    for run in history:
        table.add_row(
            run.at.isoformat(timespec="seconds"),
            run.stage or "-",
            run.transformation_version or "-",
            run.status,
            str(run.attempt if run.attempt is not None else "-"),
            run.reason or "",
        )
    if history:
        console.print(table)
    return 0


async def show_lineage(settings: Settings, job_id: uuid.UUID, console: Console) -> int:
    async with ledger_session(settings) as sessions, sessions() as session:
        graph = await get_lineage(session, job_id)
    if not graph.nodes:
        console.print(f"[red]no artifacts for job[/red] {job_id}")
        return 1
    tree = Tree(f"job {job_id}")

    def label(node: ArtifactNode) -> str:
        page = f" p{node.page}" if node.page else ""
        return (
            f"[bold]{node.kind}{page}[/bold] {node.artifact_id} "
            f"({node.transformation_type} {node.transformation_version}, {node.size} B, "
            f"sha256 {node.sha256[:12]})"
        )

    def grow(branch: Tree, node: ArtifactNode) -> None:
        for _edge, child in graph.children(node.artifact_id):
            grow(branch.add(label(child)), child)

    for root in graph.roots:
        grow(tree.add(label(root)), root)
    console.print(tree)
    return 0
