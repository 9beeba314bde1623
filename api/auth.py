"""Who is calling: bearer tokens stored as SHA-256 hashes, dashboard logins with argon2 passwords."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from api.config_store import active_version
from hub import audit
from hub.store.db import Connection

Role = Literal["admin", "operator", "department", "edge"]
ROLES: tuple[Role, ...] = ("admin", "operator", "department", "edge")
TOKEN_PREFIX = "ofs_"
TOKEN_CHANNEL = "api_tokens"  # migration 0005 announces revoked and deleted tokens here


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. `department` is set for department tokens, `site` for edge ones."""

    name: str
    role: Role
    department: str | None = None
    site: str | None = None
    expires_at: datetime | None = None

    @property
    def actor(self) -> str:
        """How the caller appears in trails and the audit log."""
        return f"{self.role}:{self.name}"


class AuthError(Exception):
    """A credential that cannot be used; the message says why without echoing the secret."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def scope_problem(role: str, department: str | None, site: str | None) -> str | None:
    """What is wrong with a role's scope, or None: departments need a department, edges a site."""
    if role not in ROLES:
        return f"unknown role {role!r}; expected one of {', '.join(ROLES)}"
    if (role == "department") != (department is not None):
        return "a department token needs --department, and only a department token takes one"
    if (role == "edge") != (site is not None):
        return "an edge token needs --site, and only an edge token takes one"
    return None


def unknown_scope(conn: Connection, department: str | None, site: str | None) -> str | None:
    """What is wrong with a department or site name that the deployment in force lacks, or None.

    A token or login scoped to a name nobody routes anything to would work and see nothing.
    """
    if department is None and site is None:
        return None
    version = active_version(conn)
    if version is None:
        return (
            "no deployment loaded yet, so department and site names cannot be checked:"
            " run `offsite up -c FILE` once"
        )
    document = version.document()
    for kind, name, section in (("department", department, "departments"), ("site", site, "sites")):
        known = [str(entry.get("id")) for entry in document.get(section) or [] if isinstance(entry, dict)]
        if name is not None and name not in known:
            return f"no {kind} {name!r} in the deployment in force; known: {', '.join(known) or 'none'}"
    return None


def create_token(
    conn: Connection,
    name: str,
    role: Role,
    at: datetime,
    *,
    department: str | None = None,
    site: str | None = None,
    expires_at: datetime | None = None,
    created_by: str = "system",
) -> str:
    """Store a new token's hash and return the token itself, which is shown only once."""
    problem = scope_problem(role, department, site) or unknown_scope(conn, department, site)
    if problem:
        raise AuthError(problem)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = conn.execute(
        "INSERT INTO api_tokens (token_hash, name, role, department, site, created_at, expires_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (hash_token(token), name, role, department, site, at, expires_at),
    ).fetchone()
    assert row is not None
    detail = {"name": name, "role": role, "department": department, "site": site}
    audit.append(conn, created_by, "token.create", f"token:{row[0]}", detail, at)
    return token


def principal_for(conn: Connection, token: str, now: datetime) -> Principal:
    """The principal a bearer token stands for, or AuthError."""
    row = conn.execute(
        "SELECT name, role, department, site, expires_at FROM api_tokens WHERE token_hash = %s"
        " AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > %s)",
        (hash_token(token), now),
    ).fetchone()
    if row is None:
        raise AuthError("unknown, expired or revoked token")
    return Principal(name=row[0], role=row[1], department=row[2], site=row[3], expires_at=row[4])


@dataclass(frozen=True)
class TokenInfo:
    """A stored token as `offsite token list` shows it; the secret itself is never kept."""

    id: int
    name: str
    role: Role
    department: str | None
    site: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


def list_tokens(conn: Connection) -> list[TokenInfo]:
    rows = conn.execute(
        "SELECT id, name, role, department, site, created_at, expires_at, revoked_at"
        " FROM api_tokens ORDER BY id"
    ).fetchall()
    return [TokenInfo(*row) for row in rows]


