"""The database: `offsite db upgrade`, `offsite db status`.

Imports inside commands are deferred for start-up time (psycopg and the migrations load on use).
"""

from __future__ import annotations

import typer
from rich.console import Console

from offsite.startup import open_or_exit, settings_or_exit

app = typer.Typer(help="The database.", no_args_is_help=True)
console = Console(soft_wrap=True)


@app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (idempotent) and set up TimescaleDB where available."""
    from hub.store.migrate import upgrade

    db = open_or_exit(settings_or_exit(), pool_size=2)
    try:
        applied, backend = upgrade(db)
    finally:
        db.close()
    for migration in applied:
        console.print(f"applied {migration.version:04d}_{migration.name}")
    console.print(f"schema is current; {backend.describe()}")


@app.command("status")
def db_status() -> None:
    """Say whether the database answers and its schema is current; exit 1 otherwise (healthchecks)."""
    from hub.store.migrate import migrations, pending_migrations
    from hub.store.timeseries import detect_backend

    db = open_or_exit(settings_or_exit())
    try:
        with db.transaction() as conn:
            pending = pending_migrations(conn)
            backend = detect_backend(conn)
    finally:
        db.close()
    if pending:
        console.print(f"[red]schema behind[/]: {len(pending)} pending migration(s); run offsite db upgrade")
        raise typer.Exit(1)
    console.print(f"schema current ({len(migrations())} migrations); {backend.describe()}")
