"""Supervised objects graded by risk: exact scores on seeded findings (class weight, half-life,
verdicts, false alarms excluded), a department's own objects, and the grading's checks."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from hub.config import Deployment
from hub.config.risk import RiskScoring
from hub.pipeline import Pipeline
from hub.risk import object_risks
from hub.store.db import Database
from tests.conftest import Clock
from tests.hub.feed import GAS, HALL
from tests.hub.test_statistics import answer, finding

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
PLANT = "91610115MA6W123458"  # the cold store's operator in the demo


def test_an_objects_score_weighs_its_findings_by_class_age_and_verdict(
    db: Database, pipeline: Pipeline, clock: Clock, demo_config: Deployment
) -> None:
    # gas findings are risk class 1 (weight 10) for market supervision; the half-life is 90 days
    old = finding(db, pipeline, clock, GAS, NOW - timedelta(days=90))
    answer(db, old, "market", NOW - timedelta(days=90), NOW - timedelta(days=89))  # confirmed: 10 x 0.5
    finding(
        db, pipeline, clock, GAS, NOW - timedelta(days=60), dismiss=True
    )  # the duty platform's false alarm
    judged_false = finding(db, pipeline, clock, GAS, NOW - timedelta(days=30))
    answer(db, judged_false, "market", NOW - timedelta(days=30), NOW - timedelta(days=29), "false_alarm")
    finding(db, pipeline, clock, GAS, NOW - timedelta(days=1))  # no verdict yet: half of 10 x 0.5^(1/90)
    finding(db, pipeline, clock, HALL, NOW - timedelta(days=2))  # the hall names no object
    finding(db, pipeline, clock, GAS, NOW + timedelta(hours=1))  # after the moment asked: not counted

    with db.transaction() as conn:
        [plant] = object_risks(conn, demo_config, NOW)
    expected = round(5.0 + 5.0 * 0.5 ** (1 / 90), 3)
    assert (plant.credit_code, plant.name, plant.industry) == (
        PLANT,
        "西安骊山冷链物流有限公司",
        "cold_chain",
    )
    assert plant.score == expected == 9.962
    assert (plant.grade, plant.label, plant.weight) == ("B", "一般风险", 2.0)
    assert (plant.confirmed, plant.unconfirmed, plant.false_alarms) == (1, 1, 2)
    assert plant.last_finding == NOW - timedelta(days=1)
    [reason] = plant.reasons
    assert (reason.rule, reason.confirmed, reason.unconfirmed, reason.score) == (
        "coldstore-gas-high",
        1,
        1,
        expected,
    )

    with db.transaction() as conn:
        assert [r.credit_code for r in object_risks(conn, demo_config, NOW, "market")] == [PLANT]
        assert object_risks(conn, demo_config, NOW, "hall-office") == []  # its clues name no object
        # a year on, the same findings have faded to grade A
        [faded] = object_risks(conn, demo_config, NOW + timedelta(days=365))
    assert faded.grade == "A" and 0 < faded.score < 5


def test_an_object_without_findings_is_listed_at_the_lowest_grade(
    db: Database, demo_config: Deployment
) -> None:
    with db.transaction() as conn:
        [plant] = object_risks(conn, demo_config, NOW)
    assert (plant.score, plant.grade, plant.weight, plant.reasons, plant.last_finding) == (
        0.0,
        "A",
        1.0,
        [],
        None,
    )


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"grades": [{"grade": "A", "label": "低", "from_score": 1, "weight": 1}]}, "start at from_score 0"),
        (
            {
                "grades": [
                    {"grade": "A", "label": "低", "from_score": 0, "weight": 1},
                    {"grade": "B", "label": "高", "from_score": 0, "weight": 2},
                ]
            },
            "rise strictly",
        ),
        ({"class_weights": {1: 10, 2: 5}}, "missing for risk class(es) [3]"),
        ({"unconfirmed": 2}, "less than or equal to 1"),
        ({"half_life": "0d"}, "greater than 0"),
    ],
)
def test_a_bad_grading_is_refused_with_what_is_wrong(settings: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError) as refused:
        RiskScoring.model_validate(settings)
    assert says in str(refused.value)
