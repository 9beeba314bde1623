"""The IoT scenarios of configs/environment.yaml behave as their comments say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.config import load_config
from iot.readings import Reading
from iot.rules import SensorRules
from tests.conftest import REPO

ENVIRONMENT = load_config(REPO / "configs" / "environment.yaml").deployment
CST = timedelta(hours=8)


def noise(local_start: datetime, minutes: int, level: float) -> list[Reading]:
    start = local_start - CST
    return [Reading("works-noise-1", "laeq", start + timedelta(minutes=m), level) for m in range(minutes)]


def test_noise_at_60_dba_fires_at_night_only() -> None:
    day = SensorRules(ENVIRONMENT).feed(noise(datetime(2026, 11, 20, 14, 0, tzinfo=UTC), 20, 60))
    night = SensorRules(ENVIRONMENT).feed(noise(datetime(2026, 11, 20, 23, 0, tzinfo=UTC), 20, 60))
    assert [e.rule for e in day] == []
    assert [(e.rule, e.time + CST) for e in night] == [
        ("night-construction-noise", datetime(2026, 11, 20, 23, 5, tzinfo=UTC))
    ]


def test_emissions_fire_only_after_an_hour_over_the_limit() -> None:
    start = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    over = [Reading("stack-cems", "so2", start + timedelta(minutes=m), 40 + m % 3) for m in range(59)]
    rules = SensorRules(ENVIRONMENT)
    assert [e.rule for e in rules.feed(over)] == []
    fired = rules.feed([Reading("stack-cems", "so2", start + timedelta(minutes=60), 41)])
    assert [(e.rule, e.time) for e in fired] == [("so2-over-limit", start + timedelta(hours=1))]
