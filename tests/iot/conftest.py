"""An IoT deployment: the demo's cold store, plus a gateway, small batches for quick tests."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from hub.config import Deployment, parse_config
from tests.conftest import REPO

TEMP_TOPIC = "sites/lintong-coldstore/sensors/coldstore-temp/telemetry"
GAS_TOPIC = "sites/lintong-coldstore/sensors/coldstore-gas/telemetry"
GATEWAY_TOPIC = "sites/lintong-coldstore/gateways/logger-1/telemetry"


def iot_config(**iot: Any) -> Deployment:
    data = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())
    humidity = next(s for s in data["sensors"] if s["id"] == "dock-humidity")
    humidity["metrics"]["rh"]["scale"] = 0.1  # the logger sends tenths of a percent
    data["gateways"] = [
        {"id": "logger-1", "name": "冷库数据记录仪", "site": "lintong-coldstore",
         "sensors": ["coldstore-temp", "dock-humidity"]}
    ]  # fmt: skip
    data["iot"] = {"batch_wait": 0.05, **iot}
    return parse_config(yaml.safe_dump(data, allow_unicode=True))


@pytest.fixture(scope="session")
def deployment() -> Deployment:
    return iot_config()


PLANT_TEMP_TOPIC = "sites/shuweiyuan-plant/sensors/coldstore-temp/telemetry"
CANTEEN_GAS_TOPIC = "sites/wangcong-canteen/sensors/kitchen-gas/telemetry"


def plant_config(**iot: Any) -> Deployment:
    """The food plant: sensors of two sites (the plant's cold store, the canteen's gas detector)."""
    data = yaml.safe_load((REPO / "configs" / "food_plant.yaml").read_text())
    data["iot"] = {**data.get("iot", {}), "batch_wait": 0.05, **iot}
    return parse_config(yaml.safe_dump(data, allow_unicode=True))
