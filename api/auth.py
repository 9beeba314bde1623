"""Who is calling: bearer tokens stored as SHA-256 hashes, dashboard logins with argon2 passwords."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hub import audit
from hub.store.db import Connection

Role = Literal["admin", "operator", "department", "edge"]
ROLES: tuple[Role, ...] = ("admin", "operator", "department", "edge")
TOKEN_PREFIX = "ofs_"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. `department` is set for department tokens, `site` for edge ones."""

    name: str
    role: Role
    department: str | None = None
    site: str | None = None

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
    problem = scope_problem(role, department, site)
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
        "SELECT name, role, department, site FROM api_tokens WHERE token_hash = %s"
        " AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > %s)",
        (hash_token(token), now),
    ).fetchone()
    if row is None:
        raise AuthError("unknown, expired or revoked token")
    return Principal(name=row[0], role=row[1], department=row[2], site=row[3])


_HASHER = PasswordHasher()


def create_user(
    conn: Connection, username: str, password: str, role: Role, at: datetime, department: str | None = None
) -> None:
    """A dashboard login with an argon2id password hash."""
    problem = scope_problem(role, department, None)
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
