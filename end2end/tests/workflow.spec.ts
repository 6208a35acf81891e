import { expect, Page, test } from "@playwright/test";
import { decided, hydrated, signIn } from "./helpers";
import { Agent, asPerson, createUser, importPolicy } from "./gate";

// The approver workflow: batch decisions by keyboard, extending a deadline from the card,
// and a 30-minute remembered grant that approves the next identical call until revoked.
test.describe.configure({ mode: "serial" });

const POLICY = `
default_effect = "allow"

[[rules]]
name = "wf-gate-tidy"
[rules.match]
tool = "tidy"
[rules.effect]
kind = "gate"

[[rules]]
name = "wf-gate-wire"
[rules.match]
tool = "wire"
[rules.effect]
kind = "gate"
confirm = "wire {/amount}"

[[rules]]
name = "wf-two-person-purge"
[rules.match]
tool = "purge"
[rules.effect]
kind = "gate"
approvals_required = 2

[[rules]]
name = "wf-gate-restart"
[rules.match]
tool = "restart_service"
[rules.effect]
kind = "gate"
deadline_secs = 600
grant_max = "30m"
grant_max_uses = 5
`;

const PASSWORD = "e2e password 1";
let agent: Agent;

test.beforeAll(async () => {
  createUser("wendy", "approver");
  createUser("walt", "approver");
  await importPolicy(POLICY);
  agent = await Agent.create("wf-bot");
});

async function open(page: Page, path: string) {
  await page.goto(path);
  await hydrated(page);
}

test("select calls with the keyboard and approve them together; the one needing a phrase is left out", async ({ page }) => {
  const tidy = [];
  for (const n of [1, 2, 3]) tidy.push(await agent.propose({ tool: "tidy", args: { n } }));
  const wire = await agent.propose({ tool: "wire", args: { amount: 5 } });
  await signIn(page, "wendy", PASSWORD);
  await open(page, "/inbox?agent=wf-bot");
  await expect(page.locator(".call-row")).toHaveCount(4);
  // x ticks the focused row, j moves down.
  for (let i = 0; i < 4; i++) {
    await page.keyboard.press("x");
    if (i < 3) await page.keyboard.press("j");
  }
  await expect(page.locator(".batch-count")).toHaveText("4 selected");
  await page.getByRole("button", { name: "Approve selected" }).click();
  const result = page.locator(".batch-result");
  await expect(result).toBeVisible();
  await expect(result.locator(".batch-approved")).toHaveCount(3);
  await expect(result.locator(".batch-left_out")).toContainText("typed confirmation");
  for (const call of tidy) expect((await agent.get(call.id)).status).toBe("approved");
  expect((await agent.get(wire.id)).status).toBe("pending");

  // Shift-click ticks a range.
  const more = [];
  for (const n of [4, 5, 6]) more.push(await agent.propose({ tool: "tidy", args: { n } }));
  await open(page, "/inbox?agent=wf-bot");
  const rows = page.locator(".call-row .pick");
  await rows.nth(0).click();
  await rows.nth(3).click({ modifiers: ["Shift"] });
  await expect(page.locator(".batch-count")).toHaveText("4 selected");
  await page.getByRole("button", { name: "Clear" }).click();
  await expect(page.locator(".batch-bar")).toHaveCount(0);
  await agent.cancel(wire.id);
  for (const call of more) await agent.cancel(call.id);
});

test("extend a deadline from the card; the agent sees the new deadline", async ({ page }) => {
  const call = await agent.propose({ tool: "tidy", args: { n: 10 } });
  await signIn(page, "wendy", PASSWORD);
  await open(page, `/calls/${call.id}`);
  await page.getByText("Need more time?").click();
  await page.getByLabel(/By how many minutes/).fill("10");
  await page.getByLabel("Why", { exact: true }).fill("waiting for the owner");
  await page.getByRole("button", { name: "Extend" }).click();
  await expect(page.getByText("Extended: the agent sees the new deadline.")).toBeVisible();
  const seen = await agent.get(call.id);
  expect(seen.extensions).toBe(1);
  expect(Date.parse(seen.deadline) - Date.parse(call.deadline)).toBe(10 * 60 * 1000);
  await expect(page.locator(".extended")).toContainText("Deadline extended 1 time.");
  await agent.cancel(call.id);
});

test("approve with a 30-minute grant: the next identical call is approved by it until it is revoked", async ({ page }) => {
  const args = { service: "api" };
  const first = await agent.propose({ tool: "restart_service", args });
  await signIn(page, "wendy", PASSWORD);
  await open(page, `/calls/${first.id}`);
  await page.getByLabel("Also approve identical calls (same agent, tool and arguments)").check();
  await expect(page.getByLabel("for the next (minutes)")).toHaveValue("30");
  await page.getByRole("button", { name: "Approve", exact: true }).click();
  await decided(page, first.id, "approved: it may run now");
  await open(page, `/calls/${first.id}`);
  await expect(page.locator(".card-head .status")).toHaveText("approved");
  // Times read in the viewer's zone and relatively, with the exact UTC time on hover.
  const moment = page.locator(".decisions time.moment").first();
  await expect(moment).toHaveAttribute("title", /UTC$/);
  await expect(moment).toContainText(/ago|just now/);

  const next = await agent.propose({ tool: "restart_service", args });
  expect(next.status).toBe("approved");
  const grant = next.approved_by.grant;
  expect(grant).toBeGreaterThan(0);
  const other = await agent.propose({ tool: "restart_service", args: { service: "web" } });
  expect(other.status).toBe("pending");

  await open(page, `/calls/${next.id}`);
  await expect(page.locator(".approved-by.grant")).toContainText(`grant #${grant}`);

  await open(page, "/bypasses");
  const row = page.locator(`#grant-${grant}`);
  await expect(row).toContainText("1 of 5");
  await row.getByRole("button", { name: `Revoke grant #${grant}` }).click();
  await expect(page.getByText("Revoked: it approves nothing from now on.")).toBeVisible();
  await expect(page.locator(`#grant-${grant}`)).toContainText("revoked");
  const after = await agent.propose({ tool: "restart_service", args });
  expect(after.status).toBe("pending");
  await agent.cancel(other.id);
  await agent.cancel(after.id);
});

test("a ticked call edited meanwhile is unticked by the live update, never batch-approved unseen", async ({ page }) => {
  const call = await agent.propose({ tool: "purge", args: { host: "staging" } });
  await signIn(page, "wendy", PASSWORD);
  await open(page, "/inbox?agent=wf-bot&tool=purge");
  const row = page.locator(`[data-call="${call.id}"]`);
  await row.locator(".pick").check();
  await expect(page.locator(".batch-count")).toHaveText("1 selected");

  // Walt edits the arguments (and approves his version) while Wendy's row is ticked.
  asPerson(["calls", "approve", call.id, "--user", "walt", "--args", '{"host":"prod","wipe":true}']);
  await expect(row).toContainText("host=prod", { timeout: 3_000 });
  await expect(row.locator(".pick")).not.toBeChecked();
  await expect(page.getByRole("status").filter({ hasText: "changed meanwhile" })).toBeVisible();
  await expect(page.locator(".batch-bar")).toHaveCount(0);
  expect((await agent.get(call.id)).status).toBe("pending");
  await agent.cancel(call.id);
});
