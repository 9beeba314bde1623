"""Delivery of the outbox (hub/outbox.py) to the destinations of `outputs:`: fan-out, signed POSTs
to webhooks, batches of records to the provincial exchange, retries with back-off and jitter, dead
letters, order kept per record.

Several processes may run `Deliverer.round` on one database: the fan-out runs one at a time (an
advisory lock), and each due delivery is taken with FOR UPDATE SKIP LOCKED. A change is POSTed
inside the transaction that holds its row: a process killed mid-send leaves the row pending, and
it is sent again with the same idempotency key (`webhook-id`; an exchange record's `cd_id`), so a
receiver that keeps the keys it has seen takes every change exactly once. A later change of a
record waits while an earlier one of the same record is pending or dead, for that destination.
Within a round each destination has a sender thread of its own, so that a slow receiver (up to
its `timeout`) holds up no other. `offsite up` runs the rounds in processes of their own
(offsite/delivering.py), off the intake's interpreter; POSTs go through urllib3, which takes a
third of httpx's CPU per POST (BENCHMARKS.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import random
import threading
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import urllib3

from hub import audit
from hub.backoff import jittered_delay
from hub.config import Deployment
from hub.config.outputs import Exchange, Webhook
from hub.store.db import Connection, Database

log = logging.getLogger(__name__)

FAN_OUT_LOCK = 0x6F7574626F78  # "outbox": one fan-out at a time across processes
MIN_SECRET = 16
# Delivered changes are kept this long (what a receiver may ask about, and the idempotency
# window), then removed with the rows no destination wanted.
KEEP_DELIVERED = timedelta(days=7)
PRUNE_EVERY = timedelta(hours=1)


# The columns of a record that the exchange layout carries under names of its own (cd_*), and
# the serial number, which is the hub's alone (`record_id` is the record's lasting key).
_EXCHANGE_HEAD = {"operation": "cd_operation", "exchange_source": "cd_source", "exchange_time": "cd_time"}
_NOT_EXCHANGED = ("id", "batch_id")


class OutputError(ValueError):
    """A destination that cannot run as configured (its secret missing from the environment)."""


@dataclass(frozen=True)
class Destination:
    """One configured destination with its secret (a webhook's signing key, the exchange's
    token) and its filters resolved."""

    config: Webhook | Exchange
    secret: bytes
    department_codes: frozenset[str]

    @property
    def name(self) -> str:
        return self.config.id

    def wants(
        self,
        kind: str,
        site: str | None,
        department: str | None,
        severity: str | None,
        supervisors: Collection[str] = (),
    ) -> bool:
        """Whether the destination's filters let this change through; a filter that is set lets
        nothing through that lacks its attribute (an alert has no department). A department
        filter also takes the changes of a clue escalated to one of its departments (their ids
        in `supervisors`), from the escalation on."""
        c = self.config
        kinds, severities = (c.kinds, c.severities) if isinstance(c, Webhook) else (["record"], [])
        return (
            kind in kinds
            and (not c.sites or site in c.sites)
            and (
                not self.department_codes
                or department in self.department_codes
                or not set(c.departments).isdisjoint(supervisors)
            )
            and (not severities or severity in severities)
        )

    def backoff(self, attempts: int, rng: random.Random) -> timedelta:
        """Wait after the `attempts`-th failure: doubling from `backoff`, capped at `backoff_max`,
        with "equal jitter" (half fixed, half random) so that retries of many changes spread out."""
        c = self.config
        return timedelta(seconds=jittered_delay(c.backoff, c.backoff_max, attempts - 1, rng))


def _secret(text: str) -> bytes:
    # Standard Webhooks secrets are "whsec_" + base64; anything else is taken as it stands.
    return base64.b64decode(text[6:]) if text.startswith("whsec_") else text.encode()


def destinations(deployment: Deployment, environ: Mapping[str, str] | None = None) -> list[Destination]:
    """The deployment's outputs with their secrets from the environment, or OutputError naming the
    output and the variable."""
    environ = os.environ if environ is None else environ
    codes = {d.id: d.code for d in deployment.departments}
    found = []
    for i, output in enumerate(deployment.outputs):
        variable, what = (
            (output.secret_env, "signing secret")
            if isinstance(output, Webhook)
            else (output.token_env, "exchange's access token")
        )
        text = environ.get(variable, "")
        if len(text) < MIN_SECRET:
            state = "too short" if text else "unset"
            raise OutputError(
                f"outputs[{i}] ({output.id}): environment variable {variable} must hold the"
                f" {what} (at least {MIN_SECRET} characters); it is {state}"
            )
        secret = _secret(text) if isinstance(output, Webhook) else text.encode()
        found.append(Destination(output, secret, frozenset(codes[d] for d in output.departments)))
    return found


def sign(secret: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: v1,<base64 HMAC-SHA256 of "id.timestamp.body">."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode()


def fan_out(conn: Connection, targets: list[Destination], limit: int = 1000) -> int:
    """Turn new outbox rows into one delivery per destination that wants them; how many rows were
    taken (0 when another process is fanning out)."""
    locked = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (FAN_OUT_LOCK,)).fetchone()
    if not (locked and locked[0]):
        return 0
    rows = conn.execute(
        "SELECT id, kind, subject, site, department, severity, created_at,"
        " CASE kind WHEN 'clue' THEN body->'supervisors' END FROM outbox"
        " WHERE NOT fanned ORDER BY id LIMIT %s",
        (limit,),
    ).fetchall()
    if not rows:
        return 0
    deliveries = [
        (row[0], t.name, row[1], row[2], row[6])
        for row in rows
        for t in targets
        if t.wants(row[1], row[3], row[4], row[5], row[7] or ())
    ]
    if deliveries:  # one statement, the columns as arrays: 27 ms for 1000, against 45 a row at a time
        conn.execute(
            "INSERT INTO outbox_deliveries (outbox_id, destination, kind, subject, next_at)"
            " SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::bigint[], %s::timestamptz[])"
            " ON CONFLICT DO NOTHING",
            [list(column) for column in zip(*deliveries, strict=True)],
        )
    conn.execute("UPDATE outbox SET fanned = true WHERE id = ANY(%s)", ([row[0] for row in rows],))
    return len(rows)


@dataclass(frozen=True)
class Round:
    """What one delivery round did."""

    fanned: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0


_DUE = """
SELECT d.id, d.destination, d.attempts, o.id, o.kind, o.subject, o.change, o.created_at, o.body
FROM outbox_deliveries d JOIN outbox o ON o.id = d.outbox_id
WHERE d.state = 'pending' AND d.next_at <= %(now)s AND d.destination = ANY(%(names)s)
  AND NOT EXISTS (
    SELECT 1 FROM outbox_deliveries e
    WHERE e.destination = d.destination AND e.kind = d.kind AND e.subject = d.subject
      AND e.outbox_id < d.outbox_id AND e.state <> 'delivered')
