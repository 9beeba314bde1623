"""Field types shared by the config models: ids, codes, durations, time windows."""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from hub.codes import area_code_problem, credit_code_problem


class Model(BaseModel):
    """Base of every config model: unknown fields are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _problem(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


def _check_credit_code(value: str) -> str:
    problem = credit_code_problem(value)
    if problem:
        raise _problem("credit_code", problem)
    return value


def _check_area_code(value: str) -> str:
    problem = area_code_problem(value)
    if problem:
        raise _problem("area_code", problem)
    return value


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> Any:
    """Accept seconds as a number or a string such as ``"90s"``, ``"10m"``, ``"24h"``, ``"7d"``."""
    if isinstance(value, bool):
        raise _problem("duration", f"{value!r} is not a duration: use a number of seconds or e.g. 30s, 10m")
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise _problem(
                "duration",
                f"{value!r} is not a duration: use a number of seconds or e.g. 30s, 10m, 24h, 7d",
            )
        return float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
    return value


def _parse_clock(text: str) -> time:
    hours, minutes = text.split(":")
    if hours == "24" and minutes == "00":
        return time.max
    return time(int(hours), int(minutes))


_CLOCK = r"(?:[01]\d|2[0-3]):[0-5]\d|24:00"
_WINDOW = re.compile(rf"^(?:{_CLOCK})-(?:{_CLOCK})$")


def window_bounds(window: str) -> tuple[time, time]:
    """Start and end of a validated ``"HH:MM-HH:MM"`` window."""
    start, end = window.split("-")
    return _parse_clock(start), _parse_clock(end)


def in_window(window: str, moment: time) -> bool:
    """Whether ``moment`` falls in the window; a window ending before it starts runs overnight."""
    start, end = window_bounds(window)
    if start <= end:
        return start <= moment < end
    return moment >= start or moment < end


def _check_window(value: str) -> str:
    if not _WINDOW.match(value):
        raise _problem(
            "time_window", f"{value!r} is not a time window: expected HH:MM-HH:MM, e.g. 08:30-17:30"
        )
    start, end = window_bounds(value)
    if start == end:
        raise _problem("time_window", f"{value!r} is empty: start and end are the same")
    return value


Id = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
        description="Identifier: lower-case letters, digits, - and _",
    ),
]
CreditCode = Annotated[
    str,
    Field(description="Unified social credit code (GB 32100, 18 characters with check digit)"),
    AfterValidator(_check_credit_code),
]
AreaCode = Annotated[
    str,
    Field(description="Administrative area code (GB/T 2260, 6 digits)"),
    AfterValidator(_check_area_code),
]
ItemCode = Annotated[
    str, Field(pattern=r"^\d{14}$", description="Supervision item catalogue code (14 digits)")
]
Seconds = Annotated[
    float,
    BeforeValidator(parse_duration),
    Field(gt=0, description="Duration: seconds, or a string like 30s, 10m, 24h, 7d"),
]
Window = Annotated[
    str,
    AfterValidator(_check_window),
    Field(description="Daily window HH:MM-HH:MM (may run overnight)"),
]
Severity = Literal["info", "minor", "major", "critical"]
RiskClass = Literal[1, 2, 3]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


Point = Annotated[
    tuple[float, float], Field(description="Pixel coordinates [x, y] in the camera's full frame")
]
