"""Cameras, their zones and lines, and sensors with their metrics."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from hub.config.types import CreditCode, Id, Model, Point, Seconds
from hub.config.vision import CameraDetection


class Camera(Model):
    """A video source watched by the analysis pipeline."""

    id: Id
    name: str = Field(min_length=1)
    site: Id
    url: str = Field(
        pattern=r"^(rtsps?://|https?://|file:|/dev/video\d+$|[^:]+\.(mp4|mkv|avi|mov|ts)$)",
        description="rtsp(s)://, http(s)://, file:PATH or a video file path, or /dev/videoN",
    )
    fps: float = Field(default=2.0, gt=0, le=60, description="Frames analysed per second")
    keyframes_only: bool = Field(
        default=False, description="Decode keyframes only (slow scenes: parking, absence)"
    )
    rtsp_transport: Literal["tcp", "udp"] = Field(
        default="tcp", description="RTSP transport: TCP (default) or UDP (lower latency, may lose packets)"
    )
    loop: bool = Field(default=False, description="Files only: start again at the end")
    hwaccel: str | None = Field(
        default=None,
        description="Hardware decoder (h264_cuvid) or device type (cuda, vaapi); software if unavailable",
    )
    stale_after: Seconds = Field(
        default=10.0,
        description="No frame for this long: reconnect (longer than the GOP when keyframes_only)",
    )
    frozen_after: Seconds = Field(default=30.0, description="The same picture for this long: frozen")
    object: CreditCode | None = Field(default=None, description="Supervised object this camera watches")
    detect: CameraDetection | None = Field(
        default=None, description="Detection on this camera; none if absent"
    )
    enabled: bool = True


class Zone(Model):
    """A polygon on a camera's picture; objects are placed by the bottom centre of their box."""

    id: Id
    camera: Id
    polygon: list[Point] = Field(min_length=3, description="Corners, in order")


class Line(Model):
    """A directed line on a camera's picture, for crossing rules."""

    id: Id
    camera: Id
    start: Point
    end: Point

    @model_validator(mode="after")
    def _not_a_point(self) -> Line:
        if self.start == self.end:
            raise ValueError("start and end are the same point")
        return self


class Metric(Model):
    """One measured quantity of a sensor, with physical bounds and a linear calibration."""

    unit: str = Field(min_length=1, description="Unit after calibration, e.g. degC, %LEL, dB(A)")
    min: float = Field(description="Lowest physically possible value; lower readings are rejected")
    max: float = Field(description="Highest physically possible value")
    scale: float = Field(default=1.0, description="Calibration: value = raw * scale + offset")
    offset: float = 0.0

    @model_validator(mode="after")
    def _bounds(self) -> Metric:
        if not (math.isfinite(self.min) and math.isfinite(self.max)) or self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be finite and below max ({self.max})")
        if self.scale == 0:
            raise ValueError("scale must not be 0")
        return self


class Sensor(Model):
    """An IoT sensor or a gateway channel publishing readings."""

    id: Id
    name: str = Field(min_length=1)
    site: Id
    kind: Literal[
        "temperature",
        "humidity",
        "gas",
        "smoke",
        "water",
        "noise",
        "emission",
        "door",
        "power",
        "other",
    ]
    metrics: dict[str, Metric] = Field(min_length=1, description="Metric name -> definition")
    interval: Seconds = Field(default=60.0, description="Expected time between readings")
    object: CreditCode | None = None


class Gateway(Model):
    """A data logger publishing the readings of several sensors on one topic."""

    id: Id
    name: str = Field(min_length=1)
    site: Id
    sensors: list[Id] = Field(min_length=1, description="Sensors whose readings it may carry")
