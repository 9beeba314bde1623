// What the wall shows of alerts: labels, colours, the actions each state allows, and merging.
import type { Alert, AlertAction, AlertStatus, Severity } from "./api";
import { session } from "./session";

export const SEVERITY: Record<Severity, { label: string; tag: "danger" | "warning" | "primary" | "info" }> = {
  critical: { label: "紧急", tag: "danger" },
  major: { label: "重要", tag: "warning" },
  minor: { label: "一般", tag: "primary" },
  info: { label: "提示", tag: "info" },
};

export const STATUS: Record<AlertStatus, { label: string; tag: "danger" | "warning" | "success" | "info" }> = {
  open: { label: "待处理", tag: "danger" },
  acknowledged: { label: "已确认", tag: "warning" },
  closed: { label: "已关闭", tag: "success" },
  dismissed: { label: "误报", tag: "info" },
};

/** hub/workflow.py's ALERTS: the actions each state allows. */
export const ACTIONS: Record<AlertAction, { label: string; from: AlertStatus[] }> = {
  acknowledge: { label: "确认", from: ["open"] },
  dismiss: { label: "误报", from: ["open", "acknowledged"] },
  close: { label: "关闭", from: ["open", "acknowledged"] },
};

/** Keep the newer of two versions of one alert: a page and the stream may cross. */
export function newer(held: Alert | undefined, offered: Alert): boolean {
  return !held || Date.parse(offered.updated_at) >= Date.parse(held.updated_at);
}

/** Newest first by first_seen, as GET /alerts pages them. */
export function byNewest(a: Alert, b: Alert): number {
  return Date.parse(b.first_seen) - Date.parse(a.first_seen) || b.id - a.id;
}

/** A moment as the deployment's clock shows it (its time zone, not the browser's). */
export function when(iso: string, timeZone: string = session.timezone): string {
  return new Date(iso).toLocaleString("zh-CN", { hour12: false, timeZone });
}

/** The wall's filters, as GET /alerts and GET /alerts/counts take them; absent means any. */
export interface AlertQuery {
  site?: string;
  source?: string;
  rule?: string;
  status?: AlertStatus;
  since?: string;
  until?: string;
}

/** The query parameters of `query`, without the empty ones. */
export function queryParams(query: AlertQuery): Record<string, string> {
  return Object.fromEntries(Object.entries(query).filter(([, value]) => value)) as Record<string, string>;
}

/** Whether an alert from the stream belongs on a wall filtered by `query` (the API's own rules:
 * equal fields, first_seen in [since, until)). */
export function matches(query: AlertQuery, alert: Alert): boolean {
  for (const field of ["site", "source", "rule", "status"] as const) {
    if (query[field] && alert[field] !== query[field]) return false;
  }
  const seen = Date.parse(alert.first_seen);
  if (query.since && seen < Date.parse(query.since)) return false;
  if (query.until && seen >= Date.parse(query.until)) return false;
  return true;
}
