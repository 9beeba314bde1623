"""Throw-away RTSP servers for the tests (GStreamer's RTSP server) and clips made with PyAV.

GStreamer's Python bindings import only in the system Python, not inside the virtual
environment, so the server is a small script run by `/usr/bin/python3`. Each mount serves an
MP4 file; every client gets its own pipeline from the start of the file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from hub.host import free_port

SYSTEM_PYTHON = Path("/usr/bin/python3")

SERVER_SCRIPT = """
import json, sys
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer

Gst.init(None)
port, mounts = sys.argv[1], json.loads(sys.argv[2])
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
for name, path in mounts.items():
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f'( filesrc location="{path}" ! qtdemux ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 )'
    )
    factory.set_shared(False)
    server.get_mount_points().add_factory("/" + name, factory)
if server.attach(None) == 0:
    sys.exit(f"cannot listen on port {port}")
print("ready", flush=True)
GLib.MainLoop().run()
"""


@dataclass
class RtspServer:
    """A GStreamer RTSP server process; `kill()` and `start()` keep its port and mounts."""

    folder: Path
    port: int
    mounts: dict[str, Path]
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def url(self, mount: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{mount}"

    def start(self) -> None:
        if not SYSTEM_PYTHON.is_file():
            raise RuntimeError(f"{SYSTEM_PYTHON} is missing: run scripts/install-services.sh")
        script = self.folder / "rtsp_server.py"
        script.write_text(SERVER_SCRIPT)
        mounts = json.dumps({name: str(path) for name, path in self.mounts.items()})
        log = (self.folder / "rtsp.log").open("ab")
        self.process = subprocess.Popen(
            [str(SYSTEM_PYTHON), str(script), str(self.port), mounts], stdout=subprocess.PIPE, stderr=log
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != b"ready":
            self.process.wait(timeout=10)
            error = (self.folder / "rtsp.log").read_text()[-2000:]
            raise RuntimeError(
                f"the GStreamer RTSP server did not start ({error.strip()}): "
                "run scripts/install-services.sh to install GStreamer's RTSP server"
            )

    def kill(self) -> None:
        """Kill the server abruptly, as a camera losing power would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None

    def pause(self) -> None:
        """Freeze the server: connections stay open and nothing more is sent."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def remove(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.resume()
        self.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_rtsp_server(mounts: dict[str, Path]) -> RtspServer:
    """Serve each clip at rtsp://127.0.0.1:PORT/NAME on a free port."""
    server = RtspServer(Path(tempfile.mkdtemp(prefix="offsite-rtsp-")), free_port(), mounts)
    server.start()
    return server


def make_clip(
    path: Path,
    *,
    seconds: float = 10.0,
    fps: int = 10,
    size: tuple[int, int] = (640, 360),
    gop: int = 10,
    still: bool = False,
) -> Path:
    """An H.264 MP4: a moving bar over a drifting gradient, or (`still`) one unchanging picture."""
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = gop
        for i in range(round(seconds * fps)):
            step = 0 if still else i
            image = np.empty((height, width, 3), np.uint8)
            image[..., 0] = (xx + 4 * step) % 256
            image[..., 1] = (yy + 2 * step) % 256
            image[..., 2] = 128
            left = (8 * step) % (width - 40)
            image[height // 4 : height // 4 + 60, left : left + 40] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@contextmanager
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never sends a byte; yields its port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    accepted: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                accepted.append(listener.accept()[0])
            except (TimeoutError, OSError):
                continue

    thread = threading.Thread(target=accept, name="silent-server", daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        done.set()
        thread.join(timeout=5)
        listener.close()
        for conn in accepted:
            conn.close()
