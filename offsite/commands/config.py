"""Deployment files: `offsite config check FILE...`, `offsite config export`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from hub.config import ConfigError, load_config
from offsite.startup import transaction_or_exit

app = typer.Typer(help="Deployment files.", no_args_is_help=True)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@app.command("check")
def config_check(files: Annotated[list[Path], typer.Argument(help="Deployment files to check")]) -> None:
    """Report every problem in each file with its path and line; exit 1 if any file has one."""
    failed = False
    for path in files:
        try:
            load_config(path)
        except ConfigError as exc:
            failed = True
            for problem in exc.problems:
                console.print(f"{path}: {problem}", markup=False, highlight=False)
        else:
            console.print(f"{path}: ok", markup=False, highlight=False)
    raise typer.Exit(1 if failed else 0)


@app.command("export")
def config_export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout")
    ] = None,
) -> None:
    """Write the deployment in force (as last loaded or edited through the API) as YAML."""
    from hub.store.configs import active_config

    with transaction_or_exit() as conn:
        text = active_config(conn)
    if text is None:
        err.print("[red]no deployment loaded yet[/]: run offsite up -c FILE first")
        raise typer.Exit(1)
    if output is None:
        console.print(text, end="", markup=False, highlight=False)
    else:
        output.write_text(text, encoding="utf-8")
