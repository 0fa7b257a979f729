// Time series charts (uPlot: canvas, fast with many live series). A chart keeps no history of its
// own: each update hands it the whole window, decimated to what its width can show.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { h } from "./dom";

export const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777", "#4b5563", "#65a30d"];

export interface Line {
  label: string;
  points: readonly (readonly [number, number | null])[]; // [unix seconds, value], oldest first
}

export interface ChartOptions {
  title: string;
  unit: (value: number) => string; // axis and legend text
  height?: number;
  points?: boolean; // dots only (events), no lines
  yMax?: number; // a fixed top of the y axis (scores); default: the data's largest value
}

// Most x values drawn: two per pixel column (each column's lowest and highest value).
function decimate(xs: number[], ys: (number | null)[][], columns: number): [number[], (number | null)[][]] {
  if (xs.length <= columns * 2) return [xs, ys];
  const outX: number[] = [];
  const outY: (number | null)[][] = ys.map(() => []);
  const per = xs.length / columns;
  for (let c = 0; c < columns; c++) {
    const start = Math.floor(c * per);
    const end = Math.min(xs.length, Math.floor((c + 1) * per));
    if (start >= end) continue;
    outX.push(xs[start], xs[end - 1]);
    ys.forEach((series, s) => {
      let low: number | null = null;
      let high: number | null = null;
      for (let i = start; i < end; i++) {
        const v = series[i];
        if (v === null) continue;
        if (low === null || v < low) low = v;
        if (high === null || v > high) high = v;
      }
      outY[s].push(low, high);
    });
  }
  return [outX, outY];
}

// Lines with their own timestamps (hosts' intervals do not line up) on one shared x axis.
function join(lines: readonly Line[]): [number[], (number | null)[][]] {
  const stamps = new Set<number>();
  for (const line of lines) for (const [t] of line.points) stamps.add(t);
  const xs = [...stamps].sort((a, b) => a - b);
  const at = new Map(xs.map((t, i) => [t, i]));
  const ys = lines.map((line) => {
    const values: (number | null)[] = new Array(xs.length).fill(null);
    for (const [t, v] of line.points) values[at.get(t)!] = v;
    return values;
  });
  return [xs, ys];
}

export class TimeChart {
  readonly element: HTMLElement;
  private readonly plotArea: HTMLElement;
  private plot: uPlot | null = null;
  private labels = "";
  private markers: number[] = [];
  private window: [number, number] = [0, 0];
  private readonly resize: ResizeObserver;

  constructor(private readonly options: ChartOptions) {
    this.plotArea = h("div", { class: "chart-plot" });
    this.element = h("div", { class: "chart" }, h("div", { class: "chart-title" }, options.title), this.plotArea);
    this.resize = new ResizeObserver(() => this.plot?.setSize(this.size()));
    this.resize.observe(this.plotArea);
  }

  private size(): { width: number; height: number } {
    return { width: Math.max(200, this.plotArea.clientWidth), height: this.options.height ?? 180 };
  }

  // The lines over [from, to]; a line whose points are all null still takes a legend entry.
  update(lines: readonly Line[], from: number, to: number): void {
    const labels = lines.map((l) => l.label).join("\u0000");
    if (!this.plot || labels !== this.labels) this.create(lines);
    this.window = [from, to];
    const [xs, ys] = join(lines);
    const [dx, dy] = decimate(xs, ys, Math.max(100, Math.floor(this.size().width)));
    this.plot!.setData([dx, ...dy] as uPlot.AlignedData);
    this.element.dataset.points = String(xs.length);
  }

  // Instants marked with a vertical line across the plot (anomalies).
  mark(instants: number[]): void {
    this.markers = instants;
    this.plot?.redraw(false, false);
  }

  private create(lines: readonly Line[]): void {
    this.plot?.destroy();
    this.labels = lines.map((l) => l.label).join("\u0000");
    const unit = this.options.unit;
    const dots = this.options.points === true;
    const yMax = this.options.yMax;
    const opts: uPlot.Options = {
      ...this.size(),
      scales: { x: { time: true, range: () => this.window }, y: { range: (_u, _min, max) => [0, yMax ?? (max > 0 ? max * 1.05 : 1)] } },
      series: [
        {},
        ...lines.map((line, i) => ({
          label: line.label,
          stroke: PALETTE[i % PALETTE.length],
          width: 1.5,
          spanGaps: false,
          value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? "-" : unit(v)),
          // Lines show their points only where they are sparse (uPlot's default): a process that
          // lived for one interval is still a dot.
          ...(dots ? { paths: () => null, points: { show: true, size: 7, fill: PALETTE[i % PALETTE.length] } } : {}),
        })),
      ],
      axes: [{ space: 70 }, { values: (_u, splits) => splits.map((v) => unit(v)), size: 84 }],
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      hooks: { draw: [(u) => this.drawMarkers(u)] },
    };
    this.plot = new uPlot(opts, [[], ...lines.map(() => [])] as uPlot.AlignedData, this.plotArea);
  }

  private drawMarkers(u: uPlot): void {
    if (this.markers.length === 0) return;
    const ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = "rgba(220, 38, 38, 0.8)";
    ctx.lineWidth = 2 * uPlot.pxRatio;
    ctx.setLineDash([4 * uPlot.pxRatio, 3 * uPlot.pxRatio]);
    for (const t of this.markers) {
      const x = Math.round(u.valToPos(t, "x", true));
      if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
      ctx.beginPath();
      ctx.moveTo(x, u.bbox.top);
      ctx.lineTo(x, u.bbox.top + u.bbox.height);
      ctx.stroke();
    }
    ctx.restore();
  }

  dispose(): void {
    this.resize.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }
}
