"""Receivers of the tests' own, on a real socket: a webhook receiver that checks Standard Webhooks
signatures, and a provincial exchange that checks its bearer token; each keeps the ids it took, as
a receiver that honours the idempotency key does. Either can answer slowly (`slow` requests after
`delay` seconds), or hold one request (the `hold_at`-th) unanswered until `release` is set, so that
a test acts while a sender is in the middle of a batch."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SECRET = "s3cret-for-the-receiver-only"
TOKEN = "exchange-token-for-the-tests"


@dataclass
class _Server:
    """An HTTP server on `port` whose POSTs `answer` takes; `stop()` refuses connections."""

    port: int
    server: ThreadingHTTPServer | None = None
    slow: int = 0  # how many of the next requests are answered after `delay` seconds
    delay: float = 0.0
    late: set[str] = field(default_factory=set)  # ids of changes answered slowly
    hold_at: int | None = None  # the request (1 = the first) held until `release` is set
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    requests: int = 0
    active: int = 0  # requests being answered now
    cut_short: int = 0  # requests whose body ended before its length
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, headers: Message, body: bytes) -> int:
        raise NotImplementedError

    def ids(self, headers: Message, body: bytes) -> list[str]:
        """The ids of the changes a request carries."""
        raise NotImplementedError

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                with receiver.lock:
                    receiver.requests += 1
                    receiver.active += 1
                    hold = receiver.requests == receiver.hold_at
                    slow = receiver.slow > 0
                    receiver.slow -= slow
                if len(body) < int(self.headers["content-length"]):  # a sender killed mid-request
                    with receiver.lock:
                        receiver.cut_short += 1
                    status = 400
                elif hold:  # taken by nobody: the sender is gone by the time it is released
                    receiver.held.set()
                    receiver.release.wait(60)
                    status = 503
                else:
                    if slow:
                        time.sleep(receiver.delay)  # the receiver's own slowness, not a wait for a state
                    with receiver.lock:
                        status = receiver.answer(self.headers, body)
                        if slow:
                            receiver.late.update(receiver.ids(self.headers, body))
                try:
                    self.send_response(status)
                    self.end_headers()
                except OSError:
                    pass  # the sender hung up (timed out, or was killed)
                finally:
                    with receiver.lock:
                        receiver.active -= 1

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@dataclass
class Receiver(_Server):
    """A webhook receiver that verifies signatures and keeps the ids it took (what a well-behaved
    receiver does with the idempotency key). `failing` answers 500."""

    failing: bool = False
    taken: dict[str, int] = field(default_factory=dict)  # webhook-id -> times answered 2xx
    bodies: list[dict[str, Any]] = field(default_factory=list)  # first time each id was taken
    bad_signatures: int = 0
    refused_500: int = 0

    def answer(self, headers: Message, body: bytes) -> int:
        if self.failing:
            self.refused_500 += 1
            return 500
        msg_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
        expected = hmac.new(SECRET.encode(), f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256)
        signature = "v1," + base64.b64encode(expected.digest()).decode()
        if not hmac.compare_digest(signature, headers["webhook-signature"]):
            self.bad_signatures += 1
            return 401
        assert headers["idempotency-key"] == msg_id
        if msg_id not in self.taken:
            self.bodies.append(json.loads(body))
        self.taken[msg_id] = self.taken.get(msg_id, 0) + 1
        return 204

    def ids(self, headers: Message, body: bytes) -> list[str]:
        return [headers["webhook-id"]]


@dataclass
class Exchange(_Server):
    """The provincial exchange: takes batches of records with the right bearer token and keeps
    each record change once by its `cd_id`; `failing` answers 500."""

    failing: bool = False
    batches: list[list[str]] = field(default_factory=list)  # cd_ids of each batch taken
    taken: dict[str, int] = field(default_factory=dict)  # cd_id -> times received
    records: list[dict[str, Any]] = field(default_factory=list)  # first time each cd_id came
    unauthorised: int = 0

    def answer(self, headers: Message, body: bytes) -> int:
        if headers["authorization"] != f"Bearer {TOKEN}":
            self.unauthorised += 1
            return 401
        if self.failing:
            return 500
        batch = json.loads(body)
        assert headers["idempotency-key"] == batch["cd_batch"]
        self.batches.append([r["cd_id"] for r in batch["records"]])
        for record in batch["records"]:
            if record["cd_id"] not in self.taken:
                self.records.append(record)
            self.taken[record["cd_id"]] = self.taken.get(record["cd_id"], 0) + 1
        return 200

    def ids(self, headers: Message, body: bytes) -> list[str]:
        return [r["cd_id"] for r in json.loads(body)["records"]]
