"""Receivers of the tests' own, on a real socket: a webhook receiver that checks Standard Webhooks
signatures, and a provincial exchange that checks its bearer token; each keeps the ids it took, as
a receiver that honours the idempotency key does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SECRET = "s3cret-for-the-receiver-only"
TOKEN = "exchange-token-for-the-tests"


@dataclass
class Receiver:
    """A webhook receiver that verifies signatures and keeps the ids it took (what a well-behaved
    receiver does with the idempotency key). `failing` answers 500; `stop()` refuses connections."""

    port: int
    failing: bool = False
    taken: dict[str, int] = field(default_factory=dict)  # webhook-id -> times answered 2xx
    bodies: list[dict[str, Any]] = field(default_factory=list)  # first time each id was taken
    bad_signatures: int = 0
    refused_500: int = 0
    server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                if receiver.failing:
                    receiver.refused_500 += 1
                    self.send_response(500)
                    self.end_headers()
                    return
                msg_id, stamp = self.headers["webhook-id"], self.headers["webhook-timestamp"]
                expected = hmac.new(SECRET.encode(), f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256)
                signature = "v1," + base64.b64encode(expected.digest()).decode()
                if not hmac.compare_digest(signature, self.headers["webhook-signature"]):
                    receiver.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                assert self.headers["idempotency-key"] == msg_id
                if msg_id not in receiver.taken:
                    receiver.bodies.append(json.loads(body))
                receiver.taken[msg_id] = receiver.taken.get(msg_id, 0) + 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _serve(self.port, Handler)

    def stop(self) -> None:
        _stop(self.server)
        self.server = None


def _serve(port: int, handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _stop(server: ThreadingHTTPServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()


@dataclass
class Exchange:
    """The provincial exchange: takes batches of records with the right bearer token, keeps each
    record change once by its `cd_id`; `failing` answers 500, `stop()` refuses connections."""

    port: int
    failing: bool = False
    batches: list[list[str]] = field(default_factory=list)  # cd_ids of each batch taken
    taken: dict[str, int] = field(default_factory=dict)  # cd_id -> times received
    records: list[dict[str, Any]] = field(default_factory=list)  # first time each cd_id came
    unauthorised: int = 0
    server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        exchange = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                if self.headers["authorization"] != f"Bearer {TOKEN}":
                    exchange.unauthorised += 1
                    status = 401
                elif exchange.failing:
                    status = 500
                else:
                    assert self.headers["idempotency-key"] == body["cd_batch"]
                    exchange.batches.append([r["cd_id"] for r in body["records"]])
                    for record in body["records"]:
                        if record["cd_id"] not in exchange.taken:
                            exchange.records.append(record)
                        exchange.taken[record["cd_id"]] = exchange.taken.get(record["cd_id"], 0) + 1
                    status = 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _serve(self.port, Handler)

    def stop(self) -> None:
        _stop(self.server)
        self.server = None
