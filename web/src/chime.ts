// A tone when a high-severity alert arrives on the live stream, drawn with the Web Audio API (no
// sound file to fetch). Switchable; "off" is remembered in localStorage. Browsers let a page make
// sound only after a click or a key press on it, so the audio context is made (or resumed) at the
// first one: the sign-in click, on the usual way in.
import { reactive } from "vue";
import type { Severity } from "./api";
import type { AlertChange } from "./stream";

const KEY = "offsite.sound";
/** The severities that ring. */
export const LOUD: readonly Severity[] = ["critical", "major"];
/** A burst of alerts rings once: no second tone within this many milliseconds. */
export const QUIET_MS = 1500;

function stored(): boolean {
  try {
    return localStorage.getItem(KEY) !== "off";
  } catch {
    return true;
  }
}

export const sound = reactive({ on: stored() });

/** Switch the sound on or off, and remember it. */
export function setSound(on: boolean): void {
  sound.on = on;
  try {
    localStorage.setItem(KEY, on ? "on" : "off");
  } catch {
    // no storage (tests under Node)
  }
  if (on) wake();
}

/** Whether a change of the stream rings: a new alert of a loud severity, the sound on, and no
 * tone within the last QUIET_MS. */
export function rings(change: AlertChange, on: boolean, now: number, lastTone: number): boolean {
  return on && change.op === "insert" && LOUD.includes(change.alert.severity) && now - lastTone >= QUIET_MS;
}

let context: AudioContext | null = null;
let lastTone = -Infinity;

function wake(): AudioContext | null {
  if (typeof AudioContext === "undefined") return null;
  context ??= new AudioContext();
  if (context.state === "suspended") void context.resume();
  return context;
}

if (typeof window !== "undefined") {
  for (const gesture of ["pointerdown", "keydown"]) window.addEventListener(gesture, () => sound.on && wake(), { once: true });
}

/** Two falling tones, 0.4 s in all, if `change` rings. */
export function chime(change: AlertChange): void {
  const now = Date.now();
  if (!rings(change, sound.on, now, lastTone)) return;
  const audio = wake();
  if (!audio) return;
  lastTone = now;
  const start = audio.currentTime;
  const tone = audio.createOscillator();
  const level = audio.createGain();
  tone.type = "sine";
  tone.frequency.setValueAtTime(880, start);
  tone.frequency.setValueAtTime(660, start + 0.2);
  level.gain.setValueAtTime(0.0001, start);
  level.gain.exponentialRampToValueAtTime(0.3, start + 0.02);
  level.gain.setValueAtTime(0.3, start + 0.35);
  level.gain.exponentialRampToValueAtTime(0.0001, start + 0.4);
  tone.connect(level).connect(audio.destination);
  tone.start(start);
  tone.stop(start + 0.42);
}
