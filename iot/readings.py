"""A reading: one value of one metric of one sensor at one time."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple


class Reading(NamedTuple):
    """A calibrated, validated value, as stored in the readings hypertable.

    A tuple, in the order of the COPY's columns: the writer hands it to the COPY as it is, and
    the ingest builds one per reading, tens of thousands a second, at a tuple's cost.
    """

    sensor: str
    metric: str
    time: datetime
    value: float
