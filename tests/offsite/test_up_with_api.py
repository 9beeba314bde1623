"""`offsite token create|list|revoke`, `offsite up --api`, `offsite config export`, as operators run them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import yaml

from hub.host import free_port
from tests.conftest import REPO, Server
from tests.offsite.command import offsite

DEMO = REPO / "configs" / "demo.yaml"


def test_token_up_with_api_and_export(server: Server, tmp_path: Path) -> None:
    dsn = server.create_database()
    env = {**os.environ, "OFFSITE_DATABASE_URL": dsn, "OFFSITE_DATA_DIR": str(tmp_path)}
    port = free_port()
    command = [sys.executable, "-m", "offsite.cli", "up", "-c", str(DEMO), "--api", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        refused = offsite(env, tmp_path, "token", "create", "--role", "department")
        assert refused.returncode == 2 and "needs --department" in refused.stderr
        made = offsite(env, tmp_path, "token", "create", "--role", "operator", "--name", "duty desk")
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip()
        assert token.startswith("ofs_")
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"{url}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "the API did not come up"
                time.sleep(0.2)
        assert health.json()["database"] == "ok"
        listed = httpx.get(f"{url}/alerts", headers={"Authorization": f"Bearer {token}"})
        assert (listed.status_code, listed.json()) == (200, {"items": [], "next_cursor": None})
        assert httpx.get(f"{url}/alerts", headers={"Authorization": "Bearer ofs_wrong"}).status_code == 401
        listing = offsite(env, tmp_path, "token", "list")
        assert listing.returncode == 0, listing.stderr
        row = next(line for line in listing.stdout.splitlines() if "duty desk" in line)
        assert "operator" in row and "valid" in row
        token_id = row.split()[1]
        revoked = offsite(env, tmp_path, "token", "revoke", token_id)
        assert revoked.returncode == 0 and "duty desk" in revoked.stdout, revoked.stderr
        deadline = time.monotonic() + 1  # the API had it cached; the revocation reaches it at once
        while httpx.get(f"{url}/alerts", headers={"Authorization": f"Bearer {token}"}).status_code != 401:
            assert time.monotonic() < deadline, "a revoked token still works"
            time.sleep(0.01)
        again = offsite(env, tmp_path, "token", "revoke", token_id)
        assert again.returncode == 1 and "revoked already" in again.stderr
        assert "revoked" in offsite(env, tmp_path, "token", "list").stdout
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=30)[0]
        assert proc.returncode == 0, rest
        exported = offsite(env, tmp_path, "config", "export")
        assert exported.returncode == 0, exported.stderr
        assert yaml.safe_load(exported.stdout) == yaml.safe_load(DEMO.read_text(encoding="utf-8"))
        with psycopg.connect(dsn) as conn:
            created = conn.execute(
                "SELECT detail->>'name', detail->>'role' FROM audit_log WHERE action = 'token.create'"
            )
            assert created.fetchall() == [("duty desk", "operator")]
            revocations = conn.execute(
                "SELECT actor, detail->>'name' FROM audit_log WHERE action = 'token.revoke'"
            )
            assert revocations.fetchall() == [("system", "duty desk")]
    finally:
        proc.kill()
        server.drop_database(dsn)
