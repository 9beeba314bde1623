"""Where frames come from: RTSP(S), files, V4L2 devices and HTTP(S) streams, opened with PyAV.

Every network source gets libavformat's own socket timeout and PyAV's interrupt timeout; the
worker's watchdog does not rely on either (PyAV issues #584, #615), but they usually end a dead
read first, and cheaply.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import cast

import av
from av.codec.context import CodecContext
from av.codec.hwaccel import HWAccel, hwdevices_available
from av.container import InputContainer
from av.video.codeccontext import VideoCodecContext
from av.video.stream import VideoStream

from hub.config.devices import Camera

log = logging.getLogger(__name__)


class SourceKind(StrEnum):
    RTSP = "rtsp"
    FILE = "file"
    V4L2 = "v4l2"
    HTTP = "http"


class SourceError(Exception):
    """A source that cannot work as configured (no such file, not a video); waiting will not help."""


@dataclass(frozen=True)
class Source:
    kind: SourceKind
    location: str  # URL, file path or device path as given to libavformat
    rtsp_transport: str = "tcp"
    loop: bool = False
    hwaccel: str | None = None

    @classmethod
    def from_camera(cls, camera: Camera) -> Source:
        url = camera.url
        if url.startswith(("rtsp://", "rtsps://")):
            kind, location = SourceKind.RTSP, url
        elif url.startswith(("http://", "https://")):
            kind, location = SourceKind.HTTP, url
        elif url.startswith("/dev/video"):
            kind, location = SourceKind.V4L2, url
        else:
            kind, location = SourceKind.FILE, url.removeprefix("file:")
        return cls(kind, location, camera.rtsp_transport, camera.loop, camera.hwaccel)

    @property
    def live(self) -> bool:
        """Live sources pace themselves; files are paced at their own frame rate."""
        return self.kind != SourceKind.FILE

    def open(self, open_timeout: float, read_timeout: float) -> InputContainer:
        """Open the source; raises SourceError for problems that retrying cannot fix."""
        micros = str(round(read_timeout * 1_000_000))
        options: dict[str, str] = {}
        fmt: str | None = None
        if self.kind == SourceKind.RTSP:
            options = {"rtsp_transport": self.rtsp_transport, "timeout": micros, "analyzeduration": "1000000"}
        elif self.kind == SourceKind.HTTP:
            options = {"rw_timeout": micros}
        elif self.kind == SourceKind.V4L2:
            fmt = "v4l2"
        elif not Path(self.location).is_file():
            raise SourceError(f"no video file at {self.location}")
        hwaccel = None
        if self.hwaccel in hwdevices_available():
            hwaccel = HWAccel(self.hwaccel, allow_software_fallback=True)
        timeout = (open_timeout, read_timeout)

        def opened(accel: HWAccel | None) -> InputContainer:
            return av.open(self.location, format=fmt, options=options, timeout=timeout, hwaccel=accel)

        try:
            try:
                container = opened(hwaccel)
            except (av.PermissionError, NotImplementedError) as exc:
                if hwaccel is None:
                    raise
                # A device type this FFmpeg knows (cuda) whose device cannot be made here (no GPU,
                # no driver): software fallback covers a missing codec config, not this.
                log.warning("camera hwaccel %s unavailable, decoding in software: %s", self.hwaccel, exc)
                container = opened(None)
        except av.InvalidDataError as exc:
            if self.kind == SourceKind.FILE:
                raise SourceError(f"{self.location} is not a readable video: {exc.strerror}") from exc
            raise
        if not container.streams.video:
            container.close()
            raise SourceError(f"{self.location} has no video stream")
        return container


def open_decoder(
    stream: VideoStream, keyframes_only: bool, hwaccel: str | None
) -> tuple[VideoCodecContext, str]:
    """The decoder for a stream, and a description of it.

    `hwaccel` may name a decoder (h264_cuvid) used in place of the default software one; when
    it is missing or fails to open, decoding falls back to software and the description says why.
    """
    context = stream.codec_context
    description = f"{context.name} (software)"
    if hwaccel and hwaccel not in hwdevices_available():
        try:
            hardware = cast(VideoCodecContext, CodecContext.create(hwaccel, "r"))
            if hardware.codec.id != context.codec.id:
                raise ValueError(f"{hwaccel} does not decode {context.name}")
            hardware.extradata = context.extradata
            hardware.open()
            context, description = hardware, hwaccel
        except (av.FFmpegError, ValueError) as exc:
            description = f"{context.name} (software; {hwaccel} unavailable: {exc})"
            log.warning("camera decoder %s unavailable, decoding in software: %s", hwaccel, exc)
    elif hwaccel and context.is_hwaccel:
        description = f"{context.name} ({hwaccel} hwaccel, software fallback allowed)"
    elif hwaccel:
        description = f"{context.name} (software; {hwaccel} hwaccel unavailable)"
    context.thread_type = "AUTO"
    if keyframes_only:
        context.skip_frame = "NONKEY"
    return context, description
