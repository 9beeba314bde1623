"""`offsite stats` as a user runs it: Chinese tables by default, JSON with --json, one department's
figures, and a bad period or department named in one line."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from hub import clues
from hub.config import Settings, load_config
from hub.events import Event
from hub.runtime import Hub
from tests.conftest import REPO, Server
from tests.hub.feed import GAS, HALL
from tests.offsite.command import offsite

DEMO = REPO / "configs" / "demo.yaml"


@pytest.fixture(scope="module")
def deployed(
    timescaledb_server: Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[str, str], date]]:
    """The demo deployment's database after a gas finding for market and an absence at the hall
    window that the hall office claimed; the environment of a command on it, and the local day."""
    data = tmp_path_factory.mktemp("stats")
    dsn = timescaledb_server.create_database()
    hub = Hub.start(load_config(DEMO), Settings(data_dir=data), dsn=dsn)
    try:
        now = hub.pipeline.clock()
        hub.take(Event.model_validate({"id": "stats-gas", "time": now, **GAS}))
        hall = hub.take(Event.model_validate({"id": "stats-hall", "time": now, **HALL}))
        assert hall.clue_id is not None
        with hub.db.transaction() as conn:
            clues.claim(conn, hall.clue_id, "hall-office:li", now, department="hall-office")
        today = now.astimezone(hub.config.deployment.tz).date()
    finally:
        hub.close()
    env = {
        **os.environ,
        "OFFSITE_DATABASE_URL": dsn,
        "OFFSITE_DATA_DIR": str(data),
        "COLUMNS": "250",
        "NO_COLOR": "1",
    }
    yield env, today
    timescaledb_server.drop_database(dsn)


def cells(output: str, *having: str) -> list[str]:
    """The cells of the one table row holding all of `having`."""
    rows = [line for line in output.splitlines() if all(f" {h} " in line for h in having)]
    assert len(rows) == 1, f"expected one row with {having}:\n{output}"
    return [cell.strip() for cell in rows[0].split("│")[1:-1]]


def test_tables_in_chinese(deployed: tuple[dict[str, str], date], tmp_path: Path) -> None:
    env, today = deployed
    done = offsite(
        env, tmp_path, "stats", "-c", str(DEMO), "--from", str(today), "--to", str(today + timedelta(days=1))
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for heading in (
        "风险线索处置情况",
        "收到线索",
        "按时认领",
        "逾期",
        "督办",
        "认领用时中位数",
        "告警（按场所、规则）",
    ):
        assert heading in done.stdout
    assert cells(done.stdout, "临潼区市场监督管理局", "合计")[2:8] == ["1", "0", "0", "0", "0", "1"]
    hall = cells(done.stdout, "临潼区政务服务中心管理办公室", "合计")
    assert hall[2:8] == ["1", "1", "0", "0", "0", "1"] and hall[8].endswith("秒")  # claimed within seconds
    assert cells(done.stdout, "可燃气体浓度超过20%LEL") == [
        "骊山冷链物流冷库",
        "可燃气体浓度超过20%LEL",
        "1",
        "0",
        "0",
        "0%",
    ]
    assert "告警（按摄像头、传感器）" in done.stdout and "误报率" in done.stdout
    assert cells(done.stdout, "camera:hall-window-1") == [
        "camera:hall-window-1",
        "临潼区政务服务大厅",
        "1",
        "0",
        "0",
        "0%",
    ]
    assert cells(done.stdout, "61011500200011")[2:] == ["1", "1"]
    assert "times in Asia/Shanghai" in done.stdout


def test_json_of_one_department(deployed: tuple[dict[str, str], date], tmp_path: Path) -> None:
    env, today = deployed
    done = offsite(
        env, tmp_path, "stats", "-c", str(DEMO), "--department", "market", "--bucket", "month", "--json"
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert (figures["department"], figures["bucket"], figures["last"]) == ("market", "month", str(today))
    assert [(row["department"], row["received"], row["open"]) for row in figures["clues"]] == [
        ("market", 1, 1),
        ("market", 1, 1),
    ]
    assert [r["item_code"] for r in figures["records"]] == ["61011500200011"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--from", "2026-11-24", "--to", "2026-11-23"),
            "--from/--to: from (2026-11-24) is after to (2026-11-23)",
        ),
        (
            ("--department", "police"),
            "--department: no department 'police' in the deployment; it has: hall-office",
        ),
    ],
)
def test_bad_period_or_department_in_one_line(
    deployed: tuple[dict[str, str], date], tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    env, _ = deployed
    done = offsite(env, tmp_path, "stats", "-c", str(DEMO), *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
