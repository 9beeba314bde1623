// The signed-in session: its token survives a reload in localStorage until sign-out or expiry.
import { reactive } from "vue";

const KEY = "offsite.session";

interface Stored {
  token: string;
  username: string;
  expiresAt: string;
}

function load(): Stored | null {
  try {
    const stored = JSON.parse(localStorage.getItem(KEY) ?? "null") as Stored | null;
    return stored && new Date(stored.expiresAt) > new Date() ? stored : null;
  } catch {
    return null;
  }
}

const initial = load();

export const session = reactive({
  token: initial?.token ?? "",
  username: initial?.username ?? "",
  open(token: string, username: string, expiresAt: string) {
    localStorage.setItem(KEY, JSON.stringify({ token, username, expiresAt }));
    this.token = token;
    this.username = username;
  },
  clear() {
    localStorage.removeItem(KEY);
    this.token = "";
    this.username = "";
  },
});
