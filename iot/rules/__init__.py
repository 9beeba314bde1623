"""Sensor rules: readings and time in, events for the hub out.

One small state per rule (threshold, rate_of_change, flatline, offline), all driven by
`SensorRules`.
"""

from iot.rules.base import RuleState, Transition
from iot.rules.engine import SensorRules

__all__ = ["RuleState", "SensorRules", "Transition"]
