"""NVIDIA decoding (NVDEC) asked for on a machine without the GPU: the camera decodes in software,
says so in its decoder description, and its frames keep coming. (With a GPU the same settings decode
on it; that path is not measured here.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from av.codec.hwaccel import hwdevices_available

from capture.frames import Frame
from tests.capture.conftest import RunCamera


@pytest.mark.parametrize(
    ("hwaccel", "decoder"),
    [
        # A device type this PyAV's FFmpeg was built with, whose device cannot be made without a GPU.
        ("cuda", "h264 (software; cuda hwaccel unavailable)"),
        # NVDEC's own decoder, in place of the software one: it cannot open without a GPU.
        ("h264_cuvid", "h264 (software; h264_cuvid unavailable"),
    ],
)
def test_nvdec_without_a_gpu_falls_back_to_software_decoding(
    hwaccel: str, decoder: str, clips: dict[str, Path], run_camera: RunCamera
) -> None:
    assert "cuda" in hwdevices_available()  # the fallback under test, not a missing feature
    worker, _ = run_camera(str(clips["moving"]), hwaccel=hwaccel)
    frames = [worker.queue.get(timeout=10) for _ in range(3)]
    assert all(isinstance(f, Frame) and f.image.shape == (360, 640, 3) for f in frames)
    assert worker.stats.decoder.startswith(decoder), worker.stats.decoder
