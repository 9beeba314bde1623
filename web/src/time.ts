// Moments as the deployment's clock shows them: in its time zone (GET /auth/me's `timezone`), not
// the browser's, written the same way in either language (2026-03-01 16:00:00).
import { session } from "./session";

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let found = formatters.get(timeZone);
  if (!found) {
    found = new Intl.DateTimeFormat("en-GB", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    formatters.set(timeZone, found);
  }
  return found;
}

function parts(at: number, timeZone: string): Record<string, string> {
  return Object.fromEntries(formatter(timeZone).formatToParts(at).map((p) => [p.type, p.value]));
}

/** "2026-03-01 16:00:00": the moment `iso` on the clock of `timeZone`. */
export function when(iso: string, timeZone: string = session.timezone): string {
  const p = parts(Date.parse(iso), timeZone);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

/** How far `timeZone`'s clock is ahead of UTC at `at`, in milliseconds. */
export function offset(at: number, timeZone: string): number {
  const p = parts(at, timeZone);
  const local = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
  return local - Math.floor(at / 1000) * 1000;
}

/** "UTC+08:00": the zone's offset at `at`. */
export function utcOffset(at: number, timeZone: string): string {
  const minutes = Math.round(offset(at, timeZone) / 60_000);
  const sign = minutes < 0 ? "-" : "+";
  const abs = Math.abs(minutes);
  return `UTC${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

/** The start of the hour of `timeZone`'s clock that `at` falls in (zones a half hour off UTC too). */
export function hourStart(at: number, timeZone: string): number {
  const local = at + offset(at, timeZone);
  return at - (((local % 3_600_000) + 3_600_000) % 3_600_000);
}
