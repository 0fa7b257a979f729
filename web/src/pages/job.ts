// One training job, rank by rank: what departs from the peers (stragglers, slow links), each rank's
// step rhythm and resources, and the traffic between ranks as a grid.
import { get, type JobFinding, type JobLink, type JobRank, type JobView } from "../api";
import { append, h, replace } from "../dom";
import * as fmt from "../format";
import { poller, section, type Context, type Page, polledPage } from "../page";
import { link } from "../route";
import { heat, heatGrid } from "./matrix";

const PERIOD_MS = 2000;
const GRID_RANKS = 64; // more is too many cells to rebuild every round
const ABSENT = "–"; // what the agents could not measure

// A share of the wall time (0.40: 40% of it); small ones keep a significant digit.
function share(v: number): string {
  return v === 0 || v >= 0.01 ? v.toFixed(2) : v.toPrecision(1);
}

// A finding's value, in the unit its metric's name ends with (srtt_us, runq_share, retransmits_per_s...).
function metricValue(metric: string, v: number): string {
  if (metric.endsWith("bytes_per_s")) return fmt.byteRate(v);
  if (metric.endsWith("_per_s")) return fmt.countRate(v);
  if (metric.endsWith("_us")) return fmt.micros(v);
  if (metric.endsWith("_s")) return fmt.seconds(v);
  if (metric.endsWith("_share")) return share(v);
  return Math.abs(v) >= 1000 ? fmt.count(v) : String(Number(v.toPrecision(3)));
}

// "rank 2 is a straggler: runq_share 0.40 vs peers 0.01 since 12:00:03"; subjects are "rank N" and "link A>B".
function findingText(f: JobFinding): string {
  const what = f.kind === "straggler" ? `${f.subject} is a straggler` : `${f.subject.replace(">", "→")} is slow`;
  const value = (v: number) => metricValue(f.metric, v);
  return `${what}: ${f.metric} ${value(f.value)} vs peers ${value(f.peers_median)} since ${fmt.clock(f.since)}${f.ongoing ? "" : " (over)"}`;
}

function optional(v: number | undefined, format: (v: number) => string): string {
  return v === undefined ? ABSENT : format(v);
}

const RANK_COLUMNS: readonly (readonly [string, (r: JobRank) => string])[] = [
  ["step", (r) => optional(r.step_s, fmt.seconds)],
  ["bytes/step", (r) => optional(r.bytes_per_step, fmt.bytes)],
  ["absent", (r) => optional(r.absent_share, share)],
  ["tx/s", (r) => optional(r.tx_bytes_per_s, fmt.byteRate)],
  ["rx/s", (r) => optional(r.rx_bytes_per_s, fmt.byteRate)],
  ["on-CPU", (r) => optional(r.on_cpu_share, share)],
  ["run-queue", (r) => optional(r.runq_share, share)],
  ["off-CPU voluntary", (r) => optional(r.off_voluntary_share, share)],
  ["I/O/s", (r) => optional(r.io_bytes_per_s, fmt.byteRate)],
];

// Rows carry data-rank and, for a rank an ongoing finding names, the class and badge "straggler".
function ranksTable(ranks: JobRank[], stragglers: Set<number>, processLink: (id: number) => string): HTMLTableElement {
  const table = h(
    "table",
    { class: "grid job-ranks" },
    h("thead", null, h("tr", null, ...["rank", "host", "pid", ...RANK_COLUMNS.map(([title]) => title)].map((t) => h("th", null, t)))),
    h(
      "tbody",
      null,
      ...ranks.map((r) => {
        const straggler = stragglers.has(r.rank);
        const pid = typeof r.process === "number" ? h("a", { href: processLink(r.process) }, String(r.pid)) : String(r.pid);
        return h(
          "tr",
          { class: straggler ? "straggler" : "", data: { rank: String(r.rank) } },
          h("td", { class: "num" }, String(r.rank), straggler && h("span", { class: "badge" }, "straggler")),
          h("td", null, r.host),
          h("td", { class: "num" }, pid),
          ...RANK_COLUMNS.map(([, text]) => h("td", { class: "num" }, text(r))),
        );
      }),
    ),
  );
  table.id = "job-ranks";
  return table;
}

