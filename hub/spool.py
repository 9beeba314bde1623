"""A durable `EventSink`: an on-disk spool in front of another sink (the hub, or an uplink).

Everything handed over (events, evidence files, late attachments) is first committed to a SQLite
file in WAL mode, so it outlives a crash of the producer (``kill -9``: the commit is in the WAL,
which the operating system holds). Then it is delivered in the order it came (so in order per
source), the oldest first, to the sink behind: straight away when that sink is up, by a
background thread with backoff while it is away. The WAL is synced to the disk (so that it also
outlives a power cut) only for what the sink behind did not take before the producer's call
returns: an entry the hub took at once has the hub's commit as its durable copy, and a power cut
before the call returns loses it as it would lose one the producer had not handed over yet (the
producer's own state goes with it). So the sink costs no sync while the hub is up, one per call
while it is away (``synchronous=NORMAL``; the removal of delivered entries is never synced on its
own: lost, it only delivers them again).

An entry leaves the spool only in the transaction after its delivery; a crash between the two
delivers it again, which the hub's intake, idempotent by event id, takes as a duplicate: every
event counts exactly once. Events and the snapshots they cite go before
clips and late attachments: after an outage the hub learns what happened before it gets the
heavy evidence.

A spool may be paced (`catch_up_per_s`): it delivers at most that many entries a second, in
bursts of a second's worth, so that many boxes coming back at once do not flood the hub. While
the pace holds a backlog back, the producers leave their entries to the background thread rather
than wait.

An event the hub refuses (`EventRejected`, or data the database refuses) is moved to the
``refused`` table with the reason: recorded, not retried forever.

Tracked detections (`keep_detections`, the rows `vision.sink.DetectionSampler` takes for
occupancy and dwell) wait in a table of their own and go last: the drainer thread delivers them,
several spooled batches in one call, once the events, evidence and attachments are through, to a
sink behind that takes them (`DetectionTarget`). They are statistics: never synced on their own,
never delivered in a producer's thread.

A spool may be bounded (`limit_bytes`, counted over what it holds): past the limit it evicts
tracked detections first, then evidence, clips before snapshots, oldest first, and never an event
(`hub.spool_bound`); an event that cited an evicted file names it under ``evicted_evidence``.

Why SQLite: it is in the standard library, one file, transactional, and its WAL mode lets the
producer append while the drainer reads; the spool holds a few thousand small rows at most.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from hub.events import Event
from hub.sink import Delivery, EventSink, Fate, HubUnavailable
from hub.spool_bound import evict, held, uncite_evicted
from hub.store.detections import DetectionRow

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL CHECK (kind IN ('event', 'evidence', 'attach')),
    key        TEXT NOT NULL,  -- the event id; the evidence's SHA-256; the event attached to
    body       BLOB NOT NULL,  -- the event's JSON; the evidence's bytes; the JSON list attached
    media_type TEXT NOT NULL DEFAULT '',
    spooled_at REAL NOT NULL   -- seconds since the epoch
);
-- The order of delivery (events and snapshots first, then clips and attachments), read without the bodies.
CREATE INDEX IF NOT EXISTS spool_delivery ON spool ((kind = 'attach' OR media_type LIKE 'video/%'), seq);
CREATE TABLE IF NOT EXISTS refused (
    seq        INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL,
    key        TEXT NOT NULL,
    reason     TEXT NOT NULL,
    refused_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS detections (  -- tracked detections, a batch a row: delivered last, evicted first
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    rows       INTEGER NOT NULL,
    body       BLOB NOT NULL,  -- JSON: a list of [time, camera, label, confidence, [x1, y1, x2, y2], track]
    spooled_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS evicted (  -- evidence evicted lately: an entry citing it later drops it
    key        TEXT PRIMARY KEY,
    evicted_at REAL NOT NULL
);
"""
BATCH = 200  # entries read from the spool per round: bounds memory while a long backlog drains
MAX_BACKOFF = 5.0  # seconds between retries while the sink behind is away
DETECTIONS_PER_CALL = 2000  # tracked detections handed to the sink behind in one call (one request)


@runtime_checkable
class DetectionTarget(Protocol):
    """A sink behind the spool that also takes tracked detections (an edge box's uplink)."""

    def store_detections(self, rows: Sequence[DetectionRow]) -> None:
        """Store `rows` (a row sent again is stored once); raises `HubUnavailable` when it cannot
        now, another exception when it refuses them."""
        ...


@dataclass(frozen=True, slots=True)
class _Entry:
    seq: int
    kind: str
    key: str
    body: bytes
    media_type: str


