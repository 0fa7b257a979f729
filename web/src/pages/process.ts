// One process: every collector's series, its flows and closed connections with their TCP health,
// and the anomalies raised on it, marked on the charts.
import { get, MAX_ROWS, type Anomaly, type Connection, type Counter, type Flow, type Process } from "../api";
import { TimeChart } from "../chart";
import { h, replace } from "../dom";
import * as fmt from "../format";
import { poller, processIndex, section, type Context, type Page } from "../page";
import { SeriesCache } from "../poll";
import { anomalyColumns } from "./anomalies";
import { connectionColumns } from "./connections";
import { VirtualTable } from "../table";

const PERIOD_MS = 2000;

// The collectors' counters, grouped by what a chart can share (one unit).
const GROUPS: readonly { title: string; counters: readonly Counter[]; unit: (v: number) => string }[] = [
  { title: "network: payload bytes/s", counters: ["tx_bytes", "rx_bytes"], unit: fmt.byteRate },
  { title: "network: socket calls/s", counters: ["tx_calls", "rx_calls"], unit: fmt.countRate },
  { title: "network: connections and retransmits/s", counters: ["conns_opened", "conns_closed", "retransmits"], unit: fmt.countRate },
  { title: "cpu: time per second (cores)", counters: ["on_cpu_ns", "runq_ns", "off_voluntary_ns", "off_involuntary_ns"], unit: fmt.cores },
  { title: "cpu: context switches/s", counters: ["voluntary_switches", "involuntary_switches"], unit: fmt.countRate },
  { title: "disk: bytes/s", counters: ["io_read_bytes", "io_write_bytes"], unit: fmt.byteRate },
  { title: "disk: requests/s", counters: ["io_read_ops", "io_write_ops"], unit: fmt.countRate },
  { title: "syscalls/s", counters: ["syscalls", "syscall_errors"], unit: fmt.countRate },
  { title: "syscalls: seconds in calls per second", counters: ["syscall_ns"], unit: fmt.cores },
  { title: "memory: page faults/s", counters: ["minor_faults", "major_faults"], unit: fmt.countRate },
];

function identity(id: number, p: Process | undefined, flow: Flow | undefined): HTMLElement {
  const fields: [string, string][] = p
    ? [
        ["command", p.comm],
        ["pid", String(p.pid)],
        ["host", p.host],
        ["command line", p.cmdline || "-"],
        ["user", p.user ? `${p.user} (${p.uid ?? "?"})` : p.uid === null ? "-" : String(p.uid)],
        ["container", p.container_id || "-"],
        ["job", p.job ? `${p.job} rank ${p.rank} of ${p.world_size}` : "-"],
        ["netns", String(p.netns)],
        ["seen", `${fmt.clock(p.first_ts)} to ${fmt.clock(p.last_ts)}${p.exited ? " (exited)" : ""}`],
      ]
    : flow
      ? [
          ["command", flow.comm],
          ["pid", String(flow.pid)],
          ["host", flow.host],
        ]
      : [];
  return h(
    "dl",
    { class: "identity" },
    h("dt", null, "process"),
    h("dd", null, String(id)),
    ...fields.flatMap(([k, v]) => [h("dt", null, k), h("dd", null, v)]),
  );
}

export function processPage(ctx: Context): Page {
  const id = ctx.route().id;
  const series = new SeriesCache();
  const charts = GROUPS.map((g) => new TimeChart({ title: g.title, unit: g.unit, height: 150 }));
  const header = h("div", { class: "identity-slot" });
  const note = h("p", { class: "note" });
  const flows = new VirtualTable<Flow>(
    [
      { title: "proto", text: (f) => fmt.protocol(f.protocol), width: "3.5rem" },
      { title: "local", text: (f) => f.local, width: "1.2fr" },
      { title: "remote", text: (f) => f.remote, width: "1.2fr" },
      { title: "tx in range", text: (f) => fmt.bytes(f.tx_bytes), sort: (f) => f.tx_bytes, numeric: true, width: "7rem" },
      { title: "rx in range", text: (f) => fmt.bytes(f.rx_bytes), sort: (f) => f.rx_bytes, numeric: true, width: "7rem" },
      { title: "retrans", text: (f) => fmt.exact(f.retransmits), sort: (f) => f.retransmits, numeric: true, width: "5rem", className: (f) => (f.retransmits ? "warn" : "") },
      { title: "srtt", text: (f) => fmt.micros(f.srtt_us), sort: (f) => f.srtt_us, numeric: true, width: "5rem" },
      { title: "state", text: (f) => (f.retired ? "ended" : "open"), width: "4rem" },
    ],
    { key: (f) => String(f.id), visibleRows: 6, empty: "no flow moved in this range" },
  );
  const connections = new VirtualTable<Connection>(connectionColumns(false), {
    key: (c) => `${c.close_ts}/${c.local}/${c.remote}`,
    visibleRows: 6,
    empty: "no connection closed in this range",
  });
  const anomalies = new VirtualTable<Anomaly>(anomalyColumns(false), {
    key: (a) => `${a.ts}/${a.metric}/${a.subject}`,
    visibleRows: 5,
    empty: "no anomaly in this range",
  });
  const element = h(
    "div",
    null,
    section(`Process ${id}`, header, note),
    section("Series (anomalies marked in red)", h("div", { class: "chart-grid" }, ...charts.map((c) => c.element))),
    section("Anomalies", anomalies.element),
    section("Flows", flows.element),
    section("Connections (closed in the range) and their TCP health", connections.element),
  );

  // Who the process is: asked once (and again when the range changes), not each round, since it is
  // found among the range's busiest thousand, the API's dearest question.
  let known: Promise<Map<number, Process>> | null = null;
  const poll = poller(ctx, PERIOD_MS, async (signal) => {
    const range = ctx.range();
    const span = { from: range.from, to: range.to };
    known ??= processIndex(range, "", signal).catch((error: unknown) => {
      known = null;
      throw error;
    });
    const [index, flowAnswer, connectionAnswer, anomalyAnswer] = await Promise.all([
      known,
      get<{ flows: Flow[] }>("flows", { ...span, process: id, limit: MAX_ROWS }, signal),
      get<{ connections: Connection[] }>("connections", { ...span, process: id, limit: MAX_ROWS }, signal),
      get<{ anomalies: Anomaly[] }>("anomalies", { ...span, process: id, limit: MAX_ROWS }, signal),
      series.refresh(GROUPS.flatMap((g) => g.counters.map((c) => [id, c] as const)), range, signal),
    ]);
    const p = index.get(id);
    replace(header, identity(id, p, flowAnswer.flows[0]));
    note.textContent = p ? "" : "Not among the range's busiest 1,000 processes: its identity is what its flows tell.";
    const marks = anomalyAnswer.anomalies.map((a) => a.ts);
    GROUPS.forEach((group, i) => {
      charts[i].update(
        group.counters.map((c) => ({ label: c, points: series.points(id, c) })),
        range.from,
        range.to,
      );
      charts[i].mark(marks);
    });
    flows.setRows(flowAnswer.flows);
    connections.setRows(connectionAnswer.connections);
    anomalies.setRows(anomalyAnswer.anomalies);
  });

  return {
    element,
    refresh: () => {
      known = null;
      poll.run();
    },
    dispose: () => {
      poll.stop();
      charts.forEach((c) => c.dispose());
      flows.dispose();
      connections.dispose();
      anomalies.dispose();
    },
  };
}
