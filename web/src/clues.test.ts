import { afterEach, describe, expect, it } from "vitest";
import type { Clue } from "./api";
import { countdown, deadline, riskClass } from "./clues";
import { setLocale } from "./i18n";

afterEach(() => setLocale("zh-CN"));

const at = Date.parse("2026-03-01T08:00:00Z");

describe("countdown", () => {
  it.each([
    ["2026-03-01T08:45:30Z", "还剩 45 分"],
    ["2026-03-01T10:05:00Z", "还剩 2 小时 5 分"],
    ["2026-03-03T11:00:00Z", "还剩 2 天 3 小时"],
    ["2026-03-01T05:55:00Z", "已超期 2 小时 5 分"],
    ["2026-02-27T07:00:00Z", "已超期 2 天 1 小时"],
  ])("to %s", (when, said) => {
    expect(countdown(when, at)).toBe(said);
  });

  it.each([
    ["2026-03-01T08:45:30Z", "45 min left"],
    ["2026-03-01T10:05:00Z", "2 h 5 min left"],
    ["2026-02-27T07:00:00Z", "2 d 1 h overdue"],
  ])("to %s in English", (when, said) => {
    setLocale("en");
    expect(countdown(when, at)).toBe(said);
  });
});

describe("riskClass", () => {
  it.each([
    [1, "zh-CN", "一级（立即处置）"],
    [3, "en", "Class 3 (routine)"],
    [9, "zh-CN", "9"],
  ] as const)("%s in %s", (value, locale, said) => {
    setLocale(locale);
    expect(riskClass(value)).toBe(said);
  });
});

describe("deadline", () => {
  const clue = { claim_deadline: "C", feedback_deadline: "F" } as Clue;
  it.each([
    ["issued", "C"],
    ["claimed", "F"],
    ["handled", "F"],
    ["fed_back", null],
    ["closed", null],
  ] as const)("of a clue %s", (status, expected) => {
    expect(deadline({ ...clue, status })?.at ?? null).toBe(expected);
  });
});