def revoke_token(
    conn: Connection, at: datetime, by: str, *, token_id: int | None = None, token: str | None = None
) -> str:
    """Revoke a token by its id or by the secret itself (a session logging out); its name.

    API processes stop accepting it as soon as the database announces the change.
    """
    if (token_id is None) == (token is None):
        raise ValueError("name the token by its id or by the secret, not both")
    match = "id = %s" if token_id is not None else "token_hash = %s"
    key: int | str = token_id if token_id is not None else hash_token(str(token))
    row = conn.execute(
        f"UPDATE api_tokens SET revoked_at = %s WHERE {match} AND revoked_at IS NULL RETURNING id, name",
        (at, key),
    ).fetchone()
    if row is None:
        raise AuthError(f"no token {token_id} that is not revoked already" if token_id else "unknown token")
    audit.append(conn, by, "token.revoke", f"token:{row[0]}", {"name": row[1]}, at)
    return str(row[1])


class TokenCache:
    """Principals of tokens seen lately, so that a request need not look its token up again.

    It answers only while `live`, that is while the API listens to the database's token
    notifications: a token revoked, changed or deleted is dropped as soon as its notification
    arrives, and all are dropped when the listener (re)connects, as notifications may have been
    missed meanwhile. An entry also ages out after `ttl` seconds, and a token past its own expiry
    is never answered.
    """

    def __init__(self, ttl: float, size: int = 10_000) -> None:  # ttl 0: never answer
        self.ttl, self.size = ttl, size
        self.live = False
        self.generation = 0  # moves on every drop, so a lookup racing a revocation is not kept
        self._entries: dict[str, tuple[Principal, float]] = {}

    def get(self, token: str, now: datetime) -> Principal | None:
        if not self.live:
            return None
        key = hash_token(token)
        found = self._entries.get(key)
        if found is None:
            return None
        principal, cached_at = found
        if time.monotonic() - cached_at > self.ttl or (
            principal.expires_at is not None and principal.expires_at <= now
        ):
            del self._entries[key]
            return None
        return principal

    def put(self, token: str, principal: Principal, generation: int) -> None:
        """Keep a principal looked up when the cache was at `generation`, unless something was
        dropped since (the lookup may have read a token just revoked)."""
        if not self.live or generation != self.generation:
            return
        if len(self._entries) >= self.size:
            self._entries.pop(next(iter(self._entries)))
        self._entries[hash_token(token)] = (principal, time.monotonic())

    async def notified(self, token_hash: str) -> None:
        self.generation += 1
        self._entries.pop(token_hash, None)

    async def reset(self, listening: bool) -> None:
        self.generation += 1
        self._entries.clear()
        self.live = listening


_HASHER = PasswordHasher()


def create_user(
    conn: Connection, username: str, password: str, role: Role, at: datetime, department: str | None = None
) -> None:
    """A dashboard login with an argon2id password hash."""
    problem = scope_problem(role, department, None) or unknown_scope(conn, department, None)
    if problem or role == "edge":
        raise AuthError(problem or "edge boxes use tokens, not logins")
    conn.execute(
        "INSERT INTO api_users (username, password_hash, role, department, created_at)"
        " VALUES (%s, %s, %s, %s, %s)",
        (username, _HASHER.hash(password), role, department, at),
    )
    audit.append(
        conn, "system", "user.create", f"user:{username}", {"role": role, "department": department}, at
    )


def log_in(conn: Connection, username: str, password: str, at: datetime, lifetime: timedelta) -> str:
    """Check a password and issue a session token valid for `lifetime`."""
    row = conn.execute(
        "SELECT password_hash, role, department FROM api_users WHERE username = %s", (username,)
    ).fetchone()
    try:
        if row is None:
            raise VerificationError("no such user")
        _HASHER.verify(str(row[0]), password)
    except (VerificationError, InvalidHashError):
        raise AuthError("wrong username or password") from None
    return create_token(
        conn, f"session:{username}", row[1], at, department=row[2], expires_at=at + lifetime,
        created_by=f"user:{username}",
    )  # fmt: skip
