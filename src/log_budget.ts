/**
 * How much a plugin may log: lines are cut to a bounded size, and a token
 * bucket bounds their rate. A plugin that keeps logging past it has its lines
 * dropped, and past `FLOOD_LIMIT` dropped lines its runtime is ended, so a
 * flood can neither fill the wrapper's memory nor keep it from its deadlines.
 * @module
 */
import { cut } from "./plugin_runtime.ts";

/** Longest message, and longest rendering of a line's properties, in characters. */
export const MAX_LOG_CHARS = 4096;
/** Lines per second a plugin may log, sustained. */
export const LOG_RATE_PER_SECOND = 100;
/** Lines a plugin may log at once before the rate applies. */
export const LOG_BURST = 200;
/** Dropped lines after which a plugin is taken as flooding. */
export const FLOOD_LIMIT = 1000;
/** Messages of any kind per second a plugin's runtime may send, sustained. */
export const MESSAGE_RATE_PER_SECOND = 1000;
/**
 * Bytes per second a plugin process may write to its host, sustained (twice
 * that at once): a few KiB a second is what plugins send.
 */
export const BYTE_RATE_PER_SECOND = 1024 * 1024;

/** A token bucket of log lines (or messages) for one plugin. */
export class LogBudget {
  #tokens: number;
  #rate: number;
  #burst: number;
  #last: number;
  #now: () => number;
  /** Lines dropped so far. */
  dropped = 0;

  constructor(
    now: () => number = () => performance.now(),
    ratePerSecond = LOG_RATE_PER_SECOND,
  ) {
    this.#now = now;
    this.#last = now();
    this.#rate = ratePerSecond;
    this.#burst = this.#tokens = ratePerSecond * LOG_BURST /
      LOG_RATE_PER_SECOND;
  }

  /**
   * True when one more line (or `cost` units) may go; false counts it as
   * dropped.
   */
  take(cost = 1): boolean {
    const now = this.#now();
    const refill = (now - this.#last) * this.#rate / 1000;
    this.#tokens = Math.min(this.#burst, this.#tokens + refill);
    this.#last = now;
    if (this.#tokens >= cost) {
      this.#tokens -= cost;
      return true;
    }
    this.dropped++;
    return false;
  }
}

/** `text` cut to `MAX_LOG_CHARS`, saying how much was cut. */
export function truncate(text: string): string {
  return cut(text, MAX_LOG_CHARS);
}
