"""Readings that name their unit: converted into the metric's unit, or refused with the reason;
the good readings beside a refused one are kept."""

from __future__ import annotations

import json

import pytest

from hub.config import Deployment
from iot.units import conversion
from tests.iot.conftest import GATEWAY_TOPIC, TEMP_TOPIC
from tests.iot.test_payloads import NOW, decode


@pytest.mark.parametrize(
    ("value", "celsius"),
    [
        ({"value": 5, "unit": "degF"}, -15.0),
        ({"value": 253.15, "unit": "K"}, -20.0),
        ({"value": -19.5, "unit": "degC"}, -19.5),  # the metric's own unit: as it is
        ({"value": 5, "unit": "degree_Fahrenheit"}, -15.0),
    ],
)
def test_a_value_in_another_unit_of_the_quantity_is_converted(
    deployment: Deployment, value: dict[str, object], celsius: float
) -> None:
    readings, refused = decode(deployment, TEMP_TOPIC, json.dumps({"temperature": value}).encode())
    assert refused == []
    [reading] = readings
    assert (reading.metric, reading.time) == ("temperature", NOW)
    assert reading.value == pytest.approx(celsius)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"value": 3, "unit": "ppm"}, "unit 'ppm' does not measure what 'degC' does"),
        ({"value": 3, "unit": "blorbs"}, "unknown unit 'blorbs' (the metric is in degC)"),
        (
            {"value": 3, "unit": "%RH"},
            "unit '%RH' cannot be converted to 'degC' (%RH is a quantity of its own)",
        ),
        ({"value": 3}, 'a value with its unit is {"value": NUMBER, "unit": TEXT}'),
        ({"value": 3, "unit": "deg\u0000C"}, 'a value with its unit is {"value": NUMBER, "unit": TEXT}'),
        ({"value": "cold", "unit": "degF"}, "value must be a number, got str"),
        ({"value": 200, "unit": "degF"}, "value 93.3333 degC outside physical bounds [-60, 60]"),
    ],
)
def test_a_value_in_a_unit_that_does_not_fit_is_refused_with_the_reason(
    deployment: Deployment, value: dict[str, object], reason: str
) -> None:
    readings, refused = decode(deployment, TEMP_TOPIC, json.dumps({"temperature": value}).encode())
    assert readings == [] and refused == [f"coldstore-temp.temperature: {reason}"]


def test_good_readings_beside_a_unit_that_does_not_fit_are_kept(deployment: Deployment) -> None:
    body = [
        {"sensor": "coldstore-temp", "temperature": {"value": 0, "unit": "degF"}},
        {"sensor": "dock-humidity", "rh": {"value": 61, "unit": "%RH"}},  # the metric is in %
        {"sensor": "coldstore-temp", "temperature": {"value": 1, "unit": "parsec"}},
    ]
    readings, refused = decode(deployment, GATEWAY_TOPIC, json.dumps(body).encode())
    assert [(r.sensor, round(r.value, 2)) for r in readings] == [("coldstore-temp", -17.78)]
    assert len(refused) == 2 and "%RH is a quantity of its own" in refused[0] and "parsec" in refused[1]


def test_each_pair_of_units_is_worked_out_once() -> None:
    conversion.cache_clear()
    for _ in range(100):
        assert conversion("degF", "degC") == pytest.approx((5 / 9, -160 / 9))
    assert conversion.cache_info().misses == 1
    assert conversion("mg/m3", "ug/m3") == pytest.approx((1000.0, 0.0))  # device spellings of m**3
