// The signed-in session: its token and who it stands for (GET /auth/me) survive a reload in
// localStorage until sign-out or expiry. The role only decides what the pages offer: the API
// checks every call itself.
import { reactive } from "vue";
import type { Me, Role } from "./api";
import { useDeploymentLanguage } from "./i18n";

const KEY = "offsite.session";

interface Stored {
  token: string;
  username: string;
  expiresAt: string;
  role: Role;
  department: string | null;
  timezone: string;
  language?: Me["language"]; // absent in a session kept by an older dashboard
}

function load(): Stored | null {
  try {
    const stored = JSON.parse(localStorage.getItem(KEY) ?? "null") as Stored | null;
    return stored && stored.role && new Date(stored.expiresAt) > new Date() ? stored : null;
  } catch {
    return null;
  }
}

const initial = load();
if (initial?.language) useDeploymentLanguage(initial.language);

export const session = reactive({
  token: initial?.token ?? "",
  username: initial?.username ?? "",
  role: (initial?.role ?? null) as Role | null,
  department: initial?.department ?? null,
  timezone: initial?.timezone ?? "Asia/Shanghai",
  open(token: string, expiresAt: string, me: Me) {
    const stored: Stored = {
      token,
      username: me.name,
      expiresAt,
      role: me.role,
      department: me.department,
      timezone: me.timezone,
      language: me.language,
    };
    localStorage.setItem(KEY, JSON.stringify(stored));
    useDeploymentLanguage(me.language);
    Object.assign(this, { token, username: me.name, role: me.role, department: me.department, timezone: me.timezone });
  },
  clear() {
    localStorage.removeItem(KEY);
    Object.assign(this, { token: "", username: "", role: null, department: null });
  },
});

/** What each role is offered; the API's own checks (api/deps.py) stay the authority. */
export const may = {
  watchAlerts: (role: Role | null) => role === "admin" || role === "operator",
  actOnAlerts: (role: Role | null) => role === "admin" || role === "operator",
  workClues: (role: Role | null) => role === "admin" || role === "department",
  watchSensors: (role: Role | null) => role === "admin" || role === "operator" || role === "department",
  /** Close a clue or send it back (the supervising side), and send dead letters again. */
  administer: (role: Role | null) => role === "admin",
};

/** Where a role starts after sign-in. */
export function home(role: Role | null): string {
  return role === "department" ? "/board" : "/";
}
