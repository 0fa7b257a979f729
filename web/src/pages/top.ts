// Top processes and flows, live: who moves the most of any counter, and the busiest flows, with
// their rates charted as they come in.
import { COUNTERS, get, MAX_ROWS, type Counter, type Flow, type Process } from "../api";
import { TimeChart } from "../chart";
import { h, select } from "../dom";
import * as fmt from "../format";
import { poller, rangeSeconds, section, type Context, type Page } from "../page";
import { SeriesCache } from "../poll";
import { link, matchesProcess, matchesRow, parse, type Range } from "../route";
import { VirtualTable } from "../table";

const CHARTED = 6; // lines per chart: more would not be told apart
const PERIOD_MS = 1000;
const RATE_COLUMN = 5; // the sort counter's rate over the range

// How a counter's per-second movement reads.
function counterRate(counter: Counter): (perSecond: number) => string {
  if (counter.endsWith("_bytes")) return fmt.byteRate;
  if (counter.endsWith("_ns")) return (v) => `${fmt.cores(v)} cores`;
  return fmt.countRate;
}

function processLabel(p: { comm: string; pid: number | null; host: string }): string {
  return `${p.comm} ${p.pid ?? "?"} @${p.host}`;
}

// Each charted flow's rate between its reports, from its running totals (the API keeps no per-flow
// series). Only the flows charted in the latest round are kept.
class FlowRates {
  private last = new Map<number, { t: number; bytes: number }>();
  private history = new Map<number, [number, number | null][]>();

  observe(flows: Flow[], range: Range): void {
    const seen = new Map<number, { t: number; bytes: number }>();
    const history = new Map<number, [number, number | null][]>();
    for (const f of flows) {
      const now = { t: f.last_ts, bytes: f.total.tx_bytes + f.total.rx_bytes };
      const before = this.last.get(f.id);
      const points = (this.history.get(f.id) ?? []).filter(([t]) => t > range.from);
      if (before && now.t > before.t) points.push([now.t, Math.max(0, now.bytes - before.bytes) / (now.t - before.t)]);
      seen.set(f.id, before && now.t <= before.t ? before : now);
      history.set(f.id, points);
    }
    this.last = seen;
    this.history = history;
  }

  points(id: number): [number, number | null][] {
    return this.history.get(id) ?? [];
  }
}

