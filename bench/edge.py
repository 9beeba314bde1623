"""An edge box's outbox against a local hub: what the outbox costs, and a catch-up after an outage.

    .venv/bin/python -m bench.edge [--events 300] [--snapshot-kb 50] [--backlog 480] [--pace 20]

1. *Straight* (the reference): each event's 50 KB snapshot PUT, then the event POSTed, by the
   uplink alone, nothing on disk. *Outbox*: the same through `hub.spool.DurableSink` (each
   snapshot and event committed to SQLite first, synced only when the hub did not take it at
   once). Interleaved, `--rounds` rounds in alternating order, median.
   *The outbox alone*: its time per event (snapshot and event) in front of a sink that takes
   everything at once without any I/O, and the same with the WAL synced at every hand-over (as
   the outbox did before: ``synchronous=FULL``), to show what a hub on another machine would see.
2. *Catch-up*: a backlog spooled while the hub was unreachable (8 cameras for 10 minutes, an event
   each every 10 s by default: 480 events, each with its snapshot) is delivered at `--pace`
   entries a second once the hub is back. Measured: the time to drain, and the operators' first
   page (GET /alerts?limit=50, 4 clients) p95 during the drain against the same with no drain.

Uses OFFSITE_DATABASE_URL's server when set, else an embedded one; a database of its own, dropped
afterwards. The hub runs as `offsite up --api` in a process of its own.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from rich.console import Console

from api.auth import create_token
from bench.scratch import scratch_database
from bench.serving import offsite_up
from edge.uplink import HubUplink
from hub.events import Event, Outcome
from hub.host import free_port
from hub.sink import Delivery, EventSink, Fate
from hub.spool import DurableSink
from hub.store.db import open_database
from hub.store.migrate import upgrade

REPO = Path(__file__).resolve().parent.parent
SITE = "lintong-hall"
SOURCES = [("camera:hall-window-1", "window-absence"), ("camera:hall-waiting", "hall-queue")]
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"


def scenario(prefix: str, count: int, start: datetime, every: timedelta) -> list[Event]:
    """`count` events of the hall's two cameras, firing and clearing in turn, `every` apart."""
    out = []
    for n in range(count):
        source, rule = SOURCES[n % 2]
        at = start + n * every
        out.append(
            Event.model_validate(
                {"id": f"{prefix}-{n}", "time": at, "source": source, "site": SITE, "rule": rule}
                | ({"cleared": True} if n % 6 in (4, 5) else {})
            )
        )
    return out


def send(sink: EventSink, events: list[Event], snapshot_bytes: int) -> None:
    """As the box does: each finding's snapshot kept, then the event citing it."""
    for n, e in enumerate(events):
        if not e.cleared:
            picture = JPEG + n.to_bytes(8, "big") + os.urandom(snapshot_bytes - len(JPEG) - 8)
            e = e.model_copy(update={"evidence": [sink.keep(picture, "image/jpeg")]})
        sink.take([e])


class Nowhere:
    """A sink that takes everything at once and keeps nothing: the outbox's own cost shows."""

    def take(self, events: Sequence[Event]) -> list[Delivery]:
        return [Delivery(e.id, Fate.TAKEN, Outcome.OPENED) for e in events]

    def keep(self, data: bytes, media_type: str) -> str:
        return hashlib.sha256(data).hexdigest()

    def attach(self, event_id: str, evidence: Sequence[str]) -> None:
        return None


class SyncedAlways(DurableSink):
    """The outbox as it was: every hand-over synced, taken at once or not."""

    def _hand_over(self, seqs: list[int]) -> dict[int, Delivery]:
        done = super()._hand_over(seqs)
        self._sync()
        return done


def alone(sink_of: type[DurableSink], events: list[Event], kb: int, tmp: Path) -> float:
    """Milliseconds per event (with its snapshot) that the outbox adds in front of `Nowhere`."""
    sink = sink_of(tmp / f"alone-{events[0].id}.sqlite", Nowhere())
    try:
        start = time.perf_counter()
        send(sink, events, kb * 1024)
        took = time.perf_counter() - start
        assert sink.depth() == 0
    finally:
        sink.close()
    return took * 1000 / len(events)


def rate(
    sink_of: type[DurableSink] | None, url: str, token: str, events: list[Event], kb: int, tmp: Path
) -> float:
    """Events per second through the outbox (`sink_of`) or straight (None)."""
    uplink = HubUplink(url, token)
    sink: EventSink = uplink if sink_of is None else sink_of(tmp / f"{events[0].id}.sqlite", uplink)
    try:
        start = time.perf_counter()
        send(sink, events, kb * 1024)
        if isinstance(sink, DurableSink):
            assert sink.drain(60) and sink.depth() == 0
        return len(events) / (time.perf_counter() - start)
    finally:
        if isinstance(sink, DurableSink):
            sink.close()
        uplink.close()


