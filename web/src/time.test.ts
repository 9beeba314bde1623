import { describe, expect, it } from "vitest";
import { hourStart, offset, utcOffset, when } from "./time";

describe("when", () => {
  it.each([
    ["2026-03-01T08:00:00Z", "Asia/Shanghai", "2026-03-01 16:00:00"],
    ["2026-03-01T16:30:05Z", "Asia/Shanghai", "2026-03-02 00:30:05"], // midnight is 00, not 24
    ["2026-03-01T08:00:00Z", "UTC", "2026-03-01 08:00:00"],
    ["2026-07-01T12:00:00Z", "America/New_York", "2026-07-01 08:00:00"],
    ["2026-03-01T08:00:00+08:00", "Asia/Shanghai", "2026-03-01 08:00:00"],
  ])("%s in %s", (iso, zone, expected) => {
    expect(when(iso, zone)).toBe(expected);
  });
});

describe("offsets and hours", () => {
  const at = Date.parse("2026-03-01T08:47:13Z");
  it.each([
    ["Asia/Shanghai", 8 * 60, "UTC+08:00", "2026-03-01T08:00:00Z"],
    ["Asia/Kolkata", 5.5 * 60, "UTC+05:30", "2026-03-01T08:30:00Z"], // its hours start at :30 UTC
    ["America/New_York", -5 * 60, "UTC-05:00", "2026-03-01T08:00:00Z"],
  ])("%s", (zone, minutes, label, start) => {
    expect(offset(at, zone)).toBe(minutes * 60_000);
    expect(utcOffset(at, zone)).toBe(label);
    expect(hourStart(at, zone)).toBe(Date.parse(start));
  });
});
