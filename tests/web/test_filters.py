"""The wall's filters reach GET /alerts and the live stream alike, and its counters are the
store's, under the same filters, not those of the pages loaded."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.api.conftest import Api
from tests.hub.feed import GAS, HALL
from tests.web.conftest import OPERATOR
from tests.web.pages import sign_in

STATES = ("open", "acknowledged", "closed", "dismissed")


def _counters(page: Page) -> dict[str, int]:
    return {s: int(page.locator(f".count-{s}").inner_text().split()[-1]) for s in STATES}


def test_a_site_filter_narrows_the_wall_the_stream_and_the_counters(hub: Api, page: Page) -> None:
    hall = hub.raise_finding(HALL)["alert_id"]
    gas = hub.raise_finding(GAS, evidence=[])["alert_id"]
    with hub.hub.db.transaction() as conn:  # more closed alerts of the cold store than a page holds
        conn.execute(
            "INSERT INTO alerts (source, site, rule, title, severity, status, first_seen, last_seen,"
            " ended_at, evidence, first_event, last_event, updated_at)"
            " SELECT source, site, rule, 'old', severity, 'closed', t, t, t, '{}', first_event, first_event,"
            " t"
            " FROM alerts, generate_series(now() - interval '2 days', now() - interval '1 day',"
            " interval '20 minutes') t WHERE id = %s",
            (gas,),
        )
    sign_in(page, hub, OPERATOR, "/")
    expect(page.locator(f".alert-{hall}")).to_be_visible()
    expect(page.locator(".live")).to_have_text("实时")
    everything = hub.call("operator", "GET", "/alerts/counts").json()
    expect(page.locator(".count-open")).to_have_text(f"待处理 {everything['open']}")

    page.locator(".filter-site").click()
    page.get_by_role("option", name="骊山冷链物流冷库").click()
    expect(page.locator(f".alert-{hall}")).to_have_count(0)
    expect(page.locator(f".alert-{gas}")).to_be_visible()
    store = hub.call("operator", "GET", "/alerts/counts", params={"site": GAS["site"]}).json()
    expect(page.locator(".count-closed")).to_have_text(f"已关闭 {store['closed']}")
    assert _counters(page) == store
    assert sum(store.values()) < sum(everything.values())  # the hall's alerts are not counted
    assert store["closed"] > 72 > page.locator(".alert-row").count()  # more than the pages loaded

    later_hall = hub.raise_finding(HALL)["alert_id"]
    later_gas = hub.raise_finding(GAS, evidence=[])["alert_id"]  # closes the earlier gas alert
    expect(page.locator(f".alert-{later_gas}")).to_be_visible(timeout=2000)
    expect(page.locator(f".alert-{later_hall}")).to_have_count(0)
    now = hub.call("operator", "GET", "/alerts/counts", params={"site": GAS["site"]}).json()
    expect(page.locator(".count-closed")).to_have_text(f"已关闭 {now['closed']}", timeout=3000)
    assert _counters(page) == now

    page.locator(".count-open").click()  # a counter filters by its state
    expect(page.locator(f".alert-{gas}")).to_have_count(0)  # closed by the repeat's retirement
    expect(page.locator(f".alert-{later_gas}")).to_be_visible()
    assert (
        page.locator(".alert-row .alert-status").all_inner_texts()
        == ["待处理"] * page.locator(".alert-row").count()
    )
