// The overview's figures, from what the API already answers: alerts per hour by severity over the
// last 24 hours of the deployment's clock (GET /alerts since then), and the open clues per
// department (GET /clues in each open state). The statistics API will answer these in the store.
import type { Alert, Clue, ClueStatus, Severity } from "./api";
import { hourStart } from "./time";

export const HOUR = 3_600_000;
export const SEVERITIES: readonly Severity[] = ["critical", "major", "minor", "info"];
/** A clue still waiting on its department. */
export const OPEN_CLUES: readonly ClueStatus[] = ["issued", "claimed", "handled"];
/** At most this many alerts are read for the curves; more is the statistics API's work. */
export const ALERT_CAP = 5000;

/** The start of the first of the 24 hours shown: the current hour of `timeZone`'s clock and the 23 before it. */
export function windowStart(now: number, timeZone: string): number {
  return hourStart(now, timeZone) - 23 * HOUR;
}

export interface PerHour {
  /** The start of each hour, oldest first. */
  hours: number[];
  counts: Record<Severity, number[]>;
}

/** How many of `alerts` were first seen in each of the 24 hours, by severity. */
export function alertsPerHour(alerts: Pick<Alert, "first_seen" | "severity">[], now: number, timeZone: string): PerHour {
  const first = windowStart(now, timeZone);
  const hours = Array.from({ length: 24 }, (_, i) => first + i * HOUR);
  const counts = Object.fromEntries(SEVERITIES.map((s) => [s, hours.map(() => 0)])) as Record<Severity, number[]>;
  for (const alert of alerts) {
    const hour = Math.floor((Date.parse(alert.first_seen) - first) / HOUR);
    if (hour >= 0 && hour < hours.length) counts[alert.severity][hour] += 1;
  }
  return { hours, counts };
}

export interface DepartmentLoad {
  department: string;
  open: number;
  overdue: number;
}

/** Open and overdue clues per department, the busiest first. */
export function cluesPerDepartment(clues: Pick<Clue, "department" | "status" | "overdue">[]): DepartmentLoad[] {
  const by = new Map<string, DepartmentLoad>();
  for (const clue of clues) {
    if (!OPEN_CLUES.includes(clue.status)) continue;
    const load = by.get(clue.department) ?? { department: clue.department, open: 0, overdue: 0 };
    load.open += 1;
    if (clue.overdue) load.overdue += 1;
    by.set(clue.department, load);
  }
  return [...by.values()].sort((a, b) => b.open - a.open || a.department.localeCompare(b.department));
}

/** Every item of a cursor-paged list, up to `cap`; whether the cap cut it short. */
export async function readAll<T>(
  page: (cursor: string | null) => Promise<{ items: T[]; next_cursor: string | null }>,
  cap: number,
): Promise<{ items: T[]; capped: boolean }> {
  const items: T[] = [];
  let cursor: string | null = null;
  do {
    const got = await page(cursor);
    items.push(...got.items);
    cursor = got.next_cursor;
  } while (cursor && items.length < cap);
  return { items: items.slice(0, cap), capped: cursor !== null || items.length > cap };
}