// Rows are senders, columns receivers; cells carry data-from/data-to, "traffic" when bytes moved,
// "slow-link" when an ongoing finding names the link.
function rankGrid(size: number, hosts: Map<number, string>, links: JobLink[], slow: Set<string>): HTMLTableElement {
  const byEnds = new Map(links.map((l) => [`${l.from_rank}>${l.to_rank}`, l]));
  const heaviest = Math.max(1, ...links.map((l) => l.bytes_per_s));
  const ends = Array.from({ length: size }, (_, rank) => ({ text: String(rank), title: `rank ${rank} on ${hosts.get(rank) ?? "?"}` }));
  const table = heatGrid(ends, (from, to) => {
    const key = `${from}>${to}`;
    const l = byEnds.get(key);
    const classes = ["num", l && l.bytes > 0 ? "traffic" : "", slow.has(key) ? "slow-link" : ""].filter(Boolean).join(" ");
    const td = h("td", { class: classes, data: { from: String(from), to: String(to) } });
    if (!l) return td;
    const srtt = l.srtt_us === undefined ? ABSENT : fmt.micros(l.srtt_us);
    td.title =
      `rank ${from} (${l.from_host}) to rank ${to} (${l.to_host}): ${fmt.exact(l.bytes)} bytes, ${fmt.byteRate(l.bytes_per_s)}, ` +
      `srtt ${srtt}, ${fmt.exact(l.retransmits)} retransmits` +
      (l.wait_s === undefined ? "" : `, waited ${fmt.seconds(l.wait_s)}`);
    append(td, fmt.byteRate(l.bytes_per_s), h("div", { class: "sub" }, `${srtt} · ${fmt.exact(l.retransmits)} retrans`));
    heat(td, l.bytes_per_s, heaviest);
    return td;
  });
  table.id = "job-matrix";
  return table;
}

export function jobPage(ctx: Context): Page {
  const summary = h("p", { class: "job-summary" });
  const findingsNote = h("p", { class: "note" });
  const findings = h("ul", { class: "findings" });
  findings.id = "job-findings";
  const ranksSlot = h("div", { class: "table-scroll" });
  const gridNote = h("p", { class: "note" });
  const gridSlot = h("div", { class: "table-scroll" });
  const element = h(
    "div",
    null,
    section("Job", summary, findingsNote, findings),
    section("Ranks", ranksSlot),
    section("Rank matrix", gridNote, gridSlot),
  );

  const poll = poller(ctx, PERIOD_MS, async (signal) => {
    const route = ctx.route();
    const job = route.params.get("job") ?? "";
    if (!job) {
      replace(summary, "No job chosen: pick one on the ", h("a", { href: link(route, "jobs") }, "Jobs page"), ".");
      for (const slot of [findingsNote, findings, ranksSlot, gridNote, gridSlot]) replace(slot);
      return;
    }
    const range = ctx.range();
    const answer = await get<JobView>("job", { job, from: range.from, to: range.to }, signal);
    const ongoing = answer.findings.filter((f) => f.ongoing);
    const stragglers = new Set(ongoing.flatMap((f) => (f.kind === "straggler" && f.rank !== undefined ? [f.rank] : [])));
    const slow = new Set(ongoing.flatMap((f) => (f.kind === "slow_link" ? [`${f.from_rank}>${f.to_rank}`] : [])));
    const hosts = new Map(answer.ranks.map((r) => [r.rank, r.host]));

    summary.textContent =
      `${answer.job}: world size ${answer.world_size < 0 ? "?" : answer.world_size}, ` +
      `${hosts.size} ranks seen on ${new Set(hosts.values()).size} hosts`;
    findingsNote.textContent = answer.findings.length
      ? `${answer.findings.length} findings in the range, newest first; those still departing now are in red.`
      : "No straggler or slow link in this range.";
    replace(
      findings,
      ...answer.findings.map((f) =>
        h("li", { class: f.ongoing ? "ongoing" : "", title: `reported ${fmt.clock(f.ts)}`, data: { subject: f.subject } }, findingText(f)),
      ),
    );
    replace(ranksSlot, ranksTable(answer.ranks, stragglers, (id) => link(route, "process", id)));

    // The grid spans the world size, or the highest rank seen when that is unknown or exceeded.
    const size = Math.max(answer.world_size, ...[...hosts.keys()].map((r) => r + 1), ...answer.links.map((l) => Math.max(l.from_rank, l.to_rank) + 1));
    const shown = Math.min(size, GRID_RANKS);
    gridNote.textContent =
      `${answer.links.length} links; each cell: bytes/s over the range, then the latest srtt and the retransmits` +
      (shown < size ? `; the grid shows ranks 0 to ${shown - 1} of ${size}.` : ".");
    replace(gridSlot, shown > 0 ? rankGrid(shown, hosts, answer.links, slow) : h("p", { class: "note" }, "no rank seen in this range"));
  });

  return polledPage(element, poll);
}
