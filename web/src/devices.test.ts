import { describe, expect, it } from "vitest";
import { health, lastRange, reading } from "./devices";

describe("health", () => {
  it.each([
    [null, "unknown"],
    [{ status: "frozen", since: "2026-12-01T00:00:00Z", detail: "" }, "frozen"],
    [{ status: "offline", since: "2026-12-01T00:00:00Z", detail: "no frame for 10 s" }, "offline"],
    [{ status: "rebooting", since: "2026-12-01T00:00:00Z", detail: "" }, "unknown"],
    [{ status: "toString", since: "2026-12-01T00:00:00Z", detail: "" }, "unknown"],
  ])("of %j is %s", (status, expected) => {
    expect(health(status)).toBe(expected);
  });
});

describe("reading", () => {
  it.each([
    [-18.5, "degC", "-18.5 °C"],
    [12.345678, "%LEL", "12.35%LEL"],
    [45, "%", "45%"],
    [0.1 + 0.2, "mg/m3", "0.3 mg/m³"],
    [63, "dB(A)", "63 dB(A)"],
  ])("%s %s is %s", (value, unit, expected) => {
    expect(reading(value, unit)).toBe(expected);
  });
});

describe("lastRange", () => {
  it("ends now, in whole seconds, and spans the range asked for", () => {
    const range = lastRange("day", Date.parse("2026-12-02T08:00:00.750Z"));
    expect(range).toEqual({ start: "2026-12-01T08:00:00.000Z", end: "2026-12-02T08:00:00.000Z" });
  });
});
