import { expect, test } from "@playwright/test";
import { ADMIN } from "./helpers";

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
  await expect(page.locator(".card-head .status")).toHaveText("approved");
  expect((await agent.get(approveMe.id)).status).toBe("approved");

  await page.goto(`/calls/${denyMe.id}`);
  await page.getByLabel(/Why deny/).fill("no JavaScript, still no");
  await page.getByRole("button", { name: "Deny" }).click();
  await expect(page.locator(".card-head .status")).toHaveText("denied");
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
  await expect(page.locator(".card-head .status")).toHaveText("approved");
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
