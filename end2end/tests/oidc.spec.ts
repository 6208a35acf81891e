import { APIRequestContext, Browser, expect, Page, request, test } from "@playwright/test";
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import AxeBuilder from "@axe-core/playwright";

// Signing in with a real OpenID provider (npm `oidc-provider`, pinned, on 127.0.0.1) to a
// second askfirst that trusts it: strict group mapping, passwords off except for one
// break-glass account. The provider's users file is read at every sign-in, so a test
// changes someone's groups by writing it.
test.describe.configure({ mode: "serial" });

const BIN = process.env.ASKFIRST_BIN ?? resolve(__dirname, "../../target/debug/askfirst");
const DIR = `${process.env.ASKFIRST_E2E_DIR}/oidc`;
const DB = `${DIR}/askfirst.db`;
const USERS = `${DIR}/users.json`;
const PASSWORD = "idp password 1";

type Person = { password: string; groups: string[]; email: string; name: string };
const people: Record<string, Person> = {
  olivia: { password: PASSWORD, groups: ["askfirst-approvers", "staff"], email: "olivia@corp.example", name: "Olivia Approver" },
  nick: { password: PASSWORD, groups: ["staff"], email: "nick@corp.example", name: "Nick Nogroup" },
};

function writeUsers() {
  writeFileSync(USERS, JSON.stringify(people, null, 2));
}

let base = "";
let provider: ChildProcess;
let server: ChildProcess;
let api: APIRequestContext;

function freePort(): Promise<number> {
  return new Promise((done) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as any).port;
      s.close(() => done(port));
    });
  });
}

/** The CLI against the OIDC server's database. */
function cli(args: string[], input?: string): string {
  return execFileSync(BIN, ["--db", DB, ...args], { input, encoding: "utf8" });
}

