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
