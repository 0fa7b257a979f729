// Live pages ask again every period: one round at a time (a slow answer delays the next round
// instead of piling requests up), none while the tab is hidden, all of it cancelled on leaving.
import { get, type Counter, type Point } from "./api";
import type { Range } from "./route";

export class Poller {
  private timer = 0;
  private controller: AbortController | null = null;
  private stopped = false;
  private readonly onVisible = () => {
    if (!document.hidden && this.timer === 0 && this.controller === null) this.run();
  };

  constructor(
    private readonly round: (signal: AbortSignal) => Promise<void>,
    private readonly periodMs: () => number, // 0: once, no more rounds (a fixed range)
    private readonly failed: (error: unknown) => void,
  ) {
    document.addEventListener("visibilitychange", this.onVisible);
  }

  // Starts a round now, abandoning the one in flight (the question changed).
  run(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = 0;
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    const started = performance.now();
    this.round(controller.signal)
      .catch((error: unknown) => {
        if (!controller.signal.aborted) this.failed(error);
      })
      .finally(() => {
        if (this.controller !== controller) return;
        this.controller = null;
        const period = this.periodMs();
        if (this.stopped || period === 0 || document.hidden) return;
        this.timer = window.setTimeout(() => {
          this.timer = 0;
          this.run();
        }, Math.max(0, period - (performance.now() - started)));
      });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.controller?.abort();
    document.removeEventListener("visibilitychange", this.onVisible);
  }
}

interface Cached {
  from: number; // the range asked for starts here
  through: number; // the newest point's time: the next question starts there, so a batch that
  // arrives late (its interval ended before the last question was asked) is still found
  points: Point[];
}

// Per-second series of (process, counter), fetched once over the range and then only what is new.
// Only the series asked for in the latest round are kept, trimmed to the range: memory follows the
// range, not the time the page has been open.
export class SeriesCache {
  private cache = new Map<string, Cached>();

  async refresh(wanted: readonly (readonly [number, Counter])[], range: Range, signal: AbortSignal): Promise<void> {
    const next = new Map<string, Cached>();
    await Promise.all(
      wanted.map(async ([process, counter]) => {
        const key = `${process}/${counter}`;
        let entry = this.cache.get(key);
        if (!entry || entry.from > range.from || entry.through > range.to) entry = { from: range.from, through: range.from, points: [] };
        const answer = await get<{ points: Point[] }>("series", { process, counter, from: entry.through, to: range.to }, signal);
        entry.points = entry.points.filter(([t]) => t > range.from).concat(answer.points);
        entry.from = range.from;
        entry.through = entry.points.length ? entry.points[entry.points.length - 1][0] : range.from;
        next.set(key, entry);
      }),
    );
    this.cache = next;
  }

  points(process: number, counter: Counter): Point[] {
    return this.cache.get(`${process}/${counter}`)?.points ?? [];
  }
}
