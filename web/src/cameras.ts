// What the camera wall computes: how old a camera's frame is, its frames kept as object URLs that
// are swapped only once the new picture has loaded (no blank card between two), and the occupancy
// curve from GET /cameras/{id}/occupancy (minutes with nobody are left out there: zeros here).

/** Seconds from `frameAt` to `now` (never negative: a clock a little ahead says "now"); null when
 * the camera has no frame yet. */
export function frameAge(frameAt: string | null, now: number): number | null {
  if (!frameAt) return null;
  return Math.max(0, Math.round((now - Date.parse(frameAt)) / 1000));
}

/** An age in the largest whole unit: [n, "s" | "min" | "h" | "d"]. */
export function ageParts(seconds: number): [number, "s" | "min" | "h" | "d"] {
  if (seconds < 60) return [seconds, "s"];
  if (seconds < 3600) return [Math.floor(seconds / 60), "min"];
  if (seconds < 86_400) return [Math.floor(seconds / 3600), "h"];
  return [Math.floor(seconds / 86_400), "d"];
}

/** GET /cameras/{id}/frame's answer: a new picture, or 304 (the one shown is still the latest). */
export type FrameAnswer = { changed: false } | { changed: true; blob: Blob; etag: string | null };

interface Shown {
  url: string;
  etag: string | null;
  frameAt: string | null; // GET /cameras' frame_at when it was fetched
}

/**
 * Each camera's frame as an object URL. `refresh` asks only when GET /cameras names a frame newer
 * than the one shown, with the shown frame's ETag; a new one is decoded (`ready`) before it
 * replaces the old, whose URL is then revoked.
 */
export class FrameCache {
  private readonly shown = new Map<string, Shown>();

  constructor(
    private readonly fetchFrame: (camera: string, etag: string | null) => Promise<FrameAnswer>,
    private readonly ready: (url: string) => Promise<void>,
    private readonly toUrl: (blob: Blob) => string = (blob) => URL.createObjectURL(blob),
    private readonly revoke: (url: string) => void = (url) => URL.revokeObjectURL(url),
  ) {}

  url(camera: string): string | undefined {
    return this.shown.get(camera)?.url;
  }

  /** Fetch `camera`'s frame if it changed (`frameAt`: GET /cameras' `frame_at`, null when not
   * known); true when the picture shown changed. A failure keeps the picture shown (the next round
   * tries again). */
  async refresh(camera: string, frameAt: string | null = null): Promise<boolean> {
    const before = this.shown.get(camera);
    if (before && frameAt !== null && before.frameAt === frameAt) return false; // nothing new: no request
    let answer: FrameAnswer;
    try {
      answer = await this.fetchFrame(camera, before?.etag ?? null);
    } catch {
      return false;
    }
    if (!answer.changed) {
      if (before && frameAt !== null) before.frameAt = frameAt; // the one shown is that frame
      return false;
    }
    const url = this.toUrl(answer.blob);
    try {
      await this.ready(url);
    } catch {
      this.revoke(url); // a picture that does not decode never replaces one that did
      return false;
    }
    if (this.shown.get(camera) !== before) {
      this.revoke(url); // a newer refresh of the same camera won meanwhile
      return false;
    }
    this.shown.set(camera, { url, etag: answer.etag, frameAt });
    if (before) this.revoke(before.url);
    return true;
  }

  /** Forget the cameras not in `keep` (removed from the deployment), revoking their URLs. */
  retain(keep: Iterable<string>): void {
    const kept = new Set(keep);
    for (const [camera, shown] of this.shown) {
      if (!kept.has(camera)) {
        this.revoke(shown.url);
        this.shown.delete(camera);
      }
    }
  }

  clear(): void {
    this.retain([]);
  }
}

/** One minute of GET /cameras/{id}/occupancy. */
export interface MinuteCount {
  minute: string;
  label: string;
  tracks: number;
}

/** Per label, [minute (ms), distinct tracks] for every minute of [start, end): the minutes the
 * API leaves out (nobody seen) as 0, so the curve falls to the floor instead of bridging a gap. */
export function occupancySeries(minutes: MinuteCount[], start: string, end: string): Map<string, [number, number][]> {
  const first = Math.floor(Date.parse(start) / 60_000) * 60_000;
  const last = Date.parse(end);
  const counts = new Map<string, Map<number, number>>();
  for (const m of minutes) {
    const at = Date.parse(m.minute);
    if (!counts.has(m.label)) counts.set(m.label, new Map());
    counts.get(m.label)!.set(at, m.tracks);
  }
  const series = new Map<string, [number, number][]>();
  for (const label of [...counts.keys()].sort()) {
    const per = counts.get(label)!;
    const points: [number, number][] = [];
    for (let at = first; at < last; at += 60_000) points.push([at, per.get(at) ?? 0]);
    series.set(label, points);
  }
  return series;
}

/** One stay of GET /cameras/{id}/occupancy. */
export interface Stay {
  label: string;
  dwell_s: number;
}

/** Per label: stays, their mean and longest dwell in seconds (rounded). */
export function dwellSummary(stays: Stay[]): { label: string; stays: number; mean: number; longest: number }[] {
  const per = new Map<string, number[]>();
  for (const s of stays) {
    if (!per.has(s.label)) per.set(s.label, []);
    per.get(s.label)!.push(s.dwell_s);
  }
  return [...per.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([label, dwells]) => ({
      label,
      stays: dwells.length,
      mean: Math.round(dwells.reduce((sum, d) => sum + d, 0) / dwells.length),
      longest: Math.round(Math.max(...dwells)),
    }));
}
