"""A durable `EventSink`: an on-disk spool in front of another sink (the hub, or an uplink).

Everything handed over (events, evidence files, late attachments) is first committed to a SQLite
file in WAL mode with ``synchronous=FULL``, so it outlives a crash of the producer (``kill -9``)
and a power cut (the removal of delivered entries is not synced on its own: lost, it only
delivers them again). Then it is delivered in the order it came (so in order per source), the oldest
first, to the sink behind: straight away when that sink is up, by a background thread with
backoff while it is away. An entry leaves the spool only in the transaction after its delivery;
a crash between the two delivers it again, which the hub's intake, idempotent by event id, takes
as a duplicate: every event counts exactly once. Events and the snapshots they cite go before
clips and late attachments: after an outage the hub learns what happened before it gets the
heavy evidence.

A spool may be paced (`catch_up_per_s`): it delivers at most that many entries a second, in
bursts of a second's worth, so that many boxes coming back at once do not flood the hub. While
the pace holds a backlog back, the producers leave their entries to the background thread rather
than wait.

An event the hub refuses (`EventRejected`, or data the database refuses) is moved to the
``refused`` table with the reason: recorded, not retried forever.

A spool may be bounded (`limit_bytes`, counted over what it holds): past the limit it evicts
evidence, clips (``video/*``) before snapshots, oldest first, and never an event, which stays
while the disk holds one more. An evicted file's hash leaves the spooled events and attachments
that cite it (the hub would refuse a citation of a file it never got) and is named in the
event's payload under ``evicted_evidence``, so the loss shows at the hub.

Why SQLite: it is in the standard library, one file, transactional, and its WAL mode lets the
producer append while the drainer reads; the spool holds a few thousand small rows at most.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import JsonValue

from hub.events import Event
from hub.sink import Delivery, EventSink, Fate, HubUnavailable

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
CREATE TABLE IF NOT EXISTS evicted (  -- evidence evicted lately: an entry citing it later drops it
    key        TEXT PRIMARY KEY,
    evicted_at REAL NOT NULL
);
"""
BATCH = 200  # entries read from the spool per round: bounds memory while a long backlog drains
MAX_BACKOFF = 5.0  # seconds between retries while the sink behind is away
EVICTED_KEPT = 86400.0  # seconds an evicted hash is remembered: longer than a clip takes to cut


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
    last_error: str = ""

    @property
    def evicted(self) -> int:
        return self.evicted_clips + self.evicted_snapshots


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
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        # What the spool holds, kept up to date as entries come and go so that a bounded spool's
        # appends need not add it up each time; added up again whenever it crosses the bound.
        self._bytes = self._held()
        self._db_lock = threading.RLock()  # one SQLite connection, shared by producers and the drainer
        self._drain_lock = threading.Lock()  # one delivery at a time keeps the order
        self._away = False
        self._catching_up = False  # the pace holds a backlog back: the drainer thread delivers it
        self._tokens = float("inf")  # entries the pace lets go now (a full bucket to start)
        self._refilled = time.monotonic()
        self._results_lock = threading.Lock()
        self._awaited: set[int] = set()  # entries whose producer waits for their delivery
        self._results: dict[int, Delivery] = {}  # their deliveries, until the producer takes them
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
        done = self._deliver_now(seqs)
        return [done.get(seq) or Delivery(e.id, Fate.SPOOLED) for seq, e in zip(seqs, events, strict=True)]

    def keep(self, data: bytes, media_type: str) -> str:
        sha = hashlib.sha256(data).hexdigest()
        self._deliver_now(self._append([("evidence", sha, data, media_type, self.clock())]))
        return sha

    def attach(self, event_id: str, evidence: Sequence[str]) -> None:
        body = ",".join(evidence).encode()
        self._deliver_now(self._append([("attach", event_id, body, "", self.clock())]))

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
            return self._held()

    def _held(self) -> int:
        return int(self._db.execute("SELECT coalesce(sum(length(body)), 0) FROM spool").fetchone()[0])

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
        """Wait until the spool is empty (True) or `timeout` seconds pass (False)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self._wake.set()
            with self._db_lock:
                empty = self._db.execute("SELECT 1 FROM spool LIMIT 1").fetchone() is None
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
            _uncite_evicted(db, rows)
            return seqs

    def _evict(self, db: sqlite3.Connection, limit: int) -> None:
        """Evict evidence, clips first, oldest first, until the spool holds at most `limit` bytes;
        events stay whatever they weigh. Inside the appending transaction."""
        size = self._held()
        if size <= limit:
            self._bytes = size
            return
        candidates = db.execute(
            "SELECT seq, key, length(body), media_type LIKE 'video/%' FROM spool WHERE kind = 'evidence'"
            " ORDER BY media_type LIKE 'video/%' DESC, seq"
        ).fetchall()
        evicted: set[str] = set()
        for seq, key, length, is_clip in candidates:
            if size <= limit:
                break
            db.execute("DELETE FROM spool WHERE seq = ?", (seq,))
            size -= int(length)
            evicted.add(str(key))
            self.stats.evicted_bytes += int(length)
            if is_clip:
                self.stats.evicted_clips += 1
            else:
                self.stats.evicted_snapshots += 1
        self._bytes = size
        gone = {
            sha
            for sha in evicted
            if db.execute("SELECT 1 FROM spool WHERE kind = 'evidence' AND key = ?", (sha,)).fetchone()
            is None
        }
        if gone:
            now = self.clock()
            db.executemany("INSERT OR REPLACE INTO evicted VALUES (?, ?)", [(sha, now) for sha in gone])
            db.execute("DELETE FROM evicted WHERE evicted_at < ?", (now - EVICTED_KEPT,))
            _uncite(db, gone)
            log.warning(
                "outbox over its limit of %d bytes: evicted %d evidence file(s) (%d clips, %d snapshots"
                " so far); no event was dropped",
                limit,
                len(gone),
                self.stats.evicted_clips,
                self.stats.evicted_snapshots,
            )

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
            if not (woken or self._away or pause):
                continue  # the producers deliver while the sink behind is up
            with self._drain_lock:
                try:
                    pause = self._drain()
                except Exception:  # the drainer must outlive a bug in one delivery
                    log.exception("spool drainer error")
                    pause = 0.0
            delay = min(delay * 2, MAX_BACKOFF) if self._away else 0.2

    def _drain(self) -> float:
        """Deliver the spool, oldest first (events and the snapshots they cite before clips and
        attachments), until it is empty or the sink behind is away: 0; or until the pace holds it
        back: the seconds to wait."""
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
            if not rows:
                self._away = self._catching_up = False
                return 0.0
            self._tokens -= len(rows)
            entries = [_Entry(int(s), str(k), str(key), bytes(b), str(m)) for s, k, key, b, m in rows]
            try:
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
        # Not synced on its own: a settlement lost in a power cut delivers its entries again, which
        # the hub takes as duplicates; the next append's sync makes it durable with itself.
        with self._transaction(synced=False) as db:
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
    def _transaction(self, synced: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction; `synced`: its commit waits for the disk (synchronous=FULL), else
        it is written to the WAL and synced with the next synced commit (NORMAL)."""
        with self._db_lock:
            if not synced:
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")
            finally:
                if not synced:
                    self._db.execute("PRAGMA synchronous=FULL")


