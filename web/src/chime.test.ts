import { describe, expect, it } from "vitest";
import type { Alert, Severity } from "./api";
import { QUIET_MS, rings } from "./chime";

const change = (op: string, severity: Severity) => ({ op, alert: { id: 1, severity } as Alert });

describe("rings", () => {
  it.each([
    ["insert", "critical", true],
    ["insert", "major", true],
    ["insert", "minor", false],
    ["insert", "info", false],
    ["update", "critical", false], // a repeat or a state change of a known alert is silent
  ] as const)("a new %s of a %s alert: %s", (op, severity, expected) => {
    expect(rings(change(op, severity), true, 10_000, -Infinity)).toBe(expected);
  });

  it("stays silent when switched off", () => {
    expect(rings(change("insert", "critical"), false, 10_000, -Infinity)).toBe(false);
  });

  it("rings once for a burst", () => {
    expect(rings(change("insert", "critical"), true, 10_000, 10_000 - QUIET_MS + 1)).toBe(false);
    expect(rings(change("insert", "critical"), true, 10_000, 10_000 - QUIET_MS)).toBe(true);
  });
});
