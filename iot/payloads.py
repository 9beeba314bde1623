"""MQTT topics and payloads -> validated readings, and the reasons for everything refused.

A message may carry good and bad readings side by side: each bad one is refused on its own,
so that the good ones next to it are kept. A message with nothing to store is refused too, so
that every message ends either stored or in the dead letters.

This is the boundary: nothing is trusted because JSON parsed it. Names that reach PostgreSQL
are printable, at most `MAX_NAME` characters and valid UTF-8 (no NUL, no unpaired surrogate);
times lie between `EARLIEST` and `iot.max_skew` ahead of arrival; reasons quote what they name
with `repr`, so that a dead letter can always be written.

Retained messages: the broker replays a retained message to every new subscription, so one
without a time of its own (``ts``, ``time`` or ``timestamp``) would become a new reading at each
replay; it is refused. One with a time is stored once, by the (sensor, metric, time) key.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson

from hub.config import Deployment
from hub.config.devices import Metric, Sensor
from hub.events import EARLIEST  # the same window as every event's time
from hub.storable import text_problem
from iot.readings import Reading
from iot.units import conversion

MAX_PAYLOAD = 256 * 1024  # bytes; a gateway message of a few thousand readings fits
MAX_NAME = 64  # characters of a metric name or sensor id; the registry's ids have at most 63
ROUTES_KEPT = 10_000  # topics whose route is remembered; devices use the same few again and again
_TS_KEYS = ("ts", "time", "timestamp")
_NOT_METRICS = frozenset(_TS_KEYS)  # keys of an object that are not metrics
_NOT_GATEWAY_METRICS = _NOT_METRICS | {"sensor"}  # and in a gateway's item, the sensor it names


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


def name_problem(name: str) -> str | None:
    """Why a sensor id or metric name from a device cannot be stored, or None when it can."""
    # isprintable() refuses NUL and lone surrogates too, in C: the common case costs one call.
    if 0 < len(name) <= MAX_NAME and name.isprintable():
        return None
    if not name:
        return "is empty"
    if len(name) > MAX_NAME:
        return f"is longer than {MAX_NAME} characters"
    # Say which: NUL and lone surrogates PostgreSQL cannot hold; the rest a report should not show.
    return text_problem(name) or "has a character that is not printable (control, format or separator)"


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
        self._arrival = _Arrival(EARLIEST, EARLIEST, False)  # the last one: a read's messages share it

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

    def decode(self, topic: str, payload: bytes, received: datetime, *, retained: bool = False) -> Decoded:
        """All readings of one message, and a refusal for each part that is not one.

        `retained`: the broker replayed the message as retained; it must carry its own time.
        """
        out = Decoded()
        route = self.route(topic)
        if route is None:
            out.refusals.append(Refusal(f"topic {topic!r} matches no sensor or gateway template"))
            return out
        if len(payload) > MAX_PAYLOAD:
            out.refusals.append(Refusal(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}"))
            return out
        try:
            body = orjson.loads(payload)  # JSON between systems is UTF-8 (RFC 8259), checked here
        except orjson.JSONDecodeError:
            body = _parse_strictly(payload, route.sensor, out)
            if body is _UNREADABLE:
                return out
        arrival = self._arrival
        if arrival.received is not received or arrival.retained is not retained:
            arrival = self._arrival = _Arrival(received, received + self.max_skew, retained)
        if route.gateway is not None:
            self._gateway(route, body, arrival, out)
        else:
            assert route.sensor is not None
            self._sensor(route.site, route.sensor, body, arrival, out)
        if not out.readings and not out.refusals:  # an empty list: nothing to store is an error too
            out.refusals.append(Refusal("nothing to store: the message carries no reading", route.sensor))
        return out

    def _gateway(self, route: Route, body: Any, arrival: _Arrival, out: Decoded) -> None:
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
        behind = gateway.sensors
        for index, item in enumerate(body):
            sensor_id = item.get("sensor") if type(item) is dict else None
            if type(sensor_id) is not str:
                out.refusals.append(Refusal(f"item {index}: expected an object with a 'sensor' key"))
                continue
            if sensor_id not in behind:  # registry ids only: a safe name from here on
                out.refusals.append(
                    Refusal(f"item {index}: sensor {sensor_id!r} is not behind gateway {gateway.id!r}")
                )
                continue
            self._sensor(route.site, sensor_id, item, arrival, out, _NOT_GATEWAY_METRICS)

    def _sensor(
        self,
        site: str,
        sensor_id: str,
        body: Any,
        arrival: _Arrival,
        out: Decoded,
        skipped: frozenset[str] = _NOT_METRICS,
    ) -> None:
        """The readings of one sensor's value, object or list of them; `skipped`: the keys of an
        object that are not metrics."""
        sensor = self.deployment.sensor_by_id.get(sensor_id)
        if sensor is None and not self.deployment.iot.auto_register:
            out.refusals.append(Refusal(f"unknown sensor {sensor_id!r}", _safe(sensor_id)))
            return
        problem = name_problem(sensor_id) if sensor is None else None
        if problem is not None:
            out.refusals.append(Refusal(f"sensor id {sensor_id!r} {problem}"))
            return
        if sensor is not None and sensor.site != site:
            out.refusals.append(
                Refusal(f"sensor {sensor_id!r} belongs to site {sensor.site!r}, not {site!r}", sensor_id)
            )
            return
        if type(body) is list:
            for item in body:
                self._sensor(site, sensor_id, item, arrival, out)
            return
        if type(body) is not dict and (isinstance(body, bool) or not isinstance(body, int | float)):
            out.refusals.append(
                Refusal(f"expected an object, a list or a number, got {type(body).__name__}", sensor_id)
            )
            return
        if type(body) is not dict:
            if sensor is None or len(sensor.metrics) != 1:
                out.refusals.append(
                    Refusal("a bare number needs a sensor with exactly one metric", sensor_id)
                )
                return
            body = {next(iter(sensor.metrics)): body}
        stamp = _time(body, arrival)
        if isinstance(stamp, str):
            out.refusals.append(Refusal(stamp, sensor_id))
            return
        found = len(out.readings) + len(out.refusals)
        _readings(sensor, sensor_id, body, skipped, stamp, out)
        if len(out.readings) + len(out.refusals) == found:
            out.refusals.append(Refusal("nothing to store: an object with no metric", sensor_id))


def _readings(
    sensor: Sensor | None,
    sensor_id: str,
    values: dict[str, Any],
    skipped: frozenset[str],
    stamp: datetime,
    out: Decoded,
) -> None:
    """The readings of one object's metrics into `out`; a refusal for each metric name or value
    that is bad."""
    metrics = sensor.metrics if sensor is not None else {}
    for metric, raw in values.items():
        if metric in skipped:
            continue
        definition = metrics.get(metric)
        # The common case first: a number for a configured metric (its name is the registry's).
        if definition is not None and (type(raw) is float or type(raw) is int):
            value = _calibrated(definition, raw)
        else:
            problem = name_problem(metric)
            if problem is not None:  # quoted with repr: the reason itself must be storable
                reason = f"{sensor_id}: metric {metric[:MAX_NAME]!r} {problem}"
                out.refusals.append(Refusal(reason, sensor_id))
                continue
            value = _value(sensor, metric, raw)
        if isinstance(value, str):
            out.refusals.append(Refusal(f"{sensor_id}.{metric}: {value}", sensor_id))
        else:
            out.readings.append(Reading(sensor_id, metric, stamp, value))


_UNREADABLE = object()  # what `_parse_strictly` returns for a payload that is not JSON


def _parse_strictly(payload: bytes, sensor: str | None, out: Decoded) -> Any:
    """A payload orjson refused, parsed again by the standard library, which takes what devices
    send outside strict JSON (NaN, Infinity, lone surrogates, integers beyond a double) so that
    each such value is refused on its own beside the good ones; `_UNREADABLE`, with the reason in
    `out`, when that fails too."""
    try:
        return json.loads(payload.decode())
    except (UnicodeDecodeError, ValueError) as exc:
        out.refusals.append(Refusal(f"payload is not JSON or a number: {exc}"[:200], sensor))
    except RecursionError:
        out.refusals.append(Refusal("payload is nested too deeply", sensor))
    return _UNREADABLE


class _Arrival(NamedTuple):
    """When a message came, the latest time it may claim, and whether it is a retained replay."""

    received: datetime
    latest: datetime
    retained: bool


def _time(body: dict[str, Any], arrival: _Arrival) -> datetime | str:
    """The reading time an object gives (its arrival when it gives none), or why it has none."""
    raw = body.get("ts")
    if type(raw) is float or type(raw) is int:  # the common case: epoch seconds or milliseconds
        try:
            stamp = datetime.fromtimestamp(raw / 1000 if raw > 1e11 else raw, UTC)
        except (ValueError, OverflowError, OSError):
            return f"'ts': {str(raw)[:40]!r} is not epoch seconds/milliseconds or ISO 8601"
        return stamp if EARLIEST <= stamp <= arrival.latest else _out_of_window("ts", stamp, arrival)
    key = "ts" if raw is not None else next((k for k in _TS_KEYS if body.get(k) is not None), None)
    if key is None:
        if arrival.retained:
            return "retained message without 'ts': the broker replays it, its time is unknown"
        return arrival.received
    raw = body[key]
    try:
        if isinstance(raw, bool):
            raise ValueError
        if isinstance(raw, int | float):
            seconds = raw / 1000 if raw > 1e11 else raw  # epoch milliseconds or seconds
            stamp = datetime.fromtimestamp(seconds, UTC)
        elif isinstance(raw, str):
            stamp = datetime.fromisoformat(raw)
            if stamp.tzinfo is None:
                return f"{key!r}: {raw!r} has no timezone"
        else:
            raise ValueError
    except (ValueError, OverflowError, OSError):
        return f"{key!r}: {str(raw)[:40]!r} is not epoch seconds/milliseconds or ISO 8601"
    return stamp if EARLIEST <= stamp <= arrival.latest else _out_of_window(key, stamp, arrival)


def _out_of_window(key: str, stamp: datetime, arrival: _Arrival) -> str:
    """Why a reading time outside [EARLIEST, `iot.max_skew` past arrival] is refused."""
    if stamp < EARLIEST:
        return f"{key!r}: {stamp.isoformat()} is before {EARLIEST.date()} UTC"
    return f"{key!r}: {stamp.isoformat()} is more than {arrival.latest - arrival.received} in the future"


def _safe(name: str) -> str | None:
    """A device-given name fit for a dead letter's sensor column, or None."""
    return name if name_problem(name) is None else None


def _value(sensor: Sensor | None, metric: str, raw: Any) -> float | str:
    """The calibrated value, or why there is none. A value may name its unit (``{"value": 68,
    "unit": "degF"}``): it is converted into the metric's unit first (iot/units.py)."""
    unit = None
    if isinstance(raw, dict):
        unit, raw = raw.get("unit"), raw.get("value")
        if not isinstance(unit, str) or name_problem(unit) is not None:
            return 'a value with its unit is {"value": NUMBER, "unit": TEXT}'
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
    if unit is not None:
        line = conversion(unit, definition.unit)
        if isinstance(line, str):
            return line
        value = value * line[0] + line[1]
    return _calibrated(definition, value)


def _calibrated(definition: Metric, raw: float) -> float | str:
    """A number in the metric's unit, scaled and checked against its physical bounds, or why not."""
    try:
        value = float(raw) * definition.scale + definition.offset
    except OverflowError:
        return "value is too large"
    if not definition.min <= value <= definition.max:  # NaN is never inside
        if not math.isfinite(value):
            return "value is not finite"
        bounds = f"[{definition.min:g}, {definition.max:g}]"
        return f"value {value:g} {definition.unit} outside physical bounds {bounds}"
    return value
