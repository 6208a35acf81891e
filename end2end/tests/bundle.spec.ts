import { Browser, expect, test } from "@playwright/test";
import { ADMIN, hydrated, signIn } from "./helpers";
import { Agent, importPolicy } from "./gate";

// The first-load budget: what a browser with an empty cache transfers (wasm, JavaScript,
// CSS, as served: compressed) to open the inbox and a card, measured in the real browser.
const BUDGET = 150_000;

test.describe.configure({ mode: "serial" });

let state: Awaited<ReturnType<Awaited<ReturnType<Browser["newContext"]>>["storageState"]>>;
let callId: string;

test.beforeAll(async ({ browser }) => {
  await importPolicy(`
default_effect = "allow"

[[rules]]
name = "bundle-gate"
[rules.match]
tool = "bundle_check"
[rules.effect]
kind = "gate"
confirm = "check {/what}"
`);
  const agent = await Agent.create("bundle-bot");
  callId = (await agent.propose({ tool: "bundle_check", args: { what: "weight" }, reason: "measure" })).id;
  const context = await browser.newContext();
  await signIn(await context.newPage(), ADMIN.username, ADMIN.password);
  state = await context.storageState();
  await context.close();
});

/** Loads `path` in a fresh context (cold cache) and sums what each kind of asset weighed. */
async function firstLoad(browser: Browser, path: string) {
  const context = await browser.newContext({ storageState: state });
  const page = await context.newPage();
  const sizes = { wasm: 0, js: 0, css: 0 };
  const requested: string[] = [];
  const pending: Promise<unknown>[] = [];
  page.on("requestfinished", (request) => {
    const url = new URL(request.url()).pathname;
    const kind = url.endsWith(".wasm") ? "wasm" : /\.m?js$/.test(url) ? "js" : url.endsWith(".css") ? "css" : null;
    if (!kind) return;
    requested.push(url);
    pending.push(request.sizes().then((s) => (sizes[kind] += s.responseBodySize)));
  });
  await page.goto(path);
  await hydrated(page);
  await page.waitForLoadState("networkidle");
  await Promise.all(pending);
  await context.close();
  return { total: sizes.wasm + sizes.js + sizes.css, sizes, requested };
}

test("the inbox and a card each load within the 150 KB budget", async ({ browser }) => {
  for (const path of ["/inbox", `/calls/${callId}`]) {
    const { total, sizes, requested } = await firstLoad(browser, path);
    // Only the approver's bundle: never the console's.
    expect(requested.filter((u) => u.endsWith(".wasm")), path).toEqual(["/pkg/askfirst_bg.wasm"]);
    expect(total, `${path}: ${JSON.stringify(sizes)}`).toBeLessThanOrEqual(BUDGET);
  }
});

test("manager and admin pages are rendered on the server: only the policy editor loads more than the approver's bundle", async ({ browser }) => {
  for (const path of ["/agents", "/people", "/reviews", "/bypasses", "/insights", "/notifications"]) {
    const { requested } = await firstLoad(browser, path);
    expect(requested.filter((u) => u.endsWith(".wasm")), path).toEqual(["/pkg/askfirst_bg.wasm"]);
  }
  const { requested } = await firstLoad(browser, "/policy");
  expect(requested.filter((u) => u.endsWith(".wasm"))).toEqual(["/pkg/askfirst_console_bg.wasm"]);
});

test("a page without islands loads no wasm", async ({ browser }) => {
  const { requested } = await firstLoad(browser, "/no-such-page");
  expect(requested.filter((u) => u.endsWith(".wasm") || u.endsWith(".js"))).toEqual(["/register-sw.js"]);
});

test("every page with islands hydrates without console errors", async ({ browser }) => {
  const pages = ["/", "/inbox", "/inbox?group=similar", `/calls/${callId}`, "/history", "/audit", "/account"];
  const console_ = ["/policy", "/agents", "/people", "/reviews", "/bypasses", "/insights", "/notifications"];
  for (const path of [...pages, ...console_]) {
    const context = await browser.newContext({ storageState: state });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("console", (msg) => {
      if (msg.type() === "error" || msg.type() === "warning") errors.push(msg.text());
    });
    page.on("pageerror", (err) => errors.push(err.message));
    await page.goto(path);
    await hydrated(page);
    await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
    expect(errors, path).toEqual([]);
    await context.close();
  }
});
