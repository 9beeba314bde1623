"""Video rules: tracked detections of one camera -> hits (a finding starting or ending).

`build_rules(deployment, camera)` makes the rule objects of one camera from the deployment
file; feed each of them every analysed frame with `rule.update(detections, frame_time)`.
"""

from __future__ import annotations

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


def _known(ids: list[str]) -> str:
    return ", ".join(sorted(ids)) or "none"


def _zone(
    deployment: Deployment, rule: Presence | Absence | Stationary | Count | CoOccurrence
) -> PolygonZone:
    zones = {z.id: z for z in deployment.zones}
    zone: Zone | None = zones.get(rule.zone)
    if zone is None:
        mine = [z.id for z in deployment.zones if z.camera == rule.camera]
        raise ValueError(
            f"rule {rule.id!r}: zone {rule.zone!r} is not defined in zones; "
            f"zones of camera {rule.camera!r}: {_known(mine)}"
        )
    if zone.camera != rule.camera:
        raise ValueError(
            f"rule {rule.id!r}: zone {rule.zone!r} is drawn on camera {zone.camera!r}, "
            f"not on the rule's camera {rule.camera!r}"
        )
    try:
        return PolygonZone(zone.polygon)
    except ValueError as exc:
        raise ValueError(f"rule {rule.id!r}: zone {rule.zone!r}: {exc}") from None


def _line(deployment: Deployment, rule: LineCrossing) -> DirectedLine:
    line: Line | None = next((x for x in deployment.lines if x.id == rule.line), None)
    if line is None:
        mine = [x.id for x in deployment.lines if x.camera == rule.camera]
        raise ValueError(
            f"rule {rule.id!r}: line {rule.line!r} is not defined in lines; "
            f"lines of camera {rule.camera!r}: {_known(mine)}"
        )
    if line.camera != rule.camera:
        raise ValueError(
            f"rule {rule.id!r}: line {rule.line!r} is drawn on camera {line.camera!r}, "
            f"not on the rule's camera {rule.camera!r}"
        )
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
