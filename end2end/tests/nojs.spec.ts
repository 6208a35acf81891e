import { expect, test } from "@playwright/test";
import { ADMIN, decided } from "./helpers";

// Runs with JavaScript disabled, after the hydrated project created the admin and the
// people (ann, ben) the inbox spec made.
test.describe.configure({ mode: "serial" });

// Its own policy: earlier specs leave theirs in force.
test.beforeAll(async () => {
  const { importPolicy } = await import("./gate");
  await importPolicy(`
default_effect = "allow"

[[rules]]
name = "nojs-two-person-migrate"
[rules.match]
tool = "migrate"
[rules.effect]
kind = "gate"
approvals_required = 2

[[rules]]
name = "nojs-gate-restart"
[rules.match]
tool = "restart"
[rules.effect]
kind = "gate"
`);
});

test("sign-in works as a plain HTML form", async ({ page }) => {
  await page.goto("/login");
  await page.getByLabel("Username").fill(ADMIN.username);
  await page.getByLabel("Password", { exact: true }).fill(ADMIN.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole("heading", { name: `Signed in as ${ADMIN.username}` })).toBeVisible();

  await page.getByRole("button", { name: "Sign out" }).first().click();
  await expect(page).toHaveURL(/\/login$/);
});

test("a wrong password shows the error without JavaScript", async ({ page }) => {
  await page.goto("/login");
  await page.getByLabel("Username").fill(ADMIN.username);
  await page.getByLabel("Password", { exact: true }).fill("wrong password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toHaveText("wrong username or password");
});

test("the decide form works without JavaScript", async ({ page }) => {
  const { Agent } = await import("./gate");
  const agent = await Agent.create("nojs-bot");
  const approveMe = await agent.propose({ tool: "restart", args: { host: "nojs-1" } });
  const denyMe = await agent.propose({ tool: "restart", args: { host: "nojs-2" } });

  await page.goto("/login");
  await page.getByLabel("Username").fill("ann");
  await page.getByLabel("Password", { exact: true }).fill("e2e password 1");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Signed in as ann" })).toBeVisible();

  await page.goto(`/calls/${approveMe.id}`);
  await page.getByRole("button", { name: "Approve" }).click();
  await decided(page, approveMe.id, "approved: it may run now");
  expect((await agent.get(approveMe.id)).status).toBe("approved");

  await page.goto(`/calls/${denyMe.id}`);
  await page.getByLabel(/Why deny/).fill("no JavaScript, still no");
  await page.getByRole("button", { name: "Deny" }).click();
  await decided(page, denyMe.id, "denied");
  const denied = await agent.get(denyMe.id);
  expect(denied.message).toBe("no JavaScript, still no");
});

test("a card opened before someone else's edit is refused without JavaScript too", async ({ page }) => {
  const { Agent, asPerson } = await import("./gate");
  const agent = await Agent.create("nojs-edit-bot");
  const call = await agent.propose({ tool: "migrate", args: { db: "users", steps: 2 } });

  await page.goto("/login");
  await page.getByLabel("Username").fill("ann");
  await page.getByLabel("Password", { exact: true }).fill("e2e password 1");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Signed in as ann" })).toBeVisible();
  await page.goto(`/calls/${call.id}`);

  // Meanwhile Ben edits and approves from the command line.
  asPerson(["calls", "approve", call.id, "--user", "ben", "--args", '{"db":"users","steps":1}']);

  await page.getByRole("button", { name: "Approve" }).click();
  await expect(page.getByRole("alert")).toContainText("The arguments changed since you opened this call");
  expect((await agent.get(call.id)).status).toBe("pending");

  await page.goto(`/calls/${call.id}`);
  await expect(page.locator(".versions")).toContainText("Version 2 (current) by ben");
  await page.getByRole("button", { name: "Approve" }).click();
  await decided(page, call.id, "approved");
  expect((await agent.get(call.id)).args).toEqual({ db: "users", steps: 1 });
});

test("extending and flagging come back to the card saying what was done, without JavaScript", async ({ page }) => {
  const { Agent } = await import("./gate");
  const agent = await Agent.create("nojs-extend-bot");
  const pending = await agent.propose({ tool: "restart", args: { host: "nojs-3" } });
  const ran = await agent.propose({ tool: "noop" });
  expect(ran.status).toBe("allowed");

  await page.goto("/login");
  await page.getByLabel("Username").fill("ann");
  await page.getByLabel("Password", { exact: true }).fill("e2e password 1");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Signed in as ann" })).toBeVisible();

  await page.goto(`/calls/${pending.id}`);
  await page.getByText("Need more time?").click();
  await page.getByLabel(/By how many minutes/).fill("5");
  await page.getByLabel("Why", { exact: true }).fill("owner is away");
  await page.getByRole("button", { name: "Extend" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Extended: the agent sees the new deadline." })).toBeVisible();
  await expect(page.locator(".extended")).toContainText("Deadline extended 1 time.");
  expect((await agent.get(pending.id)).extensions).toBe(1);

  // A bad number is refused with the reason, on the card.
  await page.goto(`/calls/${pending.id}`);
  await page.getByText("Need more time?").click();
  await page.getByLabel(/By how many minutes/).evaluate((el: HTMLInputElement) => el.removeAttribute("max"));
  await page.getByLabel(/By how many minutes/).fill("100000");
  await page.getByLabel("Why", { exact: true }).fill("much later");
  await page.getByRole("button", { name: "Extend" }).click();
  await expect(page.getByRole("alert")).toBeVisible();
  expect((await agent.get(pending.id)).extensions).toBe(1);

  await page.goto(`/calls/${ran.id}`);
  await page.getByText("Flag: this should not have run").click();
  await page.getByLabel("What was wrong with it").fill("should have asked first");
  await page.getByRole("button", { name: "Flag it" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Flagged." })).toBeVisible();
  await expect(page.locator(".flags")).toContainText("should have asked first");
  await agent.cancel(pending.id);
});

test("changing one's password works without JavaScript", async ({ page }) => {
  const { createUser } = await import("./gate");
  createUser("nojs-pat", "viewer", "nojs password 1");
  await page.goto("/login");
  await page.getByLabel("Username").fill("nojs-pat");
  await page.getByLabel("Password", { exact: true }).fill("nojs password 1");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.goto("/account");
  await page.getByLabel("Current password", { exact: true }).fill("not my password");
  await page.getByLabel("New password", { exact: true }).fill("nojs password 2");
  await page.getByLabel("New password again", { exact: true }).fill("nojs password 2");
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page.getByRole("alert")).toBeVisible();

  await page.getByLabel("Current password", { exact: true }).fill("nojs password 1");
  await page.getByLabel("New password", { exact: true }).fill("nojs password 2");
  await page.getByLabel("New password again", { exact: true }).fill("nojs password 2");
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page.getByRole("status")).toContainText("Your password is changed");
});

async function signInPlain(page: import("@playwright/test").Page, username: string, password: string) {
  await page.goto("/login");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: `Signed in as ${username}` })).toBeVisible();
}

