// Who sends to whom: bytes between hosts (or processes) over the range, as a grid of the busiest
// ends and as the list of every edge.
import { get, MAX_ROWS, type Matrix, type MatrixEdge, type MatrixNode } from "../api";
import { h, replace, select } from "../dom";
import * as fmt from "../format";
import { poller, section, type Context, type Page, polledPage } from "../page";
import { link, parse } from "../route";
import { VirtualTable } from "../table";

const PERIOD_MS = 5000;
const GRID_ENDS = 16; // the grid's rows and columns: the ends that moved the most

function key(host: string, process?: number): string {
  return process === undefined ? host : `${host}/${process}`;
}

// One line (the edge list) or two (the grid's narrow headers: the process, then its host).
function nodeLabel(node: MatrixNode | undefined, fallback: string, separator = " @"): string {
  if (!node) return fallback;
  return node.process === undefined ? node.host : `${node.comm || "?"} ${node.pid ?? "?"}${separator}${node.host}`;
}

export interface GridEnd {
  text: string; // the header, narrow (it may break into lines)
  title: string; // the whole name, shown on hover
}

// A square grid of the same ends down the side (senders) and across (receivers); `cell` makes the
// cell from end `from` to end `to` (indices into `ends`). The job page's rank matrix is one too.
export function heatGrid(ends: readonly GridEnd[], cell: (from: number, to: number) => HTMLTableCellElement): HTMLTableElement {
  const head = (end: GridEnd) => h("th", { title: end.title }, end.text);
  return h(
    "table",
    { class: "grid matrix" },
    h("thead", null, h("tr", null, h("th", null, "from \\ to"), ...ends.map(head))),
    h("tbody", null, ...ends.map((end, from) => h("tr", null, head(end), ...ends.map((_, to) => cell(from, to))))),
  );
}

// Shades a cell by its share of the heaviest, on a square-root scale so small values still show.
export function heat(cell: HTMLElement, value: number, heaviest: number): void {
  if (value > 0) cell.style.backgroundColor = `rgba(37, 99, 235, ${(0.08 + 0.6 * Math.sqrt(value / heaviest)).toFixed(3)})`;
}

export function matrixPage(ctx: Context): Page {
  const levelOf = () => (ctx.route().params.get("level") === "process" ? "process" : "host");
  const note = h("p", { class: "note" });
  const grid = h("div", { class: "table-scroll" });
  let names = new Map<string, MatrixNode>();
  const ends = (e: MatrixEdge): [string, string] => [key(e.from, e.from_process), key(e.to, e.to_process)];
  const edges = new VirtualTable<MatrixEdge>(
    [
      { title: "from", text: (e) => nodeLabel(names.get(ends(e)[0]), e.from), width: "2fr" },
      { title: "to", text: (e) => nodeLabel(names.get(ends(e)[1]), e.to), width: "2fr" },
      { title: "bytes", text: (e) => fmt.bytes(e.bytes), sort: (e) => e.bytes, numeric: true, width: "8rem" },
    ],
    {
      key: (e) => ends(e).join(">"),
      onClick: (e) => {
        if (e.from_process !== undefined) ctx.go(parse(link(ctx.route(), "process", e.from_process)));
      },
      visibleRows: 10,
      empty: "no bytes between known ends in this range",
    },
  );
  const levelPicker = select([["host", "host to host"], ["process", "process to process"]], levelOf(), (value) => ctx.set({ level: value }));
  const element = h("div", null, section("Traffic matrix", h("div", { class: "controls" }, levelPicker), note, grid), section("Edges", edges.element));

  const poll = poller(ctx, PERIOD_MS, async (signal) => {
    const range = ctx.range();
    const f = ctx.filters();
    const level = levelOf();
    levelPicker.value = level;
    const answer = await get<Matrix>("matrix", { from: range.from, to: range.to, level, limit: MAX_ROWS }, signal);
    names = new Map(answer.nodes.map((n) => [key(n.host, n.process), n]));
    const keep = (k: string) => {
      const n = names.get(k);
      return (!f.host || n?.host === f.host) && (!f.name || (n?.comm ?? n?.host ?? "").toLowerCase().includes(f.name.toLowerCase()));
    };
    const shown = answer.edges.filter((e) => {
      const [a, b] = ends(e);
      return keep(a) || keep(b);
    });
    // The grid: the ends that moved the most, senders down the side, receivers across.
    const weight = new Map<string, number>();
    for (const e of shown) for (const k of ends(e)) weight.set(k, (weight.get(k) ?? 0) + e.bytes);
    const top = [...weight.entries()].sort((a, b) => b[1] - a[1]).slice(0, GRID_ENDS).map(([k]) => k);
    const cells = new Map(shown.map((e) => [ends(e).join(">"), e.bytes]));
    const heaviest = Math.max(1, ...cells.values());
    const label = (k: string) => nodeLabel(names.get(k), k);
    const short = (k: string) => nodeLabel(names.get(k), k, "\n");
    const table = heatGrid(
      top.map((k) => ({ text: short(k), title: label(k) })),
      (i, j) => {
        const [from, to] = [top[i], top[j]];
        const bytes = cells.get(`${from}>${to}`) ?? 0;
        const td = h("td", { class: "num", title: `${label(from)} to ${label(to)}: ${fmt.exact(bytes)} bytes` }, bytes ? fmt.bytes(bytes) : "");
        heat(td, bytes, heaviest);
        return td;
      },
    );
    replace(grid, top.length ? table : h("p", { class: "note" }, "no bytes between known ends in this range"));
    note.textContent =
      `${fmt.exact(shown.length)} edges` +
      (top.length < weight.size ? `; the grid shows the ${GRID_ENDS} busiest ends` : "") +
      `. Bytes whose receiver is unknown or ambiguous: ${fmt.bytes(answer.unattributed_bytes)}.`;
    edges.setRows(shown, answer.edges.length >= MAX_ROWS ? ` (the ${MAX_ROWS} heaviest)` : "");
  });

  return polledPage(element, poll, edges);
}
