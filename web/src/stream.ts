// The live alert stream (GET /stream/alerts, Server-Sent Events) read with fetch(), because
// EventSource cannot send the Authorization header and a session token does not belong in a URL
// (it would land in access logs and the browser's history). Reconnects with Last-Event-ID, so no
// change is lost or repeated across a dropped connection.
import { authHeaders, type Alert } from "./api";
import { session } from "./session";

export interface AlertChange {
  op: string;
  alert: Alert;
}

export interface StreamHandlers {
  /** The server holds the stream open; changes from now on will arrive. */
  onOpen(): void;
  onChange(change: AlertChange): void;
  /** The connection dropped (or was refused); it is retried after `retryMs`. */
  onDrop(error: unknown): void;
}

interface Frame {
  id?: string;
  event?: string;
  data: string[];
  retry?: number;
}

/** Split a buffer into complete SSE frames; the unfinished rest is returned to wait for more. */
export function parseFrames(buffer: string): { frames: Frame[]; rest: string } {
  const frames: Frame[] = [];
  const blocks = buffer.replace(/\r\n?/g, "\n").split("\n\n");
  const rest = blocks.pop() ?? "";
  for (const block of blocks) {
    const frame: Frame = { data: [] };
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "data") frame.data.push(value);
      else if (field === "id") frame.id = value;
      else if (field === "event") frame.event = value;
      else if (field === "retry" && /^\d+$/.test(value)) frame.retry = Number(value);
    }
    frames.push(frame);
  }
  return { frames, rest };
}

/** Follow the stream until the returned function is called. */
export function followAlerts(handlers: StreamHandlers): () => void {
  const stop = new AbortController();
  let lastId: string | null = null;
  let retryMs = 1000;

  async function connect(): Promise<void> {
    const headers: Record<string, string> = { ...authHeaders(), Accept: "text/event-stream" };
    if (lastId !== null) headers["Last-Event-ID"] = lastId;
    const response = await fetch("/stream/alerts", { headers, signal: stop.signal, cache: "no-store" });
    if (response.status === 401) {
      session.clear(); // the session expired or was revoked: back to sign-in, no retrying
      stop.abort();
    }
    if (!response.ok || !response.body) throw new Error(`stream refused: ${response.status}`);
    handlers.onOpen();
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error("stream ended");
      const { frames, rest } = parseFrames(buffer + value);
      buffer = rest;
      for (const frame of frames) {
        if (frame.retry !== undefined) retryMs = frame.retry;
        if (frame.id !== undefined) lastId = frame.id;
        if (frame.event === "alert" && frame.data.length) {
          handlers.onChange(JSON.parse(frame.data.join("\n")) as AlertChange);
        }
      }
    }
  }

  void (async () => {
    while (!stop.signal.aborted) {
      try {
        await connect();
      } catch (error) {
        if (stop.signal.aborted) return;
        handlers.onDrop(error);
      }
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
  })();
  return () => stop.abort();
}
