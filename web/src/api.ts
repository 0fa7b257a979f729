// The server's HTTP API (docs/openapi.yaml), as the dashboard reads it. With a token set on the
// server, every call carries it; the token is asked for once and kept for the tab's session only.

export const COUNTERS = [
  "tx_bytes", "rx_bytes", "tx_calls", "rx_calls", "conns_opened", "conns_closed", "retransmits",
  "on_cpu_ns", "runq_ns", "off_voluntary_ns", "off_involuntary_ns", "voluntary_switches",
  "involuntary_switches", "io_read_bytes", "io_write_bytes", "io_read_ops", "io_write_ops",
  "syscalls", "syscall_errors", "syscall_ns", "minor_faults", "major_faults",
] as const;
export type Counter = (typeof COUNTERS)[number];
export type Counters = Record<Counter, number>;

export interface Host {
  machine_id: string;
  hostname: string;
  labels: Record<string, string>;
  agent_version: string;
  first_seen: number;
  last_seen: number;
  freshness_s: number;
  batches_stored: number;
  duplicates: number;
  missing_batches: number;
  batches_dropped: number;
  samples_dropped: number;
  samples_stored: number;
}

export interface Process {
  id: number;
  host: string;
  pid: number;
  netns: number;
  start_ns: number;
  comm: string;
  exited: boolean;
  first_ts: number;
  last_ts: number;
  cmdline: string;
  user: string;
  uid: number | null;
  container_id: string;
  job: string;
  rank: number;
  world_size: number;
  delta: Counters;
  total: Counters;
}

export interface Flow {
  id: number;
  host: string;
  process: number;
  pid: number;
  comm: string;
  protocol: number;
  local: string;
  remote: string;
  srtt_us: number;
  retired: boolean;
  last_ts: number;
  tx_bytes: number;
  rx_bytes: number;
  bytes: number;
  retransmits: number;
  total: { tx_bytes: number; rx_bytes: number };
}

export interface MatrixNode {
  host: string;
  process?: number;
  pid?: number;
  comm?: string;
}

export interface MatrixEdge {
  from: string;
  to: string;
  bytes: number;
  from_process?: number;
  to_process?: number;
}

export interface Matrix {
  level: "host" | "process";
  nodes: MatrixNode[];
  edges: MatrixEdge[];
  unattributed_bytes: number;
}

export interface Connection {
  host: string;
  process: number | null;
  pid: number | null;
  comm: string;
  close_ts: number;
  local: string;
  remote: string;
  active: boolean;
  duration_s: number;
  tx_bytes: number;
  rx_bytes: number;
  srtt_us: number;
  retransmits: number;
  lost: number;
  resets_sent: number;
  resets_received: number;
  health: "reset" | "lossy" | "retransmitting" | "ok";
}

export interface Anomaly {
  ts: number;
  host: string;
  process: number | null;
  kind: string;
  pid: number;
  comm: string;
  subject: string;
  metric: string;
  detector: string;
  value: number;
  expected_low: number;
  expected_high: number;
  score: number;
}

// /api/v1/jobs: each job with the ranks each of its hosts last reported.
export interface Job {
  name: string;
  world_size: number; // -1 when unknown
  hosts: {
    host: string;
    ranks: { rank: number; process: number | null; pid: number }[];
    bytes_between_ranks: number;
    first_ts: number;
    last_ts: number;
  }[];
}

// /api/v1/job: one job rank by rank. What the agents could not measure is absent.
export interface JobRank {
  rank: number;
  host: string;
  process?: number | null;
  pid: number;
  step_s?: number;
  bytes_per_step?: number;
  absent_share?: number; // of the slots where the job exchanged, those where it was idle (docs/jobs.md)
  tx_bytes_per_s?: number;
  rx_bytes_per_s?: number;
  on_cpu_share?: number;
  runq_share?: number;
  off_voluntary_share?: number;
  io_bytes_per_s?: number;
}

export interface JobLink {
  from_rank: number;
  to_rank: number;
  from_host: string;
  to_host: string;
  bytes: number;
  bytes_per_s: number;
  srtt_us?: number;
  retransmits: number;
  wait_s?: number;
}

// A rank (straggler) or a link (slow_link) whose `metric` departs from its peers' median.
export interface JobFinding {
  ts: number;
  since: number;
  kind: "straggler" | "slow_link";
  subject: string;
  rank?: number;
  from_rank?: number;
  to_rank?: number;
  metric: string;
  value: number;
  peers_median: number;
  ongoing: boolean;
}

export interface JobView {
  job: string;
  world_size: number;
  ranks: JobRank[];
  links: JobLink[];
  findings: JobFinding[]; // newest first
}

export interface HostLosses {
  host: string;
  losses: Record<string, number>;
}

export type Point = [number, number | null];

// The API answers at most this many rows (its `limit`).
export const MAX_ROWS = 1000;

const TOKEN_KEY = "neutracer.token";

export function setToken(token: string): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
  get wantsToken(): boolean {
    return this.status === 401 || this.status === 403;
  }
}

export type Params = Record<string, string | number | undefined>;

export async function get<T>(path: string, params: Params, signal?: AbortSignal): Promise<T> {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== "") query.set(key, String(value));
  const headers: Record<string, string> = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(`api/v1/${path}?${query}`, { headers, signal, cache: "no-store" });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      message = ((await response.json()) as { error?: string }).error ?? message;
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError(response.status, message);
  }
  return (await response.json()) as T;
}
