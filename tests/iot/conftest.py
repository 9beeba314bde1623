"""IoT deployments: the demo's cold store (harness.sensors), the food plant."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from harness.sensors import GAS_TOPIC, GATEWAY_TOPIC, TEMP_TOPIC, iot_config
from hub.config import Deployment, parse_config
from tests.conftest import REPO


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


__all__ = ["GAS_TOPIC", "GATEWAY_TOPIC", "TEMP_TOPIC", "iot_config", "plant_config"]
