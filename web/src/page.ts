// What every page gets from the shell, and what the shell asks of a page.
import type { Process } from "./api";
import { get, MAX_ROWS } from "./api";
import { h, type Child } from "./dom";
import { Poller } from "./poll";
import type { Filters, Range, Route } from "./route";

export interface Context {
  route(): Route;
  range(): Range; // read at each call: a live range moves with the clock
  filters(): Filters;
  go(route: Route): void; // another page (a new history entry)
  set(changes: Record<string, string>): void; // this page's parameters (the same history entry)
  rendered(): void; // a round's answers are on screen
  failed(error: unknown): void;
}

export interface Page {
  readonly element: HTMLElement;
  refresh(): void; // the route's parameters changed: ask again now
  dispose(): void;
}

// A page that asks the server every `periodMs` while its range is live, once for a fixed range.
// `done` tells the shell a round is on screen (a page with two pollers says so when both are).
export function poller(ctx: Context, periodMs: number, round: (signal: AbortSignal) => Promise<void>, done = () => ctx.rendered()): Poller {
  const poll = new Poller(
    async (signal) => {
      await round(signal);
      done();
    },
    () => (ctx.range().live ? periodMs : 0),
    (error) => ctx.failed(error),
  );
  poll.run();
  return poll;
}

// A page with one poller: refreshing asks again now; disposing stops it, then what the page owns.
export function polledPage(element: HTMLElement, poll: Poller, ...owned: { dispose(): void }[]): Page {
  return {
    element,
    refresh: () => poll.run(),
    dispose: () => {
      poll.stop();
      for (const part of owned) part.dispose();
    },
  };
}

export function section(title: string, ...children: Child[]): HTMLElement {
  return h("section", { class: "panel" }, h("h2", null, title), ...children);
}

// The range's processes, by id: who owns a flow, a connection or an anomaly (container, job).
export async function processIndex(range: Range, host: string, signal: AbortSignal): Promise<Map<number, Process>> {
  const answer = await get<{ processes: Process[] }>(
    "processes",
    { from: range.from, to: range.to, limit: MAX_ROWS, host },
    signal,
  );
  return new Map(answer.processes.map((p) => [p.id, p]));
}

export function rangeSeconds(range: Range): number {
  return Math.max(1e-9, range.to - range.from);
}
