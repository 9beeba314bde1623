// ECharts draws on a canvas, and a canvas neither inherits the page's font nor fetches the bundled
// font's unicode-range slices itself: without these, Chinese labels are drawn as boxes on a machine
// with no CJK font of its own.

/** The page's font, for ECharts' `textStyle`. */
export function chartText(): { fontFamily: string } {
  return { fontFamily: getComputedStyle(document.body).fontFamily };
}

/** Load the slices of the bundled font that `texts` need, before a canvas draws them. */
export async function loadGlyphs(texts: string[]): Promise<void> {
  try {
    await document.fonts.load('12px "Noto Sans SC"', texts.join("") || " ");
  } catch {
    // a font that does not load leaves the fallback font: the chart is drawn regardless
  }
}
