"""`etude demo`: the whole local pipeline on the bundled demo score, nothing faked.

Stages that are not installed are named, never imitated: without OMR the demo PDF cannot be
read, so the demo starts from the same piece's symbolic score (music21's corpus) instead.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.console import Console

from consumers.registry import missing_stages
from deploy.processes import start_processes
from deploy.stack import LocalStack
from etude.settings import Settings
from producers.client import TERMINAL, download_outputs, follow, submit_file
from schemas import StageName

DEMO_PDF = Path(__file__).with_name("demo") / "demo.pdf"


def _symbolic_demo_input(target: Path) -> Path:
    """Mozart K. 545 bars 1-12 as IR JSON: the very bars engraved in the demo PDF."""
    from music21 import corpus, stream

    from etude.ir_io import dump_ir
    from etude.notation.from_music21 import score_to_ir_v1
    from producers.demo.make_demo_pdf import PIECE, first_bars

    score = corpus.parse(PIECE)
    assert isinstance(score, stream.Score)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(dump_ir(first_bars(score_to_ir_v1(score), 12)))
    return target


def run_demo(settings: Settings, out: Path, timeout_s: float, console: Console) -> int:
    console.rule("Étude demo")
    stack = LocalStack(settings)
    for status in asyncio.run(stack.up()):
        console.print(f"  {status.name:9} {status.address:45} ready={status.ready}")
    missing = missing_stages()
    for stage in missing:
        console.print(f"[yellow]stage '{stage.value}' is not installed yet[/yellow]")
    procs = start_processes(None, settings)
    console.print(f"pipeline processes (honcho pid {procs.pid}): {', '.join(procs.names)}")
    # The PDF needs every stage to reach COMPLETED; otherwise start after the missing one.
    if StageName.OMR in missing or StageName.FINGERING in missing:
        source = _symbolic_demo_input(out / "input" / "mozart-k545-bars1-12.ir.json")
        console.print(
            "[yellow]the demo PDF cannot go the whole way without every stage; submitting the "
            f"same bars as a symbolic score instead:[/yellow] {source}"
        )
    else:
        source = DEMO_PDF
    return asyncio.run(_submit_and_wait(settings, source, out, timeout_s, console))


async def _submit_and_wait(
    settings: Settings, source: Path, out: Path, timeout_s: float, console: Console
) -> int:
    job = await submit_file(settings, source, skip_fingering=False, console=console)
    console.print(f"job {job.job_id} submitted")
    view = await follow(settings, job.job_id, timeout_s, console)
    if view is None or view.state not in TERMINAL:
        console.print(
            f"[red]not finished after {timeout_s:.0f} s[/red]; logs: {settings.stack_dir}/logs"
        )
        return 3
    if view.last_error or view.state.value.endswith("FAILED"):
        console.print(f"[red]{view.state.value}[/red]: {view.last_error}")
        return 1
    files = await download_outputs(settings, job.job_id, out, stem="demo")
    console.print(f"[green]done[/green]: outputs of job {job.job_id} in {out}:")
    for f in files:
        console.print(f"  {f}")
    console.print("stop everything with: etude stack down")
    return 0