@dataclass
class SpoolStats:
    """Counters for /metrics and the status table; `depth` and `age` are read from the spool."""

    spooled: int = 0  # events written to the spool
    delivered: int = 0  # events the sink behind took (duplicates included)
    refused: int = 0  # entries refused and moved aside
    retries: int = 0  # deliveries that found the sink behind away
    evicted_clips: int = 0  # evidence evicted to stay under the limit, clips first
    evicted_snapshots: int = 0
    evicted_bytes: int = 0
    evicted_detections: int = 0  # tracked detections evicted (before any evidence), rows
    evicted_detection_batches: int = 0
    detections_delivered: int = 0  # rows the sink behind took
    last_error: str = ""

    @property
    def evicted(self) -> int:
        """Entries evicted: evidence files and batches of tracked detections."""
        return self.evicted_clips + self.evicted_snapshots + self.evicted_detection_batches


class DurableSink:
    """Spools to `path` and delivers to `target`; call `close()` to stop its drainer thread.
    `limit_bytes` and `catch_up_per_s` (None: unbounded) may be changed while it runs."""

    def __init__(
        self,
        path: Path,
        target: EventSink,
        *,
        clock: Callable[[], float] = time.time,
        limit_bytes: int | None = None,
        catch_up_per_s: float | None = None,
    ) -> None:
        self.path = path
        self.target = target
        self.clock = clock
        self.limit_bytes = limit_bytes
        self.catch_up_per_s = catch_up_per_s
        self.stats = SpoolStats()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # synced where it matters: `_sync`
        self._db.executescript(_SCHEMA)
        self._wal = path.with_name(path.name + "-wal")
        self._synced_folder = False
        # What the spool holds, kept up to date as entries come and go so that a bounded spool's
        # appends need not add it up each time; added up again whenever it crosses the bound.
        self._bytes = held(self._db)
        self._db_lock = threading.RLock()  # one SQLite connection, shared by producers and the drainer
        self._drain_lock = threading.Lock()  # one delivery at a time keeps the order
        self._away = False
        self._catching_up = False  # the pace holds a backlog back: the drainer thread delivers it
        self._tokens = float("inf")  # entries the pace lets go now (a full bucket to start)
        self._refilled = time.monotonic()
        self._results_lock = threading.Lock()
        self._awaited: set[int] = set()  # entries whose producer waits for their delivery
        self._results: dict[int, Delivery] = {}  # their deliveries, until the producer takes them
        self._detections_waiting = True  # a previous run may have left some
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._drainer = threading.Thread(target=self._drain_loop, name="spool-drainer", daemon=True)
        self._drainer.start()
        self._wake.set()  # deliver what a previous run left

    # --- EventSink ----------------------------------------------------------------------------
    def take(self, events: Sequence[Event]) -> list[Delivery]:
        now = self.clock()
        rows = [("event", e.id, e.model_dump_json().encode(), "", now) for e in events]
        seqs = self._append(rows)
        self.stats.spooled += len(events)
        done = self._hand_over(seqs)
        return [done.get(seq) or Delivery(e.id, Fate.SPOOLED) for seq, e in zip(seqs, events, strict=True)]

    def keep(self, data: bytes, media_type: str) -> str:
        sha = hashlib.sha256(data).hexdigest()
        self._hand_over(self._append([("evidence", sha, data, media_type, self.clock())]))
        return sha

    def attach(self, event_id: str, evidence: Sequence[str]) -> None:
        body = ",".join(evidence).encode()
        self._hand_over(self._append([("attach", event_id, body, "", self.clock())]))

    def keep_detections(self, rows: Sequence[DetectionRow]) -> None:
        """Spool tracked detections; the drainer thread delivers them, within a second, after what
        else is waiting. Not synced: a power cut may lose the last seconds of statistics."""
        if not rows:
            return
        body = json.dumps(
            [[r.time.isoformat(), r.camera, r.label, r.confidence, list(r.box), r.track_id] for r in rows],
            separators=(",", ":"),
        ).encode()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO detections (rows, body, spooled_at) VALUES (?, ?, ?)",
                (len(rows), body, self.clock()),
            )
            self._bytes += len(body)
            if self.limit_bytes is not None and self._bytes > self.limit_bytes:
                self._evict(db, self.limit_bytes)
        self._detections_waiting = True

    def detections_waiting(self) -> int:
        """Tracked detections waiting in the spool, rows."""
        with self._db_lock:
            return int(self._db.execute("SELECT coalesce(sum(rows), 0) FROM detections").fetchone()[0])

    # --- state ----------------------------------------------------------------------------------
    def depth(self) -> int:
        """Events waiting in the spool."""
        with self._db_lock:
            row = self._db.execute("SELECT count(*) FROM spool WHERE kind = 'event'").fetchone()
        return int(row[0])

    def age(self) -> float:
        """Seconds the oldest waiting entry has waited; 0 when the spool is empty."""
        with self._db_lock:
            row = self._db.execute("SELECT min(spooled_at) FROM spool").fetchone()
        return 0.0 if row[0] is None else max(0.0, self.clock() - float(row[0]))

    def size(self) -> int:
        """Bytes the spool holds (bodies of its entries; the file's own overhead aside)."""
        with self._db_lock:
            return held(self._db)

    def refusals(self) -> list[tuple[str, str, str]]:
        """(kind, key, reason) of every entry refused, oldest first."""
        with self._db_lock:
            rows = self._db.execute("SELECT kind, key, reason FROM refused ORDER BY seq").fetchall()
        return [(str(k), str(key), str(r)) for k, key, r in rows]

    def counts(self, source: str) -> dict[tuple[str, str], int]:
        """The spool's counters and gauges as ``(source, name) -> value``, as /metrics takes them."""
        s = self.stats
        return {
            (source, "spool_spooled"): s.spooled,
            (source, "spool_delivered"): s.delivered,
            (source, "spool_refused"): s.refused,
            (source, "spool_retries"): s.retries,
            (source, "spool_depth"): self.depth(),
            (source, "spool_age_s"): round(self.age()),
            (source, "spool_bytes"): self.size(),
            (source, "spool_evicted"): s.evicted,
        }

    def drain(self, timeout: float) -> bool:
        """Wait until the spool is empty, tracked detections included (True), or `timeout` seconds
        pass (False)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self._wake.set()
            with self._db_lock:
                empty = (
                    self._db.execute("SELECT 1 FROM spool LIMIT 1").fetchone() is None
                    and self._db.execute("SELECT 1 FROM detections LIMIT 1").fetchone() is None
                )
            if empty:
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        """Stop the drainer; what is still spooled stays on disk for the next run."""
        self._stop.set()
        self._wake.set()
        self._drainer.join(timeout=30)
        with self._db_lock:
            self._db.close()

    # --- delivery -----------------------------------------------------------------------------
    def _append(self, rows: list[tuple[str, str, bytes, str, float]]) -> list[int]:
        with self._transaction() as db:
            seqs = [
                int(
                    db.execute(
                        "INSERT INTO spool (kind, key, body, media_type, spooled_at) VALUES (?, ?, ?, ?, ?)",
                        row,
                    ).lastrowid
                    or 0
                )
                for row in rows
            ]
            self._bytes += sum(len(row[2]) for row in rows)
            if self.limit_bytes is not None and self._bytes > self.limit_bytes:
                self._evict(db, self.limit_bytes)
            uncite_evicted(db, rows)
            return seqs

    def _evict(self, db: sqlite3.Connection, limit: int) -> None:
        """Evict to `limit` (`hub.spool_bound.evict`) inside the appending transaction; counted, and
        said in the log."""
        self._bytes, done = evict(db, limit, self.clock())
        s = self.stats
        s.evicted_clips += done.clips
        s.evicted_snapshots += done.snapshots
        s.evicted_detections += done.detections
        s.evicted_detection_batches += done.detection_batches
        s.evicted_bytes += done.bytes
        if done.detections:
            log.warning(
                "outbox over its limit of %d bytes: evicted %d tracked detection(s) (%d so far) before"
                " any evidence",
                limit,
                done.detections,
                s.evicted_detections,
            )
        if done.files:
            log.warning(
                "outbox over its limit of %d bytes: evicted %d evidence file(s) (%d clips, %d snapshots"
                " so far); no event was dropped",
                limit,
                done.files,
                s.evicted_clips,
                s.evicted_snapshots,
            )

    def _hand_over(self, seqs: list[int]) -> dict[int, Delivery]:
        """Deliver `seqs` now if the sink behind takes them; what it did not take is synced to the
        disk before the producer goes on. The deliveries of `seqs`."""
        done = self._deliver_now(seqs)
        if len(done) < len(seqs):
            self._sync()
        return done

    def _sync(self) -> None:
        """Make every commit so far outlive a power cut: the WAL's writes, and the first time the
        folder's entry of the WAL (as ``synchronous=FULL`` would at each commit)."""
        try:
            fd = os.open(self._wal, os.O_RDONLY)
        except FileNotFoundError:  # checkpointed and removed: the commits are in the synced file
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if not self._synced_folder:
            folder = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
            self._synced_folder = True

    def _deliver_now(self, seqs: list[int]) -> dict[int, Delivery]:
        """Deliver in the caller's thread while the sink behind is up (after whatever is spooled
        before `seqs`); while it is away, the drainer thread retries. The deliveries of `seqs`."""
        if self._away or self._catching_up:
            return {}
        with self._results_lock:
            self._awaited.update(seqs)
        with self._drain_lock:  # a drain in progress may deliver ours: its results are kept for us
            if not (self._away or self._catching_up):
                self._drain()
        with self._results_lock:
            self._awaited.difference_update(seqs)
            return {seq: self._results.pop(seq) for seq in seqs if seq in self._results}

    def _drain_loop(self) -> None:
        delay = 0.2
        pause = 0.0
        while not self._stop.is_set():
            woken = self._wake.wait(pause or (delay if self._away else 1.0))
            self._wake.clear()
            if self._stop.is_set():
                return
            if not (woken or self._away or pause or self._detections_waiting):
                continue  # the producers deliver while the sink behind is up
            with self._drain_lock:
                try:
                    pause = self._drain(detections=True)
                except Exception:  # the drainer must outlive a bug in one delivery
                    log.exception("spool drainer error")
                    pause = 0.0
            delay = min(delay * 2, MAX_BACKOFF) if self._away else 0.2

    def _drain(self, detections: bool = False) -> float:
        """Deliver the spool, oldest first (events and the snapshots they cite before clips and
        attachments, then with `detections` the tracked detections), until it is empty or the sink
        behind is away: 0; or until the pace holds it back: the seconds to wait."""
        while not self._stop.is_set():
            allowed = self._allowed()
            if allowed < 1:
                self._catching_up = True
                return (1 - self._tokens) / (self.catch_up_per_s or 1)
            with self._db_lock:  # ordered by spool_delivery; only the batch's bodies are read
                rows = self._db.execute(
                    "SELECT seq, kind, key, body, media_type FROM spool WHERE seq IN (SELECT seq FROM spool"
                    " ORDER BY kind = 'attach' OR media_type LIKE 'video/%', seq LIMIT ?)"
                    " ORDER BY kind = 'attach' OR media_type LIKE 'video/%', seq",
                    (min(BATCH, allowed),),
                ).fetchall()
            try:
                if not rows:
                    if not (detections and self._deliver_detections()):
                        self._away = self._catching_up = False
                        return 0.0
                else:
                    self._tokens -= len(rows)
                    entries = [_Entry(int(s), str(k), str(key), bytes(b), str(m)) for s, k, key, b, m in rows]
                    for run in _runs(entries):
                        self._deliver(run)
            except HubUnavailable as exc:
                if not self._away:
                    log.warning("hub away (%s): spooling until it is back", exc)
                self._away = True
                self.stats.retries += 1
                self.stats.last_error = str(exc)
                return 0.0
            if self._away:
                log.info("hub back: delivering the spool")
            self._away = False
        return 0.0

    def _allowed(self) -> int:
        """Entries the pace lets go now: a token bucket refilled at `catch_up_per_s`, holding a
        second's worth at most (unpaced: a whole batch)."""
        rate = self.catch_up_per_s
        now = time.monotonic()
        if rate is None:
            self._tokens, self._refilled = float(BATCH), now
            return BATCH
        self._tokens = min(max(rate, 1.0), self._tokens + (now - self._refilled) * rate)
        self._refilled = now
        return int(self._tokens)

    def _deliver_detections(self) -> bool:
        """Hand the oldest spooled batches of tracked detections (up to `DETECTIONS_PER_CALL` rows)
        to the sink behind in one call; whether there were any. A refused call is tried again batch
        by batch, to record aside only the batch refused."""
        if not isinstance(self.target, DetectionTarget):
            self._detections_waiting = False
            return False
        with self._db_lock:  # a batch spooled after this read sets the flag again
            self._detections_waiting = False
            spooled = self._db.execute(
                "SELECT seq, rows, body FROM detections ORDER BY seq LIMIT 200"
            ).fetchall()
        batches: list[tuple[int, bytes]] = []
        total = 0
        for seq, count, body in spooled:
            if batches and total + int(count) > DETECTIONS_PER_CALL:
                break
            batches.append((int(seq), bytes(body)))
            total += int(count)
        if not batches:
            return False
        self._tokens -= 1
        try:
            self.target.store_detections([row for _, body in batches for row in _detection_rows(body)])
        except HubUnavailable:
            raise
        except Exception as exc:
            if len(batches) > 1:
                for seq, body in batches:
                    self._store_detections_alone(self.target, seq, body)
                return True
            self._refuse_detections(batches[0][0], f"{type(exc).__name__}: {exc}")
            return True
        self._settle_detections([seq for seq, _ in batches], total)
        return True

    def _store_detections_alone(self, target: DetectionTarget, seq: int, body: bytes) -> None:
        rows = _detection_rows(body)
        try:
            target.store_detections(rows)
        except HubUnavailable:
            raise
        except Exception as exc:
            self._refuse_detections(seq, f"{type(exc).__name__}: {exc}")
            return
        self._settle_detections([seq], len(rows))

    def _refuse_detections(self, seq: int, reason: str) -> None:
        log.warning("spooled tracked detections (batch %d) refused: %s", seq, reason)
        with self._transaction() as db:
            db.execute(  # numbered apart from the spool's entries, which are positive
                "INSERT OR REPLACE INTO refused VALUES (?, 'detections', ?, ?, ?)",
                (-seq, f"batch {seq}", reason[:500], self.clock()),
            )
            self._forget_detections(db, [seq])
        self.stats.refused += 1

    def _settle_detections(self, seqs: list[int], rows: int) -> None:
        with self._transaction() as db:
            self._forget_detections(db, seqs)
        self.stats.detections_delivered += rows

    def _forget_detections(self, db: sqlite3.Connection, seqs: list[int]) -> None:
        for seq in seqs:
            row = db.execute("DELETE FROM detections WHERE seq = ? RETURNING length(body)", (seq,)).fetchone()
            if row is not None:  # not evicted meanwhile
                self._bytes -= int(row[0])

    def _deliver(self, run: list[_Entry]) -> None:
        """Deliver a run of entries of one kind; each leaves the spool once delivered or refused."""
        head = run[0]
        if head.kind == "event":
            events = [Event.model_validate_json(e.body) for e in run]
            try:
                outcomes = self.target.take(events)
            except HubUnavailable as exc:
                self._settle(run[: len(exc.delivered)], exc.delivered)
                raise
            except Exception as exc:  # data the database refuses: one at a time, to find which
                if len(run) > 1:
                    for entry in run:
                        self._deliver([entry])
                    return
                outcomes = [Delivery(head.key, Fate.REFUSED, reason=f"{type(exc).__name__}: {exc}"[:500])]
            self._settle(run, outcomes)
            return
        try:
            if head.kind == "evidence":
                self.target.keep(head.body, head.media_type)
            else:
                self.target.attach(head.key, [s for s in head.body.decode().split(",") if s])
        except HubUnavailable:
            raise
        except Exception as exc:
            log.warning("spooled %s %s refused: %s", head.kind, head.key, exc)
            self._settle([head], [Delivery(head.key, Fate.REFUSED, reason=str(exc)[:500])])
            return
        self._settle([head], [Delivery(head.key, Fate.TAKEN)])

    def _settle(self, entries: list[_Entry], outcomes: list[Delivery]) -> None:
        """Remove delivered entries from the spool; refused ones are recorded aside."""
        if not entries:
            return
        now = self.clock()
        # Never synced on its own: a settlement lost in a power cut delivers its entries again,
        # which the hub takes as duplicates.
        with self._transaction() as db:
            for entry, outcome in zip(entries, outcomes, strict=True):
                if outcome.fate is Fate.REFUSED:
                    db.execute(
                        "INSERT OR REPLACE INTO refused VALUES (?, ?, ?, ?, ?)",
                        (entry.seq, entry.kind, entry.key, outcome.reason, now),
                    )
                if db.execute("DELETE FROM spool WHERE seq = ?", (entry.seq,)).rowcount:  # not evicted
                    self._bytes -= len(entry.body)
        with self._results_lock:
            for entry, outcome in zip(entries, outcomes, strict=True):
                if outcome.fate is Fate.REFUSED:
                    self.stats.refused += 1
                elif entry.kind == "event":
                    self.stats.delivered += 1
                if entry.seq in self._awaited:
                    self._results[entry.seq] = outcome

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, committed to the WAL (not synced: `_sync`)."""
        with self._db_lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")


def _detection_rows(body: bytes) -> list[DetectionRow]:
    return [
        DetectionRow(datetime.fromisoformat(at), camera, label, float(conf), (x1, y1, x2, y2), int(track))
        for at, camera, label, conf, (x1, y1, x2, y2), track in json.loads(body)
    ]


def _runs(entries: list[_Entry]) -> Iterator[list[_Entry]]:
    """Consecutive events together (one call to the sink behind); evidence and attachments alone."""
    run: list[_Entry] = []
    for entry in entries:
        if run and (entry.kind != "event" or run[0].kind != "event"):
            yield run
            run = []
        run.append(entry)
    if run:
        yield run