ORDER BY d.next_at, d.id
LIMIT %(limit)s
FOR UPDATE OF d SKIP LOCKED
"""


def exchange_record(outbox_id: int, record: dict[str, Any]) -> dict[str, Any]:
    """A record as it stood after a change, in the exchange layout: its key for the receiver
    (`cd_id`, the same on every retry), the operation I/U/D, source and time, then its fields."""
    head = {"cd_id": f"msg_{outbox_id}"} | {cd: record[column] for column, cd in _EXCHANGE_HEAD.items()}
    rest = {k: v for k, v in record.items() if k not in _EXCHANGE_HEAD and k not in _NOT_EXCHANGED}
    return head | rest


# A due delivery: (its id, attempts so far), then its change's outbox id, kind, subject, action,
# time and body.
_Due = tuple[tuple[int, int], int, str, int, str, datetime, dict[str, Any]]


@dataclass
class _Outcome:
    """What a round did so far: deliveries taken, failed and dead."""

    taken: list[int] = field(default_factory=list)
    failed: int = 0
    dead: int = 0

    def settle(
        self,
        conn: Connection,
        target: Destination,
        deliveries: list[tuple[int, int]],
        error: str | None,
        now: datetime,
        rng: random.Random,
    ) -> None:
        """Count deliveries (id, attempts so far) that went out together as taken, or as failed
        once more: due again after the back-off, dead after the destination's last attempt."""
        if error is None:
            self.taken += [delivery_id for delivery_id, _ in deliveries]
            return
        for delivery_id, attempts in deliveries:
            attempts += 1
            final = attempts >= target.config.max_attempts
            conn.execute(
                "UPDATE outbox_deliveries SET state = %s, attempts = %s, next_at = %s, last_error = %s"
                " WHERE id = %s",
                (
                    "dead" if final else "pending",
                    attempts,
                    now + target.backoff(attempts, rng),
                    error,
                    delivery_id,
                ),
            )
            self.dead += final
            self.failed += not final


