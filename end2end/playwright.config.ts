import { defineConfig, devices } from "@playwright/test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

// The server under test is the real built binary (scripts/test.sh passes its path) on a
// fresh SQLite file, serving the site assembled by scripts/build.sh.
const bin = process.env.ASKFIRST_BIN ?? resolve(__dirname, "../target/debug/askfirst");
const dir = process.env.ASKFIRST_E2E_DIR ?? mkdtempSync(join(tmpdir(), "askfirst-e2e-"));
process.env.ASKFIRST_E2E_DIR = dir;
const port = Number(process.env.ASKFIRST_E2E_PORT ?? 3199);
export const baseURL = `http://127.0.0.1:${port}`;

// Debian's Chromium; Playwright's own browser download is not reachable here.
const chromium = {
  ...devices["Desktop Chrome"],
  launchOptions: {
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  },
};

export default defineConfig({
  testDir: "./tests",
  fullyParallel: false,
  workers: 1,
  // Flows with several browser contexts compile the debug bundle in each: on two cores
  // shared with other work, the default 30 s is too close.
  timeout: 60_000,
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: [["list"]],
  outputDir: "test-results",
  use: { baseURL, trace: "retain-on-failure", screenshot: "only-on-failure" },
  projects: [
    { name: "hydrated", use: { ...chromium }, testIgnore: /(nojs|audit|mcp)\.spec\.ts/ },
    // After first-run setup (auth.spec.ts), which an earlier account would skip.
    {
      name: "audit",
      use: { ...chromium },
      testMatch: /audit\.spec\.ts/,
      dependencies: ["hydrated"],
    },
    // MCP clients and servers, no browser; after first-run setup, like the audit page.
    {
      name: "mcp",
      testMatch: /mcp\.spec\.ts/,
      dependencies: ["hydrated"],
    },
    {
      name: "no-javascript",
      use: { ...chromium, javaScriptEnabled: false },
      testMatch: /nojs\.spec\.ts/,
      dependencies: ["hydrated"],
    },
  ],
  webServer: {
    command: `"${bin}" serve --addr 127.0.0.1:${port} --db "${dir}/askfirst.db" --site-root "${resolve(__dirname, "../target/site")}"`,
    env: { ASKFIRST_SETUP_TOKEN: "e2e-setup-token" },
    url: `${baseURL}/healthz`,
    reuseExistingServer: false,
    stdout: "ignore",
    stderr: "pipe",
    timeout: 60_000,
  },
});
