"""A tone (Web Audio) when a critical or major alert arrives on the live wall; none for a minor
one; switched off, it stays off across a reload until switched on again."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.api.conftest import Api
from tests.hub.feed import GAS, HALL
from tests.web.conftest import OPERATOR
from tests.web.pages import sign_in

# Count the tones the page starts, through the browser's own Web Audio API.
_COUNT_TONES = """
window.__tones = 0;
const start = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...args) {
  window.__tones += 1;
  return start.apply(this, args);
};
"""
ON = re.compile(r"\bis-checked\b")


def _tones(page: Page) -> int:
    return int(page.evaluate("window.__tones"))


def _arrives(page: Page, hub: Api, base: dict[str, str]) -> None:
    """Raise an alert and wait for it on the wall (the tone, if any, is started before it shows)."""
    alert = hub.raise_finding(base, evidence=[])["alert_id"]
    expect(page.locator(f".alert-{alert}")).to_be_visible(timeout=5000)


def test_a_new_high_severity_alert_rings_and_the_switch_is_remembered(hub: Api, page: Page) -> None:
    page.add_init_script(_COUNT_TONES)
    sign_in(page, hub, OPERATOR, "/")
    expect(page.locator(".live")).to_have_text("实时")
    switch = page.locator(".sound")
    expect(switch).to_have_class(ON)  # on unless switched off

    _arrives(page, hub, HALL)  # minor: silent
    assert _tones(page) == 0
    _arrives(page, hub, GAS)  # critical
    assert _tones(page) == 1

    switch.click()
    expect(switch).not_to_have_class(ON)
    assert page.evaluate("localStorage.getItem('offsite.sound')") == "off"
    _arrives(page, hub, GAS)
    assert _tones(page) == 1

    page.reload()
    expect(page.locator(".live")).to_have_text("实时")
    expect(switch).not_to_have_class(ON)  # still off
    _arrives(page, hub, GAS)
    assert _tones(page) == 0  # counted afresh since the reload

    switch.click()
    expect(switch).to_have_class(ON)
    _arrives(page, hub, GAS)
    assert _tones(page) == 1
