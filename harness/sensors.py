"""The demo's cold store as the IoT tests and the IoT benchmark run it: plus a gateway, with small
batches for quick tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from hub.config import Deployment, parse_config

REPO = Path(__file__).resolve().parent.parent

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
