// A table that stays fast at any number of rows: only the rows in view exist in the page (a fixed
// pool of row elements, refilled as it scrolls), so 10,000 rows cost what 30 do. Clicking a column
// title sorts by it (again: the other way).
import { h } from "./dom";

export interface Column<T> {
  title: string;
  text: (row: T) => string;
  sort?: (row: T) => number | string; // default: the text
  numeric?: boolean; // right-aligned; sorts largest first
  width?: string; // a CSS grid track: "8rem", "2fr"
  className?: (row: T) => string;
}

export interface TableOptions<T> {
  key: (row: T) => string;
  onClick?: (row: T) => void;
  rowHeight?: number; // px
  visibleRows?: number; // height of the viewport, in rows
  empty?: string;
}

export class VirtualTable<T> {
  readonly element: HTMLElement;
  private readonly viewport: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly caption: HTMLElement;
  private readonly pool: HTMLElement[] = [];
  private readonly titles: HTMLElement[] = [];
  private rows: T[] = [];
  private shown: T[] = [];
  private sortColumn = -1;
  private descending = true;
  private readonly rowHeight: number;
  private frame = 0;
  private readonly visible: number;
  private height = -1;

  constructor(
    private readonly columns: Column<T>[],
    private readonly options: TableOptions<T>,
  ) {
    this.rowHeight = options.rowHeight ?? 24;
    const visible = options.visibleRows ?? 14;
    const template = columns.map((c) => c.width ?? "1fr").join(" ");
    const header = h("div", { class: "vt-row vt-head", role: "row" });
    header.style.gridTemplateColumns = template;
    columns.forEach((column, index) => {
      const title = h("div", { class: column.numeric ? "vt-cell num" : "vt-cell", role: "columnheader" }, column.title);
      title.addEventListener("click", () => this.sortBy(index));
      this.titles.push(title);
      header.append(title);
    });
    this.spacer = h("div", { class: "vt-spacer" });
    this.viewport = h("div", { class: "vt-viewport" }, this.spacer);
    this.visible = visible;
    for (let i = 0; i < visible + 2; i++) {
      const row = h("div", { class: "vt-row", role: "row" });
      row.style.gridTemplateColumns = template;
      row.style.height = `${this.rowHeight}px`;
      for (const column of columns) row.append(h("div", { class: column.numeric ? "vt-cell num" : "vt-cell", role: "cell" }));
      row.hidden = true;
      if (options.onClick) {
        row.classList.add("clickable");
        row.addEventListener("click", () => {
          const item = this.shown[Number(row.dataset.index)];
          if (item !== undefined) options.onClick?.(item);
        });
      }
      this.pool.push(row);
      this.spacer.append(row);
    }
    this.viewport.addEventListener("scroll", () => this.schedule(), { passive: true });
    this.caption = h("div", { class: "vt-caption" });
    this.element = h("div", { class: "vt", role: "table" }, header, this.viewport, this.caption);
  }

  setRows(rows: T[], note = ""): void {
    this.rows = rows;
    this.order();
    const n = rows.length;
    this.caption.textContent = n === 0 ? (this.options.empty ?? "nothing in this range") : `${n.toLocaleString("en-US")} rows${note}`;
    this.render();
  }

  setTitle(index: number, title: string): void {
    if (this.titles[index].textContent !== title) this.titles[index].textContent = title;
  }

  private sortBy(index: number): void {
    if (this.sortColumn === index) this.descending = !this.descending;
    else {
      this.sortColumn = index;
      this.descending = Boolean(this.columns[index].numeric);
    }
    this.titles.forEach((t, i) => {
      t.dataset.sorted = i === index ? (this.descending ? "desc" : "asc") : "";
    });
    this.order();
    this.render();
  }

  private order(): void {
    if (this.sortColumn < 0) {
      this.shown = this.rows;
      return;
    }
    const column = this.columns[this.sortColumn];
    const key = column.sort ?? column.text;
    const sign = this.descending ? -1 : 1;
    this.shown = this.rows
      .map((row) => ({ row, k: key(row) }))
      .sort((a, b) => (a.k < b.k ? -sign : a.k > b.k ? sign : 0))
      .map((entry) => entry.row);
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  private render(): void {
    const total = this.shown.length;
    // As tall as the rows (three at least), up to `visibleRows`; past that it scrolls.
    const height = Math.max(3, Math.min(this.visible, total)) * this.rowHeight;
    if (height !== this.height) this.viewport.style.height = `${(this.height = height)}px`;
    this.spacer.style.height = `${total * this.rowHeight}px`;
    const first = Math.min(Math.floor(this.viewport.scrollTop / this.rowHeight), Math.max(0, total - 1));
    this.pool.forEach((row, slot) => {
      const index = first + slot;
      const item = this.shown[index];
      row.hidden = item === undefined;
      if (item === undefined) return;
      row.style.transform = `translateY(${index * this.rowHeight}px)`;
      row.dataset.index = String(index);
      row.dataset.key = this.options.key(item);
      this.columns.forEach((column, c) => {
        const cell = row.children[c] as HTMLElement;
        const text = column.text(item);
        if (cell.textContent !== text) cell.textContent = text;
        cell.title = text;
        const extra = column.className?.(item) ?? "";
        const className = `vt-cell${column.numeric ? " num" : ""}${extra ? ` ${extra}` : ""}`;
        if (cell.className !== className) cell.className = className;
      });
    });
  }

  dispose(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
  }
}
