// The hub's API as the dashboard calls it: same origin, the session's bearer token on every call.
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

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = authHeaders();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
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
  alerts: (cursor: string | null, limit = 50) => {
    const query = new URLSearchParams({ limit: String(limit) });
    if (cursor) query.set("cursor", cursor);
    return call<AlertPage>("GET", `/alerts?${query}`);
  },
  act: (id: number, action: AlertAction, note = "") => call<Alert>("POST", `/alerts/${id}/${action}`, { note }),
};
