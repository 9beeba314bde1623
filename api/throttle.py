"""Login throttling: failed logins counted per user name and per client address.

The counts live in PostgreSQL (table `login_failures`), so every API process sees the same ones
and a restart forgets nothing. After `free` failures a key is locked for a delay that doubles
with each further failure (1 s, 2 s, 4 s, ... up to `max_delay`); an attempt on a locked key is
answered 429 with `Retry-After` and its password is not even checked. Failures are forgotten
`forget_after` after the last one, and a successful login clears its user's count (not its
address's: one valid account must not reset the count of an address guessing at others).
Attempts on one key run one at a time: a second one while the first is checked is throttled,
so parallel requests cannot guess faster than the count says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from api.auth import AuthError, log_in
from hub import audit
from hub.store.db import Connection

_LOCK_CLASS = 0x0FF5_10C4  # advisory locks of login keys: (this, hashtext(key))


@dataclass(frozen=True)
class LoginPolicy:
    """How many failures are free, and how long the locks after them last."""

    free_per_user: int = 5
    free_per_address: int = 20
    max_delay: float = 900.0
    forget_after: float = 3600.0

    def delay(self, failures: int, free: int) -> float | None:
        """Seconds a key with `failures` is locked for, or None while it has failures to spare."""
        if failures <= free:
            return None
        return min(self.max_delay, 2.0 ** min(failures - free - 1, 30))


class Throttled(Exception):
    """Too many failed logins for this user or address; try again after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins: try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class LoginOutcome:
    """A session token, or why there is none. Failures are kept even though no token is."""

    token: str | None = None
    refusal: AuthError | Throttled | None = None


def attempt_login(
    conn: Connection,
    username: str,
    password: str,
    address: str,
    at: datetime,
    lifetime: timedelta,
    policy: LoginPolicy,
) -> LoginOutcome:
    """Check a login against the throttle, then the password; count and audit a failure.

    Returns instead of raising on failure, so that the caller's transaction keeps the count.
    """
    keys = {f"user:{username}": policy.free_per_user, f"address:{address}": policy.free_per_address}
    for key in sorted(keys):
        busy = conn.execute("SELECT NOT pg_try_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_CLASS, key))
        if _first(busy.fetchone()):
            return LoginOutcome(refusal=Throttled(1))
    locked = conn.execute(
        "SELECT max(locked_until) FROM login_failures WHERE key = ANY(%s) AND locked_until > %s",
        (list(keys), at),
    ).fetchone()
    if locked is not None and locked[0] is not None:
        return LoginOutcome(refusal=Throttled(math.ceil((locked[0] - at).total_seconds())))
    try:
        token = log_in(conn, username, password, at, lifetime)
    except AuthError as exc:
        _count_failure(conn, keys, username, address, at, policy)
        return LoginOutcome(refusal=exc)
    conn.execute("DELETE FROM login_failures WHERE key = %s", (f"user:{username}",))
    return LoginOutcome(token=token)


def _count_failure(
    conn: Connection, keys: dict[str, int], username: str, address: str, at: datetime, policy: LoginPolicy
) -> None:
    """Add one failure to each key, lock those past their free ones, and audit it."""
    forgotten = at - timedelta(seconds=policy.forget_after)
    conn.execute(
        "DELETE FROM login_failures WHERE last_failure < %s AND (locked_until IS NULL OR locked_until < %s)",
        (forgotten, at),
    )
    counts = {}
    for key, free in keys.items():
        row = conn.execute(
            "INSERT INTO login_failures AS f (key, failures, last_failure) VALUES (%s, 1, %s)"
            " ON CONFLICT (key) DO UPDATE SET failures = f.failures + 1, last_failure = EXCLUDED.last_failure"
            " RETURNING failures",
            (key, at),
        ).fetchone()
        counts[key] = failures = _first(row)
        delay = policy.delay(failures, free)
        if delay is not None:
            until = at + timedelta(seconds=delay)
            conn.execute("UPDATE login_failures SET locked_until = %s WHERE key = %s", (until, key))
    detail = {"username": username, "address": address, "failures": counts}
    audit.append(conn, f"address:{address}", "auth.login_failed", f"user:{username}", detail, at)


def _first(row: tuple[object, ...] | None) -> int:
    assert row is not None
    value = row[0]
    assert isinstance(value, int | bool)
    return int(value)
