"""`offsite up --api --api-workers N`: several API processes on one port, as operators run them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest

from api.auth import create_token
from hub.host import children_of, free_port, wait_for
from tests.api.sse import subscribe
from tests.conftest import REPO, Server
from tests.hub.feed import GAS

DEMO = REPO / "configs" / "demo.yaml"


@dataclass
class Hub:
    """`offsite up` running with API workers, and an operator's token."""

    proc: subprocess.Popen[str]
    url: str
    token: str

    def get(self, path: str) -> httpx.Response:
        """One call on a connection of its own, so that the kernel picks a worker for each."""
        return httpx.get(f"{self.url}{path}", headers={"Authorization": f"Bearer {self.token}"}, timeout=10)


@pytest.fixture
def dsn(timescaledb_server: Server) -> Iterator[str]:
    dsn = timescaledb_server.create_database()
    try:
        yield dsn
    finally:
        timescaledb_server.drop_database(dsn)


@contextmanager
def running(dsn: str, folder: Path, workers: int) -> Iterator[Hub]:
    env = {**os.environ, "OFFSITE_DATABASE_URL": dsn, "OFFSITE_DATA_DIR": str(folder)}
    # Streams send a keep-alive every half second (as in the in-process API tests), so a test's
    # stream reader notices within that that it is done, instead of lingering up to 5 s.
    env["OFFSITE_API_STREAM_POLL"] = "0.5"
    port = free_port()
    command = [sys.executable, "-m", "offsite.cli", "up", "-c", str(DEMO), "--api", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(
        [*command, "--api-workers", str(workers)],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        said = ""
        for line in proc.stdout:  # printed once every worker serves
            said += line
            if line.startswith("offsite hub up"):
                break
        else:
            raise AssertionError(f"offsite up ended with code {proc.wait()}: {said}")
        with psycopg.connect(dsn) as conn:
            token = create_token(conn, "duty desk", "operator", datetime.now(UTC))
        yield Hub(proc, f"http://127.0.0.1:{port}", token)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def api_workers(hub_pid: int) -> set[int]:
    """The hub's API worker processes (`offsite up` also starts its delivery workers)."""
    found = set()
    for pid in children_of(hub_pid):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile
            continue
        if b"api.serving" in command:
            found.add(pid)
    return found


def _count(metrics: str, route: str, status: int) -> float:
    prefix = f'offsite_http_requests_total{{method="GET",route="{route}",status="{status}"}} '
    return sum(float(line.removeprefix(prefix)) for line in metrics.splitlines() if line.startswith(prefix))


def test_workers_share_the_port_count_together_and_drop_a_revoked_token(dsn: str, tmp_path: Path) -> None:
    with running(dsn, tmp_path, workers=2) as hub:
        assert len(api_workers(hub.proc.pid)) == 2
        for _ in range(40):
            assert hub.get("/alerts?limit=5").status_code == 200
        # Each call came on a new connection, spread by the kernel; every worker counted its own.
        metrics = hub.get("/metrics")
        assert metrics.status_code == 200
        assert _count(metrics.text, "/alerts", 200) == 40
        assert "offsite_alerts" in metrics.text  # the database's gauges are there once, too
        with psycopg.connect(dsn) as conn:
            conn.execute("UPDATE api_tokens SET revoked_at = now()")
        # Every worker had the token cached; each drops it on the notification.
        wait_for(lambda: hub.get("/alerts").status_code == 401, 2, failure="a revoked token still works")
        assert {hub.get("/alerts").status_code for _ in range(20)} == {401}


def test_an_alert_taken_by_one_worker_reaches_streams_on_every_worker(dsn: str, tmp_path: Path) -> None:
    with running(dsn, tmp_path, workers=2) as hub:
        with psycopg.connect(dsn) as conn:
            edge = create_token(conn, "coldstore box", "edge", datetime.now(UTC), site="lintong-coldstore")
        headers = {"Authorization": f"Bearer {hub.token}"}
        with ExitStack() as streams:
            # Eight streams on connections of their own: the kernel puts some on each worker.
            subs = [
                streams.enter_context(subscribe(httpx.Client(base_url=hub.url, headers=headers)))
                for _ in range(8)
            ]
            event = {**GAS, "id": "w-1", "time": datetime.now(UTC).isoformat()}
            sent = time.monotonic()
            taken = httpx.post(
                f"{hub.url}/events", json={"events": [event]}, headers={"Authorization": f"Bearer {edge}"}
            )
            assert taken.status_code == 200, taken.text
            alert_id = taken.json()["taken"][0]["alert_id"]
            frames = [sub.until(alert_id, timeout=1.0) for sub in subs]
            assert time.monotonic() - sent < 1.0
        assert {(f.op, f.alert["id"]) for f in frames} == {("insert", alert_id)}


def test_a_dead_worker_is_replaced_and_the_others_keep_serving(dsn: str, tmp_path: Path) -> None:
    with running(dsn, tmp_path, workers=2) as hub:
        first = api_workers(hub.proc.pid)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        gone = "the killed worker is still there"
        wait_for(lambda: victim not in api_workers(hub.proc.pid), 5, failure=gone)
        assert [hub.get("/alerts").status_code for _ in range(20)] == [200] * 20
        wait_for(lambda: len(api_workers(hub.proc.pid)) == 2, 30, failure="no worker took its place")
        assert first - api_workers(hub.proc.pid) == {victim}
        hub.proc.send_signal(signal.SIGTERM)
        said = hub.proc.communicate(timeout=30)[0]
        assert hub.proc.returncode == 0, said
        assert "exited with code -9; starting another" in said


def test_workers_stop_with_the_hub_however_it_ends(dsn: str, tmp_path: Path) -> None:
    with running(dsn, tmp_path, workers=2) as hub:
        workers = children_of(hub.proc.pid)
        hub.proc.send_signal(signal.SIGINT)  # Ctrl-C: the hub stops its workers in order
        assert hub.proc.wait(timeout=30) == 0
        assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    with running(dsn, tmp_path, workers=2) as hub:
        workers = children_of(hub.proc.pid)
        hub.proc.kill()  # no chance to clean up: the workers notice their hub is gone
        hub.proc.wait()
        outlived = "workers outlived their hub"
        wait_for(lambda: not any(Path(f"/proc/{p}").exists() for p in workers), 15, failure=outlived)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_port_in_use_is_named(dsn: str, tmp_path: Path, workers: int) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "OFFSITE_DATABASE_URL": dsn, "OFFSITE_DATA_DIR": str(tmp_path)}
        command = [sys.executable, "-m", "offsite.cli", "up", "-c", str(DEMO), "--api", f"127.0.0.1:{port}"]
        done = subprocess.run(
            [*command, "--api-workers", str(workers)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert f"cannot serve the API on 127.0.0.1:{port}: Address already in use" in done.stderr
