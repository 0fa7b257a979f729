// The training jobs seen in the range: their size, hosts and the bytes between their ranks. A click
// opens the job's page.
import { get, type Job } from "../api";
import { h } from "../dom";
import * as fmt from "../format";
import { poller, section, type Context, type Page, polledPage } from "../page";
import { link, parse } from "../route";
import { VirtualTable } from "../table";

const PERIOD_MS = 5000;

interface Row {
  job: Job;
  ranks: number; // distinct ranks its hosts reported
  bytes: number; // between its ranks, all hosts
}

export function jobsPage(ctx: Context): Page {
  const table = new VirtualTable<Row>(
    [
      { title: "job", text: (r) => r.job.name, width: "minmax(10rem, 2fr)" },
      { title: "world size", text: (r) => (r.job.world_size < 0 ? "?" : String(r.job.world_size)), sort: (r) => r.job.world_size, numeric: true, width: "6rem" },
      { title: "hosts", text: (r) => r.job.hosts.map((x) => x.host).join(" "), width: "minmax(8rem, 2fr)" },
      { title: "ranks seen", text: (r) => String(r.ranks), sort: (r) => r.ranks, numeric: true, width: "7rem" },
      { title: "bytes between ranks", text: (r) => fmt.bytes(r.bytes), sort: (r) => r.bytes, numeric: true, width: "12.5rem" },
    ],
    {
      key: (r) => r.job.name,
      onClick: (r) => ctx.go(parse(link(ctx.route(), "job", 0, { job: r.job.name }))),
      visibleRows: 14,
      empty: "no job in this range",
    },
  );
  const element = h("div", null, section("Jobs", table.element));

  const poll = poller(ctx, PERIOD_MS, async (signal) => {
    const range = ctx.range();
    const f = ctx.filters();
    const answer = await get<{ jobs: Job[] }>("jobs", { from: range.from, to: range.to, host: f.host }, signal);
    const part = f.job.toLowerCase();
    table.setRows(
      answer.jobs
        .filter((job) => job.name.toLowerCase().includes(part))
        .map((job) => ({
          job,
          ranks: new Set(job.hosts.flatMap((x) => x.ranks.map((r) => r.rank))).size,
          bytes: job.hosts.reduce((sum, x) => sum + x.bytes_between_ranks, 0),
        })),
    );
  });

  return polledPage(element, poll, table);
}
