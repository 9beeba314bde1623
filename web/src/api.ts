// The hub's API as the dashboard calls it: same origin, the session's bearer token on every call.
import type { FrameAnswer, MinuteCount } from "./cameras";
import { session } from "./session";

export type Severity = "info" | "minor" | "major" | "critical";
export type AlertStatus = "open" | "acknowledged" | "closed" | "dismissed";
export type AlertAction = "acknowledge" | "dismiss" | "close";

/** AlertPublic in api/schemas.py. */
export interface Alert {
  id: number;
  source: string;
  site: string;
  rule: string;
  title: string;
  severity: Severity;
  status: AlertStatus;
  first_seen: string;
  last_seen: string;
  ended_at: string | null;
  count: number;
  evidence: string[];
  updated_at: string;
}

export interface AlertPage {
  items: Alert[];
  next_cursor: string | null;
}

export interface Session {
  token: string;
  expires_at: string;
}

export type Role = "admin" | "operator" | "department" | "edge";

/** Me in api/schemas.py: GET /auth/me. */
export interface Me {
  name: string;
  role: Role;
  department: string | null;
  site: string | null;
  session: boolean;
  expires_at: string | null;
  timezone: string;
  /** The deployment's language: the dashboard's until the user switches. */
  language: "zh" | "en";
}

export interface Named {
  id: string;
  name: string;
  site: string | null;
}

/** Catalogue in api/schemas.py: what alerts' ids stand for. */
export interface Catalogue {
  sites: Named[];
  sources: Named[];
  rules: Named[];
  departments: Named[];
}

export interface Transition {
  at: string;
  actor: string;
  action: string;
  from_status: string | null;
  to_status: string;
  note: string;
}

export type ClueStatus = "issued" | "claimed" | "handled" | "fed_back" | "closed";
export type Verdict = "confirmed" | "false_alarm";

/** CluePublic in api/schemas.py. */
export interface Clue {
  id: number;
  alert_id: number | null;
  department: string;
  site: string;
  rule: string;
  item_code: string;
  object_code: string | null;
  title: string;
  risk_class: number;
  status: ClueStatus;
  issued_at: string;
  claim_deadline: string;
  feedback_deadline: string;
  claimed_at: string | null;
  fed_back_at: string | null;
  closed_at: string | null;
  verdict: Verdict | null;
  feedback: string | null;
  overdue: "claim" | "feedback" | null;
}

export interface ClueDetail extends Clue {
  evidence: string[];
  feedback_evidence: string[];
  evidence_links: string[];
  allowed: string[];
  trail: Transition[];
}

export interface CluePage {
  items: Clue[];
  next_cursor: string | null;
}

/** RecordPublic in api/schemas.py (the fields the dashboard shows). */
export interface SupervisionRecord {
  id: number;
  record_id: string;
  item_code: string;
  item_name: string;
  department_name: string;
  object_name: string | null;
  object_code: string | null;
  area_code: string;
  method: string;
  result: "problem_found" | "no_problem";
  inspected_at: string;
}

export interface AlertDetail extends Alert {
  evidence_links: string[];
  trail: Transition[];
  records: SupervisionRecord[];
  clues: Clue[];
}

export interface CurvePoint {
  time: string;
  mean: number;
  min: number;
  max: number;
}

/** AlertCurve in api/schemas.py: GET /alerts/{id}/curve. */
export interface AlertCurve {
  alert_id: number;
  sensor: string;
  sensor_name: string;
  metric: string;
  unit: string | null;
  above: number | null;
  below: number | null;
  start: string;
  end: string;
  resolution: "1m" | "1h";
  points: CurvePoint[];
}

/** AlertCount in hub/statistics.py: alerts that began in the period, per site and rule. */
export interface AlertCount {
  site: string;
  rule: string;
  alerts: number;
  dismissed: number;
}

/** Statistics in hub/statistics.py (the parts the dashboard shows): GET /statistics. */
export interface Statistics {
  first: string;
  last: string;
  timezone: string;
  alerts: AlertCount[];
}

/** DeviceStatus in api/schemas.py: a device's last status change. */
export interface DeviceStatus {
  status: string;
  since: string;
  detail: string;
}

/** SensorView in api/schemas.py: GET /sensors. */
export interface SensorView {
  id: string;
  name: string;
  site: string;
  kind: string;
  interval: number;
  metrics: { name: string; unit: string; min: number; max: number; latest: { time: string; value: number } | null }[];
  health: DeviceStatus | null;
}

/** SensorCurve in api/schemas.py: GET /sensors/{id}/readings. */
export interface SensorCurve {
  sensor: string;
  sensor_name: string;
  metric: string;
  unit: string;
  start: string;
  end: string;
  resolution: "raw" | "1m" | "1h";
  points: CurvePoint[];
}

/** CameraView in api/routers/cameras.py: GET /cameras. */
export interface CameraView {
  id: string;
  name: string;
  site: string;
  health: DeviceStatus | null;
  snapshot: { alert_id: number; taken_at: string; link: string } | null;
  findings_today: number;
  frame_at: string | null;
  frame_stale: boolean;
}

/** Occupancy in api/routers/occupancy.py: GET /cameras/{id}/occupancy. */
export interface Occupancy {
  camera: string;
  camera_name: string;
  start: string;
  end: string;
  sample_every: number;
  minutes: MinuteCount[];
  tracks: { track: number; label: string; first: string; last: string; dwell_s: number; samples: number }[];
}

