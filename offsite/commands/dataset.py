"""`offsite dataset export`: the frames of judged camera findings as a YOLO dataset, to fine-tune a
site's model with ultralytics on what it got wrong (see hub/dataset.py)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from offsite.startup import database_or_exit, err, load_or_exit

if TYPE_CHECKING:
    from hub.dataset import Exported

app = typer.Typer(help="Training data from judged findings.", no_args_is_help=True)
out = Console(soft_wrap=True)
DAY = ["%Y-%m-%d"]

WORDS = {
    "zh": {
        "progress": "导出研判过的摄像头告警",
        "summary": "已导出 {frames} 帧（训练 {train}，验证 {val}）：确认 {confirmed}，误报 {false_alarms}",
        "missing": "；{n} 帧的图像文件缺失，已跳过",
        "unusable": "；{n} 条告警的事件缺少可用的画面或检测结果，已跳过",
    },
    "en": {
        "progress": "exporting judged camera findings",
        "summary": "exported {frames} frames (train {train}, val {val}): {confirmed} confirmed,"
        " {false_alarms} false alarms",
        "missing": "; {n} frames skipped, their image file is missing",
        "unusable": "; {n} alerts skipped, their event has no usable frame or detections",
    },
}


@app.command()
def export(
    config: Annotated[Path, typer.Option("--config", "-c", help="Deployment YAML file")],
    folder: Annotated[Path, typer.Option("--out", help="New or empty folder for the dataset")],
    since: Annotated[
        datetime | None,
        typer.Option(formats=DAY, help="First local day, YYYY-MM-DD (default: 29 days before --until)"),
    ] = None,
    until: Annotated[
        datetime | None, typer.Option(formats=DAY, help="Last local day, included (default: today)")
    ] = None,
    camera: Annotated[str | None, typer.Option(help="Only this camera's findings (its id)")] = None,
) -> None:
    """Frames of alerts judged false (dismissed, or fed back as a false alarm) or confirmed, with
    the detections as YOLO labels (a false alarm's wrong boxes left out), data.yaml and a manifest."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from hub.dataset import DatasetError, class_names, judged_findings, refuse_used
    from hub.dataset import export as write
    from hub.evidence import EvidenceStore
    from hub.pipeline import utc_now
    from hub.statistics import Period, PeriodInvalid

    deployment = load_or_exit(config).deployment
    words = WORDS[deployment.language]
    try:
        period = Period.ending(
            utc_now().astimezone(deployment.tz).date(),
            since.date() if since else None,
            until.date() if until else None,
        )
    except PeriodInvalid as exc:
        err.print(f"[red]--since/--until[/]: {exc}", highlight=False)
        raise typer.Exit(2) from None
    cameras = [c.id for c in deployment.cameras]
    if camera is not None and camera not in cameras:
        err.print(f"[red]--camera[/]: no camera {camera!r} in {config}; cameras: {', '.join(cameras)}")
        raise typer.Exit(2)
    try:
        refuse_used(folder)
    except DatasetError as exc:
        err.print(f"[red]--out[/]: {exc}", highlight=False)
        raise typer.Exit(2) from None
    db = database_or_exit()
    try:
        with db.transaction() as conn:
            judged = judged_findings(conn, *period.bounds(deployment.tz), camera)
    finally:
        db.close()
    names = class_names(deployment, judged.findings)
    evidence = EvidenceStore(Path(deployment.storage.evidence_dir))
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task(words["progress"], total=len(judged.findings))
        done = write(judged, names, evidence, folder, deployment.tz, lambda: progress.advance(task))
    out.print(summary(done, words), highlight=False)


def summary(done: Exported, words: dict[str, str]) -> str:
    """One line: what was written, and what was skipped and why."""
    line = words["summary"].format(frames=done.frames, **asdict(done))
    if done.missing:
        line += words["missing"].format(n=done.missing)
    if done.unusable:
        line += words["unusable"].format(n=done.unusable)
    return line
