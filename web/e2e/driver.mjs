// Drives headless Chromium (Debian's /usr/bin/chromium, or $NT_CHROMIUM) for the dashboard's tests
// (tests/integration/test_dashboard.py): one JSON request a line on stdin, one JSON answer a line
// on stdout, {"error": "..."} when a request fails. The page is 1280x800, as the screenshots are.
//
//   {"op": "goto", "url": U}                -> {"status", "headers"}
//   {"op": "eval", "expr": E}               -> {"value"}: E evaluated in the page (a promise is awaited)
//   {"op": "wait", "expr": E, "timeout_ms"} -> {"value", "ms"}: until E is truthy
//   {"op": "fill", "selector": S, "text": T}, {"op": "click", "selector": S}, {"op": "press", "key": K}
//   {"op": "screenshot", "path": P}
//   {"op": "heap"}                          -> {"used", "total", "v8", "embedder", "nodes", "listeners",
//                                               "documents"} after garbage collection
//   {"op": "events"}                        -> {"dialogs", "errors", "violations"} seen so far
//   {"op": "close"}
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const browser = await chromium.launch({
  executablePath: process.env.NT_CHROMIUM || "/usr/bin/chromium",
  // As root Chromium refuses its sandbox; /dev/shm may be small in a container.
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const page = await context.newPage();
const cdp = await context.newCDPSession(page);
await cdp.send("Performance.enable");

const dialogs = [];
const errors = [];
page.on("dialog", (dialog) => {
  dialogs.push(`${dialog.type()}: ${dialog.message()}`);
  dialog.dismiss().catch(() => {});
});
page.on("pageerror", (error) => errors.push(String(error)));
page.on("console", (message) => {
  if (message.type() === "error") errors.push(message.text());
});
// Content-Security-Policy refusals, counted by the page itself (DevTools injects this, so the
// policy does not apply to it).
await page.addInitScript(() => {
  window.__ntViolations = [];
  document.addEventListener("securitypolicyviolation", (e) => window.__ntViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
});

async function heap() {
  // Twice: objects freed by the first collection's finalizers go in the second.
  await cdp.send("HeapProfiler.collectGarbage");
  await cdp.send("HeapProfiler.collectGarbage");
  const { metrics } = await cdp.send("Performance.getMetrics");
  const m = Object.fromEntries(metrics.map(({ name, value }) => [name, value]));
  // JSHeapUsedSize counts Blink's garbage-collected objects too, among them what DevTools itself
  // keeps of every request while Playwright watches the network; V8's own part is apart.
  const usage = await cdp.send("Runtime.getHeapUsage");
  return {
    used: m.JSHeapUsedSize,
    total: m.JSHeapTotalSize,
    v8: usage.usedSize,
    embedder: usage.embedderHeapUsedSize,
    nodes: m.Nodes,
    listeners: m.JSEventListeners,
    documents: m.Documents,
  };
}

const ops = {
  async goto({ url }) {
    const response = await page.goto(url, { waitUntil: "load" });
    // A change of the fragment alone loads nothing: no response.
    return response ? { status: response.status(), headers: response.headers() } : { status: null, headers: {} };
  },
  async eval({ expr }) {
    return { value: await page.evaluate(expr) };
  },
  // Polled from here: Playwright's waitForFunction evaluates a string with eval() inside the page,
  // which the page's policy (rightly) refuses.
  async wait({ expr, timeout_ms = 10000 }) {
    const started = performance.now();
    for (;;) {
      const value = await page.evaluate(expr);
      if (value) return { value, ms: performance.now() - started };
      if (performance.now() - started > timeout_ms) throw new Error(`timed out after ${timeout_ms} ms waiting for ${expr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  },
  async fill({ selector, text }) {
    await page.fill(selector, text);
    return {};
  },
  async click({ selector }) {
    await page.click(selector);
    return {};
  },
  async press({ key }) {
    await page.keyboard.press(key);
    return {};
  },
  async screenshot({ path }) {
    await page.screenshot({ path });
    return {};
  },
  heap,
  async events() {
    const violations = await page.evaluate(() => window.__ntViolations ?? []).catch(() => []);
    return { dialogs, errors, violations };
  },
};

const lines = createInterface({ input: process.stdin });
process.stdout.write(`${JSON.stringify({ ready: true, version: browser.version() })}\n`);
for await (const line of lines) {
  const request = JSON.parse(line);
  if (request.op === "close") break;
  let answer;
  try {
    answer = await ops[request.op](request);
  } catch (error) {
    answer = { error: String(error?.message ?? error) };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
await browser.close();
