// Closed TCP connections and their health, newest first, with a count per health.
import { get, MAX_ROWS, type Connection } from "../api";
import { h, replace } from "../dom";
import * as fmt from "../format";
import { poller, processIndex, section, type Context, type Page, polledPage } from "../page";
import { anyFilter, link, matchesRow, parse } from "../route";
import { VirtualTable, type Column } from "../table";

const PERIOD_MS = 2000;
const HEALTHS = ["reset", "lossy", "retransmitting", "ok"] as const;

export function connectionColumns(withOwner: boolean): Column<Connection>[] {
  const owner: Column<Connection>[] = withOwner
    ? [
        { title: "command", text: (c) => c.comm, width: "minmax(6rem, 1fr)" },
        { title: "pid", text: (c) => (c.pid === null ? "?" : String(c.pid)), sort: (c) => c.pid ?? 0, numeric: true, width: "4.5rem" },
        { title: "host", text: (c) => c.host, width: "minmax(6rem, 1fr)" },
      ]
    : [];
  return [
    { title: "closed", text: (c) => fmt.clock(c.close_ts), sort: (c) => c.close_ts, width: "5.5rem" },
    ...owner,
    { title: "local", text: (c) => c.local, width: "minmax(8rem, 1.2fr)" },
    { title: "remote", text: (c) => c.remote, width: "minmax(8rem, 1.2fr)" },
    { title: "side", text: (c) => (c.active ? "connect" : "accept"), width: "4.5rem" },
    { title: "lived", text: (c) => fmt.seconds(c.duration_s), sort: (c) => c.duration_s, numeric: true, width: "5rem" },
    { title: "tx", text: (c) => fmt.bytes(c.tx_bytes), sort: (c) => c.tx_bytes, numeric: true, width: "5.5rem" },
    { title: "rx", text: (c) => fmt.bytes(c.rx_bytes), sort: (c) => c.rx_bytes, numeric: true, width: "5.5rem" },
    { title: "srtt", text: (c) => fmt.micros(c.srtt_us), sort: (c) => c.srtt_us, numeric: true, width: "4.5rem" },
    { title: "retrans", text: (c) => fmt.exact(c.retransmits), sort: (c) => c.retransmits, numeric: true, width: "4.5rem" },
    { title: "lost", text: (c) => fmt.exact(c.lost), sort: (c) => c.lost, numeric: true, width: "3.5rem" },
    { title: "resets", text: (c) => `${c.resets_sent}/${c.resets_received}`, sort: (c) => c.resets_sent + c.resets_received, numeric: true, width: "4rem" },
    { title: "health", text: (c) => c.health, className: (c) => `health-${c.health}`, width: "8rem" },
  ];
}

export function connectionsPage(ctx: Context): Page {
  const counts = h("div", { class: "chips" });
  const table = new VirtualTable<Connection>(connectionColumns(true), {
    key: (c) => `${c.host}/${c.close_ts}/${c.local}/${c.remote}`,
    onClick: (c) => {
      if (c.process !== null) ctx.go(parse(link(ctx.route(), "process", c.process)));
    },
    visibleRows: 22,
    empty: "no TCP connection closed in this range",
  });
  const element = h("div", null, section("Connections closed in the range", counts, table.element));

  const poll = poller(ctx, PERIOD_MS, async (signal) => {
    const range = ctx.range();
    const f = ctx.filters();
    const [answer, index] = await Promise.all([
      get<{ connections: Connection[] }>("connections", { from: range.from, to: range.to, limit: MAX_ROWS, host: f.host }, signal),
      // Container and job filters need each owner's identity.
      f.container || f.job ? processIndex(range, f.host, signal) : Promise.resolve(new Map()),
    ]);
    const shown = anyFilter(f) ? answer.connections.filter((c) => matchesRow(f, c, index)) : answer.connections;
    replace(
      counts,
      ...HEALTHS.map((health) =>
        h("span", { class: `chip health-${health}` }, `${health}: ${fmt.exact(shown.filter((c) => c.health === health).length)}`),
      ),
    );
    table.setRows(shown, answer.connections.length >= MAX_ROWS ? ` (of the ${MAX_ROWS} newest)` : "");
  });

  return polledPage(element, poll, table);
}
