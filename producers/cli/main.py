"""`etude`: submit scores, follow jobs, inspect lineage, replay, run the local stack and demo."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from etude.settings import get_settings
from schemas import StageName

app = typer.Typer(help="Étude: scanned piano scores to fingered MusicXML, MIDI and SVG.")
ledger_app = typer.Typer(help="The Postgres projection of the event log.")
app.add_typer(ledger_app, name="ledger")
console = Console()


def _add_optional_subapps() -> None:
    # Sub-apps owned by other packages; each registers only if its package is present.
    for module, attr, name in (
        ("producers.cli.stack_cmd", "stack_app", "stack"),
        ("producers.cli.fingering_cmd", "fingering_app", "fingering"),
        ("producers.cli.omr_cmd", "omr_app", "omr"),
    ):
        try:
            sub = getattr(__import__(module, fromlist=[attr]), attr)
        except (ImportError, AttributeError):
            continue
        app.add_typer(sub, name=name)


_add_optional_subapps()


@app.command()
def submit(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="PDF, MusicXML or IR JSON")
    ],
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow progress live")] = False,
    out: Annotated[Path | None, typer.Option(help="Where outputs go (default: out/JOB)")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for completion")] = 600.0,
    skip_fingering: Annotated[
        bool,
        typer.Option(help="MusicXML input: keep only the source's own fingerings (no model)"),
    ] = False,
) -> None:
    """Store the input, publish the job, and optionally wait and download the outputs."""
    from producers.client import run_submit

    code = asyncio.run(
        run_submit(get_settings(), file, wait, out, timeout, skip_fingering, console)
    )
    raise typer.Exit(code)


@app.command()
def status(job_id: uuid.UUID) -> None:
    """Show a job's state, as projected by the ledger."""
    from producers.client import show_status

    raise typer.Exit(asyncio.run(show_status(get_settings(), job_id, console)))


@app.command()
def lineage(job_id: uuid.UUID) -> None:
    """Print the job's artifact lineage as a tree."""
    from producers.client import show_lineage

    raise typer.Exit(asyncio.run(show_lineage(get_settings(), job_id, console)))


@app.command()
def replay(
    stage: Annotated[StageName, typer.Option(help="Stage to re-run over its input topic")],
    since: Annotated[
        datetime | None, typer.Option(help="Only events at or after this time (ISO 8601)")
    ] = None,
) -> None:
    """Regenerate a stage's outputs from its input topic (same version: nothing new)."""
    from consumers.registry import spec_factory
    from producers.replay import replay_stage

    settings = get_settings()
    report = asyncio.run(replay_stage(settings, spec_factory(stage)(settings), since))
    console.print(
        f"replayed {report.read} event(s): {report.processed} processed, "
        f"{report.rejected} rejected, {report.skipped} skipped; "
        f"{len(set(report.artifacts))} artifact id(s) derived"
    )


@ledger_app.command("rebuild")
def ledger_rebuild() -> None:
    """Truncate the projections and replay every topic from offset 0."""
    from ledger.rebuild import rebuild

    result = asyncio.run(rebuild(get_settings()))
    console.print(f"ledger rebuilt: {result}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Where outputs go")] = Path("out/demo"),
    timeout: Annotated[float, typer.Option(help="Seconds to wait for completion")] = 900.0,
) -> None:
    """Stack up, stages up, submit the bundled demo, wait, and print where the outputs are."""
    from producers.demo_run import run_demo

    raise typer.Exit(run_demo(get_settings(), out, timeout, console))


@app.command("export-schemas")
def export_schemas(target: Path | None = None) -> None:
    """Write the contract's JSON Schema files (checked in under schemas/jsonschema)."""
    from schemas.export import main

    main([str(target)] if target else [])


if __name__ == "__main__":
    app()
