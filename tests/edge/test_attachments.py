"""Evidence made after its event (a clip) is added through POST /edge/attachments, bound to the
token's site like the event intake."""

from __future__ import annotations

from pathlib import Path

from tests.api.conftest import Api
from tests.edge.conftest import T0, box
from tests.hub.feed import HALL, event


def event_evidence(hub: Api, event_id: str) -> list[str]:
    with hub.hub.db.transaction() as conn:
        row = conn.execute("SELECT evidence FROM events WHERE id = %s", (event_id,)).fetchone()
    assert row is not None
    return list(row[0])


def test_a_clip_is_attached_to_its_event_only_by_a_box_of_the_event_site(hub: Api, tmp_path: Path) -> None:
    outbox, uplink = box(tmp_path / "outbox.sqlite", hub.url, hub.tokens["box-hall"])
    try:
        picture = outbox.keep(b"picture", "image/jpeg")
        outbox.take([event("absent-1", T0, HALL, evidence=[picture])])
        clip = outbox.keep(b"clip", "video/mp4")
        outbox.attach("absent-1", [clip])
        assert outbox.drain(10) and outbox.refusals() == []
    finally:
        outbox.close()
        uplink.close()
    assert event_evidence(hub, "absent-1") == [picture, clip]
    body = {"event_id": "absent-1", "evidence": [clip]}
    assert hub.call("box-cold", "POST", "/edge/attachments", json=body).status_code == 404
    assert hub.call("operator", "POST", "/edge/attachments", json=body).status_code == 403
    # A box may attach only what a box of its site uploaded.
    foreign = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"  # sha256("test")
    assert hub.call("admin", "PUT", f"/evidence/{foreign}", content=b"test").status_code == 200
    answer = hub.call(
        "box-hall", "POST", "/edge/attachments", json={"event_id": "absent-1", "evidence": [foreign]}
    )
    assert answer.status_code == 403, answer.text
    assert (
        hub.call("box-hall", "POST", "/edge/attachments", json={**body, "event_id": "nope"}).status_code
        == 404
    )
    assert event_evidence(hub, "absent-1") == [picture, clip]
