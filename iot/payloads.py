"""MQTT topics and payloads -> validated readings, and the reasons for everything refused.

A message may carry good and bad readings side by side: each bad one is refused on its own,
so that the good ones next to it are kept.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.config import Deployment
from hub.config.devices import Metric, Sensor
from iot.readings import Reading

MAX_PAYLOAD = 256 * 1024  # bytes; a gateway message of a few thousand readings fits
ROUTES_KEPT = 10_000  # topics whose route is remembered; devices use the same few again and again
_TS_KEYS = ("ts", "time", "timestamp")


@dataclass(frozen=True, slots=True)
class Refusal:
    """Something in a message that cannot become a reading, and why."""

    reason: str
    sensor: str | None = None


@dataclass(slots=True)
class Decoded:
    readings: list[Reading] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Route:
    """What a topic says: the site and either a sensor or a gateway."""

    site: str
    sensor: str | None = None
    gateway: str | None = None


def _template_regex(template: str) -> re.Pattern[str]:
    pattern = re.escape(template)
    for name in ("site", "sensor", "gateway"):
        pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{name}>[^/]+)")
    return re.compile(f"^{pattern}$")


def subscription(template: str) -> str:
    """The MQTT filter matching a topic template: each {placeholder} becomes ``+``."""
    return re.sub(r"\{[a-z]+\}", "+", template)


class Decoder:
    """Turns one deployment's topics and payloads into readings."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.sensor_pattern = _template_regex(deployment.iot.sensor_topic)
        self.gateway_pattern = _template_regex(deployment.iot.gateway_topic)
        self.max_skew = timedelta(seconds=deployment.iot.max_skew)
        self._routes: dict[str, Route] = {}

    def route(self, topic: str) -> Route | None:
        route = self._routes.get(topic)
        if route is None:
            route = self._match(topic)
            if route is not None and len(self._routes) < ROUTES_KEPT:
                self._routes[topic] = route
        return route

    def _match(self, topic: str) -> Route | None:
        match = self.sensor_pattern.match(topic)
        if match:
            return Route(match["site"], sensor=match["sensor"])
        match = self.gateway_pattern.match(topic)
        if match:
            return Route(match["site"], gateway=match["gateway"])
        return None

    def decode(self, topic: str, payload: bytes, received: datetime) -> Decoded:
        """All readings of one message, and a refusal for each part that is not one."""
        out = Decoded()
        route = self.route(topic)
        if route is None:
            out.refusals.append(Refusal(f"topic {topic!r} matches no sensor or gateway template"))
            return out
        if len(payload) > MAX_PAYLOAD:
            out.refusals.append(Refusal(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}"))
            return out
        try:
            body = json.loads(payload.decode())  # JSON between systems is UTF-8 (RFC 8259)
        except (UnicodeDecodeError, ValueError) as exc:
            out.refusals.append(Refusal(f"payload is not JSON or a number: {exc}"[:200], route.sensor))
            return out
        except RecursionError:
            out.refusals.append(Refusal("payload is nested too deeply", route.sensor))
            return out
        if route.gateway is not None:
            self._gateway(route, body, received, out)
        else:
            assert route.sensor is not None
            self._sensor(route.site, route.sensor, body, received, out)
        return out

    def _gateway(self, route: Route, body: Any, received: datetime, out: Decoded) -> None:
        gateway = self.deployment.gateway_by_id.get(route.gateway or "")
        if gateway is None:
            out.refusals.append(Refusal(f"unknown gateway {route.gateway!r}"))
            return
        if gateway.site != route.site:
            out.refusals.append(
                Refusal(f"gateway {gateway.id!r} belongs to site {gateway.site!r}, not {route.site!r}")
            )
            return
        if not isinstance(body, list):
            out.refusals.append(Refusal("gateway payload must be a JSON list of objects with a 'sensor' key"))
            return
        for index, item in enumerate(body):
            if not isinstance(item, dict) or not isinstance(item.get("sensor"), str):
                out.refusals.append(Refusal(f"item {index}: expected an object with a 'sensor' key"))
                continue
            values = {k: v for k, v in item.items() if k != "sensor"}
            sensor_id = item["sensor"]
            if sensor_id not in gateway.sensors:
                out.refusals.append(
                    Refusal(f"sensor {sensor_id!r} is not behind gateway {gateway.id!r}", sensor_id)
                )
                continue
            self._sensor(route.site, sensor_id, values, received, out)

    def _sensor(self, site: str, sensor_id: str, body: Any, received: datetime, out: Decoded) -> None:
        sensor = self.deployment.sensor_by_id.get(sensor_id)
        if sensor is None and not self.deployment.iot.auto_register:
            out.refusals.append(Refusal(f"unknown sensor {sensor_id!r}", sensor_id))
            return
        if sensor is not None and sensor.site != site:
            out.refusals.append(
                Refusal(f"sensor {sensor_id!r} belongs to site {sensor.site!r}, not {site!r}", sensor_id)
            )
            return
        if isinstance(body, list):
            for item in body:
                self._sensor(site, sensor_id, item, received, out)
            return
        if isinstance(body, bool) or not isinstance(body, int | float | dict):
            out.refusals.append(
                Refusal(f"expected an object, a list or a number, got {type(body).__name__}", sensor_id)
            )
            return
        if not isinstance(body, dict):
            if sensor is None or len(sensor.metrics) != 1:
                out.refusals.append(
                    Refusal("a bare number needs a sensor with exactly one metric", sensor_id)
                )
                return
            body = {next(iter(sensor.metrics)): body}
        stamp = self._time(body, received)
        if isinstance(stamp, Refusal):
            out.refusals.append(Refusal(stamp.reason, sensor_id))
            return
        for metric, raw in body.items():
            if metric in _TS_KEYS:
                continue
            value = _value(sensor, metric, raw)
            if isinstance(value, str):
                out.refusals.append(Refusal(f"{sensor_id}.{metric}: {value}", sensor_id))
            else:
                out.readings.append(Reading(sensor_id, metric, stamp, value))

    def _time(self, body: dict[str, Any], received: datetime) -> datetime | Refusal:
        for key in _TS_KEYS:
            if key in body:
                raw = body[key]
                break
        else:
            return received
        if raw is None:
            return received
        try:
            if isinstance(raw, bool):
                raise ValueError
            if isinstance(raw, int | float):
                seconds = raw / 1000 if raw > 1e11 else raw  # epoch milliseconds or seconds
                stamp = datetime.fromtimestamp(seconds, UTC)
            elif isinstance(raw, str):
                stamp = datetime.fromisoformat(raw)
                if stamp.tzinfo is None:
                    return Refusal(f"timestamp {raw!r} has no timezone")
            else:
                raise ValueError
        except (ValueError, OverflowError, OSError):
            return Refusal(f"timestamp {str(raw)[:40]!r} is not epoch seconds/milliseconds or ISO 8601")
        if stamp > received + self.max_skew:
            return Refusal(f"timestamp {stamp.isoformat()} is more than {self.max_skew} in the future")
        return stamp


def _value(sensor: Sensor | None, metric: str, raw: Any) -> float | str:
    """The calibrated value, or why there is none."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return f"value must be a number, got {type(raw).__name__}"
    try:
        value = float(raw)
    except OverflowError:
        return "value is too large"
    if not math.isfinite(value):
        return "value is not finite"
    if sensor is None:
        return value
    definition: Metric | None = sensor.metrics.get(metric)
    if definition is None:
        return f"unknown metric; sensor {sensor.id!r} has {', '.join(sorted(sensor.metrics))}"
    value = value * definition.scale + definition.offset
    if not definition.min <= value <= definition.max:
        bounds = f"[{definition.min:g}, {definition.max:g}]"
        return f"value {value:g} {definition.unit} outside physical bounds {bounds}"
    return value
