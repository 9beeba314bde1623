"""Video rules: tracked detections of one camera -> hits (a finding starting or ending).

`build_rules(deployment, camera)` makes the rule objects of one camera from the deployment
file; feed each of them every analysed frame with `rule.update(detections, frame_time)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from hub.config import Deployment
from hub.config.devices import Line, Zone
from hub.config.rules import (
    Absence,
    CameraRule,
    CoOccurrence,
    Count,
    Fall,
    LineCrossing,
    Presence,
    Stationary,
)
from vision.rules.absence import AbsenceRule
from vision.rules.base import GRACE, Hit, Spells, VisionRule, ZonedRule
from vision.rules.co_occurrence import CoOccurrenceRule
from vision.rules.count import CountRule, Speedometer
from vision.rules.crossing import LineCrossingRule
from vision.rules.presence import FallRule, PresenceRule
from vision.rules.stationary import StationaryRule
from vision.zones import DirectedLine, PolygonZone

VIDEO_RULES = (Presence, Absence, Stationary, Count, LineCrossing, CoOccurrence, Fall)

__all__ = [
    "GRACE",
    "VIDEO_RULES",
    "AbsenceRule",
    "CoOccurrenceRule",
    "CountRule",
    "FallRule",
    "Hit",
    "LineCrossingRule",
    "PresenceRule",
    "Speedometer",
    "Spells",
    "StationaryRule",
    "VisionRule",
    "ZonedRule",
    "build_rules",
]


Shape = TypeVar("Shape", Zone, Line)


def _known(ids: list[str]) -> str:
    return ", ".join(sorted(ids)) or "none"


def _drawn(kind: str, shapes: Sequence[Shape], wanted: str, rule: CameraRule) -> Shape:
    """The zone or line `wanted` of a rule, which must exist and be drawn on the rule's camera."""
    shape = next((x for x in shapes if x.id == wanted), None)
    if shape is None:
        mine = [x.id for x in shapes if x.camera == rule.camera]
        raise ValueError(
            f"rule {rule.id!r}: {kind} {wanted!r} is not defined in {kind}s; "
            f"{kind}s of camera {rule.camera!r}: {_known(mine)}"
        )
    if shape.camera != rule.camera:
        raise ValueError(
            f"rule {rule.id!r}: {kind} {wanted!r} is drawn on camera {shape.camera!r}, "
            f"not on the rule's camera {rule.camera!r}"
        )
    return shape


def _zone(
    deployment: Deployment, rule: Presence | Absence | Stationary | Count | CoOccurrence
) -> PolygonZone:
    zone = _drawn("zone", deployment.zones, rule.zone, rule)
    try:
        return PolygonZone(zone.polygon)
    except ValueError as exc:
        raise ValueError(f"rule {rule.id!r}: zone {rule.zone!r}: {exc}") from None


def _line(deployment: Deployment, rule: LineCrossing) -> DirectedLine:
    line = _drawn("line", deployment.lines, rule.line, rule)
    return DirectedLine(line.start, line.end)


def build_rules(deployment: Deployment, camera_id: str, grace: float = GRACE) -> list[VisionRule[CameraRule]]:
    """The video rules of one camera, in the order of the deployment file.

    Raises ValueError naming the camera or the rule when the camera is not defined, or a rule's
    zone or line is missing or drawn on another camera.
    """
    cameras = [c.id for c in deployment.cameras]
    if camera_id not in cameras:
        raise ValueError(f"camera {camera_id!r} is not defined in cameras; known: {_known(cameras)}")
    tz = deployment.tz
    out: list[VisionRule[CameraRule]] = []
    for rule in deployment.rules:
        if not isinstance(rule, VIDEO_RULES) or rule.camera != camera_id:
            continue
        if isinstance(rule, Presence):
            out.append(PresenceRule(rule, tz, _zone(deployment, rule), grace))
        elif isinstance(rule, Absence):
            out.append(AbsenceRule(rule, tz, _zone(deployment, rule), grace))
        elif isinstance(rule, Stationary):
            out.append(StationaryRule(rule, tz, _zone(deployment, rule), grace))
        elif isinstance(rule, Count):
            out.append(CountRule(rule, tz, _zone(deployment, rule), grace))
        elif isinstance(rule, CoOccurrence):
            out.append(CoOccurrenceRule(rule, tz, _zone(deployment, rule), grace))
        elif isinstance(rule, LineCrossing):
            out.append(LineCrossingRule(rule, tz, _line(deployment, rule)))
        else:
            out.append(FallRule(rule, tz, grace))
    return out
