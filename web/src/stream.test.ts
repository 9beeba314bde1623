import { describe, expect, it } from "vitest";
import { parseFrames } from "./stream";

describe("parseFrames", () => {
  it("reads the hub's frames: retry and comments first, then alert changes", () => {
    const { frames, rest } = parseFrames(
      'retry: 1000\n: after 7\n\nid: 8\nevent: alert\ndata: {"op":"insert"}\n\n: keep-alive\n\n',
    );
    expect(frames).toEqual([
      { data: [], retry: 1000 },
      { id: "8", event: "alert", data: ['{"op":"insert"}'] },
      { data: [] },
    ]);
    expect(rest).toBe("");
  });

  it("keeps an unfinished frame for the next chunk, wherever the chunk ends", () => {
    const stream = 'id: 9\nevent: alert\ndata: {"a":1}\n\nid: 10\nevent: alert\ndata: {"a":2}\n\n';
    for (let cut = 0; cut <= stream.length; cut++) {
      const first = parseFrames(stream.slice(0, cut));
      const second = parseFrames(first.rest + stream.slice(cut));
      expect([...first.frames, ...second.frames].map((f) => f.id)).toEqual(["9", "10"]);
      expect(second.rest).toBe("");
    }
  });

  it("joins multi-line data, takes CRLF line ends and a value without a space", () => {
    const { frames } = parseFrames("id:11\r\nevent:alert\r\ndata: line one\r\ndata:line two\r\n\r\n");
    expect(frames).toEqual([{ id: "11", event: "alert", data: ["line one", "line two"] }]);
  });
});
