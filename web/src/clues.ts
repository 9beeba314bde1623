// What the pages show of risk clues: labels, the deadline that counts now, and countdowns.
import type { Clue, ClueStatus, Verdict } from "./api";

export const CLUE_STATUS: Record<ClueStatus, { label: string; tag: "danger" | "warning" | "primary" | "success" | "info" }> = {
  issued: { label: "待认领", tag: "danger" },
  claimed: { label: "已认领", tag: "warning" },
  handled: { label: "已处办", tag: "primary" },
  fed_back: { label: "已反馈", tag: "success" },
  closed: { label: "已办结", tag: "info" },
};

export const VERDICT: Record<Verdict, string> = { confirmed: "属实", false_alarm: "误报" };

export const RISK_CLASS: Record<number, string> = { 1: "一级（立即处置）", 2: "二级（限期整改）", 3: "三级（常规）" };

/** The deadline the clue's state is waiting on, or null once it is fed back. */
export function deadline(clue: Clue): { label: string; at: string } | null {
  if (clue.status === "issued") return { label: "认领期限", at: clue.claim_deadline };
  if (clue.status === "claimed" || clue.status === "handled") return { label: "反馈期限", at: clue.feedback_deadline };
  return null;
}

/** "还剩 2 小时 5 分" or "已超期 1 天 3 小时", from `now` to `at`. */
export function countdown(at: string, now: number): string {
  const left = Date.parse(at) - now;
  const minutes = Math.floor(Math.abs(left) / 60_000);
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const parts = days ? `${days} 天 ${hours} 小时` : hours ? `${hours} 小时 ${minutes % 60} 分` : `${minutes % 60} 分`;
  return left >= 0 ? `还剩 ${parts}` : `已超期 ${parts}`;
}
