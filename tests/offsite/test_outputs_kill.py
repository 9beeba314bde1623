"""`kill -9` of `offsite up` in the middle of a push: the changes the receivers took before the
kill come again with the same idempotency key (`webhook-id`, the exchange's `cd_id`) once `up`
runs again, and nothing is lost; the receivers, keeping the keys they saw, take each change once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.config import load_config
from hub.host import free_port, wait_for
from hub.pipeline import Pipeline
from hub.store.db import Database, open_database
from tests.conftest import REPO, Server
from tests.hub.feed import GAS, HALL, WARM, event
from tests.hub.receiver import SECRET, TOKEN, Exchange, Receiver


def _config(tmp_path: Path, hook: int, exchange: int) -> Path:
    path = tmp_path / "deployment.yaml"
    outputs = (
        "\noutputs:\n"
        f"  - {{id: hooks, kind: webhook, url: 'http://127.0.0.1:{hook}/hooks',"
        " secret_env: OFFSITE_TEST_HOOK, backoff: 0.1, backoff_max: 0.2}\n"
        f"  - {{id: province, kind: exchange, url: 'http://127.0.0.1:{exchange}/exchange',"
        " token_env: OFFSITE_TEST_EXCHANGE, batch: 1, backoff: 0.1, backoff_max: 0.2}\n"
    )
    path.write_text((REPO / "configs" / "demo.yaml").read_text(encoding="utf-8") + outputs, encoding="utf-8")
    return path


class Up:
    """`offsite up` processes on one database, started and killed by the test."""

    def __init__(self, config: Path, env: dict[str, str], cwd: Path) -> None:
        self.command = [sys.executable, "-m", "offsite.cli", "up", "-c", str(config)]
        self.env, self.cwd = env, cwd
        self.procs: list[subprocess.Popen[str]] = []

    def start(self) -> subprocess.Popen[str]:
        proc = subprocess.Popen(self.command, cwd=self.cwd, env=self.env, stdout=subprocess.PIPE, text=True)
        self.procs.append(proc)
        assert proc.stdout is not None and "offsite hub up" in proc.stdout.readline()
        return proc

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Exchange]]:
    pair = Receiver(free_port()), Exchange(free_port())
    for r in pair:
        r.start()
    yield pair
    for r in pair:
        r.stop()


def _changes(db: Database) -> list[tuple[str, str, int]]:
    """(message id, kind, subject) of every change, oldest first."""
    with db.transaction() as conn:
        rows = conn.execute("SELECT id, kind, subject FROM outbox ORDER BY id").fetchall()
    return [(f"msg_{r[0]}", str(r[1]), int(r[2])) for r in rows]


@pytest.mark.parametrize("held", ["webhook", "exchange"])
def test_kill_9_mid_push_loses_nothing_and_doubles_nothing(
    server: Server, tmp_path: Path, receivers: tuple[Receiver, Exchange], held: str
) -> None:
    hook, exchange = receivers
    # Three findings make nine changes in one round: nine webhook POSTs (alert, record, clue
    # each) and, beside them, three exchange batches of one record. `up` is killed while a
    # receiver holds the fifth POST, or the second batch: some changes already taken, others not.
    holder = hook if held == "webhook" else exchange
    holder.hold_at = 5 if held == "webhook" else 2
    config = _config(tmp_path, hook.port, exchange.port)
    dsn = server.create_database()
    env = {
        **os.environ,
        "OFFSITE_DATABASE_URL": dsn,
        "OFFSITE_DATA_DIR": str(tmp_path),
        "OFFSITE_TEST_HOOK": SECRET,
        "OFFSITE_TEST_EXCHANGE": TOKEN,
    }
    up = Up(config, env, tmp_path)
    db = open_database(dsn, tmp_path, pool_size=1)
    try:
        first = up.start()
        loaded = load_config(config)
        pipeline = Pipeline(loaded.deployment, loaded.sha256)
        now = datetime.now(UTC)
        with db.transaction() as conn:  # one transaction: the next round takes all nine
            for i, base in enumerate((GAS, WARM, HALL)):
                pipeline.take(conn, event(f"k-{i}", now + timedelta(seconds=i), base, problem=True))
        assert holder.held.wait(30), "up pushed nothing"
        first.kill()  # SIGKILL, in the middle of the round's transaction
        assert first.wait(timeout=30) == -signal.SIGKILL
        holder.release.set()
        # What the senders had sent by then is answered, then counted.
        wait_for(lambda: hook.active == exchange.active == 0, timeout=30, failure="receivers still busy")
        before = (dict(hook.taken), dict(exchange.taken))
        assert before[0] or before[1]  # part of the round had arrived

        second = up.start()
        changes = _changes(db)
        records = [m for m, kind, _ in changes if kind == "record"]
        assert len(changes) == 9 and len(records) == 3
        wait_for(
            lambda: len(hook.taken) == 9 and len(exchange.taken) == 3,
            timeout=30,
            failure=f"after the restart: {len(hook.taken)} of 9 changes, {len(exchange.taken)} of 3 records",
        )
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
    finally:
        up.close()
        db.close()
        server.drop_database(dsn)

    # Nothing lost: every change at the webhook, every record change at the exchange.
    assert sorted(hook.taken) == sorted(m for m, _, _ in changes)
    assert sorted(exchange.taken) == sorted(records)
    # Everything that had arrived before the kill came again under the same key (the killed
    # round never committed), once more at most; the receivers kept the first copy only.
    for taken, taken_before in ((hook.taken, before[0]), (exchange.taken, before[1])):
        assert all(taken[k] == 2 for k in taken_before) and set(taken.values()) <= {1, 2}
    assert [b["id"] for b in hook.bodies] == [m for m, _, _ in changes]  # once each, in order
    assert [r["cd_id"] for r in exchange.records] == records
    assert hook.bad_signatures == 0 and exchange.unauthorised == 0
