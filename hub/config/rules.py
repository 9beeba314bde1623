"""Rule templates: the scenarios of MISSION.md, each a `type` with its parameters.

The hub needs only the common part (severity, cooldown, item, risk class); the analysis
packages read the parameters of their own types.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from hub.config.domain import Schedule
from hub.config.types import CreditCode, Id, ItemCode, Model, RiskClass, Seconds, Severity

Labels = Annotated[list[str], Field(min_length=1, description="Domain labels, e.g. person, car")]


class RuleBase(Model):
    """What every rule has: who it is, how loud, and what a finding becomes."""

    id: Id
    name: str = Field(min_length=1)
    severity: Severity = "major"
    schedule: Schedule | None = Field(default=None, description="When the rule is active; always if absent")
    cooldown: Seconds = Field(
        default=300.0, description="After an alert ends, repeats within this time open no new alert"
    )
    auto_close: Seconds | None = Field(
        default=None, description="Close the alert when no repeat arrives for this long"
    )
    item: ItemCode | None = Field(
        default=None, description="Supervision item; a finding then counts as a non-site inspection"
    )
    risk_class: RiskClass | None = Field(
        default=None, description="Risk class of the clue a finding raises; no clue when absent"
    )
    object: CreditCode | None = Field(default=None, description="Supervised object, if not the device's")


class CameraRule(RuleBase):
    camera: Id
    labels: Labels = Field(default_factory=lambda: ["person"])
    min_confidence: float = Field(default=0.4, ge=0, le=1)


class ZoneRule(CameraRule):
    zone: Id


class Presence(ZoneRule):
    """A label present in a zone (pedestrian in a forbidden zone, presence after hours)."""

    type: Literal["presence"]
    min_duration: Seconds = 1.0


class Absence(ZoneRule):
    """A post left empty longer than `max_absence` (离岗)."""

    type: Literal["absence"]
    max_absence: Seconds
    smoothing: Seconds = Field(default=5.0, description="Sliding window a missed frame is smoothed over")


class Stationary(ZoneRule):
    """A track that barely moves for `min_duration` (illegal parking, 睡岗)."""

    type: Literal["stationary"]
    min_duration: Seconds
    max_movement: float = Field(default=20.0, gt=0, description="Pixels the box centre may wander")


class Count(ZoneRule):
    """At least `min_count` objects in a zone for `min_duration` (queue, crowding, congestion)."""

    type: Literal["count"]
    min_count: int = Field(ge=1)
    min_duration: Seconds
    max_speed: float | None = Field(default=None, gt=0, description="Only objects slower than this, px/s")


class LineCrossing(CameraRule):
    """Crossing a line in a forbidden direction (wrong-way driving)."""

    type: Literal["line_crossing"]
    line: Id
    forbidden: Literal["left_to_right", "right_to_left"] = Field(
        description="Forbidden crossing, left and right as seen on screen looking from start to end"
    )


class CoOccurrence(ZoneRule):
    """A subject with (phone at post) or without (no chef hat) another label nearby."""

    type: Literal["co_occurrence"]
    with_labels: list[str] = Field(default_factory=list, description="Labels that must be present")
    without_labels: list[str] = Field(
        default_factory=list, description="Required gear: fires when any of these labels is missing"
    )
    min_duration: Seconds = 3.0

    @model_validator(mode="after")
    def _has_condition(self) -> CoOccurrence:
        if not self.with_labels and not self.without_labels:
            raise ValueError("set with_labels or without_labels")
        return self


class Fall(CameraRule):
    """A fallen person (from a model class mapped to `person_fallen`)."""

    type: Literal["fall"]
    labels: Labels = Field(default_factory=lambda: ["person_fallen"])
    min_duration: Seconds = 2.0


class SensorRule(RuleBase):
    sensor: Id
    metric: str = Field(min_length=1)


class Threshold(SensorRule):
    """A value beyond a limit for `duration`, cleared only past `clear` (hysteresis)."""

    type: Literal["threshold"]
    above: float | None = None
    below: float | None = None
    clear_above: float | None = Field(default=None, description="For `below`: clears above this")
    clear_below: float | None = Field(default=None, description="For `above`: clears below this")
    duration: Seconds = 1.0

    @model_validator(mode="after")
    def _limits(self) -> Threshold:
        if self.above is None and self.below is None:
            raise ValueError("set above, below or both")
        if self.above is not None and self.clear_below is not None and self.clear_below > self.above:
            raise ValueError(f"clear_below ({self.clear_below}) must not exceed above ({self.above})")
        if self.below is not None and self.clear_above is not None and self.clear_above < self.below:
            raise ValueError(f"clear_above ({self.clear_above}) must not be under below ({self.below})")
        return self


class RateOfChange(SensorRule):
    """A value changing faster than `max_rate` per minute over `window`."""

    type: Literal["rate_of_change"]
    max_rate: float = Field(gt=0, description="Largest allowed change per minute, in the metric's unit")
    direction: Literal["rising", "falling", "either"] = "either"
    window: Seconds = 300.0


class Flatline(SensorRule):
    """A sensor whose value does not vary by `min_variation` over `window` (stuck sensor)."""

    type: Literal["flatline"]
    window: Seconds
    min_variation: float = Field(default=0.0, ge=0)


class Offline(RuleBase):
    """A device silent for `after` (sensor offline) or a camera offline or frozen."""

    type: Literal["offline"]
    sensor: Id | None = None
    camera: Id | None = None
    after: Seconds = 300.0

    @model_validator(mode="after")
    def _one_device(self) -> Offline:
        if (self.sensor is None) == (self.camera is None):
            raise ValueError("set exactly one of sensor or camera")
        return self


class Fusion(RuleBase):
    """One finding from several rules of a site (door seen open on camera while the store warms).

    It fires when every rule in `all_of` is active, or fired within `window` before, and none in
    `none_of` is active; it clears when that stops being true. The hub judges it by the times of
    its parts' events, whatever order they arrive in (hub/fusion.py)."""

    type: Literal["fusion"]
    site: Id = Field(description="The site whose rules it joins; every part must be a rule of it")
    all_of: list[Id] = Field(
        min_length=1, description="Rules that must all be active, or have fired within `window`"
    )
    none_of: list[Id] = Field(default_factory=list, description="Rules that must not be active")
    window: Seconds = Field(
        default=600.0, description="How long a firing of an `all_of` rule counts after it, though it cleared"
    )

    @model_validator(mode="after")
    def _two_conditions(self) -> Fusion:
        if len(self.all_of) + len(self.none_of) < 2:
            raise ValueError("a fusion needs at least two rules in all_of and none_of together")
        both = sorted(set(self.all_of) & set(self.none_of))
        if both:
            raise ValueError(f"{', '.join(both)} in both all_of and none_of: the fusion could never fire")
        return self

    @property
    def parts(self) -> list[str]:
        """Every rule it joins: `all_of`, then `none_of`."""
        return [*self.all_of, *self.none_of]


