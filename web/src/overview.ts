// The overview's figures: alerts per hour by severity over the last 24 hours of the deployment's
// clock (GET /alerts since then: GET /statistics counts whole days), the open clues per department
// (GET /clues in each open state, however old), and the week's alerts and false alarms per site
// and rule (GET /statistics).
import type { Alert, AlertCount, Clue, ClueStatus, Named, Severity } from "./api";
import { hourStart, when } from "./time";

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

/** The local day `days` before the one `at` falls in on `timeZone`'s clock, as YYYY-MM-DD. */
export function localDay(at: number, timeZone: string, days = 0): string {
  const [year, month, day] = when(new Date(at).toISOString(), timeZone).slice(0, 10).split("-").map(Number);
  return new Date(Date.UTC(year, month - 1, day - days)).toISOString().slice(0, 10);
}

export interface RuleLoad {
  site: string;
  rule: string;
  /** "骊山冷链物流冷库 · 可燃气体浓度超过20%LEL": the catalogue's names where it has them. */
  label: string;
  alerts: number;
  dismissed: number;
  /** Dismissed as false alarms, in percent of the alerts, rounded. */
  falseShare: number;
}

/** Alerts and false alarms per site and rule, the most alerts first. */
export function perRule(counts: AlertCount[], sites: Named[], rules: Named[]): RuleLoad[] {
  const name = (named: Named[], id: string) => named.find((n) => n.id === id)?.name ?? id;
  return counts
    .filter((c) => c.alerts > 0)
    .map((c) => ({
      site: c.site,
      rule: c.rule,
      label: `${name(sites, c.site)} · ${name(rules, c.rule)}`,
      alerts: c.alerts,
      dismissed: c.dismissed,
      falseShare: Math.round((100 * c.dismissed) / c.alerts),
    }))
    .sort((a, b) => b.alerts - a.alerts || a.label.localeCompare(b.label));
}
