"""`python -m ledger` runs the ledger consumer; `rebuild` and `migrate` are the other commands."""

from __future__ import annotations

import asyncio

import typer

from etude.logging import configure_logging
from etude.settings import get_settings

app = typer.Typer(help="Étude ledger: projects every event into Postgres.", add_completion=False)


@app.callback(invoke_without_command=True)
def main(ctx: typer.Context) -> None:
    """Without a command: run the consumer until SIGTERM."""
    if ctx.invoked_subcommand is None:
        run(migrate=True, group_id="etude-ledger")


@app.command()
def run(
    migrate: bool = typer.Option(True, help="Upgrade the schema to head before consuming."),
    group_id: str = typer.Option("etude-ledger", help="Consumer group (tests use their own)."),
) -> None:
    """Consume every topic and project it (group etude-ledger)."""
    from ledger.service import run_ledger

    settings = get_settings()
    configure_logging(settings.log_level, component="etude.ledger")
    asyncio.run(run_ledger(settings, migrate=migrate, group_id=group_id))


@app.command()
def rebuild() -> None:
    """Truncate the projections and replay every topic from offset 0."""
    from ledger.rebuild import rebuild as do_rebuild

    settings = get_settings()
    configure_logging(settings.log_level, component="etude.ledger")
    report = asyncio.run(do_rebuild(settings))
    typer.echo(f"ledger rebuilt: {report}")


@app.command()
def migrate() -> None:
    """Upgrade the ledger's schema to the latest revision."""
    from ledger.migrate import upgrade_to_head

    settings = get_settings()
    configure_logging(settings.log_level, component="etude.ledger")
    upgrade_to_head(settings.database_url)


if __name__ == "__main__":
    app()
