// Where the page is, all of it in the URL's fragment so that a link shows the same view:
//   #/top?range=15m&sort=on_cpu_ns&name=python&host=node-3
//   #/process/42?from=1764730000&to=1764733600
//   #/job?job=10.0.0.1%3A29500&range=5m
// The server never sees the fragment; paths stay "/".
import type { Process } from "./api";

export const PAGES = [
  ["hosts", "Hosts"],
  ["top", "Top"],
  ["matrix", "Traffic matrix"],
  ["connections", "Connections"],
  ["losses", "Losses"],
  ["anomalies", "Anomalies"],
  ["jobs", "Jobs"],
] as const;
// Pages reached by links only: one process (its id in the path), one job (its whole name in `job`,
// the parameter that filters by part of a job's name elsewhere, so leaving the page keeps to the job).
export type PageName = (typeof PAGES)[number][0] | "process" | "job";

export interface Route {
  page: PageName;
  id: number; // the process page's process id, 0 elsewhere
  params: URLSearchParams;
}

export function parse(hash: string): Route {
  const text = hash.replace(/^#\/?/, "");
  const question = text.indexOf("?");
  const path = (question < 0 ? text : text.slice(0, question)).split("/");
  const params = new URLSearchParams(question < 0 ? "" : text.slice(question + 1));
  if (path[0] === "process" && /^[1-9][0-9]*$/.test(path[1] ?? "")) return { page: "process", id: Number(path[1]), params };
  if (path[0] === "job") return { page: "job", id: 0, params };
  const page = PAGES.find(([name]) => name === path[0])?.[0] ?? "top";
  return { page, id: 0, params };
}

export function format(route: Route): string {
  const path = route.page === "process" ? `process/${route.id}` : route.page;
  const query = route.params.toString();
  return `#/${path}${query ? `?${query}` : ""}`;
}

// The same route with some parameters changed (an empty value removes one).
export function withParams(route: Route, changes: Record<string, string>): Route {
  const params = new URLSearchParams(route.params);
  for (const [key, value] of Object.entries(changes)) {
    if (value) params.set(key, value);
    else params.delete(key);
  }
  return { ...route, params };
}

// A link to another page that keeps the range and the filters, with some parameters changed.
export function link(route: Route, page: PageName, id = 0, changes: Record<string, string> = {}): string {
  const params = new URLSearchParams();
  for (const key of ["range", "from", "to", ...FILTERS]) {
    const value = route.params.get(key);
    if (value) params.set(key, value);
  }
  return format(withParams({ page, id, params }, changes));
}

// ---- the time range ----

export const RANGES = [
  ["1m", 60],
  ["5m", 300],
  ["15m", 900],
  ["1h", 3600],
  ["6h", 21600],
  ["24h", 86400],
  ["7d", 604800],
] as const;
// Long enough to show a trend; the server ranks by running totals, so a longer range costs no more.
export const DEFAULT_RANGE = "15m";

export interface Range {
  from: number;
  to: number;
  live: boolean; // ends now, and moves with the clock
}

// A fixed range (from and to, unix seconds) or one ending now (range=15m).
export function range(route: Route, now: number): Range {
  const from = Number(route.params.get("from"));
  const to = Number(route.params.get("to"));
  if (route.params.has("from") && route.params.has("to") && Number.isFinite(from) && Number.isFinite(to) && from < to)
    return { from, to, live: false };
  const name = route.params.get("range") ?? DEFAULT_RANGE;
  const seconds = RANGES.find(([known]) => known === name)?.[1] ?? 300;
  return { from: now - seconds, to: now, live: true };
}

// ---- filters ----

export const FILTERS = ["name", "host", "container", "job"] as const;

export interface Filters {
  name: string; // part of the command name or command line
  host: string; // machine id, exactly
  container: string; // part of the container id
  job: string; // part of the job name
}

export function filters(route: Route): Filters {
  const get = (key: string) => (route.params.get(key) ?? "").trim();
  return { name: get("name"), host: get("host"), container: get("container"), job: get("job") };
}

export function anyFilter(f: Filters): boolean {
  return Boolean(f.name || f.host || f.container || f.job);
}

function contains(text: string, part: string): boolean {
  return !part || text.toLowerCase().includes(part.toLowerCase());
}

export function matchesProcess(f: Filters, p: Process): boolean {
  return (
    (!f.host || p.host === f.host) &&
    (contains(p.comm, f.name) || (Boolean(f.name) && contains(p.cmdline, f.name))) &&
    contains(p.container_id, f.container) &&
    contains(p.job, f.job)
  );
}

// Rows that name a process (flows, connections, anomalies) but carry neither its container nor its
// job: those come from the process, when the range's processes include it.
export function matchesRow(
  f: Filters,
  row: { host: string; comm: string; process: number | null },
  processes: Map<number, Process>,
  extraText = "",
): boolean {
  if (f.host && row.host !== f.host) return false;
  if (f.name && !contains(row.comm, f.name) && !contains(extraText, f.name)) return false;
  if (!f.container && !f.job) return true;
  const p = row.process === null ? undefined : processes.get(row.process);
  return p !== undefined && contains(p.container_id, f.container) && contains(p.job, f.job);
}