export function topPage(ctx: Context): Page {
  const sortOf = (): Counter => {
    const wanted = ctx.route().params.get("sort");
    return (COUNTERS as readonly string[]).includes(wanted ?? "") ? (wanted as Counter) : "tx_bytes";
  };
  const series = new SeriesCache();
  const flowRates = new FlowRates();
  const flowChart = new TimeChart({ title: "busiest flows since this page opened (bytes/s, both ways)", unit: fmt.byteRate });
  let chart: TimeChart | null = null; // made again when the counter (its unit) changes
  let chartCounter: Counter | null = null;
  const chartSlot = h("div", { class: "chart-slot" });

  const processes = new VirtualTable<Process>(
    [
      { title: "command", text: (p) => p.comm, width: "minmax(8rem, 1.4fr)" },
      { title: "pid", text: (p) => String(p.pid), sort: (p) => p.pid, numeric: true, width: "4.5rem" },
      { title: "host", text: (p) => p.host, width: "minmax(6rem, 1fr)" },
      { title: "container", text: (p) => p.container_id.slice(0, 12), width: "6.5rem" },
      { title: "job", text: (p) => (p.job ? `${p.job}${p.rank >= 0 ? ` #${p.rank}` : ""}` : ""), width: "minmax(5rem, 0.8fr)" },
      { title: "tx_bytes/s", text: (p) => counterRate(sortOf())(p.delta[sortOf()] / rangeSeconds(ctx.range())), sort: (p) => p.delta[sortOf()], numeric: true, width: "7.5rem" },
      { title: "CPU (cores)", text: (p) => fmt.cores(p.delta.on_cpu_ns / rangeSeconds(ctx.range())), sort: (p) => p.delta.on_cpu_ns, numeric: true, width: "7rem" },
      { title: "disk I/O", text: (p) => fmt.byteRate((p.delta.io_read_bytes + p.delta.io_write_bytes) / rangeSeconds(ctx.range())), sort: (p) => p.delta.io_read_bytes + p.delta.io_write_bytes, numeric: true, width: "6.5rem" },
      { title: "tx total (B)", text: (p) => fmt.exact(p.total.tx_bytes), sort: (p) => p.total.tx_bytes, numeric: true, width: "8.5rem" },
      { title: "rx total (B)", text: (p) => fmt.exact(p.total.rx_bytes), sort: (p) => p.total.rx_bytes, numeric: true, width: "8.5rem" },
    ],
    { key: (p) => String(p.id), onClick: (p) => ctx.go(routeTo(p.id)), visibleRows: 10, empty: "no process moved in this range" },
  );
  const flows = new VirtualTable<Flow>(
    [
      { title: "command", text: (f) => f.comm, width: "minmax(7rem, 1fr)" },
      { title: "pid", text: (f) => String(f.pid), sort: (f) => f.pid, numeric: true, width: "4.5rem" },
      { title: "host", text: (f) => f.host, width: "minmax(6rem, 1fr)" },
      { title: "proto", text: (f) => fmt.protocol(f.protocol), width: "3.5rem" },
      { title: "local", text: (f) => f.local, width: "minmax(8rem, 1.2fr)" },
      { title: "remote", text: (f) => f.remote, width: "minmax(8rem, 1.2fr)" },
      { title: "bytes in range", text: (f) => fmt.bytes(f.bytes), sort: (f) => f.bytes, numeric: true, width: "7rem" },
      { title: "tx", text: (f) => fmt.bytes(f.tx_bytes), sort: (f) => f.tx_bytes, numeric: true, width: "6rem" },
      { title: "rx", text: (f) => fmt.bytes(f.rx_bytes), sort: (f) => f.rx_bytes, numeric: true, width: "6rem" },
      { title: "retrans", text: (f) => fmt.exact(f.retransmits), sort: (f) => f.retransmits, numeric: true, width: "4.5rem", className: (f) => (f.retransmits ? "warn" : "") },
      { title: "srtt", text: (f) => fmt.micros(f.srtt_us), sort: (f) => f.srtt_us, numeric: true, width: "5rem" },
    ],
    { key: (f) => String(f.id), onClick: (f) => ctx.go(routeTo(f.process)), visibleRows: 8, empty: "no flow moved in this range" },
  );

  function routeTo(id: number) {
    return parse(link(ctx.route(), "process", id));
  }

  const sortPicker = select(
    COUNTERS.map((c) => [c, c] as const),
    sortOf(),
    (value) => ctx.set({ sort: value }),
  );
  const element = h(
    "div",
    null,
    section("Top processes", h("div", { class: "controls" }, "ranked by ", sortPicker, " over the range"), chartSlot, processes.element),
    section("Top flows", flowChart.element, flows.element),
  );

  // Processes and flows are asked for apart: ranking flows reads every flow sample in the range,
  // which at ten thousand busy flows takes the server longer than the processes, and the
  // processes should not wait for it. The page counts as shown when both are.
  let index = new Map<number, Process>(); // the latest processes: the flows' owners' containers and jobs
  const shown = { processes: false, flows: false };
  const done = (part: keyof typeof shown) => () => {
    shown[part] = true;
    if (shown.processes && shown.flows) ctx.rendered();
  };
  const processPoll = poller(
    ctx,
    PERIOD_MS,
    async (signal) => {
      const range = ctx.range();
      const f = ctx.filters();
      const sort = sortOf();
      sortPicker.value = sort;
      processes.setTitle(RATE_COLUMN, `${sort}/s`);
      const answer = await get<{ processes: Process[] }>("processes", { from: range.from, to: range.to, limit: MAX_ROWS, sort, host: f.host }, signal);
      const matching = answer.processes.filter((p) => matchesProcess(f, p));
      const charted = matching.filter((p) => p.delta[sort] > 0).slice(0, CHARTED);
      await series.refresh(charted.map((p) => [p.id, sort] as const), range, signal);
      if (chart === null || chartCounter !== sort) {
        // The title and the unit follow the counter.
        chart?.dispose();
        chart = new TimeChart({ title: `top ${CHARTED} by ${sort}, per second`, unit: counterRate(sort) });
        chartSlot.replaceChildren(chart.element);
        chartCounter = sort;
      }
      chart.update(
        charted.map((p) => ({ label: processLabel(p), points: series.points(p.id, sort) })),
        range.from,
        range.to,
      );
      index = new Map(answer.processes.map((p) => [p.id, p]));
      processes.setRows(matching, answer.processes.length >= MAX_ROWS ? ` (of the top ${MAX_ROWS} in the range)` : "");
    },
    done("processes"),
  );
  const flowPoll = poller(
    ctx,
    PERIOD_MS,
    async (signal) => {
      const range = ctx.range();
      const f = ctx.filters();
      const answer = await get<{ flows: Flow[] }>("flows", { from: range.from, to: range.to, limit: MAX_ROWS, host: f.host }, signal);
      const matching = answer.flows.filter((fl) => matchesRow(f, fl, index));
      const charted = matching.slice(0, CHARTED);
      // Rates come from rounds seen live: a fixed range has one round, so no chart.
      flowChart.element.hidden = !range.live;
      flowRates.observe(charted, range);
      flowChart.update(
        charted.map((fl) => ({ label: `${fl.comm} ${fmt.protocol(fl.protocol)} ${fl.local} > ${fl.remote}`, points: flowRates.points(fl.id) })),
        range.from,
        range.to,
      );
      flows.setRows(matching, answer.flows.length >= MAX_ROWS ? ` (of the top ${MAX_ROWS} by bytes)` : "");
    },
    done("flows"),
  );

  return {
    element,
    refresh: () => {
      shown.processes = shown.flows = false;
      processPoll.run();
      flowPoll.run();
    },
    dispose: () => {
      processPoll.stop();
      flowPoll.stop();
      chart?.dispose();
      flowChart.dispose();
      processes.dispose();
      flows.dispose();
    },
  };
}
