"""Recorded footage: `offsite vision analyse` reviews files as fast as it can with findings stamped
from the recording, and `offsite vision run` on cameras that are all files ends when they do."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
from typer.testing import CliRunner

from offsite import scenes
from offsite.cli import app
from tests.conftest import REPO, Server
from tests.vision.conftest import config

LEAVE_AT, MAX_ABSENCE = 1.0, 2.0


def offsite(dsn: str, cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFSITE_")}
    return subprocess.run(
        [sys.executable, "-m", "offsite.cli", *args],
        env={**env, "PYTHONPATH": str(REPO), "COLUMNS": "200", "OFFSITE_DATABASE_URL": dsn},
        cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def post_left(folder: Path, url: str = "file:clip.mp4") -> None:
    """A clip of a clerk leaving the post, and a deployment whose absence rule it fires."""
    scenes.write_clip(scenes.window_post_left(leave_at=LEAVE_AT, duration=6.0), folder / "clip.mp4")
    rule = {"type": "absence", "max_absence": MAX_ABSENCE, "smoothing": 1}
    text = config(rule, zone=scenes.POST_ZONE, url=url).text
    (folder / "hall.yaml").write_text(text, encoding="utf-8")


def test_analyse_stamps_findings_from_the_given_start(embedded_server: Server, tmp_path: Path) -> None:
    post_left(tmp_path)
    dsn = embedded_server.create_database()
    try:
        done = offsite(dsn, tmp_path, "vision", "analyse", "clip.mp4", "-c", "hall.yaml",
                       "--start", "2026-12-01T09:30:00")  # fmt: skip
        with psycopg.connect(dsn) as conn:
            rows = conn.execute("SELECT time, cleared FROM events WHERE rule = 'rule'").fetchall()
    finally:
        embedded_server.drop_database(dsn)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "100%" in done.stdout and "1 events" in done.stdout, done.stdout
    start = datetime(2026, 12, 1, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))  # the deployment's zone
    assert [cleared for _, cleared in rows] == [False], rows
    # The clerk is out of the post 1.1-1.8 s after leaving; the rule waits MAX_ABSENCE more.
    fired = (rows[0][0] - start).total_seconds()
    assert LEAVE_AT + MAX_ABSENCE <= fired <= LEAVE_AT + 1.8 + MAX_ABSENCE + 0.2, fired


def test_analyse_asks_for_a_start_when_the_file_has_no_clock(tmp_path: Path) -> None:
    scenes.write_clip(scenes.window_post_left(duration=0.5), tmp_path / "clip.mp4")
    text = config({"type": "absence", "max_absence": MAX_ABSENCE}, zone=scenes.POST_ZONE).text
    (tmp_path / "hall.yaml").write_text(text, encoding="utf-8")
    files = [str(tmp_path / "clip.mp4"), "-c", str(tmp_path / "hall.yaml")]
    done = CliRunner().invoke(app, ["vision", "analyse", *files])
    assert done.exit_code == 1, done.output
    assert f"{tmp_path / 'clip.mp4'}: no creation_time in the file; give --start" in done.output, done.output


def test_run_ends_when_every_camera_is_a_file_that_ended(embedded_server: Server, tmp_path: Path) -> None:
    post_left(tmp_path)
    dsn = embedded_server.create_database()
    try:  # a run that never ends runs into the timeout
        done = offsite(dsn, tmp_path, "vision", "run", "-c", "hall.yaml", "--every", "60")
        with psycopg.connect(dsn) as conn:
            fired = conn.execute("SELECT count(*) FROM events WHERE rule = 'rule'").fetchone()
    finally:
        embedded_server.drop_database(dsn)
    assert done.returncode == 0, done.stdout + done.stderr
    assert " cam " in done.stdout and "offline" in done.stdout, done.stdout  # the last status table
    assert fired == (1,)
