"""The sensor intake's counters, kept by its receive loop, batch writer and rules' clock."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class IngestStats:
    """Counters for /metrics and the benchmark."""

    received: int = 0  # messages the broker delivered; `received - acked` are in the worker's hands
    messages: int = 0
    readings: int = 0
    stored: int = 0
    refused: int = 0
    acked: int = 0
    write_retries: int = 0
    bisections: int = 0  # batches the database refused, halved to find the message it refuses
    connections: int = 0  # sessions with the broker: more than one is a reconnection
    events: int = 0
    last_error: str = ""

    def counts(self, source: str) -> dict[tuple[str, str], int]:
        """The counters as ``(source, name) -> value``, as `hub.counters.CounterSink` takes them."""
        return {(source, f.name): getattr(self, f.name) for f in fields(self) if f.type in (int, "int")}