def _uncite_evicted(db: sqlite3.Connection, rows: list[tuple[str, str, bytes, str, float]]) -> None:
    """Drop from events and attachments just spooled the evidence evicted before they came (a clip
    evicted as it was kept, before the attachment naming it)."""
    if db.execute("SELECT 1 FROM evicted LIMIT 1").fetchone() is None:
        return
    cited: set[str] = set()
    for kind, _, body, _, _ in rows:
        if kind == "attach":
            cited.update(s for s in body.decode().split(",") if s)
        elif kind == "event":
            cited.update(Event.model_validate_json(body).evidence)
    gone = {
        sha
        for sha in cited
        if db.execute("SELECT 1 FROM evicted WHERE key = ?", (sha,)).fetchone() is not None
        and db.execute("SELECT 1 FROM spool WHERE kind = 'evidence' AND key = ?", (sha,)).fetchone() is None
    }
    if gone:
        _uncite(db, gone)


def _uncite(db: sqlite3.Connection, gone: set[str]) -> None:
    """Remove evicted hashes from the spooled events and attachments citing them; an event names
    them in its payload's ``evicted_evidence``, an attachment left with nothing is dropped."""
    citing = {
        (int(seq), str(kind), bytes(body))
        for sha in gone
        for seq, kind, body in db.execute(
            "SELECT seq, kind, body FROM spool WHERE kind IN ('event', 'attach')"
            " AND instr(CAST(body AS TEXT), ?) > 0",
            (sha,),
        )
    }
    for seq, kind, body in sorted(citing):
        if kind == "attach":
            kept = [s for s in body.decode().split(",") if s and s not in gone]
            if kept:
                db.execute("UPDATE spool SET body = ? WHERE seq = ?", (",".join(kept).encode(), seq))
            else:
                db.execute("DELETE FROM spool WHERE seq = ?", (seq,))
            continue
        event = Event.model_validate_json(body)
        if not gone.intersection(event.evidence):
            continue
        before = event.payload.get("evicted_evidence")
        lost: list[JsonValue] = [*(before if isinstance(before, list) else [])]
        lost += [s for s in event.evidence if s in gone]
        event = event.model_copy(
            update={
                "evidence": [s for s in event.evidence if s not in gone],
                "payload": {**event.payload, "evicted_evidence": lost},
            }
        )
        db.execute("UPDATE spool SET body = ? WHERE seq = ?", (event.model_dump_json().encode(), seq))


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