test("admin pages work as plain forms: an agent's key shown once, a person added, a rule drafted and discarded", async ({ page }) => {
  await signInPlain(page, ADMIN.username, ADMIN.password);

  await page.goto("/agents");
  await page.getByLabel("Name", { exact: true }).fill("nojs-made-bot");
  await page.getByRole("button", { name: "Create agent" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Created nojs-made-bot." })).toBeVisible();
  const key = await page.getByRole("textbox", { name: "API key", exact: true }).inputValue();
  expect(key).toMatch(/^af_/);
  expect(page.url()).not.toContain(key);
  await page.reload();
  await expect(page.getByRole("textbox", { name: "API key", exact: true })).toHaveCount(0);
  await expect(page.locator('tr[data-agent="nojs-made-bot"]')).toBeVisible();
  const row = page.locator('tr[data-agent="nojs-made-bot"]');
  await row.getByRole("button", { name: "Disable" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Saved." })).toBeVisible();
  await expect(page.locator('tr[data-agent="nojs-made-bot"]')).toContainText("disabled");

  await page.goto("/people");
  await page.getByLabel("Username").fill("nojs-vic");
  await page.getByLabel("Initial password").fill("nojs password 9");
  await page.getByLabel("Role", { exact: true }).selectOption("viewer");
  await page.getByRole("button", { name: "Add person" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Added nojs-vic as viewer." })).toBeVisible();
  await page.getByLabel("Username").fill("nojs-vic");
  await page.getByLabel("Initial password").fill("nojs password 9");
  await page.getByRole("button", { name: "Add person" }).click();
  await expect(page.getByRole("alert")).toBeVisible();

  await page.goto("/policy");
  await page.getByRole("link", { name: "New rule" }).click();
  const form = page.getByRole("form", { name: "New rule" });
  await form.getByLabel("Name", { exact: true }).fill("nojs-gate-vacuum");
  await form.getByLabel("Tool (glob; empty: any)").fill("vacuum");
  await form.getByRole("button", { name: "Save to draft" }).click();
  await expect(page.locator('tr[data-rule="nojs-gate-vacuum"]')).toBeVisible();
  await expect(page.getByRole("status").filter({ hasText: "Your draft is changed." })).toBeVisible();
  await page.getByRole("button", { name: "Discard draft" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Draft discarded." })).toBeVisible();
  await expect(page.locator('tr[data-rule="nojs-gate-vacuum"]')).toHaveCount(0);
});

test("a bypass is previewed and asked for in one form, without JavaScript", async ({ page }) => {
  await signInPlain(page, "ann", "e2e password 1");
  await page.goto("/bypasses");
  const ask = page.locator(".bypass-form");
  await ask.getByLabel("Tool (glob)").fill("nojs-tool");
  await ask.getByRole("button", { name: "Preview" }).click();
  await expect(page.locator(".preview")).toContainText("of the last");
  await expect(ask.getByLabel("Tool (glob)")).toHaveValue("nojs-tool");
  await ask.getByLabel(/For how long/).fill("1h");
  await ask.getByLabel(/Why/).fill("no script here");
  await ask.getByRole("button", { name: "Ask managers to sign off" }).click();
  await expect(page.getByRole("status").filter({ hasText: "requested" })).toContainText("managers' approval");
  await page.getByRole("button", { name: "Withdraw request" }).click();
  await expect(page.locator(".bypass-head .status")).toHaveText("revoked");
});
