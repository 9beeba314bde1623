import { describe, expect, it } from "vitest";
import { matches, queryParams } from "./alerts";
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
