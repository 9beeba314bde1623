"""`offsite up` delivers the outbox from processes of its own: one killed in the middle of a POST
is replaced, and the changes it had sent come again under the same key (taken once by the
receiver, nothing lost); stopping the hub, by Ctrl-C, SIGTERM or `kill -9`, leaves none behind."""

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
from hub.host import children_of, free_port, wait_for
from hub.pipeline import Pipeline
from hub.store.db import open_database
from tests.conftest import REPO, Server
from tests.hub.feed import GAS, HALL, WARM, event
from tests.hub.receiver import SECRET, Receiver


def _config(tmp_path: Path, port: int | None) -> Path:
    path = tmp_path / "deployment.yaml"
    outputs = (
        "\noutputs:\n"
        f"  - {{id: hooks, kind: webhook, url: 'http://127.0.0.1:{port}/hooks',"
        " secret_env: OFFSITE_TEST_HOOK, backoff: 0.1, backoff_max: 0.2}\n"
    )
    text = (REPO / "configs" / "demo.yaml").read_text(encoding="utf-8")
    path.write_text(text + (outputs if port else ""), encoding="utf-8")
    return path


def _running(pid: int) -> bool:
    """Whether process `pid` runs (a zombie nobody reaped yet does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _delivery_workers(parent: int) -> list[int]:
    """The delivery processes `offsite up` (pid `parent`) runs now."""
    found = []
    for pid in children_of(parent):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        if b"offsite.delivering" in command and _running(pid):
            found.append(pid)
    return sorted(found)


@pytest.fixture
def hub_env(server: Server, tmp_path: Path) -> Iterator[dict[str, str]]:
    dsn = server.create_database()
    yield {
        **os.environ,
        "OFFSITE_DATABASE_URL": dsn,
        "OFFSITE_DATA_DIR": str(tmp_path),
        "OFFSITE_TEST_HOOK": SECRET,
    }
    server.drop_database(dsn)


def _up(config: Path, env: dict[str, str], cwd: Path, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "offsite.cli", "up", "-c", str(config), *args]
    proc = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and "offsite hub up" in proc.stdout.readline()
    return proc


def test_a_killed_delivery_process_is_replaced_and_nothing_is_lost_or_doubled(
    hub_env: dict[str, str], tmp_path: Path
) -> None:
    hook = Receiver(free_port())
    hook.hold_at = 4  # three changes taken, the fourth held while its sender is killed
    hook.start()
    config = _config(tmp_path, hook.port)
    db = open_database(hub_env["OFFSITE_DATABASE_URL"], tmp_path, pool_size=1)
    up = _up(config, hub_env, tmp_path)
    try:
        wait_for(lambda: len(_delivery_workers(up.pid)) == 1, timeout=10, failure="no delivery process")
        [first] = _delivery_workers(up.pid)
        loaded = load_config(config)
        pipeline = Pipeline(loaded.deployment, loaded.sha256)
        now = datetime.now(UTC)
        with db.transaction() as conn:  # nine changes, one round
            for i, base in enumerate((GAS, WARM, HALL)):
                pipeline.take(conn, event(f"w-{i}", now + timedelta(seconds=i), base, problem=True))
        assert hook.held.wait(30), "nothing was delivered"
        os.kill(first, signal.SIGKILL)  # in the middle of the round's transaction
        wait_for(lambda: not _running(first), timeout=10, failure="the delivery process outlived kill -9")
        hook.release.set()
        wait_for(lambda: hook.active == 0, timeout=30, failure="the receiver is still busy")
        before = dict(hook.taken)
        assert len(before) == 3

        wait_for(lambda: len(hook.taken) == 9, timeout=30, failure=f"{len(hook.taken)} of 9 changes")
        [second] = _delivery_workers(up.pid)
        assert second != first
        up.send_signal(signal.SIGTERM)
        _, errors = up.communicate(timeout=60)
        assert up.returncode == 0 and not _running(second)
        assert "delivery worker 0" in errors and "Fatal Python error" not in errors  # the kill, said
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
        db.close()
        hook.stop()

    # The killed round never committed: what it had sent came again, once; the receiver kept
    # each change once, in the order of the outbox, signed.
    assert all(hook.taken[k] == 2 for k in before) and set(hook.taken.values()) <= {1, 2}
    ids = [b["id"] for b in hook.bodies]
    assert sorted(ids, key=lambda m: int(m.removeprefix("msg_"))) == ids and len(set(ids)) == 9
    assert hook.bad_signatures == 0


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_stopping_the_hub_leaves_no_delivery_process(
    hub_env: dict[str, str], tmp_path: Path, how: signal.Signals
) -> None:
    up = _up(_config(tmp_path, None), hub_env, tmp_path, "--delivery-workers", "2")
    try:
        wait_for(
            lambda: len(_delivery_workers(up.pid)) == 2, timeout=10, failure="not two delivery processes"
        )
        workers = _delivery_workers(up.pid)
        up.send_signal(how)
        assert up.wait(timeout=60) == (-signal.SIGKILL if how == signal.SIGKILL else 0)
        wait_for(
            lambda: not any(_running(pid) for pid in workers),
            timeout=10,
            failure=f"delivery processes left after {how.name}",
        )
        _, errors = up.communicate(timeout=10)  # the workers' output too: they share it
        assert "Traceback" not in errors and "Fatal Python error" not in errors, errors
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