/** DeadLetterPublic in api/routers/outputs.py: GET /outputs/dead. */
export interface DeadLetter {
  id: number;
  destination: string;
  kind: string;
  subject: number;
  change: string;
  attempts: number;
  last_error: string | null;
  created_at: string;
}

/** A refusal of the API, with the problem's `detail` as message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function authHeaders(): Record<string, string> {
  return session.token ? { Authorization: `Bearer ${session.token}` } : {};
}

async function call<T>(method: string, path: string, body?: unknown, token?: string): Promise<T> {
  const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : authHeaders();
  const form = body instanceof FormData; // multipart: the browser writes the boundary itself
  if (body !== undefined && !form) headers["Content-Type"] = "application/json";
  const sent = body === undefined ? undefined : form ? body : JSON.stringify(body);
  const response = await fetch(path, { method, headers, body: sent });
  if (response.status === 401 && session.token) session.clear(); // expired or revoked elsewhere
  if (!response.ok) throw new ApiError(response.status, await problem(response));
  return (response.status === 204 ? undefined : await response.json()) as T;
}

async function problem(response: Response): Promise<string> {
  try {
    const detail: unknown = (await response.json()).detail;
    return typeof detail === "string" ? detail : JSON.stringify(detail);
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

export const api = {
  login: (username: string, password: string) => call<Session>("POST", "/auth/login", { username, password }),
  logout: () => call<void>("POST", "/auth/logout"),
  alerts: (cursor: string | null, filters: Record<string, string> = {}, limit = 50) => {
    const query = new URLSearchParams({ ...filters, limit: String(limit) });
    if (cursor) query.set("cursor", cursor);
    return call<AlertPage>("GET", `/alerts?${query}`);
  },
  counts: (filters: Record<string, string> = {}) =>
    call<Record<AlertStatus, number>>("GET", `/alerts/counts?${new URLSearchParams(filters)}`),
  catalogue: () => call<Catalogue>("GET", "/catalogue"),
  act: (id: number, action: AlertAction, note = "") => call<Alert>("POST", `/alerts/${id}/${action}`, { note }),
  /** Who a token stands for; `token` before the session holds it (right after sign-in). */
  me: (token?: string) => call<Me>("GET", "/auth/me", undefined, token),
  alert: (id: number) => call<AlertDetail>("GET", `/alerts/${id}`),
  curve: (id: number) => call<AlertCurve>("GET", `/alerts/${id}/curve`),
  clues: (cursor: string | null, limit = 100, filters: Record<string, string> = {}) => {
    const query = new URLSearchParams({ ...filters, limit: String(limit) });
    if (cursor) query.set("cursor", cursor);
    return call<CluePage>("GET", `/clues?${query}`);
  },
  /** The figures of the local days `from` to `to` (YYYY-MM-DD, both included). */
  statistics: (from: string, to: string) => call<Statistics>("GET", `/statistics?${new URLSearchParams({ from, to })}`),
  clue: (id: number) => call<ClueDetail>("GET", `/clues/${id}`),
  claim: (id: number) => call<ClueDetail>("POST", `/clues/${id}/claim`),
  handle: (id: number, note: string) => call<ClueDetail>("POST", `/clues/${id}/handle`, { note }),
  feedBack: (id: number, verdict: Verdict, text: string, files: File[]) => {
    const form = new FormData();
    form.set("verdict", verdict);
    form.set("text", text);
    for (const file of files) form.append("files", file, file.name);
    return call<ClueDetail>("POST", `/clues/${id}/feedback`, form);
  },
  closeClue: (id: number) => call<ClueDetail>("POST", `/clues/${id}/close`, { note: "" }),
  reopenClue: (id: number, note: string) => call<ClueDetail>("POST", `/clues/${id}/reopen`, { note }),
  sensors: () => call<SensorView[]>("GET", "/sensors"),
  /** A metric of a sensor in [start, end), in whatever resolution suits the range. */
  readings: (id: string, metric: string, start: string, end: string) =>
    call<SensorCurve>("GET", `/sensors/${encodeURIComponent(id)}/readings?${new URLSearchParams({ metric, start, end, resolution: "auto" })}`),
  cameras: () => call<CameraView[]>("GET", "/cameras"),
  /** A camera's latest analysed frame, unless it is still the one whose ETag is `etag` (304). */
  frame: async (id: string, etag: string | null): Promise<FrameAnswer> => {
    const headers = authHeaders();
    if (etag) headers["If-None-Match"] = etag;
    const response = await fetch(`/cameras/${encodeURIComponent(id)}/frame`, { headers, cache: "no-cache" });
    if (response.status === 304) return { changed: false };
    if (!response.ok) throw new ApiError(response.status, await problem(response));
    return { changed: true, blob: await response.blob(), etag: response.headers.get("ETag") };
  },
  occupancy: (id: string, start: string, end: string) =>
    call<Occupancy>("GET", `/cameras/${encodeURIComponent(id)}/occupancy?${new URLSearchParams({ start, end })}`),
  deadLetters: () => call<DeadLetter[]>("GET", "/outputs/dead?limit=200"),
  retryDead: (id: number) => call<void>("POST", `/outputs/dead/${id}/retry`),
  /** An evidence file as an object URL (the token travels in a header, so no plain <img src>). */
  evidence: async (link: string) => {
    const response = await fetch(link, { headers: authHeaders() });
    if (!response.ok) throw new ApiError(response.status, await problem(response));
    const blob = await response.blob();
    return { url: URL.createObjectURL(blob), type: blob.type };
  },
};
