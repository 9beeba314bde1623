"""The administrative part of a deployment: sites, departments, objects, items, routing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo

from pydantic import Field, ValidationInfo, field_validator, model_validator

from hub.config.types import (
    WEEKDAYS,
    AreaCode,
    CreditCode,
    Id,
    ItemCode,
    Model,
    RiskClass,
    Seconds,
    Weekday,
    Window,
    in_window,
    window_bounds,
)

_MINUTE = timedelta(minutes=1)


class Schedule(Model):
    """When something applies: days of the week and daily windows, in the deployment's timezone."""

    days: list[Weekday] = Field(default=list(WEEKDAYS), min_length=1, description="Days it applies")
    hours: list[Window] = Field(
        default_factory=list, description="Daily windows HH:MM-HH:MM; empty means all day"
    )

    def covers(self, local: datetime) -> bool:
        """Whether the local (timezone-converted) moment is inside the schedule.

        An overnight window belongs to the day it starts on: with ``days: [fri]`` and
        ``22:00-06:00``, Saturday 02:00 is covered and Friday 02:00 is not.
        """
        today = WEEKDAYS[local.weekday()]
        if not self.hours:
            return today in self.days
        yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
        moment = local.time()
        for window in self.hours:
            start, end = window_bounds(window)
            if start <= end or moment >= start:
                if today in self.days and in_window(window, moment):
                    return True
            elif yesterday in self.days and moment < end:
                return True
        return False

    def flips(
        self, tz: tzinfo, since: datetime, until: datetime, was_open: bool
    ) -> Iterator[tuple[datetime, bool]]:
        """Moments in (`since`, `until`] where the schedule, read in `tz`, opens (True) or closes
        (False), given whether it was open at `since`.

        Schedules are made of whole local minutes, so they flip only on a minute; a gap of a minute
        or less with the same state on both ends holds no flip (a window lasts a minute or more).
        Longer gaps (a restore, a stalled caller, frames far apart) are walked minute by minute.
        """
        if until <= since or (until - since <= _MINUTE and self.covers(until.astimezone(tz)) == was_open):
            return
        at = since.astimezone(UTC).replace(second=0, microsecond=0) + _MINUTE
        state = was_open
        while at <= until:
            if self.covers(at.astimezone(tz)) != state:
                state = not state
                yield at, state
            at += _MINUTE


class Site(Model):
    """A supervised place: a service hall, a road section, a plant."""

    id: Id
    name: str = Field(min_length=1, description="Display name")
    area_code: AreaCode
    object: CreditCode | None = Field(
        default=None, description="The supervised object operating the site, if there is one"
    )
    sensors_at_edge: bool = Field(
        default=False,
        description="The site's sensors publish to a broker on the site that its edge box takes"
        " (`offsite edge`): the box judges their rules and ships their readings; the hub's own"
        " sensor ingest (`offsite iot run`) leaves them alone",
    )


class Department(Model):
    """A department that implements inspections or handles risk clues."""

    id: Id
    name: str = Field(min_length=1)
    code: str = Field(
        pattern=r"^[0-9A-Z]{6,32}$",
        description="Department code used in exchange records (often its credit code)",
    )


class SupervisedObject(Model):
    """An enterprise or unit under supervision, identified by its credit code."""

    credit_code: CreditCode
    name: str = Field(min_length=1)
    industry: str = Field(min_length=1, description="Object type used by routing, e.g. food_production")


class SupervisionItem(Model):
    """An entry of the supervision-item catalogue (监管事项目录)."""

    code: ItemCode
    name: str = Field(min_length=1)
    list_code: str = Field(
        pattern=r"^[0-9A-Z]{14,40}$",
        description="Inspection-implementation list code (检查实施清单编码)",
    )
    department: Id = Field(description="Department implementing inspections under this item")


class RoutingMatch(Model):
    """Conditions a finding must meet; an empty list matches anything."""

    sites: list[Id] = Field(default_factory=list)
    industries: list[str] = Field(default_factory=list, description="Supervised object industries")
    items: list[ItemCode] = Field(default_factory=list)
    rules: list[Id] = Field(default_factory=list)
    schedule: Schedule | None = Field(default=None, description="Only findings made in this schedule")


ESCALATE_AFTER = 86400.0  # seconds after a missed deadline a route's clue goes to its escalate_to


class Route(Model):
    """Send matching findings to a department as risk clues. The first matching route wins."""

    id: Id
    match: RoutingMatch = Field(default_factory=RoutingMatch)
    department: Id
    risk_class: RiskClass | None = Field(
        default=None, description="Override of the rule's risk class for this route"
    )
    escalate_to: Id | None = Field(
        default=None,
        description="Supervising department (督办): a clue of this route still without the step a missed"
        " deadline asked for escalate_after later is escalated to it, and it may then read the clue",
    )
    escalate_after: Seconds | None = Field(
        default=None,
        description="How long after a missed claim or feedback deadline the clue goes to escalate_to"
        " (the department itself is reminded at the deadline); 24h when not given",
    )

    @field_validator("escalate_to")
    @classmethod
    def _another_department(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and value == info.data.get("department"):
            raise ValueError(
                f"{value!r} is the route's own department: name the department that supervises it"
            )
        return value

    @field_validator("escalate_after")
    @classmethod
    def _only_with_a_supervisor(cls, value: float | None, info: ValidationInfo) -> float | None:
        # escalate_to, declared before, is in info.data unless it was refused. None (the default,
        # and what a dumped deployment says) needs no supervisor: a deployment reloads as it was.
        if value is not None and "escalate_to" in info.data and info.data["escalate_to"] is None:
            raise ValueError(
                "escalate_after without escalate_to: name the supervising department or remove it"
            )
        return value

    @property
    def escalation_delay(self) -> float:
        """Seconds after a missed deadline before the clue goes to `escalate_to`."""
        return ESCALATE_AFTER if self.escalate_after is None else self.escalate_after


class ClueDeadline(Model):
    """How long a department has to claim a clue and to feed back on it."""

    claim: Seconds
    feedback: Seconds

    @model_validator(mode="after")
    def _feedback_after_claim(self) -> ClueDeadline:
        if self.feedback <= self.claim:
            raise ValueError("feedback deadline must be longer than the claim deadline")
        return self


def default_deadlines() -> dict[RiskClass, ClueDeadline]:
    return {
        1: ClueDeadline(claim=30 * 60, feedback=24 * 3600),
        2: ClueDeadline(claim=4 * 3600, feedback=7 * 86400),
        3: ClueDeadline(claim=86400, feedback=15 * 86400),
    }
