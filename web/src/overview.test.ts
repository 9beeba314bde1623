import { describe, expect, it } from "vitest";
import type { Clue, Severity } from "./api";
import { alertsPerHour, cluesPerDepartment, HOUR, localDay, perRule, readAll, windowStart } from "./overview";

const now = Date.parse("2026-03-01T08:47:00Z"); // 16:47 in Shanghai

describe("alertsPerHour", () => {
  const alert = (first_seen: string, severity: Severity) => ({ first_seen, severity });

  it("counts the 24 hours of the deployment's clock ending with the current one, by severity", () => {
    const { hours, counts } = alertsPerHour(
      [
        alert("2026-03-01T08:00:00Z", "critical"), // 16:00, the current hour
        alert("2026-03-01T08:46:59Z", "critical"),
        alert("2026-03-01T07:59:59Z", "major"), // 15:59, the hour before
        alert("2026-02-28T09:00:00Z", "minor"), // 17:00 yesterday, the first hour shown
        alert("2026-02-28T08:59:59Z", "minor"), // before the window
      ],
      now,
      "Asia/Shanghai",
    );
    expect(hours).toHaveLength(24);
    expect(hours[0]).toBe(Date.parse("2026-02-28T09:00:00Z"));
    expect(hours[23]).toBe(Date.parse("2026-03-01T08:00:00Z"));
    expect(counts.critical[23]).toBe(2);
    expect(counts.major[22]).toBe(1);
    expect(counts.minor[0]).toBe(1);
    expect(counts.minor.reduce((a, b) => a + b)).toBe(1);
    expect(counts.info.every((n) => n === 0)).toBe(true);
  });

  it("starts its hours where the zone's hours start", () => {
    expect(windowStart(now, "Asia/Kolkata")).toBe(Date.parse("2026-03-01T08:30:00Z") - 23 * HOUR);
  });
});

describe("cluesPerDepartment", () => {
  const clue = (department: string, status: Clue["status"], overdue: Clue["overdue"] = null) => ({ department, status, overdue });

  it("counts open clues and the overdue among them, busiest first", () => {
    expect(
      cluesPerDepartment([
        clue("hall-office", "issued", "claim"),
        clue("market", "issued"),
        clue("market", "claimed", "feedback"),
        clue("market", "handled"),
        clue("market", "fed_back"), // done: not open
        clue("hall-office", "closed"),
      ]),
    ).toEqual([
      { department: "market", open: 3, overdue: 1 },
      { department: "hall-office", open: 1, overdue: 1 },
    ]);
  });
});

describe("readAll", () => {
  const pages: Record<string, { items: number[]; next_cursor: string | null }> = {
    start: { items: [1, 2], next_cursor: "b" },
    b: { items: [3, 4], next_cursor: "c" },
    c: { items: [5], next_cursor: null },
  };
  const page = async (cursor: string | null) => pages[cursor ?? "start"];

  it("follows the cursor to the end", async () => {
    expect(await readAll(page, 100)).toEqual({ items: [1, 2, 3, 4, 5], capped: false });
  });

  it("stops at the cap and says so", async () => {
    expect(await readAll(page, 3)).toEqual({ items: [1, 2, 3], capped: true });
  });
});

describe("localDay", () => {
  it.each([
    ["2026-03-01T15:59:59Z", 0, "2026-03-01"], // 23:59:59 in Shanghai
    ["2026-03-01T16:00:00Z", 0, "2026-03-02"], // midnight there, still the 1st in UTC
    ["2026-03-01T16:00:00Z", 6, "2026-02-24"],
    ["2026-03-07T08:00:00Z", 6, "2026-03-01"], // across the end of February
  ])("%s minus %i days", (iso, days, expected) => {
    expect(localDay(Date.parse(iso), "Asia/Shanghai", days)).toBe(expected);
  });
});

describe("perRule", () => {
  it("names sites and rules from the catalogue, shares the false alarms, most alerts first", () => {
    const rows = perRule(
      [
        { site: "hall", rule: "absence", alerts: 3, dismissed: 1 },
        { site: "store", rule: "gas", alerts: 8, dismissed: 0 },
        { site: "store", rule: "unknown", alerts: 0, dismissed: 0 },
      ],
      [{ id: "hall", name: "政务大厅", site: null }],
      [{ id: "absence", name: "窗口人员离岗", site: null }],
    );
    expect(rows.map((r) => [r.label, r.alerts, r.falseShare])).toEqual([
      ["store · gas", 8, 0],
      ["政务大厅 · 窗口人员离岗", 3, 33],
    ]);
  });
});
