"""The uplink: an `EventSink` that delivers to the hub's API over HTTP(S) with the site's edge token.

Put a `hub.spool.DurableSink` in front of it: the spool keeps everything while the uplink raises
`HubUnavailable`, and retries with back-off. The uplink says "unavailable" for what may pass
(connection refused or reset, a timeout, a 5xx, a 429) and for a 401: a revoked or mistyped token
is an operator's matter, so the box keeps everything and retries slowly rather than drop events.
A 403 or 422 is a refusal of the data itself: recorded by the spool, never retried.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from hub.events import Event, Outcome
from hub.sink import Delivery, Fate, HubUnavailable
from hub.store.camera_frames import CameraFrame
from hub.store.detections import DetectionRow
from hub.store.device_health import HealthChange
from iot.readings import Reading

log = logging.getLogger(__name__)

BATCH = 100  # events per POST /events: under the hub's OFFSITE_API_MAX_EVENTS default (500)
TIMEOUT = 10.0  # seconds for one request; a blackholed link fails after this


class Refused(Exception):
    """The hub refuses this data (403, 413, 422): it will never take it as it is."""


class HubUplink:
    """POST /events, PUT /evidence/{sha256}, POST /edge/attachments, POST /edge/heartbeat,
    POST /edge/readings and GET /edge/config with a bearer token."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        ca: Path | None = None,
        timeout: float = TIMEOUT,
        batch: int = BATCH,
    ) -> None:
        self.batch = batch
        self.requests = 0  # sent, answered or not: a box that spins shows here
        self.client = httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            verify=str(ca) if ca is not None else True,
        )

    def close(self) -> None:
        self.client.close()

    # --- EventSink ----------------------------------------------------------------------------
    def take(self, events: Sequence[Event]) -> list[Delivery]:
        done: list[Delivery] = []
        for start in range(0, len(events), self.batch):
            chunk = events[start : start + self.batch]
            try:
                done += self._post_events(chunk)
            except HubUnavailable as exc:
                raise HubUnavailable(str(exc), done + exc.delivered) from exc
        return done

    def keep(self, data: bytes, media_type: str) -> str:
        sha = hashlib.sha256(data).hexdigest()
        answer = self._send("PUT", f"/evidence/{sha}", content=data, headers={"Content-Type": media_type})
        _raise_refusal(answer, f"evidence {sha}")
        return sha

    def attach(self, event_id: str, evidence: Sequence[str]) -> None:
        answer = self._send(
            "POST", "/edge/attachments", json={"event_id": event_id, "evidence": list(evidence)}
        )
        _raise_refusal(answer, f"attachment to event {event_id}")

    # --- heartbeat ----------------------------------------------------------------------------
    def heartbeat(self, beat: dict[str, Any]) -> None:
        """Send one heartbeat; raises `HubUnavailable` or `Refused` when it did not arrive."""
        _raise_refusal(self._send("POST", "/edge/heartbeat", json=beat), "heartbeat")

    # --- readings -----------------------------------------------------------------------------
    def readings(self, site: str, readings: Sequence[Reading], health: Sequence[HealthChange] = ()) -> int:
        """POST /edge/readings with the sensors' status changes: how many readings the hub stored
        anew (one sent before is stored once). Raises `HubUnavailable`, or `Refused` when the hub
        refuses the batch (403, 422)."""
        series: dict[tuple[str, str], dict[str, Any]] = {}
        for r in readings:  # a series per sensor and metric, each in the order given
            empty = {"sensor": r.sensor, "metric": r.metric, "times": [], "values": []}
            one = series.setdefault((r.sensor, r.metric), empty)
            one["times"].append(r.time.isoformat())
            one["values"].append(r.value)
        changes = [{"sensor": c.device, "status": c.status, "time": c.time.isoformat()} for c in health]
        body = {"site": site, "series": list(series.values()), "health": changes}
        answer = self._send("POST", "/edge/readings", json=body)
        _raise_refusal(answer, "readings")
        return int(answer.json()["stored"])

    # --- hub.spool.DetectionTarget -------------------------------------------------------------
    def store_detections(self, rows: Sequence[DetectionRow]) -> None:
        """POST /edge/detections (the hub stores a row sent again once); raises `HubUnavailable`
        or `Refused`."""
        body = {
            "detections": [
                {
                    "time": r.time.isoformat(),
                    "camera": r.camera,
                    "label": r.label,
                    "confidence": r.confidence,
                    "box": list(r.box),
                    "track_id": r.track_id,
                }
                for r in rows
            ]
        }
        _raise_refusal(self._send("POST", "/edge/detections", json=body), "tracked detections")

    # --- camera wall ----------------------------------------------------------------------------
    def post_frame(self, shot: CameraFrame) -> None:
        """POST /edge/frames: `shot` as its camera's latest frame at the hub (kept unless the hub
        holds a newer one); raises `HubUnavailable` or `Refused`."""
        answer = self._send(
            "POST",
            "/edge/frames",
            params={"camera": shot.camera, "time": shot.time.isoformat()},
            content=shot.jpeg,
            headers={"Content-Type": "image/jpeg"},
        )
        _raise_refusal(answer, f"frame of camera {shot.camera}")

    # --- config -------------------------------------------------------------------------------
    def site_config(self, etag: str | None) -> str | None:
        """The site's part of the deployment in force as YAML text; None when it is still `etag`
        (the SHA-256 of the text the box runs). Raises `HubUnavailable` or `Refused`."""
        headers = {"If-None-Match": f'"{etag}"'} if etag else {}
        answer = self._send("GET", "/edge/config", headers=headers)
        if answer.status_code == 304:
            return None
        _raise_refusal(answer, "config")
        return answer.text

    # --- HTTP ---------------------------------------------------------------------------------
    def _post_events(self, events: Sequence[Event]) -> list[Delivery]:
        body = {"events": [e.model_dump(mode="json") for e in events]}
        answer = self._send("POST", "/events", json=body)
        if answer.status_code in (403, 413, 422):
            if len(events) > 1:  # the hub names the first bad event; find it one at a time
                done: list[Delivery] = []
                for event in events:
                    try:
                        done += self._post_events([event])
                    except HubUnavailable as exc:
                        raise HubUnavailable(str(exc), done) from exc
                return done
            reason = f"{answer.status_code}: {answer.text[:400]}"
            log.warning("event %s refused by the hub: %s", events[0].id, reason)
            return [Delivery(events[0].id, Fate.REFUSED, reason=reason)]
        _raise_refusal(answer, "events")
        taken = answer.json()["taken"]
        return [Delivery(str(t["id"]), Fate.TAKEN, Outcome(t["outcome"]), t.get("alert_id")) for t in taken]

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The hub's answer; `HubUnavailable` when there is none, or one that says try again later."""
        self.requests += 1
        try:
            answer = self.client.request(method, path, **kwargs)
        except httpx.TransportError as exc:  # refused, reset, timed out, TLS failed
            raise HubUnavailable(f"{method} {path}: {type(exc).__name__}: {exc}", []) from exc
        if answer.status_code == 401:
            raise HubUnavailable(
                f"{method} {path}: the hub refuses the edge token (401): revoked or mistyped;"
                " set OFFSITE_EDGE_TOKEN to a valid token of this site and restart",
                [],
            )
        if answer.status_code >= 500 or answer.status_code == 429:
            raise HubUnavailable(f"{method} {path}: {answer.status_code} {answer.text[:200]}", [])
        return answer


def _raise_refusal(answer: httpx.Response, what: str) -> None:
    if answer.status_code >= 400:
        raise Refused(f"{what} refused by the hub: {answer.status_code} {answer.text[:400]}")
