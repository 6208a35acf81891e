import { Browser, expect, Page, test } from "@playwright/test";
import { ADMIN, askfirst, hydrated, signIn } from "./helpers";
import { Agent, asPerson, BASE, createUser, importPolicy } from "./gate";

// Bypasses need two managers' sign-off: the requester never counts, and a revoked bypass
// stops approving at once. Three managers, each in their own browser context.
test.describe.configure({ mode: "serial" });

const PASSWORD = "signoff password 1";
const POLICY = `
default_effect = "allow"

[[rules]]
name = "gate-ship"
[rules.match]
tool = "ship"
[rules.effect]
kind = "gate"
`;

// The policy the other specs left in force comes back afterwards.
let before = "";
test.beforeAll(() => {
  before = askfirst(["policy", "export"]);
});
test.afterAll(async () => {
  await importPolicy(before);
});

async function manager(browser: Browser, name: string): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, name, PASSWORD);
  return page;
}

test("three managers: the requester cannot approve, two others activate, revoking stops it", async ({ browser }) => {
  // Three browser contexts each compile the debug bundle; on two busy cores that alone can
  // take most of the default 30 s.
  test.setTimeout(90_000);
  for (const name of ["mo-requester", "mo-anna", "mo-bert"]) createUser(name, "manager", PASSWORD);
  createUser("vi-viewer", "viewer", PASSWORD);
  createUser("ap-approver", "approver", PASSWORD);
  await importPolicy(POLICY);
  const agent = await Agent.create("ship-bot");
  const before = await agent.propose({ tool: "ship", args: { env: "staging-1" } });
  expect(before.status).toBe("pending");
  // A call a person denied: the preview warns that the bypass would have let it through.
  const refused = await agent.propose({ tool: "ship", args: { env: "staging-9" } });
  asPerson(["calls", "deny", refused.id, "--user", "mo-anna", "--feedback", "not that one"], PASSWORD);

  const requester = await manager(browser, "mo-requester");
  const anna = await manager(browser, "mo-anna");
  const bert = await manager(browser, "mo-bert");

  // Anna's review page is open before the request exists: it appears without a reload.
  await anna.goto("/reviews");
  await hydrated(anna);
  await expect(anna.getByRole("heading", { name: /Waiting for sign-off/ })).toBeVisible();

  // The requester previews the scope, then asks.
  await requester.goto("/bypasses");
  await hydrated(requester);
  // One form: Preview shows what it would cover and keeps what was typed; Ask files it.
  const ask = requester.locator(".bypass-form");
  await ask.getByLabel("Tool (glob)").fill("ship");
  await ask.getByLabel(/Agent \(glob/).fill("ship-*");
  await ask.getByLabel(/Argument conditions/).fill("/env=staging*");
  await ask.getByRole("button", { name: "Preview" }).click();
  await expect(requester.locator(".preview")).toContainText("2 of the last");
  await expect(requester.locator(".preview")).toContainText("ship-bot");
  await expect(requester.locator(".preview .warning")).toContainText("1 of them was denied");
  await expect(ask.getByLabel("Tool (glob)")).toHaveValue("ship");
  await expect(ask.getByLabel(/Argument conditions/)).toHaveValue("/env=staging*");
  await ask.getByLabel(/For how long/).fill("1h");
  await ask.getByLabel(/Why/).fill("release train <b>today</b>");
  await ask.getByRole("button", { name: "Ask managers to sign off" }).click();
  const created = requester.getByRole("status").filter({ hasText: "requested" });
  await expect(created).toContainText("needs 2 managers");
  const id = Number((await created.textContent())!.match(/Bypass #(\d+)/)![1]);

  // The requester cannot approve their own request: no form, and the server refuses a forged one.
  await requester.goto(`/bypasses/${id}`);
  await hydrated(requester);
  await expect(requester.locator(".cannot-decide")).toContainText("you asked for this");
  await expect(requester.getByRole("button", { name: "Approve" })).toHaveCount(0);
  const hash = (await requester.request.post("/rpc/bypass", { form: { id: String(id) }, headers: { accept: "application/json" } }).then((r) => r.json())).bypass.hash;
  const forged = await requester.request.post("/rpc/signoff_review", {
    form: { kind: "bypass", id: String(id), verdict: "approve", hash },
    headers: { accept: "application/json" },
  });
  expect(forged.status()).toBe(403);
  expect((await forged.json()).error.code).toBe("self_review");

  // Anna sees it live, with the justification escaped, and approves.
  const item = anna.locator(`[data-bypass="${id}"]`);
  await expect(item).toBeVisible({ timeout: 10_000 });
  await expect(item.locator(".reason")).toHaveText("release train <b>today</b>");
  await expect(item).toContainText(`calls to ship from agents matching ship-* when /env matches "staging*"`);
  await item.getByRole("form", { name: `Approve bypass ${id}` }).getByRole("button", { name: "Approve" }).click();
  await expect(anna.locator(`[data-bypass="${id}"] .cannot-decide`)).toContainText("already reviewed");
  expect((await agent.propose({ tool: "ship", args: { env: "staging-2" } })).status).toBe("pending");

  // Bert's approval activates it.
  await bert.goto("/reviews");
  await hydrated(bert);
  const bertItem = bert.locator(`[data-bypass="${id}"]`);
  await expect(bertItem.locator(".approvals")).toContainText("1 of 2");
  await bertItem.getByRole("form", { name: `Approve bypass ${id}` }).getByRole("button", { name: "Approve" }).click();
  await expect(bert.locator(`[data-bypass="${id}"]`)).toHaveCount(0);

  // The agent's gated call is approved by the bypass, and the card says so.
  const approved = await agent.propose({ tool: "ship", args: { env: "staging-3" } });
  expect(approved.status).toBe("approved");
  expect(approved.approved_by).toEqual({ bypass: id });
  expect((await agent.propose({ tool: "ship", args: { env: "production" } })).status).toBe("pending");
  await bert.goto(`/calls/${approved.id}`);
  await hydrated(bert);
  await expect(bert.locator(".approved-by")).toContainText(`Approved by bypass #${id}`);

  // The bypass page: active, time left ticking, the call it approved; the requester revokes.
  await requester.goto(`/bypasses/${id}`);
  await hydrated(requester);
  await expect(requester.locator(".bypass-head .status")).toHaveText("active");
  const timer = requester.locator(".time-left [role=timer]");
  const first = await timer.textContent();
  await expect.poll(async () => timer.textContent(), { timeout: 5_000 }).not.toBe(first);
  await expect(requester.locator(".covered-calls")).toContainText("ship-bot");
  await requester.getByRole("button", { name: "Revoke now" }).click();
  await expect(requester.locator(".bypass-head .status")).toHaveText("revoked");
  expect((await agent.propose({ tool: "ship", args: { env: "staging-4" } })).status).toBe("pending");
});

test("a viewer or an approver forging a review through the server function is refused", async ({ browser }) => {
  const pending = await browser.newContext().then((c) => c.newPage());
  await signIn(pending, "ap-approver", PASSWORD);
  // The approver may ask for a bypass…
  const asked = await pending.request.post("/rpc/bypass_request", {
    form: { tool: "ship", agent: "", conditions: "", window: "30m", reason: "hotfix" },
    headers: { accept: "application/json" },
  });
  expect(asked.status()).toBe(200);
  const { id, hash } = await asked.json();
  // …but neither they nor a viewer may review one.
  for (const [name, page] of [["ap-approver", pending], ["vi-viewer", await manager(browser, "vi-viewer")]] as const) {
    const res = await page.request.post(`${BASE}/rpc/signoff_review`, {
      form: { kind: "bypass", id: String(id), verdict: "approve", hash },
      headers: { accept: "application/json" },
    });
    expect(res.status(), name).toBe(403);
  }
});

test("a manager whose password an admin reset sees why they cannot sign off yet", async ({ browser, page }) => {
  test.setTimeout(90_000);
  // Rex was a manager long before the request; then an admin reset his password.
  createUser("mo-rex", "manager", PASSWORD);
  createUser("mo-asker", "manager", PASSWORD);
  await importPolicy(POLICY);
  const id = JSON.parse(
    asPerson(["bypass", "request", "--user", "mo-asker", "--tool", "ship", "--for", "1h", "--reason", "hotfix", "--json"], PASSWORD),
  ).id;

  await signIn(page, ADMIN.username, ADMIN.password);
  await page.goto("/people");
  await hydrated(page);
  const reset = page.getByRole("form", { name: "New password for mo-rex" });
  await reset.getByLabel("New password").fill("set by the admin 2");
  await reset.getByRole("button", { name: "Set new password" }).click();
  const row = page.locator('tr[data-user="mo-rex"]');
  await expect(row).toContainText("must change password");
  await expect(row).toContainText("signs nothing off until");

  const rex = await (await browser.newContext()).newPage();
  await rex.goto("/login");
  await rex.getByLabel("Username").fill("mo-rex");
  await rex.getByLabel("Password", { exact: true }).fill("set by the admin 2");
  await rex.getByRole("button", { name: "Sign in" }).click();
  await expect(rex).toHaveURL(/\/account$/);
  await hydrated(rex);
  await rex.getByLabel("Current password", { exact: true }).fill("set by the admin 2");
  await rex.getByLabel("New password", { exact: true }).fill("rex chose this one");
  await rex.getByLabel("New password again", { exact: true }).fill("rex chose this one");
  await rex.getByRole("button", { name: "Change password" }).click();
  await expect(rex.getByRole("status")).toContainText("Your password is changed");

  // The request page says why, lists the reset, and offers no approve button.
  await rex.goto(`/bypasses/${id}`);
  await hydrated(rex);
  await expect(rex.locator(".cannot-decide")).toContainText("reset your password");
  await expect(rex.getByRole("button", { name: "Approve" })).toHaveCount(0);
  await expect(rex.locator(".account-changes")).toContainText("mo-rex");
  await expect(rex.locator(".account-changes")).toContainText("password reset by someone else");
  // The review queue says the same, and a forged review is refused.
  await rex.goto("/reviews");
  await expect(rex.locator(`[data-bypass="${id}"] .cannot-decide`)).toContainText("reset your password");
  const hash = (await rex.request.post("/rpc/bypass", { form: { id: String(id) }, headers: { accept: "application/json" } }).then((r) => r.json())).bypass.hash;
  const forged = await rex.request.post("/rpc/signoff_review", {
    form: { kind: "bypass", id: String(id), verdict: "approve", hash },
    headers: { accept: "application/json" },
  });
  expect((await forged.json()).error.code).toBe("not_eligible");
  asPerson(["bypass", "revoke", String(id), "--user", "mo-asker"], PASSWORD);
});
