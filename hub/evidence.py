"""Evidence files stored by content: the SHA-256 of the bytes is the name records refer to."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

import puremagic

from hub.store.db import Connection

_SHA256 = re.compile(r"[0-9a-f]{64}")
# The media types evidence is served as when its bytes are one of them: photos, clips and reports.
# Anything else (HTML, SVG, scripts, unknown) is only ever offered as a download.
SERVED_TYPES = frozenset({"image/jpeg", "image/png", "video/mp4", "application/pdf"})


class EvidenceError(ValueError):
    """An evidence reference or file that cannot be used."""


def served_type(data: bytes) -> str | None:
    """The media type the bytes are by their signature, if it is one of `SERVED_TYPES`; else None.

    What an uploader declares is never trusted: a page uploaded as a "photo" must not be served
    as a page from the hub's origin.
    """
    try:
        matches = puremagic.magic_string(data)
    except (puremagic.PureError, ValueError):  # no signature known, or empty
        return None
    best = max((match.confidence for match in matches), default=0.0)
    found = {match.mime_type for match in matches if match.confidence == best}
    return next((media for media in sorted(found) if media in SERVED_TYPES), None)


class EvidenceStore:
    """A folder of files named by their SHA-256, fanned out by the first two hex digits."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if not _SHA256.fullmatch(sha256):
            raise EvidenceError(f"{sha256!r} is not a SHA-256 (64 lower-case hex digits)")
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        """Store bytes (idempotent) and return their SHA-256."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a reader never sees half a file under its final name.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def read(self, sha256: str) -> bytes:
        """The stored bytes, checked against their name."""
        try:
            data = self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise EvidenceError(f"no evidence {sha256}") from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise EvidenceError(f"evidence {sha256} was altered on disk")
        return data

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def register(self, conn: Connection, data: bytes, media_type: str, holder: str | None = None) -> str:
        """Store bytes and record them in the database; returns the SHA-256. `holder`: the site
        whose edge box sent them, which may then cite them in its events (`not_held`)."""
        digest = self.put(data)
        conn.execute(
            "INSERT INTO evidence (sha256, size, media_type) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
            (digest, len(data), media_type),
        )
        if holder is not None:
            conn.execute(
                "INSERT INTO evidence_holders (sha256, site) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (digest, holder),
            )
        return digest


def not_held(conn: Connection, site: str, evidence: list[str]) -> list[str]:
    """The hashes of `evidence` that no edge box of `site` has sent, in their order."""
    if not evidence:
        return []
    held = conn.execute(
        "SELECT sha256 FROM evidence_holders WHERE site = %s AND sha256 = ANY(%s)", (site, evidence)
    ).fetchall()
    have = {str(row[0]) for row in held}
    return [sha for sha in evidence if sha not in have]
