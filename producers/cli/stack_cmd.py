"""`etude stack ...`: run the hermetic local stack and the pipeline processes."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from deploy import processes
from deploy.stack import LocalStack, ServiceStatus, run_sync
from etude.errors import EtudeError
from etude.logging import configure_logging
from etude.service import liveness
from etude.settings import get_settings
from schemas import StageName

stack_app = typer.Typer(
    help="Local servers from wheels (S3, Kafka protocol, Postgres, Redis) and the pipeline "
    "processes. State lives under ETUDE_STACK_DIR (default .etude/).",
    no_args_is_help=True,
)
console = Console()


def _stack() -> LocalStack:
    settings = get_settings()
    configure_logging(settings.log_level, component="stack")
    return LocalStack(settings)


def _table(statuses: list[ServiceStatus]) -> Table:
    table = Table(title="Étude local stack")
    for column in ("service", "mode", "pid", "address", "ready", "ready in"):
        table.add_column(column, overflow="fold")
    for s in statuses:
        table.add_row(
            s.name,
            "local" if s.local else "external",
            str(s.pid) if s.pid else "-",
            s.address,
            "[green]yes[/green]" if s.ready else "[red]no[/red]",
            f"{s.ready_s:.2f} s" if s.ready_s is not None else "",
        )
    return table


def _fail(err: Exception) -> typer.Exit:
    console.print(f"[red]error:[/red] {err}")
    return typer.Exit(code=1)


@stack_app.command()
def up() -> None:
    """Start the local servers that are not running, wait until ready, create buckets/topics/db."""
    try:
        statuses = run_sync(_stack().up())
    except EtudeError as err:
        raise _fail(err) from err
    console.print(_table(statuses))


@stack_app.command()
def down() -> None:
    """Stop the pipeline processes, then the servers this stack started. Data is kept."""
    stack = _stack()
    # Consumers first: a broker vanishing under them only produces reconnect noise.
    console.print(f"processes: {processes.stop_processes(stack.settings)}")
    outcome = run_sync(stack.down())
    for name, how in outcome.items():
        console.print(f"{name}: {how}")


@stack_app.command()
def status() -> None:
    """Show each server: local or external, pid, address, ready. Exit 1 if any is not ready."""
    statuses = run_sync(_stack().status())
    console.print(_table(statuses))
    if not all(s.ready for s in statuses):
        raise typer.Exit(code=1)


@stack_app.command("procs-up")
def procs_up(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Procfile names (render, ledger, omr, fingering); default: all."),
    ] = None,
) -> None:
    """Start pipeline processes under honcho in the background (logs: stack_dir/logs)."""
    settings = get_settings()
    configure_logging(settings.log_level, component="stack")
    try:
        st = processes.start_processes(names, settings)
    except EtudeError as err:
        raise _fail(err) from err
    console.print(f"honcho pid {st.pid}: {', '.join(st.names)}; log {st.log}")


@stack_app.command("procs-down")
def procs_down() -> None:
    """Stop the pipeline processes (SIGTERM to honcho, which forwards it)."""
    settings = get_settings()
    configure_logging(settings.log_level, component="stack")
    console.print(processes.stop_processes(settings))


@stack_app.command("procs-status")
def procs_status() -> None:
    """Show the honcho pid and each pipeline process it runs."""
    st = processes.processes_status(get_settings())
    if not st.running:
        console.print("not running")
        raise typer.Exit(code=1)
    console.print(f"honcho pid {st.pid}, log {st.log}")
    settings = get_settings()
    dead = False
    for name in st.names:
        pid = st.children.get(name)
        line = f"  {name}: {pid if pid else '[red]not running[/red]'}"
        if name in STAGE_NAMES:
            # The stage's watchdog writes this file only while its subscriber task is alive.
            alive = liveness(settings, f"etude-{name}")
            dead = dead or not alive
            line += "  subscriber " + ("[green]alive[/green]" if alive else "[red]not alive[/red]")
        console.print(line)
    if dead:
        raise typer.Exit(code=1)


STAGE_NAMES = frozenset(stage.value for stage in StageName)


if __name__ == "__main__":  # `python -m producers.cli.stack_cmd up` works without main.py
    stack_app()
