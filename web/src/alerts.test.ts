import { describe, expect, it } from "vitest";
import { matches, newestFirst, queryParams } from "./alerts";
import type { Alert } from "./api";

const alert = {
  id: 7,
  site: "lintong-coldstore",
  source: "sensor:coldstore-gas",
  rule: "coldstore-gas-high",
  status: "open",
  first_seen: "2026-03-01T08:00:00Z",
} as Alert;

describe("matches", () => {
  it.each([
    [{}, true],
    [{ site: "lintong-coldstore" }, true],
    [{ site: "lintong-hall" }, false],
    [{ source: "sensor:coldstore-gas", rule: "coldstore-gas-high" }, true],
    [{ rule: "window-absence" }, false],
    [{ status: "acknowledged" as const }, false],
    [{ since: "2026-03-01T08:00:00Z" }, true], // since is inclusive
    [{ since: "2026-03-01T08:00:01Z" }, false],
    [{ until: "2026-03-01T08:00:00Z" }, false], // until is not
    [{ until: "2026-03-01T16:00:00+08:00" }, false], // the same moment in another zone
    [{ until: "2026-03-01T16:00:01+08:00" }, true],
  ])("%j -> %s", (query, expected) => {
    expect(matches(query, alert)).toBe(expected);
  });
});

describe("queryParams", () => {
  it("leaves out what is not set", () => {
    expect(queryParams({ site: "a", rule: "", status: undefined })).toEqual({ site: "a" });
  });
});

describe("newestFirst", () => {
  it("orders by the moment first seen, whatever its zone, then by id", () => {
    const at = (id: number, first_seen: string) => ({ ...alert, id, first_seen }) as Alert;
    const alerts = [
      at(1, "2026-03-01T08:00:00Z"),
      at(2, "2026-03-01T16:30:00+08:00"), // 08:30Z
      at(3, "2026-03-01T08:00:00Z"),
      at(4, "2026-03-01T08:15:00.500Z"),
    ];
    expect(newestFirst(alerts).map((a) => a.id)).toEqual([2, 4, 3, 1]);
  });
});
