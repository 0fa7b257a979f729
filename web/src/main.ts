// The dashboard's shell: navigation, the time range, the filters, the token, and the page shown.
import "./style.css";
import { ApiError, get, setToken, type Host } from "./api";
import { h, replace, select } from "./dom";
import type { Context, Page } from "./page";
import { anomaliesPage } from "./pages/anomalies";
import { connectionsPage } from "./pages/connections";
import { hostsPage } from "./pages/hosts";
import { jobPage } from "./pages/job";
import { jobsPage } from "./pages/jobs";
import { lossesPage } from "./pages/losses";
import { matrixPage } from "./pages/matrix";
import { processPage } from "./pages/process";
import { topPage } from "./pages/top";
import * as route from "./route";

const FACTORIES: Record<route.PageName, (ctx: Context) => Page> = {
  hosts: hostsPage,
  top: topPage,
  process: processPage,
  matrix: matrixPage,
  connections: connectionsPage,
  losses: lossesPage,
  anomalies: anomaliesPage,
  jobs: jobsPage,
  job: jobPage,
};

let current: { page: Page; name: route.PageName; id: number } | null = null;
// Rounds put on screen, in all and since the view (the URL) last changed: tests wait on these.
let rounds = 0;
let viewRounds = 0;

const main = h("main", { class: "page" });
const status = h("span", { class: "status" });
const tokenBar = h("div", { class: "token-bar" });
tokenBar.hidden = true;
const nav = h("nav");
const rangeSlot = h("span", { class: "range" });
const filterInputs = new Map<string, HTMLInputElement>();
const hostList = h("datalist");
hostList.id = "nt-hosts";

function now(): number {
  return Date.now() / 1000;
}

function currentRoute(): route.Route {
  return route.parse(location.hash);
}

const ctx: Context = {
  route: currentRoute,
  range: () => route.range(currentRoute(), now()),
  filters: () => route.filters(currentRoute()),
  go: (next) => {
    location.hash = route.format(next);
  },
  set: (changes) => {
    history.replaceState(null, "", route.format(route.withParams(currentRoute(), changes)));
    show();
  },
  rendered: () => {
    rounds++;
    viewRounds++;
    main.dataset.rounds = String(rounds);
    main.dataset.viewRounds = String(viewRounds);
    if (rounds === 1) {
      performance.mark("nt-first-data");
      document.documentElement.dataset.firstDataMs = performance.now().toFixed(1);
    }
    tokenBar.hidden = true;
    const range = ctx.range();
    status.className = "status";
    status.textContent = range.live ? `live · updated ${new Date().toLocaleTimeString()}` : "fixed range";
  },
  failed: (error) => {
    status.className = "status error";
    status.textContent = error instanceof Error ? error.message : String(error);
    if (error instanceof ApiError && error.wantsToken) tokenBar.hidden = false;
  },
};

function buildTokenBar(): void {
  const input = h("input", { type: "password", placeholder: "bearer token" });
  const use = () => {
    setToken(input.value.trim());
    input.value = "";
    tokenBar.hidden = true;
    current?.page.refresh();
    void loadHosts();
  };
  input.addEventListener("keydown", (e) => {
    if ((e as KeyboardEvent).key === "Enter") use();
  });
  replace(
    tokenBar,
    "This server wants a token (neutracer-server --token-file). It is kept for this tab only: ",
    input,
    h("button", { type: "button", on: { click: use } }, "Use"),
  );
}

function toLocalInput(unix: number): string {
  const t = new Date(unix * 1000 - new Date().getTimezoneOffset() * 60000);
  return t.toISOString().slice(0, 19);
}

function fromLocalInput(text: string): number {
  return new Date(text).getTime() / 1000;
}

function buildRange(r: route.Route): void {
  const range = route.range(r, now());
  const fixed = !range.live;
  const choices = route.RANGES.map(([name]) => [name, `last ${name}`] as const);
  const picker = select([...choices, ["custom", "custom range"]], fixed ? "custom" : (r.params.get("range") ?? route.DEFAULT_RANGE), (value) => {
    if (value === "custom") {
      const live = ctx.range();
      ctx.set({ range: "", from: String(Math.floor(live.from)), to: String(Math.floor(live.to)) });
    } else ctx.set({ range: value, from: "", to: "" });
  });
  const children: Node[] = [picker];
  if (fixed) {
    const from = h("input", { type: "datetime-local", value: toLocalInput(range.from) });
    const to = h("input", { type: "datetime-local", value: toLocalInput(range.to) });
    from.step = to.step = "1";
    const apply = () => {
      const f = fromLocalInput(from.value);
      const t = fromLocalInput(to.value);
      if (Number.isFinite(f) && Number.isFinite(t) && f < t) ctx.set({ from: String(Math.floor(f)), to: String(Math.floor(t)) });
    };
    from.addEventListener("change", apply);
    to.addEventListener("change", apply);
    children.push(from, to);
  }
  replace(rangeSlot, ...children);
}

function buildNav(r: route.Route): void {
  replace(
    nav,
    ...route.PAGES.map(([name, title]) =>
      h("a", { href: route.link(r, name), class: r.page === name ? "active" : "" }, title),
    ),
  );
}

function buildFilters(): HTMLElement {
  const box = h("div", { class: "filters" });
  const hints: Record<string, string> = { name: "name or command line", host: "host (machine id)", container: "container", job: "job" };
  for (const key of route.FILTERS) {
    const input = h("input", { type: "search", placeholder: hints[key] });
    input.name = key;
    if (key === "host") input.setAttribute("list", hostList.id);
    let timer = 0;
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = window.setTimeout(() => ctx.set({ [key]: input.value.trim() }), 250);
    });
    filterInputs.set(key, input);
    box.append(input);
  }
  box.append(hostList);
  return box;
}

// The route's values into the controls (after a link was followed, or the back button).
function syncControls(r: route.Route): void {
  buildNav(r);
  buildRange(r);
  for (const [key, input] of filterInputs) {
    const value = r.params.get(key) ?? "";
    if (document.activeElement !== input && input.value !== value) input.value = value;
  }
}

function show(): void {
  const r = currentRoute();
  main.dataset.view = location.hash;
  main.dataset.viewRounds = String((viewRounds = 0));
  syncControls(r);
  if (current && current.name === r.page && current.id === r.id) {
    current.page.refresh();
    return;
  }
  current?.page.dispose();
  const page = FACTORIES[r.page](ctx);
  current = { page, name: r.page, id: r.id };
  replace(main, page.element);
  document.title = `NeuTracer · ${r.page === "process" ? `process ${r.id}` : r.page}`;
}

// Host names for the host filter's suggestions; the dashboard works without them.
async function loadHosts(): Promise<void> {
  try {
    const answer = await get<{ hosts: Host[] }>("hosts", {});
    replace(hostList, ...answer.hosts.map((host) => {
      const option = h("option");
      option.value = host.machine_id;
      option.label = host.hostname;
      return option;
    }));
  } catch {
    // an unreachable server or a missing token shows on the page itself
  }
}

buildTokenBar();
document.body.append(
  h("header", null,
    h("div", { class: "bar" }, h("a", { class: "brand", href: "#/top" }, "NeuTracer"), nav, rangeSlot, status),
    buildFilters(),
  ),
  tokenBar,
  main,
);
window.addEventListener("hashchange", show);
show();
void loadHosts();
