"""Figures for departments on a seeded week of the demo deployment: exact counts, times to claim and
to answer, buckets in the deployment's time zone, one department's own figures, and bad periods."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub import alerts, clues
from hub.config import Deployment, parse_config
from hub.escalation import escalate_overdue
from hub.pipeline import Pipeline
from hub.statistics import (
    AlertCount,
    ClueFigures,
    ModelCount,
    Period,
    PeriodInvalid,
    RecordCount,
    SourceCount,
    UnknownDepartment,
    statistics,
)
from hub.store.db import Database
from tests.conftest import REPO, Clock
from tests.hub.feed import GAS, HALL, event, take

CST = ZoneInfo("Asia/Shanghai")
MONDAY, TUESDAY = date(2026, 11, 23), date(2026, 11, 24)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=CST)  # Wednesday noon
GAS_ITEM = RecordCount("61011500200011", "食品生产经营场所安全生产条件的监督检查", 4, 2)  # 2 false alarms
HALL_ITEM = RecordCount("61011500100001", "政务服务窗口工作人员在岗履职情况的监督检查", 1, 1)
_ids = itertools.count()


def local(day: date, hhmm: str) -> datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hours, minutes, tzinfo=CST)


def finding(
    db: Database,
    pipeline: Pipeline,
    clock: Clock,
    base: dict[str, str],
    at: datetime,
    dismiss: bool = False,
    **payload: str,
) -> int:
    """A finding at `at` (its event's payload `payload`) that opens an alert and issues a clue;
    the alert then ends (or an operator dismisses it as a false alarm), so that the next finding
    opens a new one. The clue's id."""
    clock.now = at
    taken = take(db, pipeline, event(f"s{next(_ids)}", at, base, payload=payload))
    assert taken.clue_id is not None and taken.alert_id is not None
    if dismiss:
        with db.transaction() as conn:
            alerts.dismiss(conn, taken.alert_id, "operator:duty-1", at, "calibration")
    else:
        take(db, pipeline, event(f"s{next(_ids)}", at, base, cleared=True))
    return taken.clue_id


def answer(
    db: Database,
    clue_id: int,
    department: str,
    claimed: datetime,
    fed_back: datetime | None,
    verdict: str = "confirmed",
) -> None:
    """The department claims the clue, and if `fed_back` is given handles it and feeds back then."""
    with db.transaction() as conn:
        clues.claim(conn, clue_id, f"{department}:wang", claimed, department=department)
        if fed_back is not None:
            clues.handle(conn, clue_id, f"{department}:wang", fed_back, department=department)
            clues.feed_back(
                conn, clue_id, f"{department}:wang", fed_back, verdict, "checked", department=department
            )


@pytest.fixture
def seeded(db: Database, pipeline: Pipeline, clock: Clock, demo_config: Deployment) -> Database:
    """Market gets four class-1 clues (claim in 30 min, feedback in 24 h) on Monday and Tuesday,
    two of them false alarms (one dismissed by the operator and judged so, one judged so only),
    the hall office one class-3 clue from a camera whose event names its model; one market clue
    on the Sunday before lies outside the period.
    The hub ticks (escalating what is overdue) at Monday 09:45 and Wednesday noon."""
    sunday = finding(db, pipeline, clock, GAS, local(MONDAY, "00:00") - timedelta(minutes=30))
    m1 = finding(db, pipeline, clock, GAS, local(MONDAY, "00:30"))  # Sunday in UTC
    answer(db, m1, "market", local(MONDAY, "00:40"), local(MONDAY, "02:30"))
    with db.transaction() as conn:
        clues.close(conn, m1, "supervisor:zhao", local(MONDAY, "03:00"))
    m2 = finding(db, pipeline, clock, GAS, local(MONDAY, "09:00"))
    reminded = escalate_overdue(db, demo_config, local(MONDAY, "09:45")).reminded
    assert [r.clue_id for r in reminded] == [sunday, m2]
    answer(db, m2, "market", local(MONDAY, "09:50"), local(TUESDAY, "08:00"), "false_alarm")  # claimed late
    h1 = finding(db, pipeline, clock, HALL, local(MONDAY, "10:30"), model="person-yolo11n-2026.10")
    answer(db, h1, "hall-office", local(MONDAY, "11:30"), None)
    m4 = finding(db, pipeline, clock, GAS, local(MONDAY, "12:00"), dismiss=True)
    answer(db, m4, "market", local(MONDAY, "12:05"), local(MONDAY, "12:20"), "false_alarm")
    m3 = finding(db, pipeline, clock, GAS, local(TUESDAY, "10:00"))  # never claimed
    assert [r.clue_id for r in escalate_overdue(db, demo_config, NOW).reminded] == [m3]
    return db


MARKET_MONDAY = ClueFigures(
    "market", MONDAY, received=3, claimed_in_time=2, answered_in_time=3, overdue=1, escalated=0, open=0,
    claim_p50=600.0, claim_p90=2520.0, answer_p50=7200.0, answer_p90=67680.0,
)  # fmt: skip
MARKET_TUESDAY = ClueFigures(
    "market", TUESDAY, received=1, claimed_in_time=0, answered_in_time=0, overdue=1, escalated=0, open=1,
    claim_p50=None, claim_p90=None, answer_p50=None, answer_p90=None,
)  # fmt: skip
MARKET_PERIOD = ClueFigures(
    "market", None, received=4, claimed_in_time=2, answered_in_time=3, overdue=2, escalated=0, open=1,
    claim_p50=600.0, claim_p90=2520.0, answer_p50=7200.0, answer_p90=67680.0,
)  # fmt: skip
GAS_ALERTS = AlertCount(
    "lintong-coldstore", "coldstore-gas-high", 4, dismissed=1, false_alarms=2, false_share=0.5
)
HALL_ALERTS = AlertCount("lintong-hall", "window-absence", 1, dismissed=0, false_alarms=0, false_share=0.0)
HALL_PERIOD = ClueFigures(
    "hall-office", None, received=1, claimed_in_time=1, answered_in_time=0, overdue=0, escalated=0, open=1,
    claim_p50=3600.0, claim_p90=3600.0, answer_p50=None, answer_p90=None,
)  # fmt: skip


def test_figures_of_every_department_by_local_day(seeded: Database, demo_config: Deployment) -> None:
    with seeded.transaction() as conn:
        figures = statistics(conn, demo_config, Period(MONDAY, TUESDAY), NOW)
    assert figures.clues == [
        replace(HALL_PERIOD, bucket=MONDAY),
        HALL_PERIOD,
        MARKET_MONDAY,
        MARKET_TUESDAY,
        MARKET_PERIOD,
    ]
    assert figures.alerts == [GAS_ALERTS, HALL_ALERTS]
    assert figures.sources == [
        SourceCount("sensor:coldstore-gas", "lintong-coldstore", 4, 1, 2, 0.5),
        SourceCount("camera:hall-window-1", "lintong-hall", 1, 0, 0, 0.0),
    ]
    assert figures.models == [ModelCount("window-absence", "person-yolo11n-2026.10", 1, 0, 0.0)]
    assert figures.records == [HALL_ITEM, GAS_ITEM]
    assert (figures.timezone, figures.as_of, figures.department) == ("Asia/Shanghai", NOW, None)


def test_a_department_gets_its_own_figures_by_week(seeded: Database, demo_config: Deployment) -> None:
    with seeded.transaction() as conn:
        figures = statistics(conn, demo_config, Period(MONDAY, TUESDAY, "week"), NOW, "market")
    week = replace(MARKET_PERIOD, bucket=MONDAY)  # ISO weeks start on Monday
    assert figures.clues == [week, MARKET_PERIOD]
    assert figures.alerts == [GAS_ALERTS]
    assert [s.source for s in figures.sources] == ["sensor:coldstore-gas"]
    assert (figures.models, figures.records) == ([], [GAS_ITEM])


def test_a_late_verdict_counts_in_the_day_and_month_the_alert_began(
    seeded: Database, demo_config: Deployment
) -> None:
    november = Period(date(2026, 11, 1), date(2026, 11, 30), "month")  # read from the month's rollup
    with seeded.transaction() as conn:
        before = statistics(conn, demo_config, november, NOW)
    assert before.alerts == [replace(GAS_ALERTS, alerts=5, false_share=0.4), HALL_ALERTS]  # Sunday's too
    with seeded.transaction() as conn:  # Wednesday: the hall office finds Monday's absence false
        (hall,) = clues.list_clues(conn, department="hall-office")
        clues.handle(conn, hall.id, "hall-office:li", NOW, department="hall-office")
        clues.feed_back(
            conn, hall.id, "hall-office:li", NOW, "false_alarm", "on a break", department="hall-office"
        )
    late = replace(HALL_ALERTS, false_alarms=1, false_share=1.0)
    with seeded.transaction() as conn:
        assert statistics(conn, demo_config, november, NOW).alerts[1] == late
        assert statistics(conn, demo_config, Period(MONDAY, MONDAY), NOW).alerts[1] == late
        assert statistics(conn, demo_config, Period(TUESDAY, TUESDAY), NOW).alerts == [
            AlertCount("lintong-coldstore", "coldstore-gas-high", 1, 0, 0, 0.0)
        ]


def test_another_time_zone_rolls_the_days_up_again(seeded: Database, demo_config: Deployment) -> None:
    text = (
        (REPO / "configs" / "demo.yaml")
        .read_text("utf-8")
        .replace("timezone: Asia/Shanghai", "timezone: UTC")
    )
    in_utc = parse_config(text)
    with seeded.transaction() as conn:  # Shanghai's Monday 00:30 is Sunday in UTC: one gas alert fewer
        assert statistics(conn, demo_config, Period(MONDAY, TUESDAY), NOW).alerts[0].alerts == 4
        assert statistics(conn, in_utc, Period(MONDAY, TUESDAY), NOW).alerts[0].alerts == 3
        assert statistics(conn, demo_config, Period(MONDAY, TUESDAY), NOW).alerts[0] == GAS_ALERTS


def test_a_period_without_records_has_no_rows(db: Database, demo_config: Deployment) -> None:
    with db.transaction() as conn:
        figures = statistics(conn, demo_config, Period(MONDAY, TUESDAY, "month"), NOW, "hall-office")
    assert (figures.clues, figures.alerts, figures.sources, figures.models, figures.records) == ([],) * 5
    with (
        db.transaction() as conn,
        pytest.raises(UnknownDepartment, match=r"no department 'police'.*hall-office, market"),
    ):
        statistics(conn, demo_config, Period(MONDAY, TUESDAY), NOW, "police")


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        (None, None, Period(date(2026, 10, 27), date(2026, 11, 25))),  # 30 days up to today
        (MONDAY, None, Period(MONDAY, date(2026, 11, 25))),
        (None, MONDAY, Period(date(2026, 10, 25), MONDAY)),
        (TUESDAY, MONDAY, r"from \(2026-11-24\) is after to \(2026-11-23\)"),
        (date(2023, 1, 1), MONDAY, "2023-01-01 to 2026-11-23 is over 1098 days"),
    ],
)
def test_periods_default_and_refuse(first: date | None, last: date | None, expected: Period | str) -> None:
    today = date(2026, 11, 25)
    if isinstance(expected, Period):
        assert Period.ending(today, first, last) == expected
        start, end = expected.bounds(CST)
        assert (start.astimezone(UTC).hour, end - start) == (
            16,
            timedelta(days=(expected.last - expected.first).days + 1),
        )
    else:
        with pytest.raises(PeriodInvalid, match=expected):
            Period.ending(today, first, last)
