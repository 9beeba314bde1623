import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { format, i18n, MESSAGES, setLocale, t, trailAction, useDeploymentLanguage } from "./i18n";

afterEach(() => setLocale("zh-CN"));

describe("the catalogue", () => {
  it("is Chinese by default and English on the switch", () => {
    expect(i18n.locale).toBe("zh-CN");
    expect(t("wall.title")).toBe("告警墙");
    setLocale("en");
    expect(t("wall.title")).toBe("Alert wall");
  });

  it("has every message in both languages, none left empty", () => {
    const zh = Object.keys(MESSAGES["zh-CN"]);
    expect(Object.keys(MESSAGES.en).sort()).toEqual([...zh].sort());
    for (const locale of ["zh-CN", "en"] as const) {
      for (const [key, text] of Object.entries(MESSAGES[locale])) expect(text.trim(), `${locale} ${key}`).not.toBe("");
    }
  });

  it("names the same placeholders in both languages", () => {
    const names = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const [key, text] of Object.entries(MESSAGES["zh-CN"])) {
      expect(names(MESSAGES.en[key as keyof typeof MESSAGES.en]), key).toEqual(names(text));
    }
  });

  it("leaves no Chinese in the English table", () => {
    const chinese = Object.entries(MESSAGES.en).filter(([key, text]) => key !== "lang.switch" && /[\u4e00-\u9fff]/.test(text));
    expect(chinese).toEqual([]);
  });
});

describe("format", () => {
  it.each([
    ["{what}失败：{detail}", { what: "认领", detail: "409" }, "认领失败：409"],
    ["{n} left", { n: 0 }, "0 left"],
    ["{missing} stays", {}, "{missing} stays"],
    ["{a}{a}", { a: "x" }, "xx"],
  ])("%s with %j", (template, params, expected) => {
    expect(format(template, params)).toBe(expected);
  });
});

describe("the default language", () => {
  const store = new Map<string, string>();
  beforeEach(() => {
    store.clear();
    vi.stubGlobal("localStorage", {
      getItem: (key: string) => store.get(key) ?? null,
      setItem: (key: string, value: string) => void store.set(key, value),
      removeItem: (key: string) => void store.delete(key),
    });
  });
  afterEach(() => vi.unstubAllGlobals());

  it("is the deployment's until the user picks one, then the user's", () => {
    useDeploymentLanguage("en");
    expect(t("wall.title")).toBe("Alert wall");
    useDeploymentLanguage("zh");
    expect(i18n.locale).toBe("zh-CN");
    setLocale("en"); // the user's switch, remembered
    useDeploymentLanguage("zh");
    expect(i18n.locale).toBe("en");
  });
});

describe("trail actions", () => {
  it("are words in both languages, escalation included, and unknown ones stay as sent", () => {
    expect(trailAction("escalate")).toBe("督办");
    expect(trailAction("feed_back")).toBe("反馈");
    expect(trailAction("teleport")).toBe("teleport");
    setLocale("en");
    expect(trailAction("escalate")).toBe("Escalated");
  });
});
