"""Steps the browser tests share: signing in through the form, and evidence files to cite."""

from __future__ import annotations

import io

import av
import cv2
import numpy as np
from playwright.sync_api import Page, expect

from tests.api.conftest import Api


def sign_in(page: Page, api: Api, login: tuple[str, str], lands_on: str) -> None:
    """Sign in through the form and wait for the role's first page."""
    sign_in_at(page, api.url, login, lands_on)


def sign_in_at(page: Page, url: str, login: tuple[str, str], lands_on: str) -> None:
    """Sign in through the form of the dashboard at `url` and wait for the role's first page."""
    page.goto(f"{url}/login")
    page.locator("input[name=username]").fill(login[0])
    page.locator("input[name=password]").fill(login[1])
    page.locator("button.submit").click()
    expect(page).to_have_url(f"{url}{lands_on}")


def snapshot() -> bytes:
    """A small JPEG with a box drawn on it, as an annotated snapshot would have."""
    picture = np.full((120, 160, 3), (60, 60, 60), np.uint8)
    cv2.rectangle(picture, (40, 30), (110, 100), (0, 0, 255), 3)
    ok, encoded = cv2.imencode(".jpg", picture)
    assert ok
    return bytes(encoded)


def clip(frames: int = 30) -> bytes:
    """A 3-second H.264 MP4 (yuv420p), as the clips of cameras are."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for i in range(frames):
            picture = np.full((120, 160, 3), (i * 8) % 256, np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="bgr24")))
        out.mux(stream.encode())
    return buffer.getvalue()
