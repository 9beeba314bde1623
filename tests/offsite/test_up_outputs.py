"""`offsite up` delivers the outbox to the deployment's outputs, and refuses to start without a
destination's secret."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from hub.config import load_config
from hub.host import free_port, wait_for
from hub.pipeline import Pipeline
from hub.store.db import open_database
from tests.conftest import REPO, Server
from tests.hub.feed import GAS, event
from tests.hub.receiver import SECRET, Receiver


def _config(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "deployment.yaml"
    outputs = (
        "\noutputs:\n  - id: province\n    kind: webhook\n"
        f"    url: http://127.0.0.1:{port}/hooks\n    secret_env: OFFSITE_TEST_HOOK\n"
    )
    path.write_text((REPO / "configs" / "demo.yaml").read_text(encoding="utf-8") + outputs, encoding="utf-8")
    return path


def test_up_delivers_changes_to_a_webhook(server: Server, tmp_path: Path) -> None:
    receiver = Receiver(free_port())
    receiver.start()
    config = _config(tmp_path, receiver.port)
    dsn = server.create_database()
    env = {**os.environ, "OFFSITE_DATABASE_URL": dsn, "OFFSITE_DATA_DIR": str(tmp_path)}
    up = [sys.executable, "-m", "offsite.cli", "up", "-c", str(config)]
    refused = subprocess.run(up, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert "outputs[0] (province): environment variable OFFSITE_TEST_HOOK" in refused.stderr
    proc = subprocess.Popen(
        up, cwd=tmp_path, env={**env, "OFFSITE_TEST_HOOK": SECRET}, stdout=subprocess.PIPE, text=True
    )
    db = open_database(dsn, tmp_path, pool_size=1)
    try:
        assert proc.stdout is not None and "offsite hub up" in proc.stdout.readline()
        loaded = load_config(config)
        with db.transaction() as conn:
            Pipeline(loaded.deployment, loaded.sha256).take(conn, event("e-1", datetime.now(UTC), GAS))
        wait_for(lambda: len(receiver.taken) == 3, timeout=20, failure="up delivered nothing")
        assert [(b["kind"], b["change"]) for b in receiver.bodies] == [
            ("alert", "open"),
            ("record", "insert"),
            ("clue", "issue"),
        ]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        db.close()
        receiver.stop()
        server.drop_database(dsn)
