// What the wall shows of alerts: tag colours, the actions each state allows, and merging.
import type { Alert, AlertAction, AlertStatus, Severity } from "./api";

type Tag = "danger" | "warning" | "primary" | "success" | "info";

/** Tag colour per severity; the label is t(`severity.${severity}`). */
export const SEVERITY: Record<Severity, { tag: Tag; colour: string }> = {
  critical: { tag: "danger", colour: "#f56c6c" },
  major: { tag: "warning", colour: "#e6a23c" },
  minor: { tag: "primary", colour: "#409eff" },
  info: { tag: "info", colour: "#909399" },
};

/** Tag colour per state; the label is t(`status.${status}`). */
export const STATUS: Record<AlertStatus, { tag: Tag }> = {
  open: { tag: "danger" },
  acknowledged: { tag: "warning" },
  closed: { tag: "success" },
  dismissed: { tag: "info" },
};

/** hub/workflow.py's ALERTS: the actions each state allows; the label is t(`action.${action}`). */
export const ACTIONS: Record<AlertAction, { from: AlertStatus[] }> = {
  acknowledge: { from: ["open"] },
  dismiss: { from: ["open", "acknowledged"] },
  close: { from: ["open", "acknowledged"] },
};

/** Keep the newer of two versions of one alert: a page and the stream may cross. */
export function newer(held: Alert | undefined, offered: Alert): boolean {
  return !held || Date.parse(offered.updated_at) >= Date.parse(held.updated_at);
}

/** `alerts` newest first by first_seen (then id), as GET /alerts pages them; each time is parsed
 * once, not once per comparison: a wall holds thousands. */
export function newestFirst(alerts: Iterable<Alert>): Alert[] {
  const keyed = [...alerts].map((alert) => ({ at: Date.parse(alert.first_seen), alert }));
  keyed.sort((a, b) => b.at - a.at || b.alert.id - a.alert.id);
  return keyed.map((k) => k.alert);
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
