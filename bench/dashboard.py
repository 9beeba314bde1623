"""The alert wall in Debian's Chromium with 100 000 alerts stored: time to first render, and frame
times while the wall scrolls down through its cursor pages and 20 new alerts a second arrive.

    .venv/bin/python -m bench.dashboard [--alerts 100000] [--rate 20] [--seconds 10] [--loads 5]

Each figure comes with a reference measured in the same run and the same browser, so that a busy
or slow machine shows as a slow reference, not as a slow dashboard:
- first render: from navigation to the first alert row painted (two animation frames after it is
  in the page), against the sign-in page of the same build (its form painted), median of --loads;
- frames: the time between animation frames while the list scrolls 100 px a frame (two rows),
  against the same scroll of a static page holding 2 000 rows of plain HTML.

Uses OFFSITE_DATABASE_URL's server when set, else an embedded server in a temp folder; seeds the
alerts as bench/api.py does; the API and the built dashboard run as `offsite up --api` in their own
process (the dashboard must be built: scripts/web.sh). The live alerts are inserted by a thread of
the bench process, so that they reach the page through the store's change feed and the stream.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import secrets
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from playwright.sync_api import Browser, StorageState, sync_playwright
from rich.console import Console

from api.auth import create_user
from api.web import DIST
from bench.api import DEPARTMENTS, SEED
from bench.scratch import scratch_database
from bench.serving import offsite_up
from hub.store.db import open_database
from hub.store.migrate import upgrade

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
LOGIN = ("bench", secrets.token_urlsafe(12))
STEP_PX = 100  # scrolled per animation frame: two rows of 50 px
LIVE = """
INSERT INTO alerts (source, site, rule, title, severity, status, first_seen, last_seen, first_event,
                    last_event, updated_at)
VALUES ('camera:live-' || %(n)s, 'lintong-hall', 'window-absence', 'live alert', 'critical', 'open',
        now(), now(), 'seed-0', 'seed-0', now())"""

# Before any script of the page: the moment the first `selector` is painted, in ms since navigation.
PAINTED = """
window.__painted = null;
new MutationObserver((_, observer) => {
  if (!document.querySelector(%r)) return;
  observer.disconnect();
  requestAnimationFrame(() => requestAnimationFrame(() => { window.__painted = performance.now(); }));
}).observe(document, { childList: true, subtree: true });
"""

# Scroll `host` by `step` px each animation frame for `seconds`; the frame intervals and long tasks.
SCROLL = """
async ([selector, seconds, step]) => {
  const host = [...document.querySelectorAll(selector)].find((e) => e.scrollHeight > e.clientHeight + 10);
  if (!host) throw new Error(`nothing scrolls under ${selector}`);
  const long = [];
  const observer = new PerformanceObserver((list) => long.push(...list.getEntries().map((e) => e.duration)));
  observer.observe({ type: "longtask" });
  const frames = [];
  let last = null;
  const end = performance.now() + seconds * 1000;
  await new Promise((resolve) => {
    const tick = (now) => {
      if (last !== null) frames.push(now - last);
      last = now;
      host.scrollTop += step;
      if (now < end) requestAnimationFrame(tick);
      else resolve();
    };
    requestAnimationFrame(tick);
  });
  observer.disconnect();
  return { frames, long, scrolled: host.scrollTop };
}
"""


@dataclass(frozen=True)
class Frames:
    """Intervals between animation frames, in ms, and the long tasks (over 50 ms) among them."""

    intervals: list[float]
    long_tasks: list[float]
    scrolled_px: float

    def line(self) -> str:
        cuts = statistics.quantiles(self.intervals, n=100)
        over = sum(1 for f in self.intervals if f > 50)
        return (
            f"{len(self.intervals):5} frames  p50 {cuts[49]:5.1f} ms  p95 {cuts[94]:5.1f} ms"
            f"  p99 {cuts[98]:5.1f} ms  max {max(self.intervals):6.1f} ms  over 50 ms: {over}"
            f"  long tasks: {len(self.long_tasks)}"
        )


def static_rows(rows: int) -> str:
    """The frame reference: a page of `rows` plain table rows in a scrolling box, as tall as the wall."""
    cells = "".join(f"<td>cell {c}</td>" for c in range(8))
    body = "".join(f"<tr><td>{n}</td>{cells}</tr>" for n in range(rows))
    return (
        "<div class=list style='height:480px;overflow:auto'>"
        f"<table style='border-collapse:collapse'>{body}</table></div>"
        "<style>td{height:49px;border-bottom:1px solid #ddd;padding:0 12px}</style>"
    )


def first_page_gzip() -> tuple[int, int]:
    """Bytes of the built first page (index.html, its entry script, styles and module preloads),
    raw and gzipped; the font's slices, fetched per glyph range, are not counted."""
    index = (DIST / "index.html").read_text(encoding="utf-8")
    files = [DIST / "index.html"] + [
        DIST / ref.lstrip("/") for ref in re.findall(r'(?:src|href)="(/assets/[^"]+\.(?:js|css))"', index)
    ]
    raw = [f.read_bytes() for f in files]
    return sum(map(len, raw)), sum(len(gzip.compress(b, 9)) for b in raw)


