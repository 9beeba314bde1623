"""Chinese renders with the bundled Noto Sans SC on a machine with no CJK font of its own (this
test's machine has none: without the bundled font every character below is the same box)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.api.conftest import Api
from tests.web.conftest import OPERATOR
from tests.web.pages import sign_in

# Two glyphs drawn in the heading's font: a missing glyph is one box, the same for both, so
# different pictures mean the font has them. Also which font faces loaded, and their bytes.
_PROBE = """async () => {
  const family = getComputedStyle(document.querySelector("h1")).fontFamily;
  await document.fonts.ready;
  const draw = (text) => {
    const canvas = document.createElement("canvas");
    canvas.width = 120; canvas.height = 48;
    const pen = canvas.getContext("2d");
    pen.font = `32px ${family}`;
    pen.fillText(text, 4, 38);
    return canvas.toDataURL();
  };
  const loaded = [...document.fonts]
    .filter((f) => f.family.includes("Noto Sans SC") && f.status === "loaded");
  const fonts = performance.getEntriesByType("resource").filter((r) => r.name.endsWith(".woff2"));
  return {
    family,
    same: draw("告警") === draw("线索"),
    blank: draw("告警") === draw(""),
    loaded: loaded.length,
    fetched: fonts.length,
    bytes: fonts.reduce((sum, r) => sum + r.encodedBodySize, 0),
    foreign: fonts.filter((r) => !r.name.startsWith(location.origin)).length,
  };
}"""


def test_chinese_text_renders_in_the_bundled_font(hub: Api, page: Page, tmp_path: Path) -> None:
    sign_in(page, hub, OPERATOR, "/")
    expect(page.locator("h1")).to_have_text("告警墙")
    probe = page.evaluate(_PROBE)
    assert "Noto Sans SC" in probe["family"]
    # Buttons and inputs too: browsers give form controls a font of their own.
    controls = page.evaluate(
        "[...document.querySelectorAll('button, input')].map((e) => getComputedStyle(e).fontFamily)"
    )
    assert controls and all("Noto Sans SC" in family for family in controls), controls
    assert probe["loaded"] >= 1 and probe["foreign"] == 0  # from the hub itself, nothing from outside
    assert not probe["same"] and not probe["blank"]  # real glyphs, not one box for every character
    assert probe["bytes"] < 1_500_000, probe  # only the slices this page shows, not all 3.7 MB
    page.screenshot(path=tmp_path / "wall-zh.png", full_page=True)
    print(f"font slices fetched by the wall: {probe['fetched']}, {probe['bytes']} bytes")