async function until(url: string) {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} never answered`);
}

test.beforeAll(async () => {
  mkdirSync(DIR, { recursive: true });
  writeUsers();
  writeFileSync(`${DIR}/client-secret`, "e2e client secret\n");
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;

  provider = spawn(
    "node",
    [
      resolve(__dirname, "../oidc/provider.mjs"),
      "--port", "0",
      "--users", USERS,
      "--client-id", "askfirst",
      "--client-secret", "e2e client secret",
      "--redirect-uri", `${base}/auth/oidc/callback`,
      "--post-logout-uri", `${base}/login`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const issuer: string = await new Promise((done, fail) => {
    const lines = createInterface({ input: provider.stdout! });
    lines.on("line", (line) => line.startsWith("ready ") && done(line.slice(6).trim()));
    provider.on("exit", (code) => fail(new Error(`the provider exited (${code})`)));
  });

  // Accounts first (the CLI), then the server.
  cli(["user", "add", "keeper", "--role", "admin", "--password-stdin"], "break glass pass 1\n");
  cli(["user", "add", "lola", "--role", "admin", "--password-stdin"], "local password 1\n");
  server = spawn(
    BIN,
    [
      "serve",
      "--addr", `127.0.0.1:${port}`,
      "--db", DB,
      "--site-root", resolve(__dirname, "../../target/site"),
      "--oidc-issuer", issuer,
      "--oidc-client-id", "askfirst",
      "--oidc-client-secret-file", `${DIR}/client-secret`,
      "--oidc-label", "Corp SSO",
      "--oidc-role", "approver=askfirst-approvers",
      "--oidc-role", "manager=askfirst-managers",
      "--oidc-role", "admin=askfirst-admins",
      "--oidc-strict",
      "--oidc-only",
      "--break-glass", "keeper",
    ],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  await until(`${base}/healthz`);
  const key = JSON.parse(cli(["agent", "create", "sso-bot", "--json"])).key;
  api = await request.newContext({ baseURL: base, extraHTTPHeaders: { Authorization: `Bearer ${key}` } });
});

test.afterAll(async () => {
  server?.kill("SIGTERM");
  provider?.kill("SIGTERM");
  await api?.dispose();
});

async function propose(tool: string, args: Record<string, unknown>): Promise<string> {
  const res = await api.post("/api/v1/calls", { data: { session: `s-${Date.now()}`, tool, args } });
  expect(res.status()).toBe(201);
  const call = await res.json();
  expect(call.status).toBe("pending");
  return call.id;
}

/** Signs in at the provider's own page, starting from askfirst's sign-in page. */
async function ssoSignIn(page: Page, username: string, password = PASSWORD) {
  await page.goto(`${base}/login`);
  await page.getByRole("link", { name: "Sign in with Corp SSO" }).click();
  await expect(page).toHaveURL(/\/interaction\//);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  // Back at askfirst, past the callback and the page that sends the browser on.
  await page.waitForURL((url) => url.origin === base && !url.pathname.startsWith("/auth/"));
}

async function fresh(browser: Browser, javaScriptEnabled = true): Promise<Page> {
  const context = await browser.newContext({ javaScriptEnabled });
  return context.newPage();
}

test("an approver-group person signs in at the provider and approves a call", async ({ browser }) => {
  const id = await propose("rotate_keys", { service: "billing" });
  const page = await fresh(browser);
  await ssoSignIn(page, "olivia");
  await expect(page.getByRole("heading", { name: /Signed in as olivia/ })).toBeVisible();
  await page.goto(`${base}/account`);
  await expect(page.getByText("Signed in as olivia (approver)")).toBeVisible();
  await expect(page.getByText(/You sign in with your company's identity provider/)).toBeVisible();
  await expect(page.getByRole("heading", { name: "Change your password" })).toHaveCount(0);

  await page.goto(`${base}/calls/${id}`);
  await page.getByRole("button", { name: "Approve" }).click();
  await expect(page.locator(".decided-note")).toContainText("approved");
  const call = await (await api.get(`/api/v1/calls/${id}`)).json();
  expect(call.status).toBe("approved");
  expect(cli(["audit", "export", "--format", "jsonl", "--call", id])).toContain('"actor":"user:olivia"');
});

test("the sign-in page offers the provider first and keeps passwords for break-glass", async ({ browser }) => {
  const page = await fresh(browser);
  await page.goto(`${base}/login`);
  await expect(page.getByRole("link", { name: "Sign in with Corp SSO" })).toBeVisible();
  await expect(page.getByText("Emergency sign-in")).toBeVisible();
  const axe = await new AxeBuilder({ page }).analyze();
  expect(axe.violations).toEqual([]);
  await page.setViewportSize({ width: 390, height: 844 });
  const wide = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  expect(wide).toBe(false);
});

test("someone in no mapped group is refused under strict mode, with the reason", async ({ browser }) => {
  const page = await fresh(browser);
  await ssoSignIn(page, "nick");
  await expect(page).toHaveURL(/\/login\?oidc_error=no_role/);
  await expect(page.getByRole("alert")).toContainText("none of the groups that give a role");
  const audit = cli(["audit", "export", "--format", "jsonl", "--kind", "auth.oidc_refused"]);
  expect(audit).toContain("no_role");
});

test("a group removed at the provider demotes at the next sign-in and ends other sessions", async ({ browser }) => {
  const laptop = await fresh(browser);
  await ssoSignIn(laptop, "olivia");
  await expect(laptop.getByRole("heading", { name: /Signed in as olivia/ })).toBeVisible();

  people.olivia.groups = ["askfirst-managers"];
  writeUsers();
  const phone = await fresh(browser);
  await ssoSignIn(phone, "olivia");
  await phone.goto(`${base}/account`);
  await expect(phone.getByText("Signed in as olivia (manager)")).toBeVisible();

  people.olivia.groups = ["staff"];
  writeUsers();
  const tablet = await fresh(browser);
  await ssoSignIn(tablet, "olivia");
  await expect(tablet).toHaveURL(/oidc_error=no_role/);
  // Every session of hers ended: the laptop and the phone are signed out.
  for (const page of [laptop, phone]) {
    await page.goto(`${base}/account`);
    await expect(page).toHaveURL(/\/login/);
  }

  people.olivia.groups = ["askfirst-approvers"];
  writeUsers();
  const again = await fresh(browser);
  await ssoSignIn(again, "olivia");
  await again.goto(`${base}/account`);
  await expect(again.getByText("Signed in as olivia (approver)")).toBeVisible();
});

test("without JavaScript: sign in at the provider, then sign out there too", async ({ browser }) => {
  const page = await fresh(browser, false);
  await ssoSignIn(page, "olivia");
  await expect(page.getByRole("heading", { name: /Signed in as olivia/ })).toBeVisible();
  await page.getByRole("button", { name: "Sign out" }).first().click();
  // askfirst's session ends, then the provider's, and the provider sends the browser back.
  await expect(page).toHaveURL(new RegExp(`^${base}/login`));
  await page.getByRole("link", { name: "Sign in with Corp SSO" }).click();
  await expect(page.getByLabel("Username")).toBeVisible();
});

test("with passwords off, the break-glass account signs in (recorded) and others cannot", async ({ browser }) => {
  const page = await fresh(browser);
  await page.goto(`${base}/login`);
  await page.getByText("Emergency sign-in").click();
  await page.getByLabel("Username").fill("lola");
  await page.getByLabel("Password", { exact: true }).fill("local password 1");
  await page.getByRole("button", { name: "Sign in with password" }).click();
  await expect(page.getByRole("alert")).toContainText("wrong username or password");

  await page.goto(`${base}/login`);
  await page.getByText("Emergency sign-in").click();
  await page.getByLabel("Username").fill("keeper");
  await page.getByLabel("Password", { exact: true }).fill("break glass pass 1");
  await page.getByRole("button", { name: "Sign in with password" }).click();
  await expect(page.getByRole("heading", { name: /Signed in as keeper/ })).toBeVisible();

  await page.goto(`${base}/people`);
  const keeper = page.locator('tr[data-user="keeper"]');
  await expect(keeper).toContainText("break-glass · last used");
  const olivia = page.locator('tr[data-user="olivia"]');
  await expect(olivia).toContainText("signs in with Corp SSO");
  await expect(olivia.getByRole("button", { name: "Set new password" })).toHaveCount(0);
  await expect(olivia.getByRole("button", { name: "Disable" })).toBeVisible();
});
