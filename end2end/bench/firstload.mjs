// What a person's browser downloads and how long it waits on a first, cold load of each
// page, measured in the real browser (Debian's Chromium through Playwright), against a
// throwaway `askfirst serve` on 127.0.0.1 serving the release site.
//
//   node end2end/bench/firstload.mjs <askfirst binary> <site root>
//
// For the inbox, a call's card, the policy console and the insights it prints the bytes
// transferred for wasm, JavaScript and CSS (as served: brotli), cold cache. Then, on a
// phone-like setting — 4× CPU slowdown, 1.6 Mbit/s down, 750 kbit/s up, 150 ms round trip
// — the time from navigation start until the page is interactive (hydrated: the inbox's
// j/k keys and the card's Approve button answer). Prints figures; never fails on a slow
// machine.
import { chromium } from "@playwright/test";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:net";

const [bin, siteRoot] = process.argv.slice(2);
if (!bin || !siteRoot) {
  console.error("usage: node firstload.mjs <askfirst binary> <site root>");
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), "askfirst-firstload-"));
const db = join(dir, "askfirst.db");
const PASSWORD = "first load password 1";
const cli = (args, input) => execFileSync(bin, ["--db", db, ...args], { input, encoding: "utf8" });

const port = await new Promise((ok) => {
  const s = createServer().listen(0, "127.0.0.1", () => {
    const p = s.address().port;
    s.close(() => ok(p));
  });
});
const base = `http://127.0.0.1:${port}`;
const server = spawn(bin, ["serve", "--db", db, "--addr", `127.0.0.1:${port}`, "--site-root", siteRoot], {
  stdio: ["ignore", "ignore", "inherit"],
  env: { ...process.env, ASKFIRST_LOG: "warn" },
});
let browser;
const cleanup = () => {
  server.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
};
process.on("SIGINT", () => {
  cleanup();
  process.exit(130);
});

try {
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {}
    if (i > 200) throw new Error("the server did not start");
    await new Promise((r) => setTimeout(r, 50));
  }
  cli(["user", "add", "ann", "--role", "admin", "--password-stdin"], `${PASSWORD}\n`);
  const key = JSON.parse(cli(["agent", "create", "bench", "--json"])).key;
  // A gated call (the default policy gates production deploys) for the inbox and its card.
  const proposed = await fetch(`${base}/api/v1/calls`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({
      session: "bench",
      tool: "deploy",
      args: { service: "api", environment: "production" },
      reason: "Ship the login fix",
      risk: ["production"],
    }),
  }).then((r) => r.json());
  if (proposed.status !== "pending") throw new Error(`the call is ${proposed.status}, not pending`);

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"],
  });
  // Signed in once; each measurement is a new context with that cookie and an empty cache.
  const signIn = await browser.newContext({ baseURL: base });
  const page = await signIn.newPage();
  await page.goto("/login");
  await page.getByLabel("Username").fill("ann");
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: /Signed in as/ }).waitFor();
  const state = await signIn.storageState();
  await signIn.close();

  const pages = [
    ["inbox", "/inbox"],
    ["card", `/calls/${proposed.id}`],
    ["policy", "/policy"],
    ["insights", "/insights"],
  ];
  const kinds = [
    ["wasm", /\.wasm$/],
    ["js", /\.m?js$/],
    ["css", /\.css$/],
  ];

  console.log(`first load, cold cache, bytes transferred (as served) — ${base}`);
  console.log(`  ${"page".padEnd(10)}${kinds.map(([k]) => k.padStart(10)).join("")}${"total".padStart(10)}   budget`);
  for (const [name, path] of pages) {
    const context = await browser.newContext({ baseURL: base, storageState: state });
    const p = await context.newPage();
    const sizes = Object.fromEntries(kinds.map(([k]) => [k, 0]));
    const pending = [];
    p.on("requestfinished", (request) => {
      const url = new URL(request.url()).pathname;
      const kind = kinds.find(([, re]) => re.test(url));
      if (kind) pending.push(request.sizes().then((s) => (sizes[kind[0]] += s.responseBodySize)));
    });
    await p.goto(path);
    await p.locator('body[data-hydrated="true"]').waitFor({ timeout: 60_000 }).catch(() => {});
    await p.waitForLoadState("networkidle");
    await Promise.all(pending);
    const total = Object.values(sizes).reduce((a, b) => a + b, 0);
    const budget = name === "inbox" || name === "card" ? (total <= 150_000 ? "≤ 150 KB: met" : "≤ 150 KB: missed") : "—";
    console.log(
      `  ${name.padEnd(10)}${kinds.map(([k]) => String(sizes[k]).padStart(10)).join("")}${String(total).padStart(10)}   ${budget}`,
    );
    await context.close();
  }

  console.log("phone-like first load: 4× CPU slowdown, 1.6 Mbit/s down, 750 kbit/s up, 150 ms RTT");
  console.log(`  ${"page".padEnd(10)}${"HTML (ms)".padStart(12)}${"interactive (ms)".padStart(18)}   target`);
  for (const [name, path] of pages.slice(0, 2)) {
    const runs = [];
    for (let run = 0; run < 3; run++) {
      const context = await browser.newContext({ baseURL: base, storageState: state });
      const p = await context.newPage();
      const cdp = await context.newCDPSession(p);
      await cdp.send("Network.enable");
      await cdp.send("Network.emulateNetworkConditions", {
        offline: false,
        latency: 150,
        downloadThroughput: (1.6 * 1024 * 1024) / 8,
        uploadThroughput: (750 * 1024) / 8,
      });
      await cdp.send("Emulation.setCPUThrottlingRate", { rate: 4 });
      await p.goto(path, { waitUntil: "commit" });
      await p.locator('body[data-hydrated="true"]').waitFor({ timeout: 120_000 });
      const timing = await p.evaluate(() => {
        const nav = performance.getEntriesByType("navigation")[0];
        return { html: nav.responseEnd, interactive: performance.now() };
      });
      runs.push(timing);
      await context.close();
    }
    runs.sort((a, b) => a.interactive - b.interactive);
    const mid = runs[1];
    const target = mid.interactive <= 1500 ? "≤ 1.5 s: met" : "≤ 1.5 s: missed";
    console.log(
      `  ${name.padEnd(10)}${mid.html.toFixed(0).padStart(12)}${mid.interactive.toFixed(0).padStart(18)}   ${target} (median of 3)`,
    );
  }
} finally {
  await browser?.close();
  cleanup();
}