class External(RuleBase):
    """Findings raised by another system (an edge box's own logic, a third-party platform).

    Its findings may come from any source of its site, and from that site only."""

    type: Literal["external"]
    site: Id = Field(description="The site whose findings this rule takes")


Rule = Annotated[
    Presence
    | Absence
    | Stationary
    | Count
    | LineCrossing
    | CoOccurrence
    | Fall
    | Threshold
    | RateOfChange
    | Flatline
    | Offline
    | Fusion
    | External,
    Field(discriminator="type"),
]

# Rule types a deployment may name that nothing evaluates yet. They are refused with the reason,
# so that nobody counts on an alert that would never be raised.
NOT_EVALUATED: dict[str, str] = {}


def watched_source(rule: Rule) -> str | None:
    """The one source whose findings `rule` raises (``camera:ID``, ``sensor:ID``, ``rule:ID`` for a
    fusion, which the hub raises itself); None for an external rule, which takes findings from any
    source of its site."""
    if isinstance(rule, CameraRule):
        return f"camera:{rule.camera}"
    if isinstance(rule, SensorRule):
        return f"sensor:{rule.sensor}"
    if isinstance(rule, Offline):
        return f"camera:{rule.camera}" if rule.camera else f"sensor:{rule.sensor}"
    if isinstance(rule, Fusion):
        return f"rule:{rule.id}"
    return None
