"""`offsite demo --port N` on a port another program holds says so at once, before the scenario."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from tests.conftest import REPO
from tests.offsite.command import offsite


def test_a_taken_port_is_refused_before_the_scenario_runs(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("OFFSITE_")}
        env |= {"PYTHONPATH": str(REPO), "NO_COLOR": "1", "OFFSITE_DATA_DIR": str(tmp_path / "data")}
        done = offsite(env, tmp_path, "demo", "--port", str(port))
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"cannot serve the API on 127.0.0.1:{port}" in done.stderr
    assert "Deployment" not in done.stdout  # the scenario did not start
    assert not (tmp_path / "data" / "pg").exists()  # nor the embedded server