@dataclass
class Deliverer:
    """Fans out and delivers in rounds; `clock` and `rng` are injected so tests move time."""

    db: Database
    targets: list[Destination]
    clock: Callable[[], datetime]
    rng: random.Random = field(default_factory=random.Random)
    batch: int = 100
    # One connection pool per destination for all rounds: connections are kept alive between
    # changes to a receiver (a pool of its own: half the CPU of a PoolManager's request).
    pools: dict[str, tuple[urllib3.HTTPConnectionPool, str]] = field(init=False)

    def __post_init__(self) -> None:
        self.pools = {t.name: _pool(t.config) for t in self.targets}

    def round(self) -> Round:
        """One fan-out and one batch of due deliveries, each in a transaction of its own. Without
        destinations the fan-out still marks the rows, so that pruning removes them."""
        with self.db.transaction() as conn:
            fanned = fan_out(conn, self.targets)
        if not self.targets:
            return Round(fanned)
        by_name = {t.name: t for t in self.targets}
        now = self.clock()
        outcome = _Outcome()
        with self.db.transaction() as conn:
            due = conn.execute(_DUE, {"now": now, "names": list(by_name), "limit": self.batch}).fetchall()
            rows: dict[str, list[_Due]] = {}
            for delivery_id, name, attempts, *change in due:
                rows.setdefault(name, []).append(((delivery_id, attempts), *change))
            # One sender per destination, side by side: a slow or failing receiver holds up only
            # its own changes. The database is written here, on this thread, once all are back.
            work = [(by_name[name], found, now) for name, found in rows.items()]
            if len(work) > 1:
                with ThreadPoolExecutor(len(work), thread_name_prefix="delivery") as pool:
                    sent = list(pool.map(lambda w: self._push(*w), work))
            else:
                sent = [self._push(*w) for w in work]
            for (target, _, _), pushes in zip(work, sent, strict=True):
                for deliveries, error in pushes:
                    outcome.settle(conn, target, deliveries, error, now, self.rng)
            conn.execute(
                "UPDATE outbox_deliveries SET state = 'delivered', attempts = attempts + 1,"
                " delivered_at = %s, last_error = NULL WHERE id = ANY(%s)",
                (now, outcome.taken),
            )
        return Round(fanned, len(outcome.taken), outcome.failed, outcome.dead)

    def _push(
        self, target: Destination, rows: list[_Due], now: datetime
    ) -> list[tuple[list[tuple[int, int]], str | None]]:
        """Send a destination's due changes in order: one signed POST each to a webhook, batches
        to the exchange; what went out together and its error (None: taken). The first failure
        ends it; the rest wait for the next round, untried."""
        pushes: list[tuple[list[tuple[int, int]], str | None]] = []
        if isinstance(target.config, Exchange):
            size = target.config.batch
            for start in range(0, len(rows), size):
                chunk = rows[start : start + size]
                error = self._post_batch(target, [(outbox_id, body) for _, outbox_id, *_, body in chunk])
                pushes.append(([delivery for delivery, *_ in chunk], error))
                if error is not None:
                    break
            return pushes
        for delivery, outbox_id, kind, subject, change, at, body in rows:
            message = {"id": f"msg_{outbox_id}", "kind": kind, "subject": subject, "change": change}
            error = self._send(target, {**message, "at": at.isoformat(), "data": body}, now)
            pushes.append(([delivery], error))
            if error is not None:
                break
        return pushes

    def _post_batch(self, target: Destination, rows: list[tuple[int, dict[str, Any]]]) -> str | None:
        """POST records to the exchange in its layout; None when it took them all (2xx)."""
        first, last = rows[0][0], rows[-1][0]
        batch_id = f"{target.name}-{first}-{last}"
        body = {
            "cd_batch": batch_id,
            "records": [exchange_record(outbox_id, data) for outbox_id, data in rows],
        }
        headers = {
            "content-type": "application/json",
            "authorization": f"Bearer {target.secret.decode()}",
            "idempotency-key": batch_id,
        }
        return self._post(
            target, json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(), headers
        )

    def _send(self, target: Destination, message: dict[str, Any], now: datetime) -> str | None:
        """POST one change; None when the receiver took it (2xx), else what went wrong."""
        body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
        stamp = int(now.timestamp())
        headers = {
            "content-type": "application/json",
            "webhook-id": message["id"],
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign(target.secret, message["id"], stamp, body),
            "idempotency-key": message["id"],
        }
        return self._post(target, body, headers)

    def _post(self, target: Destination, body: bytes, headers: dict[str, str]) -> str | None:
        pool, path = self.pools[target.name]
        try:
            # No retries and no redirects followed: a failure is the round's to count.
            answer = pool.urlopen("POST", path, body=body, headers=headers, retries=False, redirect=False)
        except urllib3.exceptions.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:500]
        return None if 200 <= answer.status < 300 else f"HTTP {answer.status}"

    def run(self, stop: threading.Event, every: float = 1.0) -> None:
        """Deliver (and prune once in a while) until `stop` is set; a round that did a full batch
        goes on at once."""
        pruned_at: datetime | None = None
        while not stop.is_set():
            try:
                done = self.round()
                now = self.clock()
                if pruned_at is None or now - pruned_at > PRUNE_EVERY:
                    with self.db.transaction() as conn:
                        prune(conn, now - KEEP_DELIVERED)
                    pruned_at = now
            except Exception:
                log.exception("delivery round failed; trying again in %s s", every)
                done = Round()
            if done.delivered + done.failed + done.dead < self.batch:
                stop.wait(every)
        for pool, _ in self.pools.values():
            pool.close()


