"""`offsite stats`: the figures of GET /statistics as tables (in the deployment's language) or JSON."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console

from offsite.startup import database_or_exit, err, load_or_exit

if TYPE_CHECKING:
    from hub.config import Deployment
    from hub.statistics import Statistics

out = Console(soft_wrap=True)
DAY = ["%Y-%m-%d"]
FALSE_COLUMNS = ("alerts_count", "dismissed", "false_alarms", "false_share")


def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="Deployment YAML file")],
    first: Annotated[
        datetime | None,
        typer.Option(
            "--from", formats=DAY, help="First local day, YYYY-MM-DD (default: 29 days before --to)"
        ),
    ] = None,
    last: Annotated[
        datetime | None, typer.Option("--to", formats=DAY, help="Last local day, included (default: today)")
    ] = None,
    bucket: Annotated[
        Literal["day", "week", "month"], typer.Option(help="Figures per day, ISO week or month")
    ] = "day",
    department: Annotated[str | None, typer.Option(help="Only this department's figures (its id)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON, as GET /statistics answers")] = False,
) -> None:
    """How departments answered their risk clues; alerts and false alarms per site and rule, camera
    or sensor, and model version; records per item."""
    from pydantic import TypeAdapter

    from hub.pipeline import utc_now
    from hub.statistics import Period, PeriodInvalid, Statistics, UnknownDepartment, statistics

    deployment = load_or_exit(config).deployment
    now = utc_now()
    try:
        period = Period.ending(
            now.astimezone(deployment.tz).date(),
            first.date() if first else None,
            last.date() if last else None,
            bucket,
        )
    except PeriodInvalid as exc:
        err.print(f"[red]--from/--to[/]: {exc}", highlight=False)
        raise typer.Exit(2) from None
    db = database_or_exit()
    try:
        with db.transaction() as conn:
            figures = statistics(conn, deployment, period, now, department)
    except UnknownDepartment as exc:
        err.print(f"[red]--department[/]: {exc}", highlight=False)
        raise typer.Exit(2) from None
    finally:
        db.close()
    if as_json:
        typer.echo(TypeAdapter(Statistics).dump_json(figures, indent=2).decode())
        return
    show(figures, deployment, out)


def show(figures: Statistics, deployment: Deployment, console: Console) -> None:
    """The tables: clues per department and bucket; alerts and false alarms per site and rule, per
    source and per model version; records per item."""
    from rich.table import Table

    from hub.wording import STATISTICS_LABELS, duration, zone_note

    language = deployment.language
    words = STATISTICS_LABELS[language]
    console.print(f"{words['period']}: {figures.first} – {figures.last}", highlight=False)

    def seconds(value: float | None) -> str:
        return "-" if value is None else duration(value, language)

    clues = Table(title=words["clues"])
    counts = ("received", "claimed_in_time", "answered_in_time", "overdue", "escalated", "open")
    times = ("claim_p50", "claim_p90", "answer_p50", "answer_p90")
    for column in ("department", "bucket", *counts, *times):
        clues.add_column(words[column], justify="left" if column in ("department", "bucket") else "right")
    for row in figures.clues:
        known = deployment.department_by_id.get(row.department)
        clues.add_row(
            known.name if known else row.department,
            words["total"] if row.bucket is None else row.bucket.isoformat(),
            *(str(getattr(row, c)) for c in counts),
            *(seconds(getattr(row, t)) for t in times),
            end_section=row.bucket is None,
        )
    console.print(clues)

    def share(value: float) -> str:
        return f"{value:.0%}"

    alerts = Table(title=words["alerts"])
    for column in ("site", "rule", *FALSE_COLUMNS):
        alerts.add_column(words[column], justify="left" if column in ("site", "rule") else "right")
    for a in figures.alerts:
        site, rule = deployment.site_by_id.get(a.site), deployment.rule_by_id.get(a.rule)
        alerts.add_row(
            site.name if site else a.site,
            rule.name if rule else a.rule,
            *(str(n) for n in (a.alerts, a.dismissed, a.false_alarms)),
            share(a.false_share),
        )
    console.print(alerts)

    sources = Table(title=words["sources"])
    for column in ("source", "site", *FALSE_COLUMNS):
        sources.add_column(words[column], justify="left" if column in ("source", "site") else "right")
    for x in figures.sources:
        site = deployment.site_by_id.get(x.site)
        sources.add_row(
            x.source,
            site.name if site else x.site,
            *(str(n) for n in (x.alerts, x.dismissed, x.false_alarms)),
            share(x.false_share),
        )
    console.print(sources)

    if figures.models:  # only where the events name the model that made them
        models = Table(title=words["models"])
        for column in ("rule", "model", "alerts_count", "false_alarms", "false_share"):
            models.add_column(words[column], justify="left" if column in ("rule", "model") else "right")
        for m in figures.models:
            rule = deployment.rule_by_id.get(m.rule)
            models.add_row(
                rule.name if rule else m.rule,
                m.model,
                str(m.alerts),
                str(m.false_alarms),
                share(m.false_share),
            )
        console.print(models)

    records = Table(title=words["records"])
    for column in ("item_code", "item_name", "records_count", "problem_found"):
        records.add_column(
            words[column], justify="right" if column in ("records_count", "problem_found") else "left"
        )
    for r in figures.records:
        records.add_row(r.item_code, r.item_name, str(r.records), str(r.problem_found))
    console.print(records)
    console.print(zone_note(deployment.tz, figures.as_of), highlight=False)
