"""The running hub: start on a database, record the config version, and periodic upkeep."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.config import Settings, load_config
from hub.events import Event, Outcome
from hub.runtime import Hub
from tests.conftest import REPO, Server

DEMO = REPO / "configs" / "demo.yaml"


@pytest.fixture
def hub(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    monkeypatch.chdir(tmp_path)  # the demo config's evidence folder is relative
    dsn = server.create_database()
    started = Hub.start(load_config(DEMO), Settings(data_dir=tmp_path), dsn=dsn)
    yield started
    started.close()
    server.drop_database(dsn)


def test_start_records_the_config_version_once(hub: Hub, server: Server) -> None:
    loaded = load_config(DEMO)
    again = Hub.start(loaded, Settings(), dsn=hub.db.dsn)
    again.close()
    with hub.db.transaction() as conn:
        rows = conn.execute("SELECT sha256, name FROM config_versions").fetchall()
        loads = conn.execute("SELECT count(*) FROM audit_log WHERE action = 'config.load'").fetchone()
    assert rows == [(loaded.sha256, "Lintong demo")]
    assert loads == (1,)
    assert hub.backend == server.backend


def test_upkeep_applies_retention_rollups_and_auto_close(hub: Hub) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    with hub.db.transaction() as conn:
        conn.execute(
            "INSERT INTO readings VALUES (%s, 'coldstore-temp', 'temperature', -20),"
            " (%s, 'coldstore-temp', 'temperature', -16), (%s, 'coldstore-temp', 'temperature', -18)",
            (now - timedelta(days=100), now - timedelta(minutes=3), now - timedelta(minutes=2, seconds=40)),
        )
    queue = Event(
        id="q1", source="camera:hall-waiting", site="lintong-hall", rule="hall-queue",
        time=now - timedelta(minutes=11),
    )  # fmt: skip
    assert hub.take(queue).outcome is Outcome.OPENED
    done = hub.upkeep(now)
    assert done.removed["readings"] >= 1
    assert len(done.auto_closed) == 1  # hall-queue closes after 10 minutes without a repeat
    with hub.db.transaction() as conn:
        left = conn.execute("SELECT count(*) FROM readings").fetchone()
        minute = conn.execute("SELECT count, sum, min, max FROM readings_1m").fetchall()
    assert left == (2,)
    assert minute == [(2, -34.0, -18.0, -16.0)]


def test_offsite_up_runs_until_terminated(server: Server, tmp_path: Path) -> None:
    dsn = server.create_database()
    env = {**os.environ, "OFFSITE_DATABASE_URL": dsn, "OFFSITE_DATA_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "offsite.cli", "up", "-c", str(DEMO), "--upkeep-every", "0.2"]
    proc = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("offsite hub up: Lintong demo"), first
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=20)[0]
    finally:
        proc.kill()
        server.drop_database(dsn)
    assert proc.returncode == 0, rest
    assert "offsite hub stopped" in rest


def test_start_puts_the_loaded_file_in_force_over_an_earlier_api_edit(hub: Hub) -> None:
    from api.config_store import active_config

    loaded = load_config(DEMO)
    edited = loaded.text.replace("name: Lintong demo", "name: Lintong demo, edited")
    with hub.db.transaction() as conn:
        conn.execute("INSERT INTO config_versions (sha256, name, body) VALUES ('e', 'edited', %s)", (edited,))
        conn.execute("UPDATE config_active SET sha256 = 'e', set_by = 'admin:api'")
        assert active_config(conn) == edited
    Hub.start(loaded, Settings(), dsn=hub.db.dsn).close()
    with hub.db.transaction() as conn:
        assert active_config(conn) == loaded.text
        assert conn.execute("SELECT set_by FROM config_active").fetchone() == ("system:start",)
