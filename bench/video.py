"""Decode cost of 1080p H.264: every frame versus keyframes only, PyAV versus OpenCV.

    .venv/bin/python -m bench.video [--seconds 20] [--clip camera|pattern] [--gop 50]

The clip: `camera` (default) is the streams benchmark's camera clip (`bench.clips.kept_clip`:
the queue scene at 1080p25, fresh sensor noise in every frame, a keyframe every 25 frames, 4
Mbit/s); `pattern` is a detailed texture panning at 1080p30 and about 6 Mbit/s, whose P-frames
are almost free (no noise), with a keyframe every `--gop` frames. Each case decodes the whole
clip and counts CPU seconds (every thread of this process) per second of video: all frames on one
thread (the reference), with `thread_type="AUTO"` as the camera worker does, converted to BGR
arrays; keyframes only (`skip_frame="NONKEY"`); offsite's camera at one analysed frame a second
(keyframes only, one BGR picture a second); and what `YOLO.track(vid_stride=25)` does through
OpenCV (grab every frame, retrieve one in 25).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np

from bench import clips, streams


def make_clip(path: Path, seconds: float, gop: int, fps: int = 30) -> Path:
    """A 1080p H.264 clip at about 6 Mbit/s: a detailed texture panning, like a street scene would."""
    rng = np.random.default_rng(5)
    # Detail at several scales, so the encoder spends bits as on a real picture.
    layers = [
        np.kron(rng.integers(0, 256, (1200 // k, 2200 // k, 3)), np.ones((k, k, 1))) for k in (2, 8, 40)
    ]
    texture = (np.sum(layers, axis=0) / 3).astype(np.uint8)
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


def decode(path: Path, *, threads: bool, keyframes_only: bool = False, bgr: bool = False) -> int:
    """Decode the clip with PyAV; returns the frames decoded."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if threads:
            stream.thread_type = "AUTO"
        if keyframes_only:
            stream.codec_context.skip_frame = "NONKEY"
        frames = 0
        for frame in container.decode(stream):
            if bgr:
                frame.to_ndarray(format="bgr24")
            frames += 1
        return frames


def opencv_stride(path: Path, stride: int = 25) -> int:
    """As ultralytics' video loader at `vid_stride=stride`: grab every frame, retrieve one in `stride`."""
    capture, pictures = cv2.VideoCapture(str(path)), 0
    try:
        while True:
            for _ in range(stride - 1):
                if not capture.grab():
                    return pictures
            ok, _ = capture.read()
            if not ok:
                return pictures
            pictures += 1
    finally:
        capture.release()


def cpu_per_video_second(work: Callable[[], int], seconds: float) -> tuple[int, float]:
    """(frames or pictures `work` returned, CPU seconds it took per second of video)."""
    started = time.process_time()
    frames = work()
    return frames, (time.process_time() - started) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clip", choices=("camera", "pattern"), default="camera")
    parser.add_argument("--gop", type=int, default=50, help="keyframe interval of the pattern clip")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as folder:
        if args.clip == "camera":
            info = clips.kept_clip(args.seconds)
            title = f"camera clip 1080p25, GOP 25, keyframes {100 * info.key_share:.0f} % of the bits"
        else:
            path = make_clip(Path(folder) / "1080p.mp4", args.seconds, args.gop)
            info = clips.ClipInfo(
                path, args.seconds, path.stat().st_size * 8 / args.seconds / 1e6, float("nan")
            )
            title = f"pattern 1080p30, GOP {args.gop}"
        clip = info.path
        cases = {
            "full, one thread (reference)": lambda: decode(clip, threads=False),
            "full, thread_type AUTO": lambda: decode(clip, threads=True),
            "full, AUTO + to_ndarray bgr24": lambda: decode(clip, threads=True, bgr=True),
            "keyframes only, AUTO": lambda: decode(clip, threads=True, keyframes_only=True),
            "OpenCV, grab all, 1 in 25 (vid_stride)": lambda: opencv_stride(clip),
        }
        costs = {name: cpu_per_video_second(work, args.seconds) for name, work in cases.items()}
        # As offsite's camera worker at `fps: 1, keyframes_only: true`: one BGR picture a second.
        costs["offsite camera, 1 picture/s"] = (round(args.seconds), clips.decode_cost(info, True))
    reference = costs["full, one thread (reference)"][1]
    load = streams.load_average()
    print(f"{title}, {args.seconds:g} s, {info.megabits:.1f} Mbit/s, {cores} cores, load {load}")
    header = ("frames", "CPU s per video s", "share of the box", "vs reference")
    print(f"{'case':40} {header[0]:>6} {header[1]:>18} {header[2]:>17} {header[3]:>13}")
    for name, (frames, cost) in costs.items():
        print(f"{name:40} {frames:6d} {cost:18.3f} {100 * cost / cores:16.1f}% {cost / reference:13.2f}")


if __name__ == "__main__":
    main()
