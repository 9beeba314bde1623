// What the sensor and camera walls show of devices: health as a tag, values with their units, and
// the ranges a curve can be drawn over.
import type { DeviceStatus } from "./api";

type Tag = "danger" | "warning" | "success" | "info";
export type Health = "online" | "offline" | "frozen" | "reconnecting" | "unknown";

/** Tag colour per health; the label is t(`health.${health}`). */
export const HEALTH: Record<Health, { tag: Tag }> = {
  online: { tag: "success" },
  reconnecting: { tag: "warning" },
  frozen: { tag: "warning" },
  offline: { tag: "danger" },
  unknown: { tag: "info" },
};

/** A device's health from its last status change; none yet, or a status this dashboard does not
 * know, is "unknown". */
export function health(status: DeviceStatus | null): Health {
  const said = status?.status;
  return said && Object.prototype.hasOwnProperty.call(HEALTH, said) ? (said as Health) : "unknown";
}

/** How units are written for people: the configuration's ASCII spelling, typeset. */
const UNITS: Record<string, string> = { degC: "°C", degF: "°F", m3: "m³", "mg/m3": "mg/m³" };

/** "-18.5 °C": a reading with at most two decimals and its unit. */
export function reading(value: number, unit: string): string {
  const shown = Number.isInteger(value) ? String(value) : String(Number(value.toFixed(2)));
  const written = UNITS[unit] ?? unit;
  return written.startsWith("%") ? `${shown}${written}` : `${shown} ${written}`;
}

export const RANGES = { hour: 3_600_000, day: 86_400_000, week: 7 * 86_400_000 } as const;
export type RangeName = keyof typeof RANGES;

/** The range ending at `now` (whole seconds) as GET /sensors/{id}/readings takes it. */
export function lastRange(name: RangeName, now: number): { start: string; end: string } {
  const end = Math.floor(now / 1000) * 1000;
  return { start: new Date(end - RANGES[name]).toISOString(), end: new Date(end).toISOString() };
}
