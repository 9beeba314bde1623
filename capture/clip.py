"""The last seconds of a camera's encoded packets, and clips cut from them by remuxing.

Packets are kept as bytes with their timestamps, so a clip costs no decoding or encoding. Each
connection starts a segment; its stream parameters are copied at the first keyframe into a tiny
in-memory NUT file (which keeps the codec's extradata as it came), so a clip can still be written
after the connection that carried it is gone. A clip never spans two connections.
"""

from __future__ import annotations

import io
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import av
from av.container import InputContainer
from av.video.stream import VideoStream


class ClipError(ValueError):
    """No clip can be cut for the requested time span."""


@dataclass(frozen=True, slots=True)
class _Held:
    wall: float  # epoch seconds when the packet arrived
    data: bytes
    pts: int
    dts: int
    keyframe: bool


@dataclass
class _Segment:
    template: InputContainer  # in-memory copy of the stream's parameters
    time_base: Fraction
    packets: deque[_Held] = field(default_factory=deque)


@dataclass(frozen=True)
class Clip:
    path: Path
    start: datetime  # arrival time of its first packet (a keyframe)
    end: datetime  # arrival time of its last packet
    packets: int
    duration: float  # seconds of stream time


def _detached_template(stream: VideoStream, keyframe: av.Packet[VideoStream]) -> InputContainer:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="nut") as out:
        copy = out.add_stream_from_template(stream)
        packet = av.Packet(bytes(keyframe))
        packet.pts = packet.dts = 0
        packet.time_base = stream.time_base or Fraction(1, 90000)
        packet.is_keyframe = True
        packet.stream = copy
        out.mux(packet)
    buffer.seek(0)
    return av.open(buffer, "r", format="nut")


class PacketRing:
    """Encoded packets of the last `seconds`, per connection segment; thread-safe."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._segments: deque[_Segment] = deque()
        self._stream: VideoStream | None = None
        self._current: _Segment | None = None
        self._last_pts: int | None = None
        self._step = 1
        self._lock = threading.Lock()

    def begin(self, stream: VideoStream) -> None:
        """A new connection: its packets start a new segment at their first keyframe."""
        rate = stream.average_rate or stream.guessed_rate or 25
        with self._lock:
            self._stream = stream
            self._current = None
            self._last_pts = None
            self._step = max(1, round(1 / (rate * (stream.time_base or Fraction(1, 90000)))))

    def add(self, packet: av.Packet[VideoStream], wall: float) -> None:
        """Keep one packet of the current connection (called by the worker thread only)."""
        stream = self._stream
        if stream is None or packet.size == 0:
            return
        if packet.pts is not None:
            pts = packet.pts
        elif self._last_pts is not None:  # RTSP leaves some timestamps unset: continue the last one
            pts = self._last_pts + self._step
        else:
            return  # nothing to place it by; the segment starts at the next keyframe
        dts = packet.dts if packet.dts is not None else pts
        self._last_pts = pts
        with self._lock:
            segment = self._current
            if segment is None:
                if not packet.is_keyframe:
                    return  # a segment starts at a keyframe
                template = _detached_template(stream, packet)
                segment = self._current = _Segment(template, stream.time_base or Fraction(1, 90000))
                self._segments.append(segment)
            segment.packets.append(_Held(wall, bytes(packet), pts, dts, bool(packet.is_keyframe)))
            self._evict(wall)

    def end(self) -> None:
        """The connection is closed: forget its stream (its segment stays until it ages out)."""
        with self._lock:
            self._stream = None
            self._current = None

    def _evict(self, now: float) -> None:
        horizon = now - self.seconds
        for segment in self._segments:
            # Keep whole GOPs: drop from the front only up to the next keyframe inside the horizon.
            while len(segment.packets) > 1 and segment.packets[0].wall < horizon:
                nxt = next((i for i, p in enumerate(segment.packets) if i and p.keyframe), None)
                if nxt is None or segment.packets[nxt].wall > horizon:
                    break
                for _ in range(nxt):
                    segment.packets.popleft()
        while len(self._segments) > 1 and self._segments[0].packets[-1].wall < horizon:
            self._segments.popleft().template.close()

    def save_clip(self, start: datetime, end: datetime, path: Path) -> Clip:
        """Write packets from the keyframe at or before `start` up to `end` into an MP4 at `path`."""
        t0, t1 = start.timestamp(), end.timestamp()
        if t1 <= t0:
            raise ClipError(f"the clip ends ({end}) before it starts ({start})")
        with self._lock:
            chosen = [s for s in self._segments if s.packets[0].wall <= t1 and s.packets[-1].wall >= t0]
            if not chosen:
                raise ClipError(
                    f"no packets kept between {start} and {end} (the buffer holds {self.seconds} s)"
                )
            segment = chosen[-1]
            packets = list(segment.packets)
            first = max((i for i, p in enumerate(packets) if p.keyframe and p.wall <= t0), default=0)
            picked = [p for p in packets[first:] if p.wall <= t1]
            path.parent.mkdir(parents=True, exist_ok=True)
            out = av.open(str(path), "w", format="mp4")
            try:
                stream = out.add_stream_from_template(segment.template.streams.video[0])
            except BaseException:
                out.close()
                raise
        with out:
            base = picked[0].dts
            for held in picked:
                packet = av.Packet(held.data)
                packet.pts, packet.dts = held.pts - base, held.dts - base
                packet.time_base = segment.time_base
                packet.is_keyframe = held.keyframe
                packet.stream = stream
                out.mux(packet)
        span = float((picked[-1].pts - picked[0].pts) * segment.time_base)
        return Clip(
            path,
            datetime.fromtimestamp(picked[0].wall, UTC),
            datetime.fromtimestamp(picked[-1].wall, UTC),
            len(picked),
            span,
        )

    def close(self) -> None:
        with self._lock:
            for segment in self._segments:
                segment.template.close()
            self._segments.clear()
