// The anomalies the agents raised: a timeline (each one a dot at its time and score) and the list.
import { get, MAX_ROWS, type Anomaly } from "../api";
import { TimeChart } from "../chart";
import { h } from "../dom";
import * as fmt from "../format";
import { poller, processIndex, section, type Context, type Page, polledPage } from "../page";
import { anyFilter, link, matchesRow, parse } from "../route";
import { VirtualTable, type Column } from "../table";

const PERIOD_MS = 2000;
const KINDS = ["process", "flow", "device", "disk"];

export function anomalyColumns(withOwner: boolean): Column<Anomaly>[] {
  const owner: Column<Anomaly>[] = withOwner
    ? [
        { title: "host", text: (a) => a.host, width: "minmax(6rem, 1fr)" },
        { title: "kind", text: (a) => a.kind, width: "4.5rem" },
        { title: "command", text: (a) => a.comm, width: "minmax(6rem, 1fr)" },
        { title: "pid", text: (a) => (a.pid ? String(a.pid) : ""), sort: (a) => a.pid, numeric: true, width: "4.5rem" },
      ]
    : [];
  return [
    { title: "time", text: (a) => fmt.clock(a.ts), sort: (a) => a.ts, width: "5.5rem" },
    ...owner,
    { title: "subject", text: (a) => a.subject, width: "minmax(8rem, 1.5fr)" },
    { title: "metric", text: (a) => a.metric, width: "7rem" },
    { title: "detector", text: (a) => a.detector, width: "6rem" },
    { title: "value", text: (a) => fmt.count(a.value), sort: (a) => a.value, numeric: true, width: "5rem" },
    { title: "expected", text: (a) => `${fmt.count(a.expected_low)} to ${fmt.count(a.expected_high)}`, width: "8rem" },
    { title: "score", text: (a) => a.score.toFixed(2), sort: (a) => a.score, numeric: true, width: "4rem", className: (a) => (a.score >= 0.5 ? "warn" : "") },
  ];
}

export function anomaliesPage(ctx: Context): Page {
  const timeline = new TimeChart({ title: "timeline: each anomaly at its score (0.5 is the detectors' threshold)", unit: (v) => v.toFixed(2), points: true, height: 200, yMax: 1 });
  const table = new VirtualTable<Anomaly>(anomalyColumns(true), {
    key: (a) => `${a.host}/${a.ts}/${a.metric}/${a.subject}`,
    onClick: (a) => {
      if (a.process !== null) ctx.go(parse(link(ctx.route(), "process", a.process)));
    },
    visibleRows: 14,
    empty: "no anomaly in this range",
  });
  const element = h("div", null, section("Anomalies", timeline.element, table.element));

  const poll = poller(ctx, PERIOD_MS, async (signal) => {
    const range = ctx.range();
    const f = ctx.filters();
    const [answer, index] = await Promise.all([
      get<{ anomalies: Anomaly[] }>("anomalies", { from: range.from, to: range.to, limit: MAX_ROWS, host: f.host }, signal),
      f.container || f.job ? processIndex(range, f.host, signal) : Promise.resolve(new Map()),
    ]);
    const shown = anyFilter(f) ? answer.anomalies.filter((a) => matchesRow(f, a, index, a.subject)) : answer.anomalies;
    const oldestFirst = [...shown].reverse();
    timeline.update(
      KINDS.map((kind) => ({
        label: kind,
        points: oldestFirst.filter((a) => a.kind === kind).map((a) => [a.ts, a.score] as [number, number]),
      })),
      range.from,
      range.to,
    );
    table.setRows(shown, answer.anomalies.length >= MAX_ROWS ? ` (the ${MAX_ROWS} newest)` : "");
  });

  return polledPage(element, poll, timeline, table);
}
