"""The `offsite` command as a user runs it: the demo on the embedded default, and db upgrade."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from hub.store.migrate import migrations
from tests.conftest import REPO, Server

# What the demo cameras do: real detections on composed clips, through the rules to the hub.
CAMERA_OUTCOMES = [
    ("camera:hall-window-1", "window-absence", "fired", "opened"),
    ("camera:hall-waiting", "hall-queue", "fired", "opened"),
    ("camera:hall-window-1", "window-absence", "resent", "duplicate"),
]
# What the simulated sensors do through MQTT, the ingest and the sensor rules.
SENSOR_OUTCOMES = [
    ("coldstore-gas-high", "fired", "opened"),
    ("coldstore-gas-high", "cleared", "closed"),
    ("coldstore-too-warm", "fired", "opened"),
    ("coldstore-gas-high", "fired", "suppressed"),
    ("dock-humidity-offline", "fired", "opened"),
]


def offsite(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the command line with a clean OFFSITE_* environment plus `env`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("OFFSITE_")}
    return subprocess.run(
        [sys.executable, "-m", "offsite.cli", *args],
        env={**base, "PYTHONPATH": str(REPO), "COLUMNS": "200", "NO_COLOR": "1", **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
    )


def row_with(output: str, *cells: str) -> str:
    """The one table row holding all `cells`."""
    rows = [line for line in output.splitlines() if all(f" {c} " in line for c in cells)]
    assert len(rows) == 1, f"expected one row with {cells}, got {rows}"
    return rows[0]


def test_demo_runs_end_to_end_twice(tmp_path: Path) -> None:
    work, data = tmp_path / "work", tmp_path / "data"
    work.mkdir()
    config = REPO / "configs" / "demo.yaml"
    for run in (1, 2):
        done = offsite("demo", "--no-serve", "--config", str(config), cwd=work, OFFSITE_DATA_DIR=str(data))
        assert done.returncode == 0, f"run {run}:\n{done.stdout}\n{done.stderr}"
        out = done.stdout
        cameras = re.findall(
            r"^\s+(camera:\S+)\s+(\S+)\s+(fired|cleared|resent)\s+->\s+(\w+)", out, re.MULTILINE
        )
        assert sorted(cameras) == sorted(CAMERA_OUTCOMES), f"run {run}:\n{out}"
        assert "window-absence   fired   -> opened (2 evidence files)" in out, out  # picture and clip
        sensors = re.findall(r"^\s+([a-z-]+)\s+(fired|cleared)\s+->\s+(\w+)\s*$", out, re.MULTILINE)
        assert sensors == SENSOR_OUTCOMES, f"run {run}:\n{out}"
        stored = r"sensors: 264 MQTT messages via the embedded broker .* 264 readings stored"
        assert re.search(stored, out), out
        for title in ("Alerts", "Supervision-action records (监管行为)", "Risk clues (风险线索)"):
            assert title in out, f"run {run}: no table {title!r}\n{out}"
        row_with(out, "window-absence", "acknowledged")
        row_with(out, "coldstore-too-warm", "open")
        row_with(out, "coldstore-gas-high", "closed")
        assert len(re.findall(r" problem_found ", out)) == 3
        row_with(out, "market", "fed_back")
        assert re.search(r"Audit trail: \d+ entries, chain intact", out), out
    # The demo's evidence goes to the config's relative evidence_dir under the working directory,
    # and its embedded server under the data directory; nothing lands in the repository.
    evidence = [p.read_bytes() for p in (work / "var" / "evidence").rglob("*") if p.is_file()]
    series = [e for e in evidence if e.startswith(b"time,lel\n")]
    assert len(series) == 2  # the gas series the department attached, once per run (new readings)
    pictures = [e for e in evidence if e.startswith(b"\xff\xd8")]
    clips = [e for e in evidence if e[4:8] == b"ftyp"]
    assert len(pictures) >= 2 and len(clips) >= 2, [e[:8] for e in evidence]
    assert len(evidence) == len(series) + len(pictures) + len(clips)
    assert sorted(p.name for p in (work / "var" / "demo").iterdir()) == [
        "hall-waiting.mp4",
        "hall-window.mp4",
    ]
    assert (data / "pg" / "PG_VERSION").is_file()


def _empty_database(server: Server) -> str:
    """A database with no schema at all (the server's create_database() copies a migrated one)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return make_conninfo(server.dsn, dbname=name)


def test_db_upgrade_applies_once(server: Server, tmp_path: Path) -> None:
    dsn = _empty_database(server)
    try:
        env = {"OFFSITE_DATABASE_URL": dsn, "OFFSITE_DATA_DIR": str(tmp_path)}
        behind = offsite("db", "status", cwd=tmp_path, **env)
        assert behind.returncode == 1 and "schema behind" in behind.stdout, behind.stdout + behind.stderr

        first = offsite("db", "upgrade", cwd=tmp_path, **env)
        second = offsite("db", "upgrade", cwd=tmp_path, **env)
        current = offsite("db", "status", cwd=tmp_path, **env)
    finally:
        server.drop_database(dsn)

    shipped = [f"applied {m.version:04d}_{m.name}" for m in migrations()]
    assert first.returncode == 0, first.stdout + first.stderr
    assert [line for line in first.stdout.splitlines() if line.startswith("applied")] == shipped
    assert second.returncode == 0, second.stdout + second.stderr
    assert "applied" not in second.stdout
    assert server.backend is not None
    for done in (first, second):
        assert f"schema is current; {server.backend.describe()}" in done.stdout
    assert current.returncode == 0 and "schema current" in current.stdout, current.stdout + current.stderr
