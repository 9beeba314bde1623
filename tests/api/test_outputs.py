"""Dead letters through the API: admins list them and send them again; nobody else sees them."""

from __future__ import annotations

from hub.config.outputs import Webhook
from hub.delivery import Deliverer, destinations
from hub.host import free_port
from tests.api.conftest import Api
from tests.hub.feed import GAS
from tests.hub.receiver import SECRET, Receiver


def test_dead_letters_are_listed_for_admins_and_retried(api: Api) -> None:
    receiver = Receiver(free_port())  # not started yet: connections are refused
    hook = Webhook(
        id="province",
        kind="webhook",
        url=f"http://127.0.0.1:{receiver.port}/hooks",
        secret_env="OFFSITE_TEST_HOOK",
        kinds=["alert"],
        max_attempts=1,
        timeout=2.0,
    )
    deployment = api.hub.config.deployment.model_copy(update={"outputs": [hook]})
    deliverer = Deliverer(
        api.hub.db, destinations(deployment, {"OFFSITE_TEST_HOOK": SECRET}), api.hub.pipeline.clock
    )
    alert = api.raise_finding(GAS)["alert_id"]
    assert deliverer.round().dead == 1
    assert api.call("operator", "GET", "/outputs/dead").status_code == 403
    listed = api.call("admin", "GET", "/outputs/dead")
    assert listed.status_code == 200, listed.text
    (dead,) = [d for d in listed.json() if d["subject"] == alert]
    assert (dead["destination"], dead["kind"], dead["change"], dead["attempts"]) == (
        "province",
        "alert",
        "open",
        1,
    )
    assert "Connection refused" in dead["last_error"]
    metrics = api.call("admin", "GET", "/metrics").text
    assert 'offsite_outputs_deliveries{destination="province",state="dead"} 1.0' in metrics
    assert 'offsite_outputs_lag_seconds{destination="province"}' in metrics
    assert api.call("operator", "POST", f"/outputs/dead/{dead['id']}/retry").status_code == 403
    receiver.start()
    try:
        assert api.call("admin", "POST", f"/outputs/dead/{dead['id']}/retry").status_code == 202
        assert api.call("admin", "POST", f"/outputs/dead/{dead['id']}/retry").status_code == 404
        assert deliverer.round().delivered == 1
    finally:
        receiver.stop()
    assert [(b["kind"], b["subject"], b["change"]) for b in receiver.bodies] == [("alert", alert, "open")]
    assert all(d["id"] != dead["id"] for d in api.call("admin", "GET", "/outputs/dead").json())
    metrics = api.call("admin", "GET", "/metrics").text
    assert 'offsite_outputs_deliveries{destination="province",state="delivered"} 1.0' in metrics
    assert 'offsite_outputs_lag_seconds{destination="province"} 0.0' in metrics
