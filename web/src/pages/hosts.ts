// Every host at a glance: is its agent reporting, what did it deliver or lose, and how much
// traffic, CPU and disk its processes used over the range.
import { get, MAX_ROWS, type Host, type Process } from "../api";
import { h } from "../dom";
import * as fmt from "../format";
import { poller, rangeSeconds, section, type Context, type Page, polledPage } from "../page";
import { withParams } from "../route";
import { VirtualTable } from "../table";

const PERIOD_MS = 2000;

interface Row {
  host: Host;
  processes: number;
  traffic: number; // bytes/s, sent and received
  cpu: number; // ns/s
  io: number; // bytes/s
}

// An agent reports every interval (a second by default): a few missed are worth a look, a minute
// of silence means it is gone.
function freshness(s: number): string {
  return s < 5 ? "fresh" : s < 60 ? "late" : "silent";
}

export function hostsPage(ctx: Context): Page {
  const summary = h("p", { class: "note" });
  const table = new VirtualTable<Row>(
    [
      { title: "host", text: (r) => r.host.machine_id, width: "minmax(8rem, 1.3fr)" },
      { title: "hostname", text: (r) => r.host.hostname, width: "minmax(6rem, 1fr)" },
      { title: "labels", text: (r) => Object.entries(r.host.labels).map(([k, v]) => `${k}=${v}`).join(" "), width: "minmax(6rem, 1fr)" },
      { title: "last batch", text: (r) => `${fmt.seconds(Math.max(0, r.host.freshness_s))} ago`, sort: (r) => r.host.freshness_s, numeric: true, width: "7rem", className: (r) => `fresh-${freshness(r.host.freshness_s)}` },
      { title: "batches", text: (r) => fmt.exact(r.host.batches_stored), sort: (r) => r.host.batches_stored, numeric: true, width: "6rem" },
      { title: "missing", text: (r) => fmt.exact(r.host.missing_batches), sort: (r) => r.host.missing_batches, numeric: true, width: "5rem", className: (r) => (r.host.missing_batches ? "warn" : "") },
      { title: "dropped", text: (r) => fmt.exact(r.host.batches_dropped), sort: (r) => r.host.batches_dropped, numeric: true, width: "5rem", className: (r) => (r.host.batches_dropped ? "warn" : "") },
      { title: "processes", text: (r) => fmt.exact(r.processes), sort: (r) => r.processes, numeric: true, width: "6.5rem" },
      { title: "traffic", text: (r) => fmt.byteRate(r.traffic), sort: (r) => r.traffic, numeric: true, width: "7rem" },
      { title: "CPU (cores)", text: (r) => fmt.cores(r.cpu), sort: (r) => r.cpu, numeric: true, width: "6.5rem" },
      { title: "disk I/O", text: (r) => fmt.byteRate(r.io), sort: (r) => r.io, numeric: true, width: "7rem" },
      { title: "agent", text: (r) => r.host.agent_version, width: "6rem" },
    ],
    {
      key: (r) => r.host.machine_id,
      onClick: (r) => ctx.go({ ...withParams(ctx.route(), { host: r.host.machine_id }), page: "top" }),
      visibleRows: 20,
      empty: "no agent has reported yet",
    },
  );
  const element = h("div", null, section("Hosts", summary, table.element));

  const poll = poller(ctx, PERIOD_MS, async (signal) => {
    const range = ctx.range();
    const f = ctx.filters();
    const [hosts, processes] = await Promise.all([
      get<{ hosts: Host[] }>("hosts", { host: f.host }, signal),
      get<{ processes: Process[] }>("processes", { from: range.from, to: range.to, limit: MAX_ROWS, host: f.host }, signal),
    ]);
    const span = rangeSeconds(range);
    const rows = new Map<string, Row>(hosts.hosts.map((host) => [host.machine_id, { host, processes: 0, traffic: 0, cpu: 0, io: 0 }]));
    for (const p of processes.processes) {
      const row = rows.get(p.host);
      if (!row) continue;
      row.processes++;
      row.traffic += (p.delta.tx_bytes + p.delta.rx_bytes) / span;
      row.cpu += p.delta.on_cpu_ns / span;
      row.io += (p.delta.io_read_bytes + p.delta.io_write_bytes) / span;
    }
    const all = [...rows.values()];
    const silent = all.filter((r) => r.host.freshness_s >= 60).length;
    summary.textContent =
      `${all.length} hosts, ${silent} silent for a minute or more. Traffic, CPU and disk are averages over the range` +
      (processes.processes.length >= MAX_ROWS ? `, from the range's busiest ${MAX_ROWS} processes.` : ".");
    table.setRows(all);
  });

  return polledPage(element, poll, table);
}
