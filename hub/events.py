"""Events: the one input of the hub. A rule hit from vision, iot or an edge box."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue, field_validator

from hub.config.types import CreditCode, Id, Severity

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of an evidence file")]
# No camera or sensor of ours saw anything before this: an older time is a wrong clock or a forgery,
# and the oldest a store can hold is no better.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


def transition_id(rule: str, at: datetime, fired: bool) -> str:
    """Deterministic id of a rule's fire or clear at a moment (the sensor rules', a fusion's):
    judged again, after a restart or by a second worker, it is the same event, taken once."""
    return f"{rule}:{at.astimezone(UTC):%Y%m%dT%H%M%S.%f}:{'fire' if fired else 'clear'}"


class Event(BaseModel):
    """A finding (or the end of one) reported by a rule. Taking the same id twice changes nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=128, pattern=r"^[\w.:@-]+$", description="Stable, unique id")
    source: str = Field(
        pattern=r"^(camera|sensor|gateway|edge|rule|system):[a-z0-9][a-z0-9_.-]{0,62}$",
        description="What saw it: camera:ID, sensor:ID, gateway:ID, edge:ID, rule:ID or system:ID",
    )
    site: Id
    rule: Id
    time: AwareDatetime = Field(description="When it was observed, with timezone")
    severity: Severity | None = Field(default=None, description="Overrides the rule's severity")
    cleared: bool = Field(default=False, description="The cause has ended: close the alert")
    problem: bool = Field(default=True, description="False for an inspection that found nothing")
    object: CreditCode | None = Field(default=None, description="Supervised object, if known")
    title: str | None = Field(default=None, max_length=200)
    payload: dict[str, JsonValue] = Field(default_factory=dict, description="Rule-specific details")
    evidence: list[Sha256] = Field(default_factory=list, max_length=32)

    @field_validator("time")
    @classmethod
    def _not_before_2000(cls, value: datetime) -> datetime:
        if value < EARLIEST:
            raise ValueError(f"{value.isoformat()} is before {EARLIEST:%Y-%m-%d}: check the sender's clock")
        return value


class Outcome(StrEnum):
    """What taking an event did."""

    DUPLICATE = "duplicate"  # the id was taken before: nothing changed
    OPENED = "opened"  # a new alert
    UPDATED = "updated"  # a repeat of an active alert
    SUPPRESSED = "suppressed"  # within the rule's cooldown after the last alert ended
    CLOSED = "closed"  # the cause ended
    NO_ALERT = "no_alert"  # a clear with nothing active
    INSPECTED = "inspected"  # an inspection that found no problem


class EventRejected(ValueError):
    """An event that does not fit the deployment (unknown rule or site, a time ahead of the clock);
    it is not stored. `field` names the event's field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class ForeignEvent(EventRejected):
    """An event naming a source, rule or supervised object of another site than its own: refused,
    whoever sends it, and for an edge box an attempt to act outside its site."""
