"""Titles of alerts and clues from per-rule-type templates, durations and moments as people write them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hub.config import Deployment
from hub.pipeline import Pipeline
from hub.store.db import Database
from hub.wording import TITLES, duration, moment, number, title, zone_note
from tests.conftest import Clock
from tests.hub.feed import GAS, HALL, WARM, event, take

AT = datetime(2026, 12, 2, 1, 14, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "zh", "en"),
    [
        (4.005, "4 秒", "4 s"),
        (0.2, "0 秒", "0 s"),
        (59.6, "1 分钟", "1 min"),
        (250, "4 分 10 秒", "4 min 10 s"),
        (600, "10 分钟", "10 min"),
        (3900, "1 小时 5 分", "1 h 5 min"),
        (2 * 86400 + 7200, "2 天 2 小时", "2 d 2 h"),
    ],
)
def test_durations_read_as_people_write_them(seconds: float, zh: str, en: str) -> None:
    assert (duration(seconds, "zh"), duration(seconds, "en")) == (zh, en)


@pytest.mark.parametrize(("value", "text"), [(-15.2345, "-15.2"), (20.0, "20"), (3.05, "3")])
def test_numbers_have_no_spurious_decimals(value: float, text: str) -> None:
    assert number(value) == text


def test_moments_carry_the_zone_and_its_offset() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    assert moment(AT, shanghai) == "2026-12-02 09:14:03 +08:00"
    assert moment(AT, ZoneInfo("America/Sao_Paulo"), "%H:%M") == "22:14 -03:00"
    assert zone_note(shanghai, AT) == "times in Asia/Shanghai (UTC+08:00)"


def test_every_language_has_a_template_for_the_same_rule_types() -> None:
    assert TITLES["zh"].keys() == TITLES["en"].keys()


ABSENCE = {"type": "absence", "absent_for": 4.005, "max_absence": 4.0, "zone": "window-1-post"}
WARM_FACTS = {"type": "threshold", "metric": "temperature", "value": -15.2345, "above": -18.0, "limit": -18.0,
              "duration": 600.0}  # fmt: skip


@pytest.mark.parametrize(
    ("base", "extra", "zh", "en"),
    [
        (HALL, {"payload": ABSENCE}, "1号窗口 离岗 4 秒", "1号窗口: post window-1-post empty for 4 s"),
        (
            WARM,
            {"payload": WARM_FACTS},
            "1号冷库温度 -15.2℃，高于 -18℃ 持续 10 分钟",
            "1号冷库温度 -15.2℃, above -18℃ for 10 min",
        ),
        (
            {
                "source": "sensor:coldstore-temp",
                "site": "lintong-coldstore",
                "rule": "coldstore-temp-offline",
            },
            {"payload": {"after": 300.0}},
            "温度传感器 1号冷库温度 离线超过 5 分钟",
            "temperature sensor 1号冷库温度 silent for more than 5 min",
        ),
        (GAS, {"title": "燃气报警（网关上报）"}, "燃气报警（网关上报）", "燃气报警（网关上报）"),
        (GAS, {"payload": {"type": "threshold"}}, "可燃气体浓度超过20%LEL", "可燃气体浓度超过20%LEL"),
    ],
    ids=["absence", "threshold", "sensor-offline", "own-title", "no-facts"],
)
def test_titles_come_from_the_rule_types_template(
    demo_config: Deployment, base: dict[str, str], extra: dict[str, Any], zh: str, en: str
) -> None:
    finding = event("e-1", AT, base, **extra)
    rule = demo_config.rule_by_id[finding.rule]
    english = demo_config.model_copy(update={"language": "en"})
    assert (title(finding, rule, demo_config), title(finding, rule, english)) == (zh, en)


def test_the_alert_and_the_clue_carry_the_title(db: Database, pipeline: Pipeline, clock: Clock) -> None:
    taken = take(db, pipeline, event("absence-1", clock(), HALL, payload=ABSENCE))
    assert taken.clue_id is not None
    with db.transaction() as conn:
        alert = conn.execute("SELECT title FROM alerts WHERE id = %s", (taken.alert_id,)).fetchone()
        clue = conn.execute("SELECT title FROM risk_clues WHERE id = %s", (taken.clue_id,)).fetchone()
    assert alert == clue == ("1号窗口 离岗 4 秒",)
