import { describe, expect, it } from "vitest";
import { FrameCache, ageParts, dwellSummary, frameAge, occupancySeries, type FrameAnswer } from "./cameras";

describe("frameAge", () => {
  it("counts whole seconds, none before a frame, never below zero", () => {
    const now = Date.parse("2026-12-02T08:00:10.400Z");
    expect(frameAge("2026-12-02T16:00:00+08:00", now)).toBe(10);
    expect(frameAge(null, now)).toBeNull();
    expect(frameAge("2026-12-02T08:00:12Z", now)).toBe(0);
  });
  it.each([
    [0, [0, "s"]],
    [59, [59, "s"]],
    [61, [1, "min"]],
    [7200, [2, "h"]],
    [90_000, [1, "d"]],
  ])("%s s is %j", (seconds, expected) => {
    expect(ageParts(seconds)).toEqual(expected);
  });
});

/** A cache over scripted answers; URLs are "u1", "u2"... and `ready` fails for pictures named "bad". */
function cache(answers: FrameAnswer[]) {
  const asked: (string | null)[] = [];
  const revoked: string[] = [];
  let made = 0;
  const names = new Map<string, string>();
  const frames = new FrameCache(
    async (_camera, etag) => {
      asked.push(etag);
      const next = answers.shift();
      if (!next) throw new Error("offline");
      return next;
    },
    async (url) => {
      if (names.get(url) === "bad") throw new Error("not a picture");
    },
    (blob) => {
      const url = `u${++made}`;
      names.set(url, (blob as unknown as { name: string }).name);
      return url;
    },
    (url) => revoked.push(url),
  );
  return { frames, asked, revoked };
}

const picture = (name: string, etag: string): FrameAnswer => ({ changed: true, blob: { name } as unknown as Blob, etag });

describe("FrameCache", () => {
  it("swaps a new frame in once it loaded, asks with the shown frame's ETag and keeps it on 304", async () => {
    const { frames, asked, revoked } = cache([picture("a", '"1"'), { changed: false }, picture("b", '"2"')]);
    expect(await frames.refresh("cam")).toBe(true);
    expect(frames.url("cam")).toBe("u1");
    expect(await frames.refresh("cam")).toBe(false);
    expect(frames.url("cam")).toBe("u1");
    expect(await frames.refresh("cam")).toBe(true);
    expect(frames.url("cam")).toBe("u2");
    expect(asked).toEqual([null, '"1"', '"1"']);
    expect(revoked).toEqual(["u1"]);
  });

  it("asks only when the camera list names a newer frame than the one shown", async () => {
    const { frames, asked } = cache([picture("a", '"1"'), picture("b", '"2"')]);
    expect(await frames.refresh("cam", "2026-12-02T08:00:00Z")).toBe(true);
    expect(await frames.refresh("cam", "2026-12-02T08:00:00Z")).toBe(false);
    expect(asked).toEqual([null]);
    expect(await frames.refresh("cam", "2026-12-02T08:00:05Z")).toBe(true);
    expect([asked, frames.url("cam")]).toEqual([[null, '"1"'], "u2"]);
  });

  it("keeps the picture shown when the hub is away or a new one does not decode", async () => {
    const { frames, revoked } = cache([picture("a", '"1"'), picture("bad", '"2"')]);
    await frames.refresh("cam");
    expect(await frames.refresh("cam")).toBe(false); // does not decode
    expect(await frames.refresh("cam")).toBe(false); // offline
    expect(frames.url("cam")).toBe("u1");
    expect(revoked).toEqual(["u2"]);
  });

  it("forgets cameras no longer listed", async () => {
    const { frames, revoked } = cache([picture("a", '"1"'), picture("b", '"1"')]);
    await frames.refresh("one");
    await frames.refresh("two");
    frames.retain(["two"]);
    expect([frames.url("one"), frames.url("two")]).toEqual([undefined, "u2"]);
    expect(revoked).toEqual(["u1"]);
  });
});

describe("occupancySeries", () => {
  it("gives every minute of the range, nobody as 0, per label", () => {
    const series = occupancySeries(
      [
        { minute: "2026-12-02T16:01:00+08:00", label: "person", tracks: 3 },
        { minute: "2026-12-02T08:03:00Z", label: "person", tracks: 1 },
        { minute: "2026-12-02T08:03:00Z", label: "car", tracks: 2 },
      ],
      "2026-12-02T08:00:30Z",
      "2026-12-02T08:04:00Z",
    );
    const at = (m: number) => Date.parse("2026-12-02T08:00:00Z") + m * 60_000;
    expect([...series.keys()]).toEqual(["car", "person"]);
    expect(series.get("person")).toEqual([[at(0), 0], [at(1), 3], [at(2), 0], [at(3), 1]]);
    expect(series.get("car")).toEqual([[at(0), 0], [at(1), 0], [at(2), 0], [at(3), 2]]);
  });
});

describe("dwellSummary", () => {
  it("counts stays and their mean and longest dwell per label", () => {
    expect(
      dwellSummary([
        { label: "person", dwell_s: 10 },
        { label: "person", dwell_s: 35.4 },
        { label: "car", dwell_s: 0 },
      ]),
    ).toEqual([
      { label: "car", stays: 1, mean: 0, longest: 0 },
      { label: "person", stays: 2, mean: 23, longest: 35 },
    ]);
  });
});
