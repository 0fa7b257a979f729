// What was not seen, and why: each host's loss counters by reason (the agent's own counts, summed
// over its runs), beside what never reached the server.
import { get, type Host, type HostLosses } from "../api";
import { h, replace } from "../dom";
import * as fmt from "../format";
import { poller, section, type Context, type Page, polledPage } from "../page";

const PERIOD_MS = 5000;

export function lossesPage(ctx: Context): Page {
  const slot = h("div", { class: "table-scroll" });
  const element = h(
    "div",
    null,
    section(
      "Losses",
      h("p", { class: "note" }, "Counts since each agent started (docs/json-schema.md names each reason). A zero is good news; anything else is data the tracer did not see or deliver."),
      slot,
    ),
  );

  const poll = poller(ctx, PERIOD_MS, async (signal) => {
    const f = ctx.filters();
    const [losses, hosts] = await Promise.all([
      get<{ hosts: HostLosses[] }>("losses", { host: f.host }, signal),
      get<{ hosts: Host[] }>("hosts", { host: f.host }, signal),
    ]);
    const byHost = new Map(losses.hosts.map((l) => [l.host, l.losses]));
    const reasons = [...new Set(losses.hosts.flatMap((l) => Object.keys(l.losses)))].sort();
    const delivery: [string, (host: Host) => number][] = [
      ["batches missing at the server", (host) => host.missing_batches],
      ["batches the agent dropped", (host) => host.batches_dropped],
      ["samples the agent dropped", (host) => host.samples_dropped],
    ];
    // One row per reason, one column per host: the reasons are many, hosts usually few.
    const cell = (n: number) => h("td", { class: n ? "num warn" : "num" }, fmt.exact(n));
    const rows: [string, (host: Host) => number][] = [
      ...delivery,
      ...reasons.map((r) => [r, (host: Host) => byHost.get(host.machine_id)?.[r] ?? 0] as [string, (host: Host) => number]),
    ];
    const table = h(
      "table",
      { class: "grid" },
      h("thead", null, h("tr", null, h("th", null, "reason"), ...hosts.hosts.map((host) => h("th", { class: "num" }, host.machine_id)))),
      h("tbody", null, ...rows.map(([name, value]) => h("tr", null, h("td", null, name), ...hosts.hosts.map((host) => cell(value(host)))))),
    );
    replace(slot, hosts.hosts.length ? table : h("p", { class: "note" }, "no agent has reported yet"));
  });

  return polledPage(element, poll);
}