def painted_after(browser: Browser, url: str, selector: str, session: StorageState | None) -> float:
    """Ms from navigation to the first `selector` painted, in a fresh context."""
    context = browser.new_context(storage_state=session)
    page = context.new_page()
    page.add_init_script(PAINTED % selector)
    page.goto(url)
    page.wait_for_function("window.__painted !== null", timeout=60_000)
    painted = float(page.evaluate("window.__painted"))
    context.close()
    return painted


@contextmanager
def feeding(dsn: str, rate: float) -> Iterator[list[int]]:
    """Insert `rate` new alerts a second until the block ends; the count so far in the list."""
    stop = threading.Event()
    sent = [0]

    def run() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            start = time.monotonic()
            while not stop.is_set():
                conn.execute(LIVE, {"n": sent[0]})
                sent[0] += 1
                stop.wait(max(0.0, start + sent[0] / rate - time.monotonic()))

    thread = threading.Thread(target=run, name="live-alerts", daemon=True)
    thread.start()
    try:
        yield sent
    finally:
        stop.set()
        thread.join(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=20.0, help="new alerts a second while scrolling")
    parser.add_argument("--seconds", type=float, default=10.0, help="of scrolling")
    parser.add_argument("--loads", type=int, default=5, help="page loads per first-render figure")
    args = parser.parse_args()
    console = Console(soft_wrap=True)
    if not (DIST / "index.html").is_file():
        parser.exit(2, "the dashboard is not built: run scripts/web.sh\n")
    load = os.getloadavg()
    console.print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} cores")
    raw, packed = first_page_gzip()
    console.print(f"first page: {raw / 1024:.0f} KiB, {packed / 1024:.0f} KiB gzipped (fonts apart)")
    with tempfile.TemporaryDirectory() as tmp, scratch_database("offsite_bench_dashboard", Path(tmp)) as dsn:
        db = open_database(dsn, Path(tmp), pool_size=1)
        try:
            _, backend = upgrade(db)
            with db.transaction() as conn:
                params = {"alerts": args.alerts, "clues": 0, "departments": DEPARTMENTS}
                psycopg.ClientCursor(conn).execute(SEED.encode(), params)  # several statements
                create_user(conn, *LOGIN, "operator", datetime.now(UTC))
        finally:
            db.close()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        console.print(f"{backend.describe()}; {args.alerts} alerts stored")
        with offsite_up(dsn, Path(tmp)) as served, sync_playwright() as playwright:
            url = served.url
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            signing = browser.new_context()
            page = signing.new_page()
            page.goto(f"{url}/login")
            page.locator("input[name=username]").fill(LOGIN[0])
            page.locator("input[name=password]").fill(LOGIN[1])
            page.locator("button.submit").click()
            page.wait_for_selector(".alert-row")
            session = signing.storage_state()
            signing.close()

            reference = [
                painted_after(browser, f"{url}/login", "button.submit", None) for _ in range(args.loads)
            ]
            wall = [painted_after(browser, f"{url}/", ".alert-row", session) for _ in range(args.loads)]
            console.print(
                f"first render: wall {statistics.median(wall):6.0f} ms"
                f"  (reference, the sign-in page: {statistics.median(reference):6.0f} ms)"
                f"  runs: wall {', '.join(f'{w:.0f}' for w in wall)}"
            )

            still = browser.new_context().new_page()
            still.set_content(static_rows(2000))
            plain = Frames(**_frames(still.evaluate(SCROLL, [".list", args.seconds, STEP_PX])))
            still.context.close()

            context = browser.new_context(storage_state=session)
            live = context.new_page()
            live.goto(f"{url}/")
            live.wait_for_selector(".alert-row")
            live.locator(".live").filter(has_text=re.compile("实时|Live")).wait_for()
            with feeding(dsn, args.rate) as sent:
                scrolled = Frames(
                    **_frames(live.evaluate(SCROLL, [".el-table-v2__main *", args.seconds, STEP_PX]))
                )
            rows = scrolled.scrolled_px / 50
            console.print(f"frames, wall scrolling with {sent[0]} alerts arriving ({rows:.0f} rows down):")
            console.print(f"  wall       {scrolled.line()}")
            console.print(f"  reference  {plain.line()}  (a static page of 2000 rows)")
            context.close()
            browser.close()


def _frames(measured: dict[str, Any]) -> dict[str, Any]:
    return {
        "intervals": [float(f) for f in measured["frames"]],
        "long_tasks": [float(t) for t in measured["long"]],
        "scrolled_px": float(measured["scrolled"]),
    }


if __name__ == "__main__":
    main()
