"""The audit trail: `offsite audit verify`."""

from __future__ import annotations

import typer
from rich.console import Console

from hub import audit
from offsite.startup import database_or_exit

app = typer.Typer(help="The audit trail.", no_args_is_help=True)
console = Console(soft_wrap=True)


@app.command("verify")
def audit_verify() -> None:
    """Check the audit chain; name the first altered entry. Exit 1 when it is broken."""
    db = database_or_exit()
    try:
        with db.transaction() as conn:
            report = audit.verify(conn)
    finally:
        db.close()
    if report.intact:
        console.print(f"audit trail intact: {report.entries} entries")
        return
    console.print(f"[red]audit trail broken[/]: {report.reason}")
    raise typer.Exit(1)
