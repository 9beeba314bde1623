"""The 1080p25 camera clip the video benchmarks share, made with PyAV, and its decode cost.

The queue scene of `offsite.scenes` (real people walking in and queueing), looped, scaled to
1920 x 1080, with fresh sensor noise in every frame so that P-frames cost what they cost on a
camera; libx264 at 4 Mbit/s, a keyframe every 25 frames and no B-frames, as a camera sends.
`stamped`, each frame's number is written in its top-left corner (`stamp`, `read_stamp`), for a
peer whose results carry no presentation time. `kept_clip` makes it once and keeps it under the
data folder (`var/bench`): encoding takes minutes on a small box.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt

from capture.sources import open_decoder
from offsite import scenes
from vision.models import data_dir

WIDTH, HEIGHT, FPS = 1920, 1080, 25
SCALE = WIDTH / scenes.WIDTH
BIT_RATE = 4_000_000  # a common main-stream setting of 1080p cameras
NOISE = 7  # grey levels either way, as `offsite.scenes` uses


@dataclass(frozen=True)
class ClipInfo:
    """A clip made by `make_clip`: where, how long, its bit rate and keyframes' share of the bits."""

    path: Path
    seconds: float
    megabits: float  # per second
    key_share: float  # of the bits


STAMP_BITS, STAMP_BLOCK = 13, 16  # frame numbers up to 8191 (5 min at 25 fps), 16 px squares


def stamp(picture: npt.NDArray[np.uint8], index: int) -> None:
    """Write the frame number into the top-left corner as black and white squares: a peer that
    gives no presentation time (ultralytics' results) still says which frame it analysed."""
    for bit in range(STAMP_BITS):
        x = STAMP_BLOCK * (bit + 1)
        picture[STAMP_BLOCK : 2 * STAMP_BLOCK, x : x + STAMP_BLOCK] = 255 * (index >> bit & 1)


def read_stamp(picture: npt.NDArray[np.uint8]) -> int:
    """The frame number `stamp` wrote (the middle of each square, through the encoder's loss)."""
    index, quarter = 0, STAMP_BLOCK // 4
    for bit in range(STAMP_BITS):
        x = STAMP_BLOCK * (bit + 1) + quarter
        square = picture[STAMP_BLOCK + quarter : 2 * STAMP_BLOCK - quarter, x : x + 2 * quarter]
        index |= int(square.mean() > 128) << bit
    return index


def make_clip(path: Path, seconds: float, *, stamped: bool = False) -> ClipInfo:
    """The looped queue scene at 1080p25 with per-frame noise, as a camera would encode it;
    `stamped`: each frame's number written in its corner (`stamp`)."""
    scene = dataclasses.replace(scenes.queue_builds(), noise=0)  # noise added at full size below
    rng = np.random.default_rng(25)
    field = rng.integers(-NOISE, NOISE + 1, (HEIGHT + 64, WIDTH + 64, 3), dtype=np.int16)
    x264 = f"keyint={FPS}:min-keyint={FPS}:scenecut=0:bframes=0"
    sizes = Counter[bool]()  # bytes of keyframes (True) and of the other frames
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS, options={"preset": "veryfast", "x264-params": x264})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.bit_rate = BIT_RATE
        for i in range(round(seconds * FPS) + 1):
            frame = None  # after the last frame: flush the encoder
            if i < round(seconds * FPS):
                picture = cv2.resize(scenes.render(scene, (i / FPS) % scene.duration), (WIDTH, HEIGHT))
                dy, dx = (int(v) for v in rng.integers(0, 64, 2))
                noisy = np.clip(picture.astype(np.int16) + field[dy : dy + HEIGHT, dx : dx + WIDTH], 0, 255)
                camera_picture = noisy.astype(np.uint8)
                if stamped:
                    stamp(camera_picture, i)
                frame = av.VideoFrame.from_ndarray(camera_picture, format="bgr24")
            for packet in stream.encode(frame):
                sizes[packet.is_keyframe] += packet.size
                out.mux(packet)
    total = sizes[True] + sizes[False]
    return ClipInfo(path, seconds, total * 8 / seconds / 1e6, sizes[True] / total)


def kept_clip(seconds: float, *, stamped: bool = False) -> ClipInfo:
    """`make_clip`'s clip of `seconds`, made once and kept under the data folder: encoding 1080p
    takes minutes on a small box, and every run after the first starts at once."""
    path = data_dir() / "bench" / f"hall-1080p25-{seconds:g}s{'-stamped' * stamped}.mp4"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        make_clip(path.with_suffix(".part.mp4"), seconds, stamped=stamped)
        path.with_suffix(".part.mp4").rename(path)
    sizes = [0, 0]  # bytes of the other frames, of keyframes
    with av.open(str(path)) as container:
        for packet in container.demux(video=0):
            sizes[packet.is_keyframe] += packet.size
    return ClipInfo(path, seconds, sum(sizes) * 8 / seconds / 1e6, sizes[1] / sum(sizes))


def decode_cost(clip: ClipInfo, keyframes_only: bool) -> float:
    """CPU seconds per second of video, decoding as a camera worker does (one BGR picture a second)."""
    with av.open(str(clip.path)) as container:
        stream = container.streams.video[0]
        decoder, _ = open_decoder(stream, keyframes_only, None)
        started, due = time.process_time(), 0.0
        for packet in container.demux(stream):
            for frame in decoder.decode(packet):
                if frame.time is not None and frame.time >= due:
                    frame.to_ndarray(format="bgr24")
                    due += 1.0
        return (time.process_time() - started) / clip.seconds
