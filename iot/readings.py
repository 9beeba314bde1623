"""A reading: one value of one metric of one sensor at one time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Reading:
    """A calibrated, validated value, as stored in the readings hypertable."""

    sensor: str
    metric: str
    time: datetime
    value: float
