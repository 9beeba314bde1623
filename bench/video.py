"""Decode cost of 1080p H.264 with PyAV: every frame versus keyframes only.

    .venv/bin/python -m bench.video [--seconds 10] [--gop 50]

A 1080p30 clip is made with PyAV (libx264, a moving pattern), then decoded with
`thread_type="AUTO"` as the camera worker does: all frames, all frames converted to BGR arrays,
and keyframes only (`skip_frame="NONKEY"`). The single-threaded full decode is the reference.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import av
import numpy as np


def make_clip(path: Path, seconds: float, gop: int, fps: int = 30) -> Path:
    """A 1080p H.264 clip at about 6 Mbit/s: a detailed texture panning, like a street scene would."""
    rng = np.random.default_rng(5)
    # Detail at several scales, so the encoder spends bits as on a real picture.
    texture = sum(
        np.kron(rng.integers(0, 256, (1200 // k, 2200 // k, 3)), np.ones((k, k, 1))) / 3 for k in (2, 8, 40)
    ).astype(np.uint8)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        stream.bit_rate = 6_000_000
        stream.codec_context.gop_size = gop
        for i in range(round(seconds * fps)):
            x, y = (3 * i) % 270, i % 110
            image = np.ascontiguousarray(texture[y : y + 1080, x : x + 1920])
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def decode(
    path: Path, *, threads: bool, keyframes_only: bool = False, bgr: bool = False
) -> tuple[int, float]:
    """Frames decoded and the seconds it took."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if threads:
            stream.thread_type = "AUTO"
        if keyframes_only:
            stream.codec_context.skip_frame = "NONKEY"
        started, frames = time.perf_counter(), 0
        for frame in container.decode(stream):
            if bgr:
                frame.to_ndarray(format="bgr24")
            frames += 1
        return frames, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--gop", type=int, default=50)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as folder:
        clip = make_clip(Path(folder) / "1080p.mp4", args.seconds, args.gop)
        megabits = clip.stat().st_size * 8 / args.seconds / 1e6
        cases = {
            "full, one thread (reference)": decode(clip, threads=False),
            "full, thread_type AUTO": decode(clip, threads=True),
            "full, AUTO + to_ndarray bgr24": decode(clip, threads=True, bgr=True),
            "keyframes only, AUTO": decode(clip, threads=True, keyframes_only=True),
        }
    reference = cases["full, one thread (reference)"]
    full_fps = reference[0] / reference[1]
    auto = cases["full, thread_type AUTO"]
    print(f"1080p30 H.264, {args.seconds:g} s, GOP {args.gop}, {megabits:.1f} Mbit/s, {cores} cores")
    for name, (frames, seconds) in cases.items():
        fps = frames / seconds
        per_core = fps / cores
        print(f"{name:32} {frames:5d} frames {fps:7.1f} frames/s {per_core:7.1f}/core {fps / full_fps:5.2f}x")
    key = cases["keyframes only, AUTO"]
    # What counts for many cameras: stream seconds decoded per second of CPU time.
    print(f"seconds of video decoded per second: full {args.seconds / auto[1]:.1f},", end=" ")
    print(f"keyframes only {args.seconds / key[1]:.1f} (cost ratio {auto[1] / key[1]:.1f})")


if __name__ == "__main__":
    main()
