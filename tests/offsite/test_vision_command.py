"""`offsite vision run` as an operator starts it: cameras analysed until SIGTERM, a clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psycopg

from hub.host import wait_for
from offsite import scenes
from tests.conftest import REPO, Server
from tests.vision.conftest import config


def test_vision_run_raises_alerts_until_terminated(embedded_server: Server, tmp_path: Path) -> None:
    scenes.write_clip(scenes.queue_builds(max_people=5, every=1.5, duration=14.0), tmp_path / "clip.mp4")
    rule = {"type": "count", "min_count": 4, "min_duration": 2}
    (tmp_path / "hall.yaml").write_text(config(rule, zone=scenes.WAITING_ZONE).text, encoding="utf-8")
    dsn = embedded_server.create_database()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFSITE_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "offsite.cli", "vision", "run", "-c", "hall.yaml", "--every", "1"],
        env={**env, "PYTHONPATH": str(REPO), "COLUMNS": "200", "OFFSITE_DATABASE_URL": dsn},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def alerted() -> bool:
            assert process.poll() is None, process.communicate()[0]
            with psycopg.connect(dsn) as conn:
                return conn.execute("SELECT count(*) FROM alerts WHERE rule = 'rule'").fetchone() == (1,)

        wait_for(alerted, 90, step=0.5)
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
        with psycopg.connect(dsn) as conn:  # reported for /metrics, the last time on the way out
            counted = dict(conn.execute("SELECT counter, value FROM ingest_counters WHERE source = 'cam'"))
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        embedded_server.drop_database(dsn)
    assert process.returncode == 0, out
    assert "vision: 1 cameras, 1 detector(s)" in out, out
    assert "Cameras" in out and " cam " in out, out  # the status table
    assert counted["decoded"] >= counted["analysed"] > 0 and counted["events"] >= 1, counted


def test_vision_run_names_a_missing_model(embedded_server: Server, tmp_path: Path) -> None:
    text = config({"type": "count", "min_count": 4, "min_duration": 2}, zone=scenes.WAITING_ZONE).text
    (tmp_path / "hall.yaml").write_text(text.replace("pkg:fall_detection/models/best_fp16.onnx", "nope.onnx"))
    dsn = embedded_server.create_database()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFSITE_")}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "offsite.cli", "vision", "run", "-c", "hall.yaml"],
            env={**env, "PYTHONPATH": str(REPO), "COLUMNS": "200", "OFFSITE_DATABASE_URL": dsn},
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        embedded_server.drop_database(dsn)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "nope.onnx" in done.stdout, done.stdout + done.stderr
