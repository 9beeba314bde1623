"""Evidence is served as what its bytes are, not as what the uploader said: no page from the hub."""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Callable

import av
import httpx
import numpy as np
import pytest
from PIL import Image

from tests.api.conftest import Api
from tests.hub.feed import GAS

PAGE = b"<!doctype html><html><body><script>fetch('/alerts').then(r => r.text())</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>'


def _picture(kind: str) -> bytes:
    """A real image or PDF file of its own (a fresh colour, so a fresh SHA-256)."""
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), tuple(uuid.uuid4().bytes[:3])).save(buffer, kind)
    return buffer.getvalue()


def _clip() -> bytes:
    """A real MP4 of three frames."""
    buffer = io.BytesIO()
    shade = uuid.uuid4().bytes[0]
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for step in range(3):
            pixels = np.full((32, 32, 3), (shade + 40 * step) % 256, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode())
    return buffer.getvalue()


def _assert_guarded(headers: httpx.Headers) -> None:
    """No sniffing into a page, and a page could run nothing even if a browser made one of it."""
    assert headers.get("x-content-type-options") == "nosniff"
    policy = headers.get("content-security-policy", "")
    assert "default-src 'none'" in policy and "sandbox" in policy, policy


def test_a_page_fed_back_as_html_comes_back_as_a_download(api: Api) -> None:
    """The reported attack: a department feeds back an HTML file declared text/html."""
    clue = api.clue_of(api.raise_finding(GAS)["alert_id"])
    market = api.client("market")
    assert market.post(f"/clues/{clue}/claim").status_code == 200
    assert market.post(f"/clues/{clue}/handle", json={"note": "looked"}).status_code == 200
    page = PAGE + uuid.uuid4().hex.encode()
    fed = market.post(
        f"/clues/{clue}/feedback",
        data={"verdict": "confirmed", "text": "see the report"},
        files=[("files", ("report.html", page, "text/html"))],
    )
    assert fed.status_code == 200, fed.text
    digest = hashlib.sha256(page).hexdigest()
    for who in ("market", "operator", "admin"):
        got = api.call(who, "GET", f"/evidence/{digest}")
        assert got.status_code == 200 and got.content == page
        assert got.headers["content-type"] == "application/octet-stream", (who, got.headers)
        assert got.headers["content-disposition"] == f'attachment; filename="{digest}.bin"'
        _assert_guarded(got.headers)
    market.close()


@pytest.mark.parametrize(
    ("make", "served", "suffix"),
    [
        (lambda: _picture("JPEG"), "image/jpeg", "jpg"),
        (lambda: _picture("PNG"), "image/png", "png"),
        (lambda: _picture("PDF"), "application/pdf", "pdf"),
        (_clip, "video/mp4", "mp4"),
        (lambda: PAGE + uuid.uuid4().hex.encode(), "application/octet-stream", "bin"),
        (lambda: SVG + uuid.uuid4().hex.encode(), "application/octet-stream", "bin"),
        (lambda: b"\x00 not a known format " + uuid.uuid4().bytes, "application/octet-stream", "bin"),
    ],
    ids=["jpeg", "png", "pdf", "mp4", "html", "svg", "unknown"],
)
@pytest.mark.parametrize("declared", ["text/html", "image/svg+xml", "image/jpeg"])
def test_evidence_is_typed_by_its_content(
    api: Api, make: Callable[[], bytes], served: str, suffix: str, declared: str
) -> None:
    body = make()
    digest = hashlib.sha256(body).hexdigest()
    put = api.call("edge", "PUT", f"/evidence/{digest}", content=body, headers={"content-type": declared})
    assert put.status_code == 200, put.text
    got = api.call("operator", "GET", f"/evidence/{digest}")
    assert got.status_code == 200 and got.content == body
    assert got.headers["content-type"] == served
    disposition = "attachment" if served == "application/octet-stream" else "inline"
    assert got.headers["content-disposition"] == f'{disposition}; filename="{digest}.{suffix}"'
    assert got.headers["etag"] == f'"{digest}"'
    _assert_guarded(got.headers)