def _pool(config: Webhook | Exchange) -> tuple[urllib3.HTTPConnectionPool, str]:
    """A destination's connection pool (http or https, certificates verified) and the path to POST to."""
    url = urllib3.util.parse_url(config.url)
    timeout = urllib3.Timeout(connect=config.timeout, read=config.timeout)
    return urllib3.connection_from_url(config.url, maxsize=1, timeout=timeout), url.request_uri


def prune(conn: Connection, before: datetime) -> int:
    """Remove the changes made before `before` that every destination took (or none wanted);
    how many. Pending and dead ones stay."""
    removed = conn.execute(
        "DELETE FROM outbox o WHERE fanned AND created_at < %s AND NOT EXISTS"
        " (SELECT 1 FROM outbox_deliveries d WHERE d.outbox_id = o.id AND d.state <> 'delivered')",
        (before,),
    )
    return removed.rowcount


@dataclass(frozen=True)
class DeadLetter:
    """A change a destination never took, with its last error."""

    id: int
    destination: str
    kind: str
    subject: int
    change: str
    attempts: int
    last_error: str | None
    created_at: datetime


def dead_letters(conn: Connection, limit: int = 100) -> list[DeadLetter]:
    """Dead letters, oldest change first."""
    rows = conn.execute(
        "SELECT d.id, d.destination, d.kind, d.subject, o.change, d.attempts, d.last_error, o.created_at"
        " FROM outbox_deliveries d JOIN outbox o ON o.id = d.outbox_id WHERE d.state = 'dead'"
        " ORDER BY d.outbox_id LIMIT %s",
        (limit,),
    ).fetchall()
    return [DeadLetter(*row) for row in rows]


def retry(conn: Connection, delivery_id: int, actor: str, now: datetime) -> bool:
    """Make a dead letter due again with a fresh count of attempts; False when there is none."""
    row = conn.execute(
        "UPDATE outbox_deliveries SET state = 'pending', attempts = 0, next_at = %s"
        " WHERE id = %s AND state = 'dead' RETURNING destination",
        (now, delivery_id),
    ).fetchone()
    if row is None:
        return False
    audit.append(conn, actor, "output.retry", f"delivery:{delivery_id}", {"destination": row[0]}, now)
    return True


def backlog(conn: Connection, now: datetime) -> list[tuple[str, str, int, float]]:
    """Per destination and state: (destination, state, count, age in seconds of the oldest change
    not delivered, 0 for delivered), for /metrics."""
    rows = conn.execute(
        "SELECT d.destination, d.state, count(*),"
        " coalesce(extract(epoch FROM %s - min(o.created_at) FILTER (WHERE d.state <> 'delivered')), 0)"
        " FROM outbox_deliveries d JOIN outbox o ON o.id = d.outbox_id GROUP BY 1, 2 ORDER BY 1, 2",
        (now,),
    ).fetchall()
    return [(str(r[0]), str(r[1]), int(r[2]), float(r[3])) for r in rows]
