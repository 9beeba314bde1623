// What the pages show of risk clues: tag colours, the deadline that counts now, and countdowns.
import type { Clue, ClueStatus } from "./api";
import { t } from "./i18n";

/** Tag colour per state; the label is t(`clue.${status}`). */
export const CLUE_STATUS: Record<ClueStatus, { tag: "danger" | "warning" | "primary" | "success" | "info" }> = {
  issued: { tag: "danger" },
  claimed: { tag: "warning" },
  handled: { tag: "primary" },
  fed_back: { tag: "success" },
  closed: { tag: "info" },
};

export const VERDICTS = ["confirmed", "false_alarm"] as const;

/** "一级（立即处置）": a risk class as the department reads it; an unknown class as its number. */
export function riskClass(value: number): string {
  return value === 1 || value === 2 || value === 3 ? t(`risk.${value}`) : String(value);
}

/** The deadline the clue's state is waiting on, or null once it is fed back. */
export function deadline(clue: Clue): { label: string; at: string } | null {
  if (clue.status === "issued") return { label: t("deadline.claim"), at: clue.claim_deadline };
  if (clue.status === "claimed" || clue.status === "handled") return { label: t("deadline.feedback"), at: clue.feedback_deadline };
  return null;
}

/** "还剩 2 小时 5 分" or "已超期 1 天 3 小时", from `now` to `at`. */
export function countdown(at: string, now: number): string {
  const left = Date.parse(at) - now;
  const all = Math.floor(Math.abs(left) / 60_000);
  const days = Math.floor(all / 1440);
  const hours = Math.floor((all % 1440) / 60);
  const minutes = all % 60;
  const span = days
    ? t("span.days", { days, hours })
    : hours
      ? t("span.hours", { hours, minutes })
      : t("span.minutes", { minutes });
  return t(left >= 0 ? "countdown.left" : "countdown.late", { span });
}