def first_page(url: str, token: str, stop: threading.Event, clients: int = 4) -> list[float]:
    """Milliseconds of GET /alerts?limit=50 from `clients` operators, until `stop`."""
    samples: list[float] = []

    def operator() -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
            while not stop.is_set():
                start = time.perf_counter()
                c.get("/alerts", params={"limit": 50}).raise_for_status()
                samples.append((time.perf_counter() - start) * 1000)
                time.sleep(0.05)  # an operator's screen refreshing, not a load generator

    threads = [threading.Thread(target=operator) for _ in range(clients)]
    for t in threads:
        t.start()
    return samples


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[18]


def catch_up(url: str, box: str, operator: str, args: argparse.Namespace, tmp: Path) -> None:
    console = Console(soft_wrap=True)
    stop = threading.Event()
    quiet = first_page(url, operator, stop)
    time.sleep(5)
    stop.set()
    time.sleep(0.5)
    events = scenario(
        "outage", args.backlog, datetime.now(UTC) - timedelta(minutes=10), timedelta(seconds=1.25)
    )
    dead = HubUplink(f"http://127.0.0.1:{free_port()}", box, timeout=1)  # the link down: refused
    outbox = DurableSink(tmp / "backlog.sqlite", dead)
    send(outbox, events, args.snapshot_kb * 1024)
    outbox.close()
    dead.close()
    uplink = HubUplink(url, box)
    stop = threading.Event()
    busy = first_page(url, operator, stop)
    start = time.perf_counter()
    outbox = DurableSink(tmp / "backlog.sqlite", uplink, catch_up_per_s=args.pace)
    drained = outbox.drain(3600)
    took = time.perf_counter() - start
    stop.set()
    outbox.close()
    uplink.close()
    entries = sum(1 for e in events if not e.cleared) + len(events)
    console.print(
        f"catch-up: {len(events)} events + {entries - len(events)} snapshots at {args.pace:g}/s:"
        f" drained={drained} in {took:.1f} s ({entries / took:.1f} entries/s);"
        f" first page p95 {p95(busy):.1f} ms during ({len(busy)} calls) vs {p95(quiet):.1f} ms quiet"
        f" ({len(quiet)} calls): ratio {p95(busy) / p95(quiet):.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=300, help="per configuration and round")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of each comparison")
    parser.add_argument("--snapshot-kb", type=int, default=50)
    parser.add_argument("--backlog", type=int, default=480, help="events spooled during the outage")
    parser.add_argument("--pace", type=float, default=20.0, help="the outbox's catch_up_per_s")
    args = parser.parse_args()
    console = Console(soft_wrap=True)
    load = os.getloadavg()
    console.print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as folder, scratch_database("offsite_bench_edge", Path(folder)) as dsn:
        tmp = Path(folder)
        (tmp / "hub").mkdir()
        with offsite_up(dsn, tmp / "hub") as served:
            url = served.url
            db = open_database(dsn, tmp, pool_size=1)
            try:  # once the hub has loaded its deployment, which the tokens' site is checked against
                _, backend = upgrade(db)
                with db.transaction() as conn:
                    now = datetime.now(UTC)
                    box = create_token(conn, "bench-box", "edge", now, site=SITE)
                    operator = create_token(conn, "bench-operator", "operator", now)
            finally:
                db.close()
            console.print(backend.describe())
            start = datetime.now(UTC) - timedelta(hours=1)
            straight: list[float] = []
            spooled: list[float] = []
            ratios: list[float] = []
            for round_ in range(args.rounds):
                setups = [("straight", None, straight), ("outbox", DurableSink, spooled)]
                for name, sink_of, out in setups[:: 1 if round_ % 2 == 0 else -1]:
                    events = scenario(f"{name}{round_}", args.events, start, timedelta(seconds=1))
                    start += timedelta(seconds=args.events)
                    out.append(rate(sink_of, url, box, events, args.snapshot_kb, tmp))
                ratios.append(spooled[-1] / straight[-1])
            s, o, r = statistics.median(straight), statistics.median(spooled), statistics.median(ratios)
            console.print(
                f"{args.events} events with {args.snapshot_kb} KB snapshots, median of {args.rounds} rounds:"
                f" straight {s:.1f} ev/s {[round(x, 1) for x in straight]}, outbox {o:.1f} ev/s"
                f" {[round(x, 1) for x in spooled]}: ratio of each round {[round(x, 2) for x in ratios]},"
                f" median {r:.2f} (cost {100 * (1 - r):.0f} %)"
            )
            own: dict[str, list[float]] = {"synced when kept": [], "synced always": []}
            for round_ in range(args.rounds):
                for name, sink_of in (("synced when kept", DurableSink), ("synced always", SyncedAlways)):
                    events = scenario(f"alone-{name.split()[-1]}-{round_}", args.events, start, timedelta(0))
                    own[name].append(alone(sink_of, events, args.snapshot_kb, tmp))
            console.print(
                "the outbox alone, ms per event and its snapshot: "
                + "; ".join(
                    f"{k} {statistics.median(v):.3f} {[round(x, 3) for x in v]}" for k, v in own.items()
                )
            )
            catch_up(url, box, operator, args, tmp)


if __name__ == "__main__":
    main()
