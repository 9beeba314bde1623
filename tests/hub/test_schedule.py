"""The one walk of a schedule's minutes (`Schedule.flips`) that video and sensor rules share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.config.domain import Schedule

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 3, 2, 0, 0, tzinfo=SHANGHAI)  # a Monday
OFFICE = Schedule.model_validate({"days": ["mon", "tue", "wed", "thu", "fri"], "hours": ["09:00-12:00"]})


def at(hours: float) -> datetime:
    return (MONDAY + timedelta(hours=hours)).astimezone(UTC)


@pytest.mark.parametrize(
    ("since", "until", "was_open", "flips"),
    [
        (8.5, 8.51, False, []),  # under a minute, same state: nothing walked
        (8.5, 9.5, False, [(9, True)]),
        (8.5, 12.5, False, [(9, True), (12, False)]),
        (11.5, 33.5, True, [(12, False), (33, True)]),  # Tuesday opens again
        (9.5, 9.5, True, []),
    ],
)
def test_flips_are_the_minutes_the_schedule_opens_or_closes(
    since: float, until: float, was_open: bool, flips: list[tuple[float, bool]]
) -> None:
    found = list(OFFICE.flips(SHANGHAI, at(since), at(until), was_open))
    assert found == [(at(hours), opened) for hours, opened in flips]
