"""`/metrics` names the route of every request it counts, the plain Starlette ones included."""

from __future__ import annotations

from tests.api.conftest import Api


def test_requests_are_counted_under_their_route(api: Api) -> None:
    assert api.call("anonymous", "GET", "/openapi.json").status_code == 200
    assert api.call("anonymous", "GET", "/docs").status_code == 200
    assert api.call("operator", "GET", "/no/such/route").status_code == 404
    text = api.call("operator", "GET", "/metrics").text
    assert 'offsite_http_requests_total{method="GET",route="/openapi.json",status="200"}' in text
    assert 'offsite_http_requests_total{method="GET",route="/docs",status="200"}' in text
    # What matches no route stays one label, whatever the path: the series stay bounded.
    assert 'offsite_http_requests_total{method="GET",route="unmatched",status="404"}' in text
    assert "/no/such/route" not in text
